/* Backoff kinds, jitter families, cap, saturation and the Retry-After floor; and the seeded
 * generator under them. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "tenax/backoff.h"
#include "tenax/rng.h"

static tx_backoff_t expo(tx_jitter_t j, tx_ms_t base, tx_ms_t cap)
{
    return (tx_backoff_t){
        .kind = TX_BACKOFF_EXPONENTIAL, .jitter = j, .base_ms = base, .cap_ms = cap};
}

static void rng_is_seeded_and_bounded(void **state)
{
    (void)state;
    tx_rng_t a, b, c;
    tx_rng_seed(&a, 42);
    tx_rng_seed(&b, 42);
    tx_rng_seed(&c, 43);
    uint64_t xa = tx_rng_next(&a);
    assert_int_equal(xa, tx_rng_next(&b));
    assert_int_not_equal(xa, tx_rng_next(&c));
    assert_int_equal(tx_rng_range(&a, 7, 7), 7);
    assert_int_equal(tx_rng_range(&a, 9, 3), 9);
    assert_int_equal(tx_rng_range(NULL, 5, 100), 5);
    assert_int_equal(tx_rng_next(NULL), 0);
    /* The full int64 range must not hang or trap. */
    (void)tx_rng_range(&a, INT64_MIN, INT64_MAX);
    unsigned buckets[10] = {0};
    for (int i = 0; i < 100000; i++) {
        int64_t v = tx_rng_range(&a, 0, 9);
        assert_true(v >= 0 && v <= 9);
        buckets[v]++;
    }
    for (int i = 0; i < 10; i++)
        assert_in_range(buckets[i], 9000, 11000);
}

static void exponential_doubles_and_caps(void **state)
{
    (void)state;
    assert_int_equal(tx_backoff_exp(2000, 1, 30000), 2000);
    assert_int_equal(tx_backoff_exp(2000, 2, 30000), 4000);
    assert_int_equal(tx_backoff_exp(2000, 3, 30000), 8000);
    assert_int_equal(tx_backoff_exp(2000, 4, 30000), 16000);
    assert_int_equal(tx_backoff_exp(2000, 5, 30000), 30000);
    assert_int_equal(tx_backoff_exp(2000, 0, 30000), 2000);
    assert_int_equal(tx_backoff_exp(-5, 3, 30000), 0);
    /* Saturation instead of overflow. */
    assert_int_equal(tx_backoff_exp(2000, 1000000, 30000), 30000);
    assert_int_equal(tx_backoff_exp(2000, 100, -1), INT64_MAX);
    assert_int_equal(tx_backoff_exp(INT64_MAX, 2, -1), INT64_MAX);
    assert_int_equal(tx_backoff_exp(3, 62, -1), INT64_C(3) << 61);
    assert_int_equal(tx_backoff_exp(3, 63, -1), INT64_MAX);
    assert_int_equal(tx_backoff_exp(1, 63, -1), INT64_C(1) << 62);

    tx_backoff_t b = expo(TX_JITTER_NONE, 2000, 30000);
    assert_int_equal(tx_backoff_delay(&b, 3, 0, 0, NULL), 8000);
    assert_int_equal(tx_backoff_delay(&b, 40, 0, 0, NULL), 30000);
    assert_int_equal(tx_backoff_delay(&b, UINT32_MAX, 0, 0, NULL), 30000);
}

static void fixed_and_chain(void **state)
{
    (void)state;
    tx_backoff_t f = {.kind = TX_BACKOFF_FIXED, .base_ms = 750, .cap_ms = -1};
    for (unsigned n = 1; n < 10; n++)
        assert_int_equal(tx_backoff_delay(&f, n, 0, 0, NULL), 750);
    tx_backoff_t c = {
        .kind = TX_BACKOFF_CHAIN, .cap_ms = 400, .chain_len = 3, .chain_ms = {100, 200, 500}};
    assert_int_equal(tx_backoff_delay(&c, 1, 0, 0, NULL), 100);
    assert_int_equal(tx_backoff_delay(&c, 2, 0, 0, NULL), 200);
    assert_int_equal(tx_backoff_delay(&c, 3, 0, 0, NULL), 400); /* capped */
    c.cap_ms = -1;
    assert_int_equal(tx_backoff_delay(&c, 3, 0, 0, NULL), 500);
    assert_int_equal(tx_backoff_delay(&c, 99, 0, 0, NULL), 500); /* the last one repeats */
    c.chain_len = 0;
    c.base_ms = 33;
    assert_int_equal(tx_backoff_delay(&c, 2, 0, 0, NULL), 33);
    c.chain_len = 1000; /* bogus length is clamped, not read past the array */
    c.chain_ms[TX_BACKOFF_CHAIN_MAX - 1] = 77;
    assert_int_equal(tx_backoff_delay(&c, 500, 0, 0, NULL), 77);
}

static void jitter_families_stay_in_bounds(void **state)
{
    (void)state;
    tx_rng_t r;
    tx_rng_seed(&r, 7);
    tx_backoff_t full = expo(TX_JITTER_FULL, 2000, 30000);
    tx_backoff_t equal = expo(TX_JITTER_EQUAL, 2000, 30000);
    tx_backoff_t deco = expo(TX_JITTER_DECORRELATED, 2000, 30000);
    int full_low = 0, full_high = 0;
    tx_ms_t prev = 0;
    for (int i = 0; i < 2000; i++) {
        tx_ms_t d = tx_backoff_delay(&full, 3, 0, 0, &r);
        assert_in_range(d, 0, 8000);
        full_low += d < 4000;
        full_high += d >= 4000;
        assert_in_range(tx_backoff_delay(&equal, 3, 0, 0, &r), 4000, 8000);
        tx_ms_t dd = tx_backoff_delay(&deco, 1, prev, 0, &r);
        tx_ms_t hi = (prev < 2000 ? 2000 : prev) * 3;
        assert_in_range(dd, 2000, hi < 30000 ? hi : 30000);
        prev = dd;
    }
    /* Jitter actually spreads the waits over the interval. */
    assert_true(full_low > 500 && full_high > 500);
    /* Decorrelated with a huge previous wait neither overflows nor escapes the cap. */
    assert_in_range(tx_backoff_delay(&deco, 1, INT64_MAX, 0, &r), 2000, 30000);
    /* No rng: the low end of the interval. */
    assert_int_equal(tx_backoff_delay(&full, 3, 0, 0, NULL), 0);
    assert_int_equal(tx_backoff_delay(&equal, 3, 0, 0, NULL), 4000);
}

static void retry_after_is_a_floor(void **state)
{
    (void)state;
    tx_rng_t r;
    tx_rng_seed(&r, 1);
    for (int j = 0; j < TX_JITTER__LAST; j++) {
        tx_backoff_t b = expo((tx_jitter_t)j, 2000, 30000);
        /* Above the cap: the Retry-After wins over the cap. */
        assert_int_equal(tx_backoff_delay(&b, 2, 0, 45000, &r), 45000);
        for (int i = 0; i < 200; i++)
            assert_true(tx_backoff_delay(&b, 2, 0, 3000, &r) >= 3000);
    }
    assert_int_equal(tx_backoff_delay(NULL, 2, 0, 1234, &r), 1234);
    assert_int_equal(tx_backoff_delay(NULL, 2, 0, -5, &r), 0);
}

static void jitter_names(void **state)
{
    (void)state;
    for (int j = 0; j < TX_JITTER__LAST; j++)
        assert_int_equal(tx_jitter_from_name(tx_jitter_name((tx_jitter_t)j)), j);
    assert_int_equal(tx_jitter_from_name("decorrelated"), TX_JITTER_DECORRELATED);
    assert_int_equal(tx_jitter_from_name("Full"), -1);
    assert_int_equal(tx_jitter_from_name(NULL), -1);
    assert_string_equal(tx_jitter_name((tx_jitter_t)99), "unknown");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rng_is_seeded_and_bounded),
        cmocka_unit_test(exponential_doubles_and_caps),
        cmocka_unit_test(fixed_and_chain),
        cmocka_unit_test(jitter_families_stay_in_bounds),
        cmocka_unit_test(retry_after_is_a_floor),
        cmocka_unit_test(jitter_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
