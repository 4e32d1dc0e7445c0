/* Integer formatting without printf (core/numfmt.h): every result is checked against
 * snprintf, at 0, the limits of each type, negatives and powers of the base. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "core/numfmt.h"

static void check_u64(uint64_t v)
{
    char want[32], got[TX_NUMFMT_MAX + 8];
    memset(got, 'x', sizeof got);
    int n = snprintf(want, sizeof want, "%" PRIu64, v);
    assert_int_equal(tx__fmt_u64(got, v), (size_t)n);
    assert_string_equal(got, want);
}

static void check_i64(int64_t v)
{
    char want[32], got[TX_NUMFMT_MAX + 8];
    memset(got, 'x', sizeof got);
    int n = snprintf(want, sizeof want, "%" PRId64, v);
    assert_int_equal(tx__fmt_i64(got, v), (size_t)n);
    assert_string_equal(got, want);
}

static void check_hex(uint64_t v)
{
    char want[32], got[TX_NUMFMT_MAX + 8];
    memset(got, 'x', sizeof got);
    int n = snprintf(want, sizeof want, "%" PRIx64, v);
    assert_int_equal(tx__fmt_hex(got, v), (size_t)n);
    assert_string_equal(got, want);
}

static void unsigned_decimal(void **state)
{
    (void)state;
    char out[TX_NUMFMT_MAX];
    assert_int_equal(tx__fmt_u64(out, 0), 1);
    assert_string_equal(out, "0");
    assert_int_equal(tx__fmt_u64(out, UINT64_MAX), 20);
    assert_string_equal(out, "18446744073709551615");
    for (uint64_t p = 1; p <= UINT64_MAX / 10; p *= 10) {
        check_u64(p - 1);
        check_u64(p);
        check_u64(p + 1);
    }
    check_u64(200);
    check_u64(4u * 1024u * 1024u);
    check_u64(UINT64_MAX - 1);
}

static void signed_decimal(void **state)
{
    (void)state;
    char out[TX_NUMFMT_MAX];
    assert_int_equal(tx__fmt_i64(out, INT64_MIN), 20);
    assert_string_equal(out, "-9223372036854775808");
    assert_int_equal(tx__fmt_i64(out, -1), 2);
    assert_string_equal(out, "-1");
    check_i64(0);
    check_i64(INT64_MAX);
    check_i64(INT64_MIN + 1);
    for (int64_t p = 1; p <= INT64_MAX / 10; p *= 10) {
        check_i64(p);
        check_i64(-p);
        check_i64(p - 1);
        check_i64(1 - p);
    }
    check_i64(999);
    check_i64(-999);
}

static void hexadecimal(void **state)
{
    (void)state;
    char out[TX_NUMFMT_MAX];
    assert_int_equal(tx__fmt_hex(out, 0), 1);
    assert_string_equal(out, "0");
    assert_int_equal(tx__fmt_hex(out, UINT64_MAX), 16);
    assert_string_equal(out, "ffffffffffffffff");
    for (int shift = 0; shift < 64; shift++) {
        uint64_t p = (uint64_t)1 << shift;
        check_hex(p);
        check_hex(p - 1);
        check_hex(p + 0xabc);
    }
    check_hex(0xdeadbeef);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(unsigned_decimal),
        cmocka_unit_test(signed_decimal),
        cmocka_unit_test(hexadecimal),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
