/* Edges of the classifier that depend on its JSON parser (cJSON): integer codes read from
 * doubles, usage counts, nesting past cJSON's depth limit, embedded NUL bytes, trailing
 * garbage, key case. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "tenax/classify.h"

static tx_class_t cls(int status, const char *b, size_t n, tx_classification_t *out)
{
    return tx_classify_response(status, NULL, 0, b, n, TX_RESP_CHAT, 0, out);
}

static void integer_codes(void **state)
{
    (void)state;
    tx_classification_t out;
    const char *a = "{\"error\":{\"code\":1113,\"message\":\"x\"}}";
    const char *b = "{\"error\":{\"code\":\"1113\",\"message\":\"x\"}}";
    const char *c = "{\"error\":{\"code\":1113.0,\"message\":\"x\"}}";
    const char *d = "{\"error\":{\"code\":1113.5,\"message\":\"x\"}}";
    assert_int_equal(cls(429, a, strlen(a), &out), TX_CLASS_QUOTA);
    assert_string_equal(out.code, "1113");
    assert_int_equal(cls(429, b, strlen(b), &out), TX_CLASS_QUOTA);
    assert_string_equal(out.code, "1113");
    assert_int_equal(cls(429, c, strlen(c), &out), TX_CLASS_QUOTA);
    assert_string_equal(out.code, "1113");
    /* not an integer: no Z.AI code, the status decides and names the code */
    assert_int_equal(cls(429, d, strlen(d), &out), TX_CLASS_RATE_LIMIT);
    assert_string_equal(out.code, "429");
    /* a code beyond what a double holds exactly is not taken as an integer */
    const char *e = "{\"error\":{\"code\":1e300,\"message\":\"x\"}}";
    assert_int_equal(cls(500, e, strlen(e), &out), TX_CLASS_SERVER);
    assert_string_equal(out.code, "500");
}

static void usage_counts(void **state)
{
    (void)state;
    tx_classification_t out;
    const char *ok =
        "{\"choices\":[{\"message\":{\"content\":\"hi\"},\"finish_reason\":\"stop\"}],"
        "\"usage\":{\"prompt_tokens\":20,\"completion_tokens\":5.0,\"total_tokens\":25}}";
    assert_int_equal(cls(200, ok, strlen(ok), &out), TX_CLASS_OK);
    assert_int_equal(out.prompt_tokens, 20);
    assert_int_equal(out.completion_tokens, 5);
    assert_int_equal(out.total_tokens, 25);
    /* absent, negative, fractional, a string: -1 each */
    const char *odd =
        "{\"choices\":[{\"message\":{\"content\":\"hi\"}}],"
        "\"usage\":{\"prompt_tokens\":-3,\"completion_tokens\":1.5,\"total_tokens\":\"9\"}}";
    assert_int_equal(cls(200, odd, strlen(odd), &out), TX_CLASS_OK);
    assert_int_equal(out.prompt_tokens, -1);
    assert_int_equal(out.completion_tokens, -1);
    assert_int_equal(out.total_tokens, -1);
    const char *none = "{\"choices\":[{\"message\":{\"content\":\"hi\"}}]}";
    assert_int_equal(cls(200, none, strlen(none), &out), TX_CLASS_OK);
    assert_int_equal(out.total_tokens, -1);
    /* only the top level counts, and only on success */
    const char *nested = "{\"choices\":[{\"message\":{\"content\":\"hi\"},"
                         "\"usage\":{\"total_tokens\":7}}]}";
    assert_int_equal(cls(200, nested, strlen(nested), &out), TX_CLASS_OK);
    assert_int_equal(out.total_tokens, -1);
    const char *err = "{\"error\":{\"message\":\"x\",\"code\":500},\"usage\":{\"total_tokens\":7}}";
    assert_int_not_equal(cls(200, err, strlen(err), &out), TX_CLASS_OK);
    assert_int_equal(out.total_tokens, -1);
    /* a transport failure carries none */
    tx_classify_transport(TX_TRANSPORT_RESET, NULL, &out);
    assert_int_equal(out.prompt_tokens, -1);
}

static void depth_nul_trailing(void **state)
{
    (void)state;
    tx_classification_t out;
    /* 1001 nested arrays: past cJSON's limit, refused with the usual message */
    size_t n = 2002;
    char *deep = malloc(n);
    assert_non_null(deep);
    memset(deep, '[', n / 2);
    memset(deep + n / 2, ']', n / 2);
    assert_int_equal(cls(200, deep, n, &out), TX_CLASS_INVALID_RESPONSE);
    assert_string_equal(out.message, "body is not JSON");
    free(deep);

    /* a valid success followed by NUL and more bytes: not one JSON text */
    static const char ok_nul[] = "{\"choices\":[{\"message\":{\"content\":\"hi\"}}]}\0{\"x\":1}";
    assert_int_equal(cls(200, ok_nul, sizeof ok_nul - 1, &out), TX_CLASS_INVALID_RESPONSE);
    assert_string_equal(out.message, "body is not JSON");
    /* the same success alone is fine, trailing whitespace too */
    assert_int_equal(cls(200, ok_nul, strlen(ok_nul), &out), TX_CLASS_OK);
    const char *ws = "{\"choices\":[{\"message\":{\"content\":\"hi\"}}]} \r\n";
    assert_int_equal(cls(200, ws, strlen(ws), &out), TX_CLASS_OK);
    const char *junk = "{\"choices\":[{\"message\":{\"content\":\"hi\"}}]} x";
    assert_int_equal(cls(200, junk, strlen(junk), &out), TX_CLASS_INVALID_RESPONSE);
    /* a NUL inside an error body on a 429: still rate_limit, message from the raw bytes */
    static const char err_nul[] = "{\"error\":{\"message\":\"slow\0down\"}}";
    assert_int_equal(cls(429, err_nul, sizeof err_nul - 1, &out), TX_CLASS_RATE_LIMIT);
    /* stream events: NUL inside is not JSON */
    static const char ev[] = "{\"error\":{\"code\":\"rate_limit_exceeded\"}}\0";
    assert_int_equal(tx_classify_stream_event(ev, sizeof ev - 1, &out), TX_CLASS_INVALID_RESPONSE);
    assert_int_equal(tx_classify_stream_event(ev, strlen(ev), &out), TX_CLASS_RATE_LIMIT);
}

static void keys_are_case_sensitive(void **state)
{
    (void)state;
    tx_classification_t out;
    /* "Error" is not "error": a 200 without choices is invalid, not an error inside a 200 */
    const char *b = "{\"Error\":{\"code\":\"rate_limit_exceeded\"}}";
    assert_int_equal(cls(200, b, strlen(b), &out), TX_CLASS_INVALID_RESPONSE);
    assert_string_equal(out.message, "no choices in the response");
}

/* The error shape comes from the classifier's one parse: an OpenAI error with a type, one
 * without (Azure), and what is not one (no message, a string error, not JSON, trailing bytes). */
static void error_shapes(void **state)
{
    (void)state;
    tx_classification_t out;
    struct {
        const char *body;
        int shape;
    } cases[] = {
        {"{\"error\":{\"message\":\"slow down\",\"type\":\"requests\",\"code\":null}}",
         TX_ERROR_SHAPE_OPENAI},
        {"{\"error\":{\"code\":\"429\",\"message\":\"Rate limit\"}}", TX_ERROR_SHAPE_NO_TYPE},
        {"{\"error\":{\"code\":\"429\"}}", TX_ERROR_SHAPE_NONE},
        {"{\"error\":\"slow down\"}", TX_ERROR_SHAPE_NONE},
        {"{\"error\":{\"message\":\"x\",\"type\":\"t\"}} trailing", TX_ERROR_SHAPE_NONE},
        {"<html>429</html>", TX_ERROR_SHAPE_NONE},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cls(429, cases[i].body, strlen(cases[i].body), &out);
        if (out.error_shape != cases[i].shape)
            fail_msg("case %zu: shape %d, want %d", i, out.error_shape, cases[i].shape);
    }
    tx_classify_transport(TX_TRANSPORT_CONNECT, "refused", &out);
    assert_int_equal(out.error_shape, TX_ERROR_SHAPE_NONE);
}

/* A host program's cJSON allocator: counts what it hands out and takes back. */
static size_t host_mallocs, host_frees;
static void *host_malloc(size_t n)
{
    host_mallocs++;
    return malloc(n);
}
static void host_free(void *p)
{
    if (p != NULL) host_frees++;
    free(p);
}

/* The classifier leaves the process's cJSON allocator alone: a host program's hooks serve the
 * classifier's own parses (every block given back), and are still the ones in place afterwards. */
static void host_hooks_stay(void **state)
{
    (void)state;
    cJSON_Hooks h = {host_malloc, host_free};
    cJSON_InitHooks(&h);
    tx_classification_t out;
    /* the plain success shapes take the one-pass fast path: no tree, nothing allocated */
    const char *ok = "{\"choices\":[{\"message\":{\"content\":\"hi\"}}],"
                     "\"usage\":{\"total_tokens\":3}}";
    assert_int_equal(cls(200, ok, strlen(ok), &out), TX_CLASS_OK);
    const char *ev = "{\"choices\":[{\"delta\":{\"content\":\"x\"}}]}";
    assert_int_equal(tx_classify_stream_event(ev, strlen(ev), &out), TX_CLASS_OK);
    assert_int_equal(host_mallocs, 0);
    /* an error and a Responses event are read from a cJSON tree, with the host's allocator */
    const char *err = "{\"error\":{\"message\":\"slow down\",\"type\":\"rate_limit_error\"}}";
    assert_int_equal(cls(200, err, strlen(err), &out), TX_CLASS_RATE_LIMIT);
    size_t after_body = host_mallocs;
    assert_true(after_body > 0);
    const char *rev = "{\"type\":\"response.output_text.delta\",\"delta\":\"x\"}";
    assert_int_equal(tx_classify_stream_event(rev, strlen(rev), &out), TX_CLASS_OK);
    assert_true(host_mallocs > after_body);
    assert_int_equal(host_mallocs, host_frees);
    size_t before = host_mallocs;
    cJSON *mine = cJSON_CreateObject(); /* the host's own tree: still the host's allocator */
    assert_non_null(mine);
    assert_int_equal(host_mallocs, before + 1);
    cJSON_Delete(mine);
    assert_int_equal(host_mallocs, host_frees);
    cJSON_InitHooks(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(integer_codes),      cmocka_unit_test(usage_counts),
        cmocka_unit_test(depth_nul_trailing), cmocka_unit_test(keys_are_case_sensitive),
        cmocka_unit_test(error_shapes),       cmocka_unit_test(host_hooks_stay),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
