/* The retry policy of docs/retry-engine.md, sans-I/O: given the outcome of an attempt, the time and
 * a random source, decide whether to retry, after how long, on which model — or why to stop. It
 * never sleeps, allocates or touches strings; the gateway and the job engine share it. */
#ifndef TENAX_POLICY_H
#define TENAX_POLICY_H

#include <stddef.h>

#include "tenax/backoff.h"
#include "tenax/class.h"
#include "tenax/rng.h"
#include "tenax/stop.h"
#include "tenax/types.h"

#define TX_SCHEDULE_MAX_FALLBACKS 8

/* The model chain: `retry_max` attempts on the primary, then `fallback_attempts` on each fallback
 * in order; `budget` caps all attempts of the call (JOB_MAX_ATTEMPTS, counted across restarts;
 * 0 = no budget beyond the chain). Model names are borrowed, never copied; NULL primary means
 * "the caller's own" (index 0 still denotes it). */
typedef struct {
    const char *primary;
    const char *fallbacks[TX_SCHEDULE_MAX_FALLBACKS];
    unsigned n_fallbacks;
    unsigned retry_max;         /* >= 1 */
    unsigned fallback_attempts; /* >= 1 */
    unsigned budget;
} tx_schedule_t;

/* Models in the chain (1 + n_fallbacks, n_fallbacks clamped to the maximum). */
unsigned tx_schedule_models(const tx_schedule_t *s);
/* How many attempts model `idx` is given (0 when idx is past the chain). */
unsigned tx_schedule_attempts_on(const tx_schedule_t *s, unsigned idx);
/* Attempts the whole chain allows, before the budget. */
unsigned tx_schedule_length(const tx_schedule_t *s);
/* Model index for attempt `n` (1-based) when no model was skipped; -1 past the chain or
 * the budget, or for n == 0 / NULL `s`. */
int tx_schedule_model_for(const tx_schedule_t *s, unsigned n);
/* Model name by index (NULL past the chain, or for a NULL primary). */
const char *tx_schedule_model_name(const tx_schedule_t *s, unsigned idx);

/* What an attempt came to: TX_CLASS_OK for success, else its class; retry_after_ms is the
 * provider's Retry-After (<= 0: none). */
typedef struct {
    tx_class_t cls;
    tx_ms_t retry_after_ms;
} tx_outcome_t;

typedef enum { TX_ACT_RETRY, TX_ACT_STOP } tx_action_t;

#define TX_STOP_REASON_MAP(X)                                                                      \
    X(NONE, "none")                                                                                \
    X(SUCCESS, "success")                                                                          \
    X(NOT_RETRYABLE, "not_retryable")                                                              \
    X(EXHAUSTED, "exhausted")                                                                      \
    X(DEADLINE, "deadline")                                                                        \
    X(BUDGET, "budget")                                                                            \
    X(RETRY_AFTER_TOO_LONG, "retry_after_too_long")

typedef enum {
#define TX_STOP_REASON_ENUM(name, str) TX_REASON_##name,
    TX_STOP_REASON_MAP(TX_STOP_REASON_ENUM)
#undef TX_STOP_REASON_ENUM
        TX_REASON__LAST
} tx_stop_reason_t;

/* A stop reason's name ("retry_after_too_long"); "unknown" when out of range. Static. */
const char *tx_stop_reason_name(tx_stop_reason_t r);

/* The answer of tx_policy_next. On RETRY: wait delay_ms, then make attempt number `attempt` on
 * model `model_idx` (`model`, borrowed from the schedule). On STOP: `reason`; `attempt` is the
 * last attempt made; for RETRY_AFTER_TOO_LONG delay_ms carries the Retry-After (so a gateway
 * answers with it and a job parks until then). `cls` is the class of the attempt just reported
 * and `retry_after_ms` its Retry-After either way (a 429 cut by the deadline keeps it). */
typedef struct {
    tx_action_t action;
    tx_stop_reason_t reason;
    tx_class_t cls;
    tx_ms_t delay_ms;
    tx_ms_t retry_after_ms;
    unsigned attempt;
    unsigned model_idx;
    const char *model;
    int model_changed;
} tx_decision_t;

/* Per-call statistics, like tenacity's `.statistics`. `attempts` counts this call's attempts
 * (a resumed job's earlier ones are in tx_call_state_t.attempts). */
typedef struct {
    unsigned attempts;
    tx_ms_t start_ms;
    tx_ms_t elapsed_ms;    /* at the last decision */
    tx_ms_t total_wait_ms; /* sum of the retry delays decided */
    tx_class_t last_class;
    tx_stop_reason_t final; /* TX_REASON_NONE while the call goes on */
    unsigned by_class[TX_CLASS__LAST];
} tx_stats_t;

/* The state of one call, plain data (no pointers): a job can rebuild it with tx_policy_resume.
 * Owned by the caller, one per call, not shared across threads. */
typedef struct {
    unsigned attempts;  /* attempts started so far, earlier runs included */
    unsigned model_idx; /* model of the current attempt */
    unsigned on_model;  /* attempts made on that model, the current one included */
    tx_ms_t prev_delay_ms;
    int done;
    tx_stats_t stats;
} tx_call_state_t;

struct tx_policy;
/* Hooks for logs and metrics; any may be NULL. They run inside tx_policy_start/next, must not
 * call back into the policy for the same state, and see the state as already updated. `user` is
 * per policy; for per-call context with a shared policy, embed the tx_call_state_t in the call's
 * own struct and recover it from `st` (container_of). */
typedef struct {
    /* An attempt is decided: number `attempt` on `model` (NULL: the caller's own). Fires from
     * tx_policy_start and after before_sleep on each retry. */
    void (*before_attempt)(void *user, const tx_call_state_t *st, unsigned attempt,
                           const char *model);
    /* An attempt's outcome was reported. */
    void (*after_attempt)(void *user, const tx_call_state_t *st, const tx_outcome_t *o);
    /* A retry was decided: the caller is about to wait d->delay_ms. */
    void (*before_sleep)(void *user, const tx_call_state_t *st, const tx_decision_t *d);
    void *user;
} tx_policy_hooks_t;

/* A whole policy: plain data, usually built once per config snapshot and shared read-only. */
typedef struct tx_policy {
    tx_schedule_t schedule;
    tx_backoff_t backoff;
    const tx_stop_t *stop;      /* extra stop conditions (borrowed), NULL for none */
    tx_ms_t retry_after_max_ms; /* a longer Retry-After is not waited in-line; < 0: no limit */
    tx_ms_t deadline_ms;        /* whole call, from start; <= 0: none */
    tx_policy_hooks_t hooks;
} tx_policy_t;

/* Fills `p` with docs/config.md defaults: primary `model`, no fallbacks, 3 attempts on the primary,
 * 1 per fallback, exponential 2 s · 2^(n-1) capped at 30 s with full jitter, Retry-After up to 60 s
 * in-line, deadline 60 s, no budget, no hooks. NULL `p` is a no-op. */
void tx_policy_init(tx_policy_t *p, const char *model);

/* TX_EOK when `p` is usable; TX_EINVAL for NULL, TX_ERANGE for retry_max or fallback_attempts of
 * 0, too many fallbacks, a bad backoff kind or jitter. */
int tx_policy_validate(const tx_policy_t *p);

/* Starts a call at `now`: attempt 1 on the primary. Fires before_attempt. Returns TX_EOK, or an
 * error of tx_policy_validate (st is then zeroed and done). */
int tx_policy_start(const tx_policy_t *p, tx_call_state_t *st, tx_ms_t now);

/* Starts a call whose first `used` attempts were made in earlier runs (a job after a restart):
 * the next attempt is used+1 on the model the schedule gives it. Returns TX_EOK; TX_ESTOPPED when
 * the chain or the budget is used up (st is done, stats.final says which: EXHAUSTED or BUDGET);
 * or a validation error. */
int tx_policy_resume(const tx_policy_t *p, tx_call_state_t *st, unsigned used, tx_ms_t now);

/* The model name of the current attempt (NULL: the caller's own, or a bad argument). */
const char *tx_policy_model(const tx_policy_t *p, const tx_call_state_t *st);

/* Reports the outcome of the current attempt and decides. Fills `d`; on RETRY advances `st` to
 * the next attempt. Returns TX_EOK, or TX_EINVAL for a NULL argument or a class out of range, or
 * TX_ESTOPPED when the call had already stopped (d is then a STOP with stats.final's reason).
 * `rng` may be NULL (jitter draws its low end). No allocation, no string work. */
int tx_policy_next(const tx_policy_t *p, tx_call_state_t *st, const tx_outcome_t *o, tx_ms_t now,
                   tx_rng_t *rng, tx_decision_t *d);

/* Parking delay for a job hit by rate_limit/concurrency for the n-th time (n from 0):
 * base · 2^n capped at max, or the provider's Retry-After when that is larger (docs/config.md:
 * 30 s × 2^n ≤ 8 min). Saturates; negative inputs count as 0. */
tx_ms_t tx_park_delay(tx_ms_t base_ms, tx_ms_t max_ms, unsigned n, tx_ms_t retry_after_ms);

#endif
