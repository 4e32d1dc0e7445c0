/* Per-client request rate limit (CLIENT_RATE_LIMIT_RPM): one token bucket per client key or peer
 * address, holding up to a minute's worth of requests and refilling continuously. The clock is
 * passed in (monotonic ms); memory is bounded (least recently seen clients are forgotten first,
 * and tx__ratelimit_sweep drops buckets that are full again). Single-threaded. */
#ifndef TX_SERVER_RATELIMIT_H
#define TX_SERVER_RATELIMIT_H

#include <stddef.h>
#include <stdint.h>

#include "tenax/types.h"

typedef struct tx_ratelimit tx_ratelimit_t;

/* The numbers for one answer's headers. */
typedef struct {
    int allowed;            /* 1: serve it; 0: answer 429 */
    uint32_t limit;         /* x-ratelimit-limit-requests (the rpm; 0 when the limit is off) */
    uint32_t remaining;     /* x-ratelimit-remaining-requests, after this request */
    tx_ms_t reset_ms;       /* x-ratelimit-reset-requests: until the bucket is full again */
    tx_ms_t retry_after_ms; /* until the next token (0 when allowed) */
    uint32_t
        retry_after_s; /* Retry-After: retry_after_ms rounded up to seconds, ≥ 1 (0 when allowed) */
} tx_ratelimit_info_t;

/* A limiter at `rpm` requests per minute per client (0 = off: everything allowed) remembering
 * at most `max_clients` (≥ 1) buckets. NULL when out of memory or max_clients is 0. */
tx_ratelimit_t *tx__ratelimit_create(uint32_t rpm, size_t max_clients);

/* Frees it. NULL: no-op. */
void tx__ratelimit_destroy(tx_ratelimit_t *rl);

/* Changes the rate. Existing buckets follow at their next use: they refill at the new rate and
 * hold at most the new minute's worth. 0 turns the limit off. */
void tx__ratelimit_set_rpm(tx_ratelimit_t *rl, uint32_t rpm);
uint32_t tx__ratelimit_rpm(const tx_ratelimit_t *rl);

/* Takes one token for `client` (a client key fingerprint or a peer address; NULL counts as "")
 * at monotonic time `now` and fills *info (may be NULL). Returns 1 when allowed, 0 when limited
 * (no token taken). When out of memory for a new client's bucket the request is allowed
 * (fail open) and the limit numbers show a full bucket. NULL limiter: allowed. */
int tx__ratelimit_take(tx_ratelimit_t *rl, const char *client, tx_ms_t now,
                       tx_ratelimit_info_t *info);

/* Forgets the buckets that are full at `now` (their clients have been idle long enough that
 * forgetting changes nothing). Returns how many were dropped. */
size_t tx__ratelimit_sweep(tx_ratelimit_t *rl, tx_ms_t now);

/* Buckets held now. */
size_t tx__ratelimit_clients(const tx_ratelimit_t *rl);

/* Formats a duration the way OpenAI's x-ratelimit-reset-* headers do: "250ms", "1s", "6m0s",
 * "1h2m3s" (seconds rounded up once ≥ 1 s). Returns snprintf's result. */
int tx__ratelimit_format_reset(tx_ms_t ms, char *buf, size_t cap);

#endif
