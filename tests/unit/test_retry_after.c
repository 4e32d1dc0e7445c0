/* Retry-After, retry-after-ms, x-ratelimit-reset-* durations and "try again in" messages, as
 * tables; and the precedence rule of tx_retry_after_effective. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "tenax/retry_after.h"

#define NOW 1700000000000LL /* Tue, 14 Nov 2023 22:13:20 GMT */

static void header_values(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        tx_ms_t want;
    } t[] = {
        {"20", 20000},
        {" 0 ", 0},
        {"86400", 86400000},
        {"86401", -1},                /* more than a day */
        {"99999999999999999999", -1}, /* overflow */
        {"-5", -1},
        {"1.5", -1}, /* RFC 7231: integer seconds only */
        {"", -1},
        {"soon", -1},
        {"20s", -1},
        {"Tue, 14 Nov 2023 22:15:20 GMT", 120000},   /* IMF-fixdate */
        {"Tuesday, 14-Nov-23 22:15:20 GMT", 120000}, /* RFC 850 */
        {"Tue Nov 14 22:15:20 2023", 120000},        /* asctime */
        {"Tue, 14 Nov 2023 22:00:00 GMT", 0},        /* past: now */
        {"Tue, 21 Nov 2023 22:00:00 GMT", -1},       /* a week ahead: ignored */
        {"Tue, 14 Nov 2023 99:99:99 GMT", -1},
        {"Tue, 14 Nov 2023 22:15:20", -1},     /* no zone */
        {"Tue, 14 Nov 2023 22:15:20 UTC", -1}, /* only GMT is HTTP's */
        {"Tue, 14 Nov 2023 22:15:20 GMT junk", -1},
        {"Tue, 14 Nvm 2023 22:15:20 GMT", -1},   /* no such month */
        {"Thu, 30 Feb 2023 22:15:20 GMT", -1},   /* no such day */
        {"Sun, 06 Nov 1994 08:49:37 GMT", 0},    /* long past: now */
        {"Tue, 14 Nov 2023 22:13:21 GMT", 1000}, /* a second ahead */
        {"Tue, 14 Nov 2023 23:13:20 GMT", 3600000},
        {"Wed, 15 Nov 2023 22:13:20 GMT", 86400000}, /* exactly a day */
        {"Tue Nov 14 22:13:30 2023", 10000},         /* asctime, two-digit day */
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        tx_ms_t got = tx_retry_after_header(t[i].in, NOW);
        if (got != t[i].want)
            fprintf(stderr, "retry-after \"%s\": %lld\n", t[i].in, (long long)got);
        assert_int_equal(got, t[i].want);
    }
    assert_int_equal(tx_retry_after_header(NULL, NOW), -1);
}

static void ms_values(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        tx_ms_t want;
    } t[] = {
        {"1500", 1500}, {"0", 0},    {"1500.2", 1501}, {"-1", -1}, {"0x10", -1},
        {"1e3", -1},    {"inf", -1}, {"nan", -1},      {"", -1},   {"86400001", -1},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        tx_ms_t got = tx_retry_after_ms_header(t[i].in);
        if (got != t[i].want)
            fprintf(stderr, "retry-after-ms \"%s\": %lld\n", t[i].in, (long long)got);
        assert_int_equal(got, t[i].want);
    }
    assert_int_equal(tx_retry_after_ms_header(NULL), -1);
}

static void durations(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        tx_ms_t want;
    } t[] = {
        {"1s", 1000},  {"6m0s", 360000}, {"20ms", 20}, {"1h2m3.5s", 3723500},
        {"0.5s", 500}, {"250us", 1},     {"17ns", 1},  {"0s", 0},
        {"", -1},      {"s", -1},        {"5", -1},    {"-1s", -1},
        {"1x", -1},    {"25h", -1},      {"1s ", -1},  {"1.2.3s", -1},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        tx_ms_t got = tx_retry_after_duration(t[i].in, strlen(t[i].in));
        if (got != t[i].want) fprintf(stderr, "duration \"%s\": %lld\n", t[i].in, (long long)got);
        assert_int_equal(got, t[i].want);
    }
    assert_int_equal(tx_retry_after_duration(NULL, 3), -1);
}

static void messages(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        tx_ms_t want;
    } t[] = {
        {"Rate limit reached. Please try again in 20s. Visit …", 20000},
        {"Please try again in 1.5s.", 1500},
        {"please TRY AGAIN IN 6m0s", 360000},
        {"Try again in 120ms", 120},
        {"try again in 3", 3000},
        {"try again in a moment", -1},
        {"try again in later. try again in 2s", 2000},
        {"no hint here", -1},
        {"", -1},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        tx_ms_t got = tx_retry_after_from_message(t[i].in, strlen(t[i].in));
        if (got != t[i].want) fprintf(stderr, "message \"%s\": %lld\n", t[i].in, (long long)got);
        assert_int_equal(got, t[i].want);
    }
    assert_int_equal(tx_retry_after_from_message(NULL, 10), -1);
}

static void precedence(void **state)
{
    (void)state;
    tx_header_t both[] = {{"Retry-After", "9"}, {"retry-after-ms", "250"}};
    assert_int_equal(tx_retry_after_effective(429, both, 2, NOW), 250);
    tx_header_t bad_ms[] = {{"retry-after-ms", "junk"}, {"retry-after", "9"}};
    assert_int_equal(tx_retry_after_effective(429, bad_ms, 2, NOW), 9000);
    tx_header_t resets[] = {{"x-ratelimit-reset-requests", "1s"},
                            {"x-ratelimit-reset-tokens", "6m0s"}};
    assert_int_equal(tx_retry_after_effective(429, resets, 2, NOW), 360000); /* larger */
    assert_int_equal(tx_retry_after_effective(200, resets, 2, NOW), -1);     /* only on a 429 */
    tx_header_t zero[] = {{"x-ratelimit-reset-requests", "1s"},
                          {"x-ratelimit-reset-tokens", "6m0s"},
                          {"x-ratelimit-remaining-requests", "0"},
                          {"x-ratelimit-remaining-tokens", "5000"}};
    assert_int_equal(tx_retry_after_effective(429, zero, 4, NOW), 1000); /* the exhausted one */
    tx_header_t with_ra[] = {{"x-ratelimit-reset-tokens", "6m0s"}, {"Retry-After", "2"}};
    assert_int_equal(tx_retry_after_effective(429, with_ra, 2, NOW), 2000);
    tx_header_t nulls[] = {{NULL, "1"}, {"retry-after", NULL}};
    assert_int_equal(tx_retry_after_effective(429, nulls, 2, NOW), -1);
    assert_int_equal(tx_retry_after_effective(429, NULL, 3, NOW), -1);
    tx_header_t on503[] = {{"Retry-After", "30"}};
    assert_int_equal(tx_retry_after_effective(503, on503, 1, NOW), 30000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(header_values), cmocka_unit_test(ms_values),  cmocka_unit_test(durations),
        cmocka_unit_test(messages),      cmocka_unit_test(precedence),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
