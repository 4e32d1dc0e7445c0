/* The blocking retry loop: the one place in core/ that sleeps. A monotonic clock feeds the
 * policy; nanosleep waits out each decided delay, resuming after signals. */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "tenax/error.h"
#include "core/clock.h"
#include "tenax/retry_call.h"

static void sleep_ms(tx_ms_t ms)
{
    if (ms <= 0) return;
    struct timespec req = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    struct timespec rem;
    while (nanosleep(&req, &rem) != 0 && errno == EINTR)
        req = rem;
}

int tx_retry_call(const tx_policy_t *p, tx_retry_fn fn, void *ctx, tx_stats_t *stats)
{
    if (p == NULL || fn == NULL) return TX_EINVAL;
    tx_call_state_t st;
    int rc = tx_policy_start(p, &st, tx__clock_mono_ms());
    if (rc != TX_EOK) return rc;

    struct timespec seed;
    clock_gettime(CLOCK_MONOTONIC, &seed);
    tx_rng_t rng;
    tx_rng_seed(&rng, ((uint64_t)seed.tv_sec << 30) ^ (uint64_t)seed.tv_nsec ^ (uintptr_t)&st);

    tx_decision_t d;
    for (;;) {
        tx_outcome_t o = fn(ctx, st.attempts, tx_policy_model(p, &st));
        rc = tx_policy_next(p, &st, &o, tx__clock_mono_ms(), &rng, &d);
        if (rc != TX_EOK || d.action == TX_ACT_STOP) break;
        sleep_ms(d.delay_ms);
    }
    if (stats != NULL) *stats = st.stats;
    if (rc != TX_EOK) return rc;
    return d.reason == TX_REASON_SUCCESS ? TX_EOK : TX_ESTOPPED;
}
