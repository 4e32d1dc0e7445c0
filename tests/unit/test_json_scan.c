/* The strict JSON scanner (core/json_scan.h): texts it accepts (cJSON reads each of them too),
 * every rejection with its reason and offset, the depth limit, the lexical check on its own,
 * and walking members and elements while skipping the rest. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <cjson/cJSON.h>

#include "core/json_scan.h"

static void accepts(const char *text)
{
    size_t at = 12345;
    const char *why = tx__json_validate(text, strlen(text), &at);
    if (why != NULL) fail_msg("refused %s: %s at %zu", text, why, at);
    assert_int_equal(at, 12345); /* untouched when the text is good */
    cJSON *c = cJSON_ParseWithLength(text, strlen(text));
    if (c == NULL) fail_msg("the scanner accepts what cJSON refuses: %s", text);
    cJSON_Delete(c);
}

static void refuses(const char *text, size_t len, const char *why, size_t at)
{
    size_t got_at = 0;
    const char *got = tx__json_validate(text, len, &got_at);
    if (got == NULL) fail_msg("accepted: %s", text);
    assert_string_equal(got, why);
    assert_int_equal(got_at, at);
}

static void valid_texts(void **state)
{
    (void)state;
    const char *ok[] = {
        "{}",
        "[]",
        "0",
        "-0",
        "1.5e3",
        "-1E-7",
        "1e+2",
        "\"\"",
        "true",
        "false",
        "null",
        " \t\r\n{ \"a\" : [ 1 , 2 , { } , [ ] ] , \"b\" : null } \n",
        "{\"k\":\"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\\uD83D\\uDE00\"}",
        "[\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"]", /* é € 😀 as UTF-8 */
        "{\"a\":1,\"a\":2}",                          /* duplicates are the caller's business */
        "1e-400",                                     /* underflows to 0: within range */
        "123456789012345678901234567890123456789012345678901234567890123", /* 63 characters */
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        accepts(ok[i]);
}

static void every_rejection(void **state)
{
    (void)state;
    refuses("", 0, "the text ends too early", 0);
    refuses("  ", 2, "the text ends too early", 2);
    refuses("{", 1, "the text ends too early", 1);
    refuses("[1", 2, "the text ends too early", 2);
    refuses("{\"a\":1", 6, "the text ends too early", 6);
    refuses("\"abc", 4, "the text ends inside a string", 4);
    refuses("\"a\\", 3, "the text ends inside a string", 2);
    refuses("{} x", 4, "more data after the JSON value", 3);
    refuses("1 2", 3, "more data after the JSON value", 2);
    refuses("{\"a\" 1}", 7, "expected ':'", 5);
    refuses("{1:2}", 5, "expected a string key", 1);
    refuses("{\"a\":1,}", 8, "expected a string key", 7);
    refuses("{\"a\":1 \"b\":2}", 13, "expected ',' or '}'", 7);
    refuses("[1 2]", 5, "expected ',' or ']'", 3);
    refuses("[1,]", 4, "not a JSON value", 3);
    refuses("[,1]", 4, "not a JSON value", 1);
    refuses("tru", 3, "not a JSON value", 0);
    refuses("nul", 3, "not a JSON value", 0);
    refuses("True", 4, "not a JSON value", 0);
    refuses("'a'", 3, "not a JSON value", 0);
    refuses("+1", 2, "not a JSON value", 0);
    refuses(".5", 2, "not a JSON value", 0);
    refuses("01", 2, "a malformed number", 0);
    refuses("[1.]", 4, "a malformed number", 1);
    refuses("-", 1, "a malformed number", 0);
    refuses("1e", 2, "a malformed number", 0);
    refuses("1.2.3", 5, "a malformed number", 0);
    refuses("[1e400]", 7, "a number beyond a double's range", 1);
    refuses("1234567890123456789012345678901234567890123456789012345678901234", 64,
            "a number longer than 63 characters", 0);
    refuses("\"a\x01\"", 4, "a raw control character", 2);
    refuses("\"a\tb\"", 5, "a raw control character", 2);
    refuses("{\x01}", 3, "expected a string key", 1);
    refuses("\"\xff\"", 3, "not UTF-8", 1);
    refuses("\"\xc3\"", 3, "not UTF-8", 1);
    refuses("\"\xed\xa0\x80\"", 5, "not UTF-8", 1); /* a surrogate as UTF-8 */
    refuses("[\xc3\xa9]", 4, "not a JSON value", 1);
    refuses("\"\\x\"", 4, "an invalid escape", 1);
    refuses("\"\\u12\"", 6, "a malformed \\u escape", 1);
    refuses("\"\\u12g4\"", 8, "a malformed \\u escape", 1);
    refuses("\"\\u0000\"", 8, "\\u0000 in a string", 1);
    refuses("\"\\uDE00\"", 8, "an unpaired surrogate escape", 1);
    refuses("\"\\uD83D\"", 8, "an unpaired surrogate escape", 1);
    refuses("\"\\uD83Dx\\uDE00\"", 15, "an unpaired surrogate escape", 1);
    refuses("\"\\uD83D\\u0041\"", 14, "an unpaired surrogate escape", 1);
    refuses("[1]\0", 4, "more data after the JSON value", 3);
}

/* Strings are read 16 bytes at a time: a byte that needs a look is found at every offset. */
static void every_offset(void **state)
{
    (void)state;
    char buf[64];
    for (size_t pos = 1; pos < 50; pos++) {
        memset(buf, 'a', sizeof buf);
        buf[0] = '"';
        buf[51] = '"';
        size_t at = 0;
        buf[pos] = '\x01';
        assert_string_equal(tx__json_validate(buf, 52, &at), "a raw control character");
        assert_int_equal(at, pos);
        buf[pos] = '\xff';
        assert_string_equal(tx__json_validate(buf, 52, &at), "not UTF-8");
        assert_int_equal(at, pos);
        buf[pos] = '\x80';
        assert_string_equal(tx__json_validate(buf, 52, &at), "not UTF-8");
        assert_int_equal(at, pos);
        buf[pos] = '\\';
        assert_string_equal(tx__json_validate(buf, 52, &at), "an invalid escape");
        assert_int_equal(at, pos);
        buf[pos] = '"'; /* the string ends there: what follows is not JSON */
        assert_string_equal(tx__json_validate(buf, 52, &at), "more data after the JSON value");
        assert_int_equal(at, pos + 1);
        buf[pos] = '\x7f'; /* DEL and the other printable bytes need no look */
        assert_null(tx__json_validate(buf, 52, &at));
        buf[pos] = ' ';
        assert_null(tx__json_validate(buf, 52, &at));
        /* the string cut at every length */
        assert_string_equal(tx__json_validate(buf, pos, &at), "the text ends inside a string");
        assert_int_equal(at, pos);
    }
}

static void depth_limit(void **state)
{
    (void)state;
    char buf[2 * (TX_JSON_MAX_DEPTH + 1) + 1];
    for (int d = TX_JSON_MAX_DEPTH; d <= TX_JSON_MAX_DEPTH + 1; d++) {
        memset(buf, '[', (size_t)d);
        memset(buf + d, ']', (size_t)d);
        size_t at = 0;
        const char *why = tx__json_validate(buf, 2 * (size_t)d, &at);
        if (d == TX_JSON_MAX_DEPTH) {
            assert_null(why);
        } else {
            assert_string_equal(why, "nesting too deep");
            assert_int_equal(at, TX_JSON_MAX_DEPTH);
        }
    }
    /* objects and arrays mixed: each level remembers which it is */
    char mix[8 * 40 + 1] = "";
    for (int i = 0; i < 40; i++)
        strcat(mix, i % 2 ? "[" : "{\"k\":");
    for (int i = 39; i >= 0; i--)
        strcat(mix, i % 2 ? "]" : "}");
    accepts(mix);
}

static void lexical_check(void **state)
{
    (void)state;
    size_t at = 0;
    /* blind to structure: a bad number after a syntax error is still found */
    assert_string_equal(tx__json_lex_check("{\"a\" 1, \"b\": 01}", 16, &at), "a malformed number");
    assert_int_equal(at, 13);
    assert_null(tx__json_lex_check("{\"a\" 1}", 7, &at));
    assert_string_equal(tx__json_lex_check("[\"\\u0000\"]", 10, &at), "\\u0000 in a string");
    assert_int_equal(at, 2);
    assert_string_equal(tx__json_lex_check("[1e999]", 7, &at), "a number beyond a double's range");
    assert_string_equal(tx__json_lex_check("\xff", 1, &at), "not UTF-8");
    assert_string_equal(tx__json_lex_check("[\x7f\x01]", 3, &at), "a raw control character");
    assert_int_equal(at, 2);
}

static void walking(void **state)
{
    (void)state;
    const char *t = "{\"skip\":{\"x\":[1,{\"y\":\"}\"}]},\"arr\":[true,{\"in\":1},\"s\\n\"],"
                    "\"num\":-12.5e1,\"k\\u0041\":null}";
    tx_json_scan_t sc;
    tx_json_val_t k, v;
    tx__json_scan_init(&sc, t, strlen(t));
    assert_int_equal(tx__json_value(&sc, &v), 0);
    assert_int_equal(v.type, TX_JSON_OBJECT);

    assert_int_equal(tx__json_member(&sc, &k, &v), 1);
    assert_true(tx__json_is(&k, "skip"));
    assert_int_equal(v.type, TX_JSON_OBJECT);
    assert_int_equal(tx__json_skip(&sc, &v), 0);

    assert_int_equal(tx__json_member(&sc, &k, &v), 1);
    assert_true(tx__json_is(&k, "arr"));
    assert_int_equal(v.type, TX_JSON_ARRAY);
    assert_int_equal(tx__json_element(&sc, &v), 1);
    assert_int_equal(v.type, TX_JSON_TRUE);
    assert_int_equal(tx__json_element(&sc, &v), 1);
    assert_int_equal(v.type, TX_JSON_OBJECT);
    assert_int_equal(tx__json_member(&sc, &k, &v), 1);
    assert_true(tx__json_is(&k, "in"));
    int64_t n = 0;
    assert_int_equal(tx__json_uint(v.p, v.n, &n), 1);
    assert_int_equal(n, 1);
    assert_int_equal(tx__json_member(&sc, &k, &v), 0); /* the inner object ends */
    assert_int_equal(tx__json_element(&sc, &v), 1);
    assert_int_equal(v.type, TX_JSON_STRING);
    assert_int_equal(v.esc, 1);
    assert_int_equal(v.n, 3);
    assert_memory_equal(v.p, "s\\n", 3);
    assert_false(tx__json_is(&v, "s\\n")); /* escaped: never compared */
    assert_int_equal(tx__json_element(&sc, &v), 0);

    assert_int_equal(tx__json_member(&sc, &k, &v), 1);
    assert_int_equal(v.type, TX_JSON_NUMBER);
    assert_int_equal(v.n, 7);
    assert_int_equal(tx__json_uint(v.p, v.n, &n), 0);

    assert_int_equal(tx__json_member(&sc, &k, &v), 1);
    assert_int_equal(k.esc, 1);
    assert_int_equal(v.type, TX_JSON_NULL);
    assert_int_equal(tx__json_member(&sc, &k, &v), 0);
    assert_int_equal(tx__json_finish(&sc), 0);

    /* the rest skipped from inside: still validated */
    const char *bad = "{\"a\":1,\"b\":[1,2,}";
    tx__json_scan_init(&sc, bad, strlen(bad));
    assert_int_equal(tx__json_value(&sc, &v), 0);
    assert_int_equal(tx__json_member(&sc, &k, &v), 1);
    assert_int_equal(tx__json_skip_rest(&sc), -1);
    assert_string_equal(sc.err, "not a JSON value");
    assert_int_equal(sc.err_at, 16);
    assert_int_equal(tx__json_member(&sc, &k, &v), -1); /* stays failed */

    /* asking for the wrong container is an error, not a misread */
    tx__json_scan_init(&sc, "[1]", 3);
    assert_int_equal(tx__json_value(&sc, &v), 0);
    assert_int_equal(tx__json_member(&sc, &k, &v), -1);
    /* an unfinished text does not finish */
    tx__json_scan_init(&sc, "[1", 2);
    assert_int_equal(tx__json_value(&sc, &v), 0);
    assert_int_equal(tx__json_finish(&sc), -1);
}

static void plain_integers(void **state)
{
    (void)state;
    int64_t v = -1;
    assert_int_equal(tx__json_uint("0", 1, &v), 1);
    assert_int_equal(v, 0);
    assert_int_equal(tx__json_uint("999999999999999", 15, &v), 1);
    assert_int_equal(v, 999999999999999LL);
    assert_int_equal(tx__json_uint("1000000000000000", 16, &v), 0);
    assert_int_equal(tx__json_uint("-0", 2, &v), 0);
    assert_int_equal(tx__json_uint("1.0", 3, &v), 0);
    assert_int_equal(tx__json_uint("1e3", 3, &v), 0);
    assert_int_equal(tx__json_uint("", 0, &v), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(valid_texts),    cmocka_unit_test(every_rejection),
        cmocka_unit_test(every_offset),   cmocka_unit_test(depth_limit),
        cmocka_unit_test(lexical_check),  cmocka_unit_test(walking),
        cmocka_unit_test(plain_integers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
