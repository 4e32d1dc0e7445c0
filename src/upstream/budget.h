/* A provider's retry budget (docs/retry-engine.md), pure arithmetic: over a sliding window of
 * TX_BUDGET_WINDOW_S one-second buckets, retries may number at most `percent` % of the first
 * attempts plus `min_per_s` × TX_BUDGET_WINDOW_S. The clock is passed in; O(1) per event (at
 * most TX_BUDGET_WINDOW_S buckets are cleared when time moves on), no allocation. */
#ifndef TX_UPSTREAM_BUDGET_H
#define TX_UPSTREAM_BUDGET_H

#include <stdint.h>

#include "tenax/types.h"

#define TX_BUDGET_WINDOW_S 10

typedef struct {
    unsigned percent;   /* AI_RETRY_BUDGET_PERCENT (0..1000) */
    unsigned min_per_s; /* AI_RETRY_BUDGET_MIN_PER_S (0..100000) */
    int64_t head;       /* the second of the newest bucket (now / 1000); INT64_MIN: none yet */
    uint32_t first[TX_BUDGET_WINDOW_S], retry[TX_BUDGET_WINDOW_S];
    uint64_t sum_first, sum_retry; /* over the window */
    uint64_t exhausted;            /* exhaustedSinceBoot: retries refused */
    tx_ms_t last_log;              /* when the last `[ai][budget] exhausted` line went out */
} tx_budget_t;

/* An empty budget. */
void tx__budget_init(tx_budget_t *b, unsigned percent, unsigned min_per_s);

/* New parameters (config reload): the window's counts stay. */
void tx__budget_set(tx_budget_t *b, unsigned percent, unsigned min_per_s);

/* A first attempt (a request's or an item's) went to the provider at `now`. */
void tx__budget_on_first(tx_budget_t *b, tx_ms_t now);

/* A retry wants to go: 1 when the budget has room (the retry is counted), 0 when it is spent
 * (exhausted grows, nothing else is counted). */
int tx__budget_try_retry(tx_budget_t *b, tx_ms_t now);

/* Retries the budget still allows at `now` (0 when spent). */
uint64_t tx__budget_available(tx_budget_t *b, tx_ms_t now);

/* 1 at most once per second (for the log line after a refusal), 0 otherwise. */
int tx__budget_log_due(tx_budget_t *b, tx_ms_t now);

#endif
