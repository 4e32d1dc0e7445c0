/* tx__decimal: the same text as snprintf "%lld" across the range (zero, signs, every power of
 * ten and its neighbours, the 64-bit limits), and a buffer too small gives "" and 0. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "core/decimal.h"

static void check(long long v)
{
    char want[32], got[TX_DECIMAL_MAX];
    int wl = snprintf(want, sizeof want, "%lld", v);
    memset(got, 'x', sizeof got);
    size_t n = tx__decimal(got, sizeof got, v);
    assert_string_equal(got, want);
    assert_int_equal(n, (size_t)wl);
}

static void same_as_snprintf(void **state)
{
    (void)state;
    check(0);
    check(LLONG_MAX);
    check(LLONG_MIN);
    check(LLONG_MIN + 1);
    long long p = 1; /* 10^0 … 10^18 */
    for (int i = 0; i <= 18; i++) {
        check(p);
        check(p - 1);
        check(p + 1);
        check(-p);
        check(-p + 1);
        check(-p - 1);
        if (i < 18) p *= 10;
    }
    for (long long v = -1000; v <= 1000; v += 7)
        check(v);
}

static void too_small(void **state)
{
    (void)state;
    char b[4];
    memset(b, 'x', sizeof b);
    assert_int_equal(tx__decimal(b, sizeof b, 1234), 0); /* needs 5 bytes with the NUL */
    assert_string_equal(b, "");
    assert_int_equal(tx__decimal(b, sizeof b, 123), 3); /* exactly fits */
    assert_string_equal(b, "123");
    assert_int_equal(tx__decimal(b, sizeof b, -12), 3);
    assert_string_equal(b, "-12");
    assert_int_equal(tx__decimal(b, sizeof b, -123), 0);
    assert_string_equal(b, "");
    assert_int_equal(tx__decimal(b, 1, 5), 0);
    assert_string_equal(b, "");
    assert_int_equal(tx__decimal(NULL, 0, 5), 0); /* nothing written */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(same_as_snprintf),
        cmocka_unit_test(too_small),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
