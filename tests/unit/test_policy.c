/* The policy decision of docs/retry-engine.md: the model chain, skips, the budget and resuming,
 * Retry-After, the deadline, extra stop conditions, hooks, statistics and the parking helper. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "tenax/error.h"
#include "tenax/policy.h"

static tx_policy_t job_policy(unsigned n_fallbacks)
{
    static const char *const fb[] = {"fb1", "fb2", "fb3"};
    tx_policy_t p;
    tx_policy_init(&p, "gpt-4o-mini");
    for (unsigned i = 0; i < n_fallbacks; i++)
        p.schedule.fallbacks[i] = fb[i];
    p.schedule.n_fallbacks = n_fallbacks;
    p.schedule.budget = 5;
    p.deadline_ms = 0;
    p.backoff.jitter = TX_JITTER_NONE;
    return p;
}

static tx_decision_t report(const tx_policy_t *p, tx_call_state_t *st, tx_class_t cls, tx_ms_t ra,
                            tx_ms_t now)
{
    tx_outcome_t o = {.cls = cls, .retry_after_ms = ra};
    tx_decision_t d;
    assert_int_equal(tx_policy_next(p, st, &o, now, NULL, &d), TX_EOK);
    return d;
}

static void defaults_follow_spec(void **state)
{
    (void)state;
    tx_policy_t p = job_policy(2);
    assert_int_equal(tx_policy_validate(&p), TX_EOK);
    assert_int_equal(tx_schedule_length(&p.schedule), 5);
    const int expect[] = {-1, 0, 0, 0, 1, 2, -1};
    for (unsigned n = 0; n < 7; n++)
        assert_int_equal(tx_schedule_model_for(&p.schedule, n), expect[n]);

    tx_call_state_t st;
    assert_int_equal(tx_policy_start(&p, &st, 1000), TX_EOK);
    assert_int_equal(st.attempts, 1);
    assert_string_equal(tx_policy_model(&p, &st), "gpt-4o-mini");
    const char *const models[] = {"gpt-4o-mini", "gpt-4o-mini", "fb1", "fb2"};
    const tx_ms_t delays[] = {2000, 4000, 8000, 16000};
    tx_ms_t now = 1000;
    for (int i = 0; i < 4; i++) {
        tx_decision_t d = report(&p, &st, TX_CLASS_SERVER, 0, now);
        assert_int_equal(d.action, TX_ACT_RETRY);
        assert_int_equal(d.attempt, (unsigned)i + 2);
        assert_string_equal(d.model, models[i]);
        assert_int_equal(d.model_changed, i >= 2);
        assert_int_equal(d.delay_ms, delays[i]);
        assert_int_equal(d.cls, TX_CLASS_SERVER);
        now += d.delay_ms + 100;
    }
    tx_decision_t d = report(&p, &st, TX_CLASS_SERVER, 0, now);
    assert_int_equal(d.action, TX_ACT_STOP);
    assert_int_equal(d.reason, TX_REASON_EXHAUSTED);
    assert_int_equal(d.attempt, 5);
    assert_int_equal(st.stats.attempts, 5);
    assert_int_equal(st.stats.total_wait_ms, 30000);
    assert_int_equal(st.stats.by_class[TX_CLASS_SERVER], 5);
    assert_int_equal(st.stats.final, TX_REASON_EXHAUSTED);
    assert_int_equal(st.stats.elapsed_ms, now - 1000);
    /* The call is over: more reports are refused and repeat the reason. */
    tx_outcome_t o = {.cls = TX_CLASS_SERVER};
    assert_int_equal(tx_policy_next(&p, &st, &o, now, NULL, &d), TX_ESTOPPED);
    assert_int_equal(d.action, TX_ACT_STOP);
    assert_int_equal(d.reason, TX_REASON_EXHAUSTED);
}

static void budget_cuts_a_longer_chain(void **state)
{
    (void)state;
    tx_policy_t p = job_policy(3); /* chain of 6, budget 5 */
    tx_call_state_t st;
    assert_int_equal(tx_policy_start(&p, &st, 0), TX_EOK);
    for (int i = 0; i < 4; i++)
        assert_int_equal(report(&p, &st, TX_CLASS_TIMEOUT, 0, 0).action, TX_ACT_RETRY);
    tx_decision_t d = report(&p, &st, TX_CLASS_TIMEOUT, 0, 0);
    assert_int_equal(d.reason, TX_REASON_BUDGET);
    assert_int_equal(st.attempts, 5);
    assert_int_equal(tx_schedule_model_for(&p.schedule, 6), -1);
}

static void resume_after_restart(void **state)
{
    (void)state;
    tx_policy_t p = job_policy(2);
    tx_call_state_t st;
    assert_int_equal(tx_policy_resume(&p, &st, 3, 0), TX_EOK);
    assert_int_equal(st.attempts, 4);
    assert_string_equal(tx_policy_model(&p, &st), "fb1");
    tx_decision_t d = report(&p, &st, TX_CLASS_GATEWAY, 0, 0);
    assert_int_equal(d.action, TX_ACT_RETRY);
    assert_int_equal(d.attempt, 5);
    assert_string_equal(d.model, "fb2");
    assert_int_equal(d.delay_ms, 16000); /* the backoff counts the earlier runs' attempts */
    assert_int_equal(report(&p, &st, TX_CLASS_GATEWAY, 0, 0).reason, TX_REASON_EXHAUSTED);
    assert_int_equal(st.stats.attempts, 2);

    /* Resuming mid-primary keeps the count on the primary. */
    assert_int_equal(tx_policy_resume(&p, &st, 1, 0), TX_EOK);
    assert_int_equal(st.on_model, 2);
    assert_int_equal(report(&p, &st, TX_CLASS_SERVER, 0, 0).model_idx, 0);
    assert_int_equal(report(&p, &st, TX_CLASS_SERVER, 0, 0).model_idx, 1);

    assert_int_equal(tx_policy_resume(&p, &st, 5, 0), TX_ESTOPPED);
    assert_int_equal(st.stats.final, TX_REASON_BUDGET);
    assert_true(st.done);
    p.schedule.budget = 0;
    assert_int_equal(tx_policy_resume(&p, &st, 5, 0), TX_ESTOPPED);
    assert_int_equal(st.stats.final, TX_REASON_EXHAUSTED);
    assert_int_equal(tx_policy_resume(&p, &st, 4, 0), TX_EOK);
    assert_string_equal(tx_policy_model(&p, &st), "fb2");
}

static void model_skips_go_at_once(void **state)
{
    (void)state;
    tx_policy_t p = job_policy(2);
    const tx_class_t skips[] = {TX_CLASS_MODEL_UNAVAILABLE, TX_CLASS_CONTEXT_LENGTH,
                                TX_CLASS_CONTENT_FILTER};
    for (int i = 0; i < 3; i++) {
        tx_call_state_t st;
        tx_policy_start(&p, &st, 0);
        tx_decision_t d = report(&p, &st, skips[i], 0, 0);
        assert_int_equal(d.action, TX_ACT_RETRY);
        assert_int_equal(d.delay_ms, 0);
        assert_string_equal(d.model, "fb1");
        assert_true(d.model_changed);
        d = report(&p, &st, skips[i], 0, 0);
        assert_string_equal(d.model, "fb2");
        d = report(&p, &st, skips[i], 0, 0);
        assert_int_equal(d.action, TX_ACT_STOP);
        assert_int_equal(d.reason, TX_REASON_EXHAUSTED);
        assert_int_equal(st.attempts, 3);
    }
    /* No fallbacks: the skip ends the call. */
    tx_policy_t solo = job_policy(0);
    tx_call_state_t st;
    tx_policy_start(&solo, &st, 0);
    assert_int_equal(report(&solo, &st, TX_CLASS_CONTEXT_LENGTH, 0, 0).reason, TX_REASON_EXHAUSTED);
}

static void final_classes_stop(void **state)
{
    (void)state;
    tx_policy_t p = job_policy(2);
    const tx_class_t final[] = {TX_CLASS_QUOTA, TX_CLASS_AUTH, TX_CLASS_BAD_REQUEST,
                                TX_CLASS_ABORTED};
    for (int i = 0; i < 4; i++) {
        tx_call_state_t st;
        tx_policy_start(&p, &st, 0);
        tx_decision_t d = report(&p, &st, final[i], 0, 0);
        assert_int_equal(d.action, TX_ACT_STOP);
        assert_int_equal(d.reason, TX_REASON_NOT_RETRYABLE);
        assert_int_equal(d.cls, final[i]);
    }
    tx_call_state_t st;
    tx_policy_start(&p, &st, 0);
    report(&p, &st, TX_CLASS_INVALID_OUTPUT, 0, 0);
    tx_decision_t d = report(&p, &st, TX_CLASS_OK, 0, 0);
    assert_int_equal(d.reason, TX_REASON_SUCCESS);
    assert_int_equal(d.attempt, 2);
    assert_int_equal(st.stats.last_class, TX_CLASS_OK);
    assert_int_equal(st.stats.by_class[TX_CLASS_INVALID_OUTPUT], 1);
}

static void retry_after_floor_and_limit(void **state)
{
    (void)state;
    tx_policy_t p = job_policy(2);
    p.backoff.jitter = TX_JITTER_FULL;
    tx_rng_t r;
    tx_rng_seed(&r, 3);
    tx_call_state_t st;
    tx_policy_start(&p, &st, 0);
    tx_outcome_t o = {.cls = TX_CLASS_RATE_LIMIT, .retry_after_ms = 45000};
    tx_decision_t d;
    assert_int_equal(tx_policy_next(&p, &st, &o, 0, &r, &d), TX_EOK);
    assert_int_equal(d.action, TX_ACT_RETRY);
    assert_int_equal(d.delay_ms, 45000); /* backoff ≤ 2 s: the Retry-After wins */
    assert_int_equal(d.retry_after_ms, 45000);

    o = (tx_outcome_t){.cls = TX_CLASS_CONCURRENCY, .retry_after_ms = 120000};
    assert_int_equal(tx_policy_next(&p, &st, &o, 50000, &r, &d), TX_EOK);
    assert_int_equal(d.action, TX_ACT_STOP);
    assert_int_equal(d.reason, TX_REASON_RETRY_AFTER_TOO_LONG);
    assert_int_equal(d.delay_ms, 120000);
    assert_int_equal(d.cls, TX_CLASS_CONCURRENCY);

    /* No limit: any Retry-After is waited. */
    p.retry_after_max_ms = -1;
    tx_policy_start(&p, &st, 0);
    o.retry_after_ms = 3600000;
    assert_int_equal(tx_policy_next(&p, &st, &o, 0, &r, &d), TX_EOK);
    assert_int_equal(d.delay_ms, 3600000);
}

static void deadline_is_never_crossed(void **state)
{
    (void)state;
    tx_policy_t p = job_policy(0);
    p.deadline_ms = 10000;
    tx_call_state_t st;
    tx_policy_start(&p, &st, 100000);
    tx_decision_t d = report(&p, &st, TX_CLASS_SERVER, 0, 108000); /* 8 s + 2 s lands on it */
    assert_int_equal(d.action, TX_ACT_RETRY);
    assert_int_equal(d.delay_ms, 2000);
    tx_call_state_t edge;
    tx_policy_start(&p, &edge, 100000);
    assert_int_equal(report(&p, &edge, TX_CLASS_SERVER, 0, 108001).reason, TX_REASON_DEADLINE);
    d = report(&p, &st, TX_CLASS_RATE_LIMIT, 1500, 110000); /* 10 s + 4 s would cross it */
    assert_int_equal(d.action, TX_ACT_STOP);
    assert_int_equal(d.reason, TX_REASON_DEADLINE);
    assert_int_equal(d.retry_after_ms, 1500); /* a 429 keeps its Retry-After */
    assert_int_equal(d.cls, TX_CLASS_RATE_LIMIT);
}

static void extra_stop_conditions(void **state)
{
    (void)state;
    tx_policy_t p = job_policy(2);
    const tx_stop_t kids[] = {tx_stop_after_attempt(2), tx_stop_after_delay(5000)};
    tx_stop_t any = tx_stop_any(kids, 2);
    p.stop = &any;
    tx_call_state_t st;
    tx_policy_start(&p, &st, 0);
    assert_int_equal(report(&p, &st, TX_CLASS_SERVER, 0, 0).action, TX_ACT_RETRY);
    assert_int_equal(report(&p, &st, TX_CLASS_SERVER, 0, 0).reason, TX_REASON_EXHAUSTED);
    tx_policy_start(&p, &st, 0);
    assert_int_equal(report(&p, &st, TX_CLASS_SERVER, 0, 6000).reason, TX_REASON_DEADLINE);
}

struct seen {
    int before_attempt, after_attempt, before_sleep;
    const char *models[8];
    tx_ms_t slept;
};

static void on_before_attempt(void *user, const tx_call_state_t *st, unsigned n, const char *model)
{
    struct seen *s = user;
    assert_int_equal(n, st->attempts);
    if (s->before_attempt < 8) s->models[s->before_attempt] = model;
    s->before_attempt++;
}

static void on_after_attempt(void *user, const tx_call_state_t *st, const tx_outcome_t *o)
{
    struct seen *s = user;
    assert_int_equal(st->stats.last_class, o->cls);
    s->after_attempt++;
}

static void on_before_sleep(void *user, const tx_call_state_t *st, const tx_decision_t *d)
{
    struct seen *s = user;
    assert_int_equal(d->action, TX_ACT_RETRY);
    assert_int_equal(d->attempt, st->attempts);
    s->slept += d->delay_ms;
    s->before_sleep++;
}

static void hooks_see_every_step(void **state)
{
    (void)state;
    struct seen s;
    memset(&s, 0, sizeof(s));
    tx_policy_t p = job_policy(1);
    p.hooks = (tx_policy_hooks_t){on_before_attempt, on_after_attempt, on_before_sleep, &s};
    tx_call_state_t st;
    tx_policy_start(&p, &st, 0);
    report(&p, &st, TX_CLASS_SERVER, 0, 0);
    report(&p, &st, TX_CLASS_MODEL_UNAVAILABLE, 0, 0);
    report(&p, &st, TX_CLASS_OK, 0, 0);
    assert_int_equal(s.before_attempt, 3);
    assert_int_equal(s.after_attempt, 3);
    assert_int_equal(s.before_sleep, 2);
    assert_string_equal(s.models[0], "gpt-4o-mini");
    assert_string_equal(s.models[1], "gpt-4o-mini");
    assert_string_equal(s.models[2], "fb1");
    assert_int_equal(s.slept, st.stats.total_wait_ms);
    assert_int_equal(s.slept, 2000);
}

static void bad_input_is_refused(void **state)
{
    (void)state;
    tx_policy_t p = job_policy(1);
    tx_call_state_t st;
    tx_decision_t d;
    tx_outcome_t o = {.cls = TX_CLASS_SERVER};
    assert_int_equal(tx_policy_start(NULL, &st, 0), TX_EINVAL);
    assert_true(st.done);
    assert_int_equal(tx_policy_start(&p, NULL, 0), TX_EINVAL);
    assert_int_equal(tx_policy_validate(NULL), TX_EINVAL);
    tx_policy_start(&p, &st, 0);
    assert_int_equal(tx_policy_next(NULL, &st, &o, 0, NULL, &d), TX_EINVAL);
    assert_int_equal(tx_policy_next(&p, &st, NULL, 0, NULL, &d), TX_EINVAL);
    assert_int_equal(tx_policy_next(&p, &st, &o, 0, NULL, NULL), TX_EINVAL);
    o.cls = (tx_class_t)999;
    assert_int_equal(tx_policy_next(&p, &st, &o, 0, NULL, &d), TX_EINVAL);
    assert_null(tx_policy_model(NULL, &st));
    tx_policy_t bad = p;
    bad.schedule.retry_max = 0;
    assert_int_equal(tx_policy_start(&bad, &st, 0), TX_ERANGE);
    bad = p;
    bad.schedule.n_fallbacks = 9;
    assert_int_equal(tx_policy_validate(&bad), TX_ERANGE);
    bad = p;
    bad.backoff.jitter = (tx_jitter_t)42;
    assert_int_equal(tx_policy_validate(&bad), TX_ERANGE);
    /* A clock that goes backwards counts as no time elapsed. */
    tx_policy_start(&p, &st, 5000);
    o.cls = TX_CLASS_SERVER;
    assert_int_equal(tx_policy_next(&p, &st, &o, 1000, NULL, &d), TX_EOK);
    assert_int_equal(st.stats.elapsed_ms, 0);
    tx_policy_init(NULL, "x");
    assert_string_equal(tx_stop_reason_name(TX_REASON_RETRY_AFTER_TOO_LONG),
                        "retry_after_too_long");
    assert_string_equal(tx_stop_reason_name((tx_stop_reason_t)77), "unknown");
}

static void parking(void **state)
{
    (void)state;
    const tx_ms_t expect[] = {30000, 60000, 120000, 240000, 480000, 480000};
    for (unsigned n = 0; n < 6; n++)
        assert_int_equal(tx_park_delay(30000, 480000, n, 0), expect[n]);
    assert_int_equal(tx_park_delay(30000, 480000, 1000000, 0), 480000);
    assert_int_equal(tx_park_delay(30000, 480000, UINT32_MAX, 0), 480000);
    assert_int_equal(tx_park_delay(30000, 480000, 0, 600000), 600000);
    assert_int_equal(tx_park_delay(30000, 480000, 2, 10000), 120000);
    assert_int_equal(tx_park_delay(-1, -1, 3, -1), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(defaults_follow_spec),
        cmocka_unit_test(budget_cuts_a_longer_chain),
        cmocka_unit_test(resume_after_restart),
        cmocka_unit_test(model_skips_go_at_once),
        cmocka_unit_test(final_classes_stop),
        cmocka_unit_test(retry_after_floor_and_limit),
        cmocka_unit_test(deadline_is_never_crossed),
        cmocka_unit_test(extra_stop_conditions),
        cmocka_unit_test(hooks_see_every_step),
        cmocka_unit_test(bad_input_is_refused),
        cmocka_unit_test(parking),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
