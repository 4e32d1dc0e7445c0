/* Error class names and properties (docs/classifier.md). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "tenax/class.h"
#include "tenax/error.h"

static void names_round_trip(void **state)
{
    (void)state;
    for (int i = 0; i < TX_CLASS__LAST; i++)
        assert_int_equal(tx_class_from_name(tx_class_name((tx_class_t)i)), i);
    assert_string_equal(tx_class_name(TX_CLASS_RATE_LIMIT), "rate_limit");
    assert_string_equal(tx_class_name(TX_CLASS_MODEL_UNAVAILABLE), "model_unavailable");
    assert_string_equal(tx_class_name((tx_class_t)999), "unknown");
    assert_int_equal(tx_class_from_name(NULL), -1);
    assert_int_equal(tx_class_from_name("nope"), -1);
}

static void properties_follow_spec(void **state)
{
    (void)state;
    assert_true(tx_class_retryable(TX_CLASS_RATE_LIMIT));
    assert_false(tx_class_retryable(TX_CLASS_QUOTA));
    assert_false(tx_class_retryable(TX_CLASS_ABORTED));
    assert_true(tx_class_counts_failover(TX_CLASS_TIMEOUT));
    assert_false(tx_class_counts_failover(TX_CLASS_RATE_LIMIT));
    assert_true(tx_class_next_model(TX_CLASS_CONTENT_FILTER));
    assert_true(tx_class_pauses_jobs(TX_CLASS_AUTH));
    assert_true(tx_class_parks_jobs(TX_CLASS_CONCURRENCY));
    assert_string_equal(tx_strerror(TX_ENOMEM), "out of memory");
    assert_string_equal(tx_strerror((tx_err_t)999), "unknown error");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(names_round_trip),
        cmocka_unit_test(properties_follow_spec),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
