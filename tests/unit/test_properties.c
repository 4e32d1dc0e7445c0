/* Property tests over seeded random draws: jitter stays in its bounds, a schedule never crosses
 * its deadline, a Retry-After is never undercut, a job never exceeds its attempt budget — across
 * random policies, outcomes and clocks. Seeds are fixed so a failure repeats. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "tenax/error.h"
#include "tenax/policy.h"

static tx_ms_t min_ms(tx_ms_t a, tx_ms_t b)
{
    return a < b ? a : b;
}

static void jitter_bounds(void **state)
{
    (void)state;
    tx_rng_t gen, jit;
    tx_rng_seed(&gen, 20261125);
    tx_rng_seed(&jit, 99);
    for (int j = 0; j < TX_JITTER__LAST; j++) {
        for (int i = 0; i < 100000; i++) {
            tx_backoff_t b = {.kind = TX_BACKOFF_EXPONENTIAL, .jitter = (tx_jitter_t)j};
            b.base_ms = tx_rng_range(&gen, 0, 1000000);
            b.cap_ms = tx_rng_range(&gen, 0, 4) == 0 ? -1 : tx_rng_range(&gen, 0, 10000000);
            unsigned n = (unsigned)tx_rng_range(&gen, 1, 80);
            if (i % 1000 == 0) n = UINT32_MAX - (unsigned)i;
            tx_ms_t prev =
                tx_rng_range(&gen, 0, 3) == 0 ? INT64_MAX / 2 : tx_rng_range(&gen, 0, 100000000);
            tx_ms_t ra = tx_rng_range(&gen, 0, 1) ? 0 : tx_rng_range(&gen, 1, 20000000);
            tx_ms_t cap = b.cap_ms < 0 ? INT64_MAX : b.cap_ms;
            tx_ms_t v = tx_backoff_exp(b.base_ms, n, b.cap_ms);
            assert_true(v >= 0 && v <= cap);

            tx_ms_t raw = tx_backoff_delay(&b, n, prev, 0, &jit);
            tx_ms_t lo = 0, hi = v;
            switch ((tx_jitter_t)j) {
            case TX_JITTER_NONE:
                lo = v;
                break;
            case TX_JITTER_FULL:
                break;
            case TX_JITTER_EQUAL:
                lo = v / 2;
                break;
            case TX_JITTER_DECORRELATED: {
                tx_ms_t p = prev < b.base_ms ? b.base_ms : prev;
                lo = min_ms(b.base_ms, cap);
                hi = min_ms(cap, p > INT64_MAX / 3 ? INT64_MAX : p * 3);
                break;
            }
            default:
                fail();
            }
            assert_true(raw >= lo && raw <= hi);

            /* The floor: never under the Retry-After, and it moves nothing else. */
            tx_ms_t floored = tx_backoff_delay(&b, n, prev, ra, &jit);
            assert_true(floored >= ra);
            if (ra > hi)
                assert_true(floored == ra);
            else
                assert_true(floored >= lo && floored <= hi);
        }
    }
}

/* Values are drawn at one of two scales: the small one makes boundaries (a wait landing exactly
 * on the deadline, a Retry-After next to the backoff) frequent. */
static tx_ms_t scaled(tx_rng_t *g, tx_ms_t lo, tx_ms_t hi, int small)
{
    return small ? tx_rng_range(g, lo / 100, hi / 100) : tx_rng_range(g, lo, hi);
}

static tx_policy_t random_policy(tx_rng_t *g, int small)
{
    static const char *const fb[] = {"f1", "f2", "f3", "f4", "f5", "f6", "f7", "f8"};
    tx_policy_t p;
    tx_policy_init(&p, "primary");
    p.schedule.n_fallbacks = (unsigned)tx_rng_range(g, 0, TX_SCHEDULE_MAX_FALLBACKS);
    for (unsigned i = 0; i < p.schedule.n_fallbacks; i++)
        p.schedule.fallbacks[i] = fb[i];
    p.schedule.retry_max = (unsigned)tx_rng_range(g, 1, 6);
    p.schedule.fallback_attempts = (unsigned)tx_rng_range(g, 1, 3);
    p.schedule.budget = (unsigned)tx_rng_range(g, 0, 12);
    p.backoff.kind = (tx_backoff_kind_t)tx_rng_range(g, 0, TX_BACKOFF__LAST - 1);
    p.backoff.jitter = (tx_jitter_t)tx_rng_range(g, 0, TX_JITTER__LAST - 1);
    p.backoff.base_ms = scaled(g, 0, 5000, small);
    p.backoff.cap_ms = scaled(g, -100, 60000, small);
    p.backoff.chain_len = (size_t)tx_rng_range(g, 0, TX_BACKOFF_CHAIN_MAX);
    for (size_t i = 0; i < p.backoff.chain_len; i++)
        p.backoff.chain_ms[i] = scaled(g, 0, 20000, small);
    p.retry_after_max_ms = scaled(g, -100, 90000, small);
    p.deadline_ms = tx_rng_range(g, 0, 5) == 0 ? 0 : scaled(g, 100, 120000, small);
    return p;
}

static void schedules_keep_their_promises(void **state)
{
    (void)state;
    tx_rng_t g, jit;
    tx_rng_seed(&g, 4242);
    tx_rng_seed(&jit, 17);
    unsigned retries = 0, deadline_stops = 0;
    for (int run = 0; run < 20000; run++) {
        int small = run % 2;
        tx_policy_t p = random_policy(&g, small);
        assert_int_equal(tx_policy_validate(&p), TX_EOK);
        unsigned chain = tx_schedule_length(&p.schedule);
        tx_ms_t start = tx_rng_range(&g, -1000000, 1000000000);
        tx_ms_t now = start;
        tx_call_state_t st;
        assert_int_equal(tx_policy_start(&p, &st, now), TX_EOK);
        for (unsigned step = 0;; step++) {
            assert_true(step <= chain);        /* every call ends within its chain */
            now += scaled(&g, 0, 8000, small); /* the attempt's own duration */
            tx_outcome_t o = {.cls = (tx_class_t)tx_rng_range(&g, 1, TX_CLASS__LAST - 1)};
            if (tx_rng_range(&g, 0, 9) == 0) o.cls = TX_CLASS_OK;
            if (tx_rng_range(&g, 0, 2) == 0) o.retry_after_ms = scaled(&g, 100, 100000, small);
            tx_decision_t d;
            assert_int_equal(tx_policy_next(&p, &st, &o, now, &jit, &d), TX_EOK);
            if (p.schedule.budget > 0) assert_true(st.attempts <= p.schedule.budget);
            assert_true(st.attempts <= chain);
            if (d.action == TX_ACT_STOP) {
                deadline_stops += d.reason == TX_REASON_DEADLINE;
                if (d.reason == TX_REASON_RETRY_AFTER_TOO_LONG)
                    assert_true(p.retry_after_max_ms >= 0 &&
                                o.retry_after_ms > p.retry_after_max_ms);
                if (o.cls == TX_CLASS_OK) assert_int_equal(d.reason, TX_REASON_SUCCESS);
                break;
            }
            retries++;
            assert_true(tx_class_retryable(o.cls) || tx_class_next_model(o.cls));
            assert_true(d.delay_ms >= o.retry_after_ms); /* never undercut */
            if (p.deadline_ms > 0) assert_true(now - start + d.delay_ms <= p.deadline_ms);
            assert_true(d.model_idx < tx_schedule_models(&p.schedule));
            assert_true(st.on_model <= tx_schedule_attempts_on(&p.schedule, st.model_idx));
            now += d.delay_ms;
        }
    }
    /* The draws exercised both sides. */
    assert_true(retries > 10000);
    assert_true(deadline_stops > 100);
}

static void jobs_never_exceed_their_budget(void **state)
{
    (void)state;
    tx_rng_t g;
    tx_rng_seed(&g, 777);
    for (int job = 0; job < 20000; job++) {
        tx_policy_t p = random_policy(&g, job % 2);
        p.deadline_ms = 0;
        p.retry_after_max_ms = -1;
        p.schedule.budget = (unsigned)tx_rng_range(&g, 1, 12);
        unsigned chain = tx_schedule_length(&p.schedule);
        unsigned used = 0; /* what the store keeps across restarts */
        int finished = 0;
        for (int restart = 0; restart < 40 && !finished; restart++) {
            tx_call_state_t st;
            int rc = tx_policy_resume(&p, &st, used, 0);
            if (rc == TX_ESTOPPED) break;
            assert_int_equal(rc, TX_EOK);
            assert_int_equal(tx_schedule_model_for(&p.schedule, st.attempts), (int)st.model_idx);
            /* A few attempts, then the process dies mid-call. */
            int run_for = (int)tx_rng_range(&g, 1, 3);
            for (int k = 0; k < run_for; k++) {
                used = st.attempts; /* written before the request leaves */
                tx_outcome_t o = {.cls = TX_CLASS_SERVER};
                tx_decision_t d;
                assert_int_equal(tx_policy_next(&p, &st, &o, 0, NULL, &d), TX_EOK);
                if (d.action == TX_ACT_STOP) {
                    finished = 1;
                    break;
                }
            }
        }
        assert_true(used <= p.schedule.budget);
        /* Retryable failures use up exactly what the chain and the budget allow. */
        assert_int_equal(used, min_ms(chain, p.schedule.budget));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(jitter_bounds),
        cmocka_unit_test(schedules_keep_their_promises),
        cmocka_unit_test(jobs_never_exceed_their_budget),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
