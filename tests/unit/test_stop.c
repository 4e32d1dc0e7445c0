/* Stop conditions and their any/all combinations. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "tenax/stop.h"

static tx_stop_kind_t at(const tx_stop_t *s, unsigned attempts, tx_ms_t elapsed, tx_ms_t next)
{
    tx_stop_input_t in = {.attempts = attempts, .elapsed_ms = elapsed, .next_delay_ms = next};
    return tx_stop_check(s, &in);
}

static void leaves(void **state)
{
    (void)state;
    tx_stop_t a = tx_stop_after_attempt(3);
    assert_int_equal(at(&a, 2, 0, 0), TX_STOP_NEVER);
    assert_int_equal(at(&a, 3, 0, 0), TX_STOP_AFTER_ATTEMPT);
    tx_stop_t d = tx_stop_after_delay(1000);
    assert_int_equal(at(&d, 1, 999, 5000), TX_STOP_NEVER);
    assert_int_equal(at(&d, 1, 1000, 0), TX_STOP_AFTER_DELAY);
    tx_stop_t b = tx_stop_before_delay(1000);
    assert_int_equal(at(&b, 1, 600, 400), TX_STOP_NEVER); /* lands exactly on it: allowed */
    assert_int_equal(at(&b, 1, 600, 401), TX_STOP_BEFORE_DELAY);
    assert_int_equal(at(&b, 1, 1001, 0), TX_STOP_BEFORE_DELAY);
    assert_int_equal(at(&b, 1, 10, INT64_MAX), TX_STOP_BEFORE_DELAY); /* no overflow */
    assert_int_equal(at(&b, 1, -INT64_MAX, INT64_MAX), TX_STOP_BEFORE_DELAY);
    tx_stop_t never = {0};
    assert_int_equal(at(&never, 1000, INT64_MAX, INT64_MAX), TX_STOP_NEVER);
    assert_int_equal(tx_stop_check(NULL, NULL), TX_STOP_NEVER);
    assert_int_equal(tx_stop_check(&a, NULL), TX_STOP_NEVER);
}

static void any_and_all(void **state)
{
    (void)state;
    const tx_stop_t kids[] = {tx_stop_after_attempt(5), tx_stop_before_delay(10000)};
    tx_stop_t any = tx_stop_any(kids, 2);
    tx_stop_t all = tx_stop_all(kids, 2);
    assert_int_equal(at(&any, 1, 0, 100), TX_STOP_NEVER);
    assert_int_equal(at(&any, 5, 0, 100), TX_STOP_AFTER_ATTEMPT);
    assert_int_equal(at(&any, 1, 9000, 2000), TX_STOP_BEFORE_DELAY);
    assert_int_equal(at(&all, 5, 0, 100), TX_STOP_NEVER);
    assert_int_equal(at(&all, 1, 9000, 2000), TX_STOP_NEVER);
    assert_int_equal(at(&all, 5, 9000, 2000), TX_STOP_BEFORE_DELAY);
    /* Nested: (attempts >= 5 and elapsed >= 1 s) or elapsed >= 1 min. */
    const tx_stop_t inner[] = {tx_stop_after_attempt(5), tx_stop_after_delay(1000)};
    const tx_stop_t outer[] = {tx_stop_all(inner, 2), tx_stop_after_delay(60000)};
    tx_stop_t tree = tx_stop_any(outer, 2);
    assert_int_equal(at(&tree, 5, 500, 0), TX_STOP_NEVER);
    assert_int_equal(at(&tree, 5, 1500, 0), TX_STOP_AFTER_DELAY);
    assert_int_equal(at(&tree, 1, 60000, 0), TX_STOP_AFTER_DELAY);
    /* Empty combinations never fire; a NULL child list is empty. */
    tx_stop_t none_any = tx_stop_any(NULL, 3), none_all = tx_stop_all(kids, 0);
    assert_int_equal(none_any.n_kids, 0);
    assert_int_equal(at(&none_any, 99, 99999, 0), TX_STOP_NEVER);
    assert_int_equal(at(&none_all, 99, 99999, 0), TX_STOP_NEVER);
}

static void cyclic_tree_is_cut(void **state)
{
    (void)state;
    /* A node that contains itself: evaluation stops at the depth limit instead of recursing
     * forever. */
    tx_stop_t loop[1] = {{0}};
    loop[0] = tx_stop_any(loop, 1);
    assert_int_equal(at(&loop[0], 1, 0, 0), TX_STOP_NEVER);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(leaves),
        cmocka_unit_test(any_and_all),
        cmocka_unit_test(cyclic_tree_is_cut),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
