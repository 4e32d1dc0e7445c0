/* JSON extraction from LLM output and the tags/json/text parsers (docs/classifier.md), as tables.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tenax/extract.h"

static void json_found(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        const char *want; /* compact dump, NULL when nothing must be found */
    } t[] = {
        {"{\"a\":1}", "{\"a\": 1}"},
        {"  [1, 2]  ", "[1, 2]"},
        {"42", "42"},
        {"\"just a string\"", "\"just a string\""},
        {"```json\n{\"tags\":[\"x\"]}\n```", "{\"tags\": [\"x\"]}"},
        {"Here you go:\n```JSON\n[\"a\",\"b\"]\n```\nHope it helps!", "[\"a\", \"b\"]"},
        {"```\n[\"bare fence\"]\n```", "[\"bare fence\"]"},
        {"```json\nnot json\n```\n```json\n[3]\n```", "[3]"},
        {"```json\n[\"unterminated\"]", "[\"unterminated\"]"},
        {"Sure! The tags are [\"news\", \"tech\"]. Anything else?", "[\"news\", \"tech\"]"},
        {"Result: {\"k\": \"a ] } [ { in a string\"} done", "{\"k\": \"a ] } [ { in a string\"}"},
        {"{\"o\":{\"p\":[1,{\"q\":2}]}} trailing", "{\"o\": {\"p\": [1, {\"q\": 2}]}}"},
        {"see [1] and [not json] {\"x\":1}", "[1]"},
        {"[not json] then {\"x\":1}", "{\"x\": 1}"},
        {"{\"esc\":\"quote \\\" ] inside\"}", "{\"esc\": \"quote \\\" ] inside\"}"},
        {"[[[[[[", NULL},
        {"no json at all", NULL},
        {"", NULL},
        {"{\"a\":1", NULL},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        tx_error_t err = {0};
        json_t *v = tx_extract_json(t[i].in, strlen(t[i].in), &err);
        if (t[i].want == NULL) {
            if (v != NULL) fprintf(stderr, "case %zu: unexpected value\n", i);
            assert_null(v);
            assert_int_equal(err.code, TX_EPARSE);
            assert_non_null(err.msg);
            continue;
        }
        if (v == NULL) fprintf(stderr, "case %zu (%s): nothing found\n", i, t[i].in);
        assert_non_null(v);
        char *d = json_dumps(v, JSON_ENCODE_ANY);
        if (strcmp(d, t[i].want) != 0) fprintf(stderr, "case %zu: got %s\n", i, d);
        assert_string_equal(d, t[i].want);
        free(d);
        json_decref(v);
    }
    tx_error_t err = {0};
    assert_null(tx_extract_json(NULL, 5, &err));
    assert_int_equal(err.code, TX_EINVAL);
    assert_null(tx_extract_json(NULL, 5, NULL));
}

static void tags(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        const char *want; /* compact dump, NULL for "no tags" */
    } t[] = {
        {"[\"news\", \"science\"]", "[\"news\", \"science\"]"},
        {"{\"tags\": [\" padded \", \"\", \"   \", \"ok\"]}", "[\"padded\", \"ok\"]"},
        {"```json\n{\"tags\":[\"AI\",\"ai\",\"Ai \",\"ML\"]}\n```", "[\"AI\", \"ML\"]"},
        {"Tags: [\"a\",1,null,{\"x\":1},\"b\"]", "[\"a\", \"b\"]"},
        {"[\"1\",\"2\",\"3\",\"4\",\"5\",\"6\",\"7\",\"8\",\"9\",\"10\",\"11\",\"12\"]",
         "[\"1\", \"2\", \"3\", \"4\", \"5\", \"6\", \"7\", \"8\", \"9\", \"10\"]"},
        {"[\"café\", \"CAFÉ\"]", "[\"café\", \"CAFÉ\"]"}, /* only ASCII folds */
        {"[]", NULL},
        {"{\"tags\": []}", NULL},
        {"{\"labels\": [\"x\"]}", NULL},
        {"[\"\", \"  \"]", NULL},
        {"\"news\"", NULL},
        {"I cannot help with that.", NULL},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        tx_error_t err = {0};
        json_t *v = tx_extract_tags(t[i].in, strlen(t[i].in), &err);
        if (t[i].want == NULL) {
            if (v != NULL) fprintf(stderr, "tags case %zu: unexpected value\n", i);
            assert_null(v);
            assert_int_equal(err.code, TX_EPARSE);
            continue;
        }
        if (v == NULL) fprintf(stderr, "tags case %zu: %s\n", i, err.detail);
        assert_non_null(v);
        char *d = json_dumps(v, 0);
        if (strcmp(d, t[i].want) != 0) fprintf(stderr, "tags case %zu: got %s\n", i, d);
        assert_string_equal(d, t[i].want);
        free(d);
        json_decref(v);
    }
}

static void tag_truncation(void **state)
{
    (void)state;
    /* 70 bytes of ASCII: cut to 64 */
    char in[512], want[128];
    memset(want, 'a', 64);
    want[64] = '\0';
    snprintf(in, sizeof in, "[\"%s123456\"]", want);
    json_t *v = tx_extract_tags(in, strlen(in), NULL);
    assert_non_null(v);
    assert_string_equal(json_string_value(json_array_get(v, 0)), want);
    json_decref(v);
    /* 63 ASCII bytes then a 2-byte character: the character would straddle byte 64 */
    char pre[64];
    memset(pre, 'b', 63);
    pre[63] = '\0';
    snprintf(in, sizeof in, "[\"%s\xc3\xa9xyz\"]", pre);
    v = tx_extract_tags(in, strlen(in), NULL);
    assert_non_null(v);
    assert_int_equal(json_string_length(json_array_get(v, 0)), 63);
    json_decref(v);
    /* 21 three-byte characters (63 bytes) + one more: 63 bytes kept, all valid */
    size_t o = (size_t)snprintf(in, sizeof in, "[\"");
    for (int i = 0; i < 22; i++)
        o += (size_t)snprintf(in + o, sizeof in - o, "\xe2\x82\xac");
    snprintf(in + o, sizeof in - o, "\"]");
    v = tx_extract_tags(in, strlen(in), NULL);
    assert_non_null(v);
    assert_int_equal(json_string_length(json_array_get(v, 0)), 63);
    json_decref(v);
}

static void text_and_run(void **state)
{
    (void)state;
    tx_error_t err = {0};
    char *s = tx_extract_text("  hello world \n", 15, &err);
    assert_non_null(s);
    assert_string_equal(s, "hello world");
    free(s);
    assert_null(tx_extract_text(" \n\t ", 4, &err));
    assert_int_equal(err.code, TX_EPARSE);
    assert_null(tx_extract_text("bad \xff byte", 10, &err));
    assert_int_equal(err.code, TX_EPARSE);
    assert_null(tx_extract_text(NULL, 0, &err));
    assert_int_equal(err.code, TX_EINVAL);

    assert_int_equal(tx_extract_parser_from_name("tags"), TX_PARSER_TAGS);
    assert_int_equal(tx_extract_parser_from_name("json"), TX_PARSER_JSON);
    assert_int_equal(tx_extract_parser_from_name("text"), TX_PARSER_TEXT);
    assert_int_equal(tx_extract_parser_from_name("xml"), -1);
    assert_int_equal(tx_extract_parser_from_name(NULL), -1);

    json_t *v = tx_extract_run(TX_PARSER_TEXT, " x ", 3, &err);
    assert_true(json_is_string(v));
    assert_string_equal(json_string_value(v), "x");
    json_decref(v);
    v = tx_extract_run(TX_PARSER_JSON, "ok: {\"a\":true}", 14, &err);
    assert_true(json_is_true(json_object_get(v, "a")));
    json_decref(v);
    v = tx_extract_run(TX_PARSER_TAGS, "[\"t\"]", 5, &err);
    assert_int_equal(json_array_size(v), 1);
    json_decref(v);
    assert_null(tx_extract_run((tx_parser_t)7, "x", 1, &err));
    assert_int_equal(err.code, TX_EINVAL);
}

static void huge_garbage(void **state)
{
    (void)state;
    size_t n = 4u << 20;
    char *b = malloc(n);
    assert_non_null(b);
    for (size_t i = 0; i < n; i++)
        b[i] = "{[\"x"[i % 4];
    tx_error_t err = {0};
    assert_null(tx_extract_json(b, n, &err));
    assert_int_equal(err.code, TX_EPARSE);
    free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(json_found),     cmocka_unit_test(tags),
        cmocka_unit_test(tag_truncation), cmocka_unit_test(text_and_run),
        cmocka_unit_test(huge_garbage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
