/* Per-client token buckets with a passed-in clock: burst, refill, headers' numbers, run-time rate
 * changes, bounded memory and sweeping. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "server/ratelimit.h"

static void burst_then_refill(void **state)
{
    (void)state;
    tx_ratelimit_t *rl = tx__ratelimit_create(60, 100); /* one per second, burst 60 */
    tx_ratelimit_info_t info;
    tx_ms_t t = 1000000;
    for (int i = 0; i < 60; i++) {
        assert_int_equal(tx__ratelimit_take(rl, "k1", t, &info), 1);
        assert_int_equal(info.limit, 60);
        assert_int_equal(info.remaining, 59 - i);
    }
    assert_int_equal(info.reset_ms, 60000); /* empty: a minute to be full */
    assert_int_equal(tx__ratelimit_take(rl, "k1", t, &info), 0);
    assert_int_equal(info.allowed, 0);
    assert_int_equal(info.remaining, 0);
    assert_int_equal(info.retry_after_ms, 1000);
    assert_int_equal(info.retry_after_s, 1);
    /* another client has its own bucket */
    assert_int_equal(tx__ratelimit_take(rl, "k2", t, &info), 1);
    assert_int_equal(info.remaining, 59);
    /* 400 ms later: still no token, 600 ms to go, Retry-After rounds up to 1 */
    assert_int_equal(tx__ratelimit_take(rl, "k1", t + 400, &info), 0);
    assert_int_equal(info.retry_after_ms, 600);
    assert_int_equal(info.retry_after_s, 1);
    assert_int_equal(tx__ratelimit_take(rl, "k1", t + 1000, &info), 1);
    assert_int_equal(info.remaining, 0);
    assert_int_equal(tx__ratelimit_take(rl, "k1", t + 1000, &info), 0);
    /* a clock going backwards gives nothing */
    assert_int_equal(tx__ratelimit_take(rl, "k1", t, &info), 0);
    /* an hour later the bucket is full, not overfull */
    assert_int_equal(tx__ratelimit_take(rl, "k1", t + 3600000, &info), 1);
    assert_int_equal(info.remaining, 59);
    assert_int_equal(info.reset_ms, 1000);
    tx__ratelimit_destroy(rl);
}

static void slow_rate_retry_after_in_seconds(void **state)
{
    (void)state;
    tx_ratelimit_t *rl = tx__ratelimit_create(2, 10); /* one every 30 s */
    tx_ratelimit_info_t info;
    assert_int_equal(tx__ratelimit_take(rl, "a", 0, &info), 1);
    assert_int_equal(tx__ratelimit_take(rl, "a", 0, &info), 1);
    assert_int_equal(tx__ratelimit_take(rl, "a", 1, &info), 0);
    assert_int_equal(info.retry_after_ms, 29999);
    assert_int_equal(info.retry_after_s, 30);
    assert_int_equal(info.reset_ms, 59999);
    tx__ratelimit_destroy(rl);
}

static void rate_change_applies_to_existing_buckets(void **state)
{
    (void)state;
    tx_ratelimit_t *rl = tx__ratelimit_create(600, 10);
    tx_ratelimit_info_t info;
    assert_int_equal(tx__ratelimit_take(rl, "a", 0, &info), 1);
    assert_int_equal(info.remaining, 599);
    tx__ratelimit_set_rpm(rl, 6); /* the existing bucket is cut to the new minute's worth */
    assert_int_equal(tx__ratelimit_rpm(rl), 6);
    for (int i = 0; i < 6; i++)
        assert_int_equal(tx__ratelimit_take(rl, "a", 0, &info), 1);
    assert_int_equal(info.limit, 6);
    assert_int_equal(tx__ratelimit_take(rl, "a", 0, &info), 0);
    assert_int_equal(info.retry_after_ms, 10000); /* and refills at the new rate */
    tx__ratelimit_set_rpm(rl, 0);                 /* off */
    for (int i = 0; i < 100; i++)
        assert_int_equal(tx__ratelimit_take(rl, "a", 0, &info), 1);
    assert_int_equal(info.limit, 0);
    tx__ratelimit_set_rpm(rl, 60000); /* faster: refills at 1000/s */
    assert_int_equal(tx__ratelimit_take(rl, "a", 1, &info), 1);
    tx__ratelimit_destroy(rl);
}

static void memory_is_bounded(void **state)
{
    (void)state;
    tx_ratelimit_t *rl = tx__ratelimit_create(1, 100);
    char client[32];
    for (int i = 0; i < 1000; i++) {
        snprintf(client, sizeof(client), "10.0.%d.%d", i / 256, i % 256);
        assert_int_equal(tx__ratelimit_take(rl, client, 0, NULL), 1);
    }
    assert_int_equal(tx__ratelimit_clients(rl), 100);
    /* the most recent clients are still remembered (and limited) */
    assert_int_equal(tx__ratelimit_take(rl, "10.0.3.231", 0, NULL), 0);
    /* a minute later every bucket is full again: the sweep forgets them all */
    assert_int_equal(tx__ratelimit_sweep(rl, 30000), 0);
    assert_int_equal(tx__ratelimit_sweep(rl, 60000), 100);
    assert_int_equal(tx__ratelimit_clients(rl), 0);
    /* NULL and garbage */
    tx_ratelimit_info_t info;
    assert_int_equal(tx__ratelimit_take(NULL, "x", 0, &info), 1);
    assert_int_equal(tx__ratelimit_take(rl, NULL, 0, &info), 1);
    assert_int_equal(tx__ratelimit_take(rl, NULL, 0, &info), 0);
    assert_null(tx__ratelimit_create(10, 0));
    tx__ratelimit_destroy(rl);
    tx__ratelimit_destroy(NULL);
}

static void reset_header_format(void **state)
{
    (void)state;
    char b[32];
    tx__ratelimit_format_reset(250, b, sizeof(b));
    assert_string_equal(b, "250ms");
    tx__ratelimit_format_reset(1000, b, sizeof(b));
    assert_string_equal(b, "1s");
    tx__ratelimit_format_reset(1001, b, sizeof(b));
    assert_string_equal(b, "2s");
    tx__ratelimit_format_reset(360000, b, sizeof(b));
    assert_string_equal(b, "6m0s");
    tx__ratelimit_format_reset(3723000, b, sizeof(b));
    assert_string_equal(b, "1h2m3s");
    tx__ratelimit_format_reset(-5, b, sizeof(b));
    assert_string_equal(b, "0ms");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(burst_then_refill),
        cmocka_unit_test(slow_rate_retry_after_in_seconds),
        cmocka_unit_test(rate_change_applies_to_existing_buckets),
        cmocka_unit_test(memory_is_bounded),
        cmocka_unit_test(reset_header_format),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
