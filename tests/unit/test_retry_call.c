/* The blocking retry loop, with delays of a few milliseconds: asserts attempts, models and
 * statistics, never times. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "tenax/error.h"
#include "tenax/retry_call.h"

struct script {
    const tx_class_t *classes; /* one per attempt; the last repeats */
    unsigned n;
    tx_ms_t retry_after_ms;
    unsigned calls;
    unsigned attempts_seen[16];
    const char *models[16];
};

static tx_outcome_t run(void *ctx, unsigned attempt, const char *model)
{
    struct script *s = ctx;
    unsigned i = s->calls < s->n ? s->calls : s->n - 1;
    if (s->calls < 16) {
        s->attempts_seen[s->calls] = attempt;
        s->models[s->calls] = model;
    }
    s->calls++;
    return (tx_outcome_t){.cls = s->classes[i], .retry_after_ms = s->retry_after_ms};
}

static tx_policy_t fast_policy(void)
{
    tx_policy_t p;
    tx_policy_init(&p, "main");
    p.backoff.base_ms = 1;
    p.backoff.cap_ms = 4;
    p.schedule.fallbacks[0] = "backup";
    p.schedule.n_fallbacks = 1;
    return p;
}

static void fails_twice_then_succeeds(void **state)
{
    (void)state;
    tx_policy_t p = fast_policy();
    const tx_class_t cls[] = {TX_CLASS_SERVER, TX_CLASS_SERVER, TX_CLASS_OK};
    struct script s = {.classes = cls, .n = 3};
    tx_stats_t st;
    assert_int_equal(tx_retry_call(&p, run, &s, &st), TX_EOK);
    assert_int_equal(s.calls, 3);
    for (unsigned i = 0; i < 3; i++) {
        assert_int_equal(s.attempts_seen[i], i + 1);
        assert_string_equal(s.models[i], "main");
    }
    assert_int_equal(st.attempts, 3);
    assert_int_equal(st.by_class[TX_CLASS_SERVER], 2);
    assert_int_equal(st.final, TX_REASON_SUCCESS);
    assert_int_equal(st.last_class, TX_CLASS_OK);
    assert_in_range(st.total_wait_ms, 0, 1 + 2); /* full jitter: U(0,1) + U(0,2) */
}

static void exhausts_the_chain(void **state)
{
    (void)state;
    tx_policy_t p = fast_policy();
    const tx_class_t cls[] = {TX_CLASS_GATEWAY};
    struct script s = {.classes = cls, .n = 1};
    tx_stats_t st;
    assert_int_equal(tx_retry_call(&p, run, &s, &st), TX_ESTOPPED);
    assert_int_equal(s.calls, 4);
    assert_string_equal(s.models[2], "main");
    assert_string_equal(s.models[3], "backup");
    assert_int_equal(st.final, TX_REASON_EXHAUSTED);
    assert_int_equal(st.last_class, TX_CLASS_GATEWAY);
}

static void stops_without_sleeping(void **state)
{
    (void)state;
    tx_policy_t p = fast_policy();
    const tx_class_t quota[] = {TX_CLASS_QUOTA};
    struct script s = {.classes = quota, .n = 1};
    tx_stats_t st;
    assert_int_equal(tx_retry_call(&p, run, &s, &st), TX_ESTOPPED);
    assert_int_equal(s.calls, 1);
    assert_int_equal(st.final, TX_REASON_NOT_RETRYABLE);

    /* A Retry-After of an hour is over the limit: stop, do not sleep it. */
    const tx_class_t rl[] = {TX_CLASS_RATE_LIMIT};
    struct script s2 = {.classes = rl, .n = 1, .retry_after_ms = 3600000};
    assert_int_equal(tx_retry_call(&p, run, &s2, &st), TX_ESTOPPED);
    assert_int_equal(s2.calls, 1);
    assert_int_equal(st.final, TX_REASON_RETRY_AFTER_TOO_LONG);

    /* Within the limit but past the deadline: stop at once too. */
    p.retry_after_max_ms = -1;
    p.deadline_ms = 50;
    struct script s3 = {.classes = rl, .n = 1, .retry_after_ms = 3600000};
    assert_int_equal(tx_retry_call(&p, run, &s3, &st), TX_ESTOPPED);
    assert_int_equal(s3.calls, 1);
    assert_int_equal(st.final, TX_REASON_DEADLINE);
    assert_int_equal(st.total_wait_ms, 0);
}

static void bad_arguments(void **state)
{
    (void)state;
    tx_policy_t p = fast_policy();
    const tx_class_t cls[] = {TX_CLASS_OK};
    struct script s = {.classes = cls, .n = 1};
    assert_int_equal(tx_retry_call(NULL, run, &s, NULL), TX_EINVAL);
    assert_int_equal(tx_retry_call(&p, NULL, &s, NULL), TX_EINVAL);
    p.schedule.fallback_attempts = 0;
    assert_int_equal(tx_retry_call(&p, run, &s, NULL), TX_ERANGE);
    assert_int_equal(s.calls, 0);
    p.schedule.fallback_attempts = 1;
    assert_int_equal(tx_retry_call(&p, run, &s, NULL), TX_EOK);
    assert_int_equal(s.calls, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(fails_twice_then_succeeds),
        cmocka_unit_test(exhausts_the_chain),
        cmocka_unit_test(stops_without_sleeping),
        cmocka_unit_test(bad_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
