/* The adaptive limit: starts at max, cut to three quarters on overload once per round trip,
 * raised by one after a stretch of successes at the limit, bounded by 1 and max, inert when
 * adaptive is off. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "upstream/limiter.h"

static void room_and_counts(void **state)
{
    (void)state;
    tx_limiter_t l;
    tx__limiter_init(&l, 2, 1);
    assert_int_equal(l.limit, 2);
    assert_true(tx__limiter_has_room(&l));
    tx_lim_ticket_t a = tx__limiter_take(&l);
    assert_false(a.at_limit);
    tx_lim_ticket_t b = tx__limiter_take(&l);
    assert_true(b.at_limit);
    assert_false(tx__limiter_has_room(&l));
    assert_int_equal(tx__limiter_done(&l, a, TX_LIM_NEUTRAL, NULL), 0);
    assert_int_equal(l.in_flight, 1);
    assert_true(tx__limiter_has_room(&l));
    tx_lim_ticket_t none = {0, 0};
    assert_int_equal(tx__limiter_done(&l, none, TX_LIM_OVERLOAD, NULL), 0);
    assert_int_equal(l.in_flight, 1);
}

static void cut_once_per_round_trip(void **state)
{
    (void)state;
    tx_limiter_t l;
    tx__limiter_init(&l, 16, 1);
    tx_lim_ticket_t t[8];
    for (int i = 0; i < 8; i++)
        t[i] = tx__limiter_take(&l);
    unsigned old = 0;
    assert_int_equal(tx__limiter_done(&l, t[0], TX_LIM_CONCURRENCY, &old), 1);
    assert_int_equal(old, 16);
    assert_int_equal(l.limit, 12);
    /* the others were in flight together with it: no further cut */
    for (int i = 1; i < 8; i++)
        assert_int_equal(tx__limiter_done(&l, t[i], TX_LIM_OVERLOAD, NULL), 0);
    assert_int_equal(l.limit, 12);
    /* a later attempt may cut again: a rate limit or a timeout by a tenth */
    tx_lim_ticket_t n = tx__limiter_take(&l);
    assert_int_equal(tx__limiter_done(&l, n, TX_LIM_OVERLOAD, &old), 1);
    assert_int_equal(old, 12);
    assert_int_equal(l.limit, 10);
    n = tx__limiter_take(&l);
    assert_int_equal(tx__limiter_done(&l, n, TX_LIM_CONCURRENCY, &old), 1);
    assert_int_equal(l.limit, 7);
    /* by at least one */
    tx__limiter_init(&l, 5, 1);
    n = tx__limiter_take(&l);
    assert_int_equal(tx__limiter_done(&l, n, TX_LIM_OVERLOAD, &old), 1);
    assert_int_equal(l.limit, 4);
}

static void floor_of_one(void **state)
{
    (void)state;
    tx_limiter_t l;
    tx__limiter_init(&l, 3, 1);
    for (int i = 0; i < 10; i++) {
        tx_lim_ticket_t t = tx__limiter_take(&l);
        tx__limiter_done(&l, t, TX_LIM_OVERLOAD, NULL);
    }
    assert_int_equal(l.limit, 1);
    assert_true(tx__limiter_has_room(&l));
}

static void raise_after_stretch_at_limit(void **state)
{
    (void)state;
    tx_limiter_t l;
    tx__limiter_init(&l, 4, 1);
    tx_lim_ticket_t t = tx__limiter_take(&l);
    tx__limiter_done(&l, t, TX_LIM_OVERLOAD, NULL);
    assert_int_equal(l.limit, 3);
    /* successes below the limit do not raise it */
    for (int i = 0; i < 20; i++) {
        t = tx__limiter_take(&l);
        assert_false(t.at_limit);
        tx__limiter_done(&l, t, TX_LIM_SUCCESS, NULL);
    }
    assert_int_equal(l.limit, 3);
    /* fill to the limit, then TX_LIM_STREAK × 3 successes at it */
    tx_lim_ticket_t a = tx__limiter_take(&l), b = tx__limiter_take(&l);
    int changed = 0;
    unsigned old = 0;
    for (int i = 0; i < TX_LIM_STREAK * 3; i++) {
        assert_int_equal(changed, 0);
        t = tx__limiter_take(&l);
        assert_true(t.at_limit);
        changed = tx__limiter_done(&l, t, TX_LIM_SUCCESS, &old);
    }
    assert_int_equal(changed, 1);
    assert_int_equal(old, 3);
    assert_int_equal(l.limit, 4);
    tx__limiter_done(&l, a, TX_LIM_SUCCESS, NULL);
    tx__limiter_done(&l, b, TX_LIM_SUCCESS, NULL);
    /* never above max */
    for (int i = 0; i < 100; i++) {
        tx_lim_ticket_t x[4];
        for (int k = 0; k < 4; k++)
            x[k] = tx__limiter_take(&l);
        for (int k = 0; k < 4; k++)
            tx__limiter_done(&l, x[k], TX_LIM_SUCCESS, NULL);
    }
    assert_int_equal(l.limit, 4);
}

static void adaptive_off(void **state)
{
    (void)state;
    tx_limiter_t l;
    tx__limiter_init(&l, 2, 0);
    tx_lim_ticket_t t[5];
    for (int i = 0; i < 5; i++)
        t[i] = tx__limiter_take(&l);
    assert_true(tx__limiter_has_room(&l));
    for (int i = 0; i < 5; i++)
        assert_int_equal(tx__limiter_done(&l, t[i], TX_LIM_OVERLOAD, NULL), 0);
    assert_int_equal(l.limit, 2);
    assert_int_equal(l.in_flight, 0);
}

static void reconfigure(void **state)
{
    (void)state;
    tx_limiter_t l;
    tx__limiter_init(&l, 8, 1);
    tx_lim_ticket_t t = tx__limiter_take(&l);
    tx__limiter_done(&l, t, TX_LIM_CONCURRENCY, NULL);
    assert_int_equal(l.limit, 6);
    tx__limiter_configure(&l, 16, 1);
    assert_int_equal(l.limit, 6); /* a larger max keeps what was learnt */
    tx__limiter_configure(&l, 4, 1);
    assert_int_equal(l.limit, 4);
    tx__limiter_configure(&l, 10, 0);
    assert_int_equal(l.limit, 10);
    tx__limiter_configure(&l, 0, 1);
    assert_int_equal(l.limit, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(room_and_counts), cmocka_unit_test(cut_once_per_round_trip),
        cmocka_unit_test(floor_of_one),    cmocka_unit_test(raise_after_stretch_at_limit),
        cmocka_unit_test(adaptive_off),    cmocka_unit_test(reconfigure),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
