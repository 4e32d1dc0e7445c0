/* Fuzzes the policy engine: the input supplies a policy (any numbers, negative and huge
 * included), a start time and a sequence of outcomes and clock steps; the engine must never
 * crash, and every retry must respect the deadline, the Retry-After floor and the budget. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tenax/error.h"
#include "tenax/policy.h"

struct reader {
    const uint8_t *p;
    size_t n;
};

static uint64_t take(struct reader *r, size_t bytes)
{
    uint64_t v = 0;
    for (size_t i = 0; i < bytes; i++) {
        v = (v << 8) | (r->n > 0 ? *r->p : 0);
        if (r->n > 0) {
            r->p++;
            r->n--;
        }
    }
    return v;
}

static int64_t take_ms(struct reader *r)
{
    /* One byte picks the magnitude so both small and extreme values come up. */
    unsigned width = (unsigned)take(r, 1) % 9;
    int64_t v = (int64_t)take(r, width);
    /* INT64_MIN has no negation: keep it as it is (still an extreme value). */
    return (take(r, 1) & 1) && v != INT64_MIN ? -v : v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const names[] = {"a", "b", "c", "d", "e", "f", "g", "h"};
    struct reader r = {data, size};
    tx_policy_t p;
    tx_policy_init(&p, "primary");
    p.schedule.n_fallbacks = (unsigned)take(&r, 1) % (TX_SCHEDULE_MAX_FALLBACKS + 2);
    for (unsigned i = 0; i < TX_SCHEDULE_MAX_FALLBACKS; i++)
        p.schedule.fallbacks[i] = names[i];
    p.schedule.retry_max = (unsigned)take(&r, 1) % 24;
    p.schedule.fallback_attempts = (unsigned)take(&r, 1) % 24;
    p.schedule.budget = (unsigned)take(&r, 1) % 120;
    p.backoff.kind = (tx_backoff_kind_t)(take(&r, 1) % (TX_BACKOFF__LAST + 1));
    p.backoff.jitter = (tx_jitter_t)(take(&r, 1) % (TX_JITTER__LAST + 1));
    p.backoff.base_ms = take_ms(&r);
    p.backoff.cap_ms = take_ms(&r);
    p.backoff.chain_len = (size_t)take(&r, 1) % (TX_BACKOFF_CHAIN_MAX + 2);
    for (size_t i = 0; i < TX_BACKOFF_CHAIN_MAX; i++)
        p.backoff.chain_ms[i] = take_ms(&r);
    p.retry_after_max_ms = take_ms(&r);
    p.deadline_ms = take_ms(&r);
    unsigned used = (unsigned)take(&r, 1);
    tx_ms_t start = take_ms(&r), now = start;
    tx_rng_t rng;
    tx_rng_seed(&rng, take(&r, 8));

    tx_call_state_t st;
    int rc = tx_policy_resume(&p, &st, used % 8 == 0 ? used : 0, now);
    if (rc != TX_EOK) return 0;
    unsigned chain = tx_schedule_length(&p.schedule);
    while (r.n > 0) {
        tx_outcome_t o = {.cls = (tx_class_t)(take(&r, 1) % (TX_CLASS__LAST + 1)),
                          .retry_after_ms = take_ms(&r)};
        tx_ms_t step = take_ms(&r);
        if (step > 0 && now < INT64_MAX - step) now += step;
        tx_decision_t d;
        rc = tx_policy_next(&p, &st, &o, now, &rng, &d);
        if (rc == TX_EINVAL) continue; /* a class out of range */
        if (rc != TX_EOK || d.action == TX_ACT_STOP) break;
        if (d.delay_ms < o.retry_after_ms) abort();
        if (p.schedule.budget > 0 && st.attempts > p.schedule.budget) abort();
        if (st.attempts > chain) abort();
        if (p.deadline_ms > 0 && now >= start && now - start <= p.deadline_ms &&
            d.delay_ms > p.deadline_ms - (now - start))
            abort();
        if (d.delay_ms > 0 && now < INT64_MAX - d.delay_ms) now += d.delay_ms;
    }
    return 0;
}
