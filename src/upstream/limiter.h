/* An endpoint's adaptive in-flight limit (docs/retry-engine.md), pure arithmetic (AIMD): the
 * limit lies between 1 and `max` (AI_MAX_CONCURRENCY); an overload answer (`concurrency`,
 * `rate_limit`) or a `timeout` cuts it to three quarters, at most once per round trip (only an
 * attempt that started after the last cut can cut again); TX_LIM_STREAK × limit successes of
 * attempts that started with the endpoint at its limit raise it by one. With adaptive off the
 * limit stays at `max` and never gates. No allocation, no clock. */
#ifndef TX_UPSTREAM_LIMITER_H
#define TX_UPSTREAM_LIMITER_H

#include <stdint.h>

#define TX_LIM_STREAK 2 /* successes at the limit needed per unit of the limit to raise it */

typedef enum {
    TX_LIM_SUCCESS,     /* an answer that used the endpoint well */
    TX_LIM_CONCURRENCY, /* concurrency: too many in flight there (× 0.75) */
    TX_LIM_OVERLOAD,    /* rate_limit or timeout: the endpoint pushes back (× 0.9) */
    TX_LIM_NEUTRAL      /* anything else (errors, cancels): the limit is left alone */
} tx_lim_outcome_t;

typedef struct {
    uint64_t seq; /* 0: no ticket (nothing to give back) */
    int at_limit; /* the attempt filled the endpoint to its limit */
} tx_lim_ticket_t;

typedef struct {
    unsigned limit, max;
    int adaptive;
    unsigned in_flight;
    unsigned streak;       /* successes at the limit since the last change */
    uint64_t seq, cut_seq; /* tickets handed out; the last one out when the limit was cut */
    uint64_t cuts, raises;
} tx_limiter_t;

/* Limit = max (>= 1; 0 is taken as 1). */
void tx__limiter_init(tx_limiter_t *l, unsigned max, int adaptive);

/* A new max or mode (config reload): the limit is kept within 1..max (adaptive off: = max). */
void tx__limiter_configure(tx_limiter_t *l, unsigned max, int adaptive);

/* 1 when another attempt may start on the endpoint now (always with adaptive off). */
int tx__limiter_has_room(const tx_limiter_t *l);

/* An attempt starts on the endpoint (counted even above the limit). */
tx_lim_ticket_t tx__limiter_take(tx_limiter_t *l);

/* The attempt of `t` ended with `o`. Returns 1 when the limit changed (old value in *old, may
 * be NULL), 0 otherwise. A ticket with seq 0 is ignored. */
int tx__limiter_done(tx_limiter_t *l, tx_lim_ticket_t t, tx_lim_outcome_t o, unsigned *old);

#endif
