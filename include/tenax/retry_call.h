/* A blocking retry loop for simple embedders: calls `fn` until the policy says stop, sleeping
 * between attempts. Built on tx_policy_next; the gateway and the jobs use the policy directly. */
#ifndef TENAX_RETRY_CALL_H
#define TENAX_RETRY_CALL_H

#include "tenax/policy.h"

/* One attempt: number `attempt` (1-based) on `model` (borrowed from the policy's schedule; NULL
 * for a NULL primary). Returns what came of it (TX_CLASS_OK for success). */
typedef tx_outcome_t (*tx_retry_fn)(void *ctx, unsigned attempt, const char *model);

/* Runs `fn` under `p`, sleeping (nanosleep, monotonic clock) between attempts; the jitter is
 * seeded from the clock. A Retry-After over the policy's limit stops the loop rather than being
 * slept. Returns TX_EOK when an attempt succeeded, TX_ESTOPPED when the policy stopped without
 * success (stats->final and stats->last_class say why), TX_EINVAL for a NULL `p` or `fn` (fn is
 * then never called), or a tx_policy_validate error. `stats` (may be NULL) receives the call's
 * statistics whenever fn ran at least once. Not async-signal-safe; blocks the calling thread. */
int tx_retry_call(const tx_policy_t *p, tx_retry_fn fn, void *ctx, tx_stats_t *stats);

#endif
