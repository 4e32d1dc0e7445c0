/* The retry budget: the bound (percent of first attempts plus the floor), the sliding window,
 * refusals counted, the once-a-second log gate, and new parameters. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "upstream/budget.h"

static void floor_only(void **state)
{
    (void)state;
    tx_budget_t b;
    tx__budget_init(&b, 20, 1); /* no first attempts: 1 × 10 retries in the window */
    assert_int_equal(tx__budget_available(&b, 0), 10);
    for (int i = 0; i < 10; i++)
        assert_int_equal(tx__budget_try_retry(&b, 100), 1);
    assert_int_equal(tx__budget_try_retry(&b, 200), 0);
    assert_int_equal(tx__budget_try_retry(&b, 300), 0);
    assert_int_equal(b.exhausted, 2);
    assert_int_equal(tx__budget_available(&b, 300), 0);
}

static void percent_of_first(void **state)
{
    (void)state;
    tx_budget_t b;
    tx__budget_init(&b, 20, 0);
    for (int i = 0; i < 100; i++)
        tx__budget_on_first(&b, 1000 + i);
    assert_int_equal(tx__budget_available(&b, 1500), 20);
    int ok = 0;
    for (int i = 0; i < 50; i++)
        ok += tx__budget_try_retry(&b, 1600);
    assert_int_equal(ok, 20);
    assert_int_equal(b.exhausted, 30);
}

static void window_slides(void **state)
{
    (void)state;
    tx_budget_t b;
    tx__budget_init(&b, 100, 0);
    for (int i = 0; i < 5; i++)
        tx__budget_on_first(&b, 0); /* second 0 */
    for (int i = 0; i < 3; i++)
        tx__budget_on_first(&b, 4500); /* second 4 */
    assert_int_equal(tx__budget_available(&b, 9999), 8);
    assert_int_equal(tx__budget_try_retry(&b, 9999), 1); /* second 9 */
    assert_int_equal(tx__budget_available(&b, 9999), 7);
    /* second 10: the first bucket (5 first attempts) leaves the window */
    assert_int_equal(tx__budget_available(&b, 10000), 2);
    /* second 14: the second bucket too */
    assert_int_equal(tx__budget_available(&b, 14000), 0);
    /* second 19: the retry of second 9 is gone as well; the one-a-window floor remains */
    assert_int_equal(b.sum_retry, 1);
    assert_int_equal(tx__budget_available(&b, 19000), 1);
    assert_int_equal(b.sum_retry, 0);
    /* a long gap empties everything at once */
    for (int i = 0; i < 4; i++)
        tx__budget_on_first(&b, 20000);
    assert_int_equal(tx__budget_available(&b, 100000000), 1);
    assert_int_equal(b.sum_first, 0);
}

static void clock_back_counts_in_newest(void **state)
{
    (void)state;
    tx_budget_t b;
    tx__budget_init(&b, 100, 0);
    tx__budget_on_first(&b, 5000);
    tx__budget_on_first(&b, 3000); /* the clock went back: counted now */
    assert_int_equal(tx__budget_available(&b, 5000), 2);
}

static void log_once_a_second(void **state)
{
    (void)state;
    tx_budget_t b;
    tx__budget_init(&b, 0, 0);
    assert_int_equal(tx__budget_log_due(&b, 100), 1);
    assert_int_equal(tx__budget_log_due(&b, 500), 0);
    assert_int_equal(tx__budget_log_due(&b, 1099), 0);
    assert_int_equal(tx__budget_log_due(&b, 1100), 1);
    assert_int_equal(tx__budget_log_due(&b, 1200), 0);
}

static void new_parameters(void **state)
{
    (void)state;
    tx_budget_t b;
    tx__budget_init(&b, 0, 0);
    for (int i = 0; i < 10; i++)
        tx__budget_on_first(&b, 0);
    assert_int_equal(tx__budget_try_retry(&b, 0), 1); /* the one-a-window floor */
    assert_int_equal(tx__budget_try_retry(&b, 0), 0);
    tx__budget_set(&b, 1000, 2); /* 10 × 10 first + 2 × 10 */
    assert_int_equal(tx__budget_available(&b, 0), 119);
    assert_int_equal(tx__budget_try_retry(&b, 0), 1);
    assert_int_equal(tx__budget_available(&b, 0), 118);
}

/* Both knobs at 0 and no first attempts (a backlog of parked job items, nothing new): one retry
 * per window still goes, so no item waits on the budget forever. */
static void never_stops_retries(void **state)
{
    (void)state;
    tx_budget_t b;
    tx__budget_init(&b, 0, 0);
    assert_int_equal(tx__budget_available(&b, 0), 1);
    assert_int_equal(tx__budget_try_retry(&b, 0), 1);
    assert_int_equal(tx__budget_try_retry(&b, 5000), 0);
    assert_int_equal(tx__budget_try_retry(&b, 9999), 0);
    assert_int_equal(tx__budget_try_retry(&b, 10000), 1); /* the first retry left the window */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(floor_only),          cmocka_unit_test(percent_of_first),
        cmocka_unit_test(window_slides),       cmocka_unit_test(clock_back_counts_in_newest),
        cmocka_unit_test(log_once_a_second),   cmocka_unit_test(new_parameters),
        cmocka_unit_test(never_stops_retries),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
