/* Backoff between attempts: fixed, exponential or an explicit chain of waits, with the AWS jitter
 * families, a cap, and a Retry-After floor. Pure arithmetic: the caller passes the random source.
 */
#ifndef TENAX_BACKOFF_H
#define TENAX_BACKOFF_H

#include <stddef.h>

#include "tenax/rng.h"
#include "tenax/types.h"

typedef enum {
    TX_BACKOFF_FIXED,       /* base every time */
    TX_BACKOFF_EXPONENTIAL, /* base * 2^(n-1), capped */
    TX_BACKOFF_CHAIN,       /* chain[n-1]; the last entry repeats (tenacity's wait_chain) */
    TX_BACKOFF__LAST
} tx_backoff_kind_t;

typedef enum {
    TX_JITTER_NONE,         /* v */
    TX_JITTER_FULL,         /* U(0, v) */
    TX_JITTER_EQUAL,        /* v/2 + U(0, v/2) */
    TX_JITTER_DECORRELATED, /* min(cap, U(base, prev * 3)) */
    TX_JITTER__LAST
} tx_jitter_t;

#define TX_BACKOFF_CHAIN_MAX 16

/* A backoff description; plain data, copy it freely. `v` above is the un-jittered value of the
 * kind, capped. A negative cap_ms means no cap. */
typedef struct {
    tx_backoff_kind_t kind;
    tx_jitter_t jitter;
    tx_ms_t base_ms;
    tx_ms_t cap_ms;
    size_t chain_len; /* TX_BACKOFF_CHAIN: entries used in chain_ms */
    tx_ms_t chain_ms[TX_BACKOFF_CHAIN_MAX];
} tx_backoff_t;

/* base * 2^(n-1), saturating instead of overflowing, then capped at cap_ms (when cap_ms >= 0).
 * n = 0 is treated as 1; a negative base as 0. */
tx_ms_t tx_backoff_exp(tx_ms_t base_ms, unsigned n, tx_ms_t cap_ms);

/* The wait after the n-th failed attempt (n >= 1). `prev_ms` is the previous wait returned for
 * this call (0 before the first; only decorrelated jitter reads it). The result is never below
 * `retry_after_ms` (the provider's Retry-After; <= 0 for none): that floor is applied after
 * jitter and cap. A NULL `b` gives just the floor; a NULL `rng` draws nothing (the low end). */
tx_ms_t tx_backoff_delay(const tx_backoff_t *b, unsigned n, tx_ms_t prev_ms, tx_ms_t retry_after_ms,
                         tx_rng_t *rng);

/* Jitter family by its config name ("none" "full" "equal" "decorrelated"); -1 when unknown
 * or NULL. */
int tx_jitter_from_name(const char *name);
/* The config name of a jitter family; "unknown" when out of range. Static string. */
const char *tx_jitter_name(tx_jitter_t j);

#endif
