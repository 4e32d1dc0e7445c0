/* Gateway request handling without sockets: validation of client bodies (status, code, the field
 * named), the per-attempt body (client bytes kept unless the model changes), route paths, and
 * the call state machine's transition table. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/call.h"
#include "gateway/request.h"

#include <jansson.h>

static int parse(tx_route_kind_t r, const char *body, tx_request_t *out, tx_request_reject_t *rej)
{
    return tx__request_parse(r, body, body != NULL ? strlen(body) : 0, 1024, out, rej);
}

static void valid_chat(void **state)
{
    (void)state;
    tx_request_t rq;
    tx_request_reject_t rej;
    assert_int_equal(parse(TX_ROUTE_CHAT,
                           "{\"model\":\"m1\",\"stream\":true,\"messages\":[{\"role\":\"user\"}]}",
                           &rq, &rej),
                     0);
    assert_int_equal(rq.parsed, 1);
    assert_string_equal(rq.model, "m1");
    assert_int_equal(rq.stream, 1);
    tx__request_free(&rq);

    assert_int_equal(parse(TX_ROUTE_CHAT, "{\"messages\":[]}", &rq, &rej), 0);
    assert_null(rq.model);
    assert_int_equal(rq.stream, 0);
    tx__request_free(&rq);

    assert_int_equal(
        parse(TX_ROUTE_CHAT,
              " \r\n\t{\"messages\":[{\"content\":\"h\u00e9 \xc3\xa9 \xf0\x9f\x98\x80\"}],"
              "\"model\":\"m\\u00e9\"}\n ",
              &rq, &rej),
        0);
    assert_string_equal(rq.model, "m\xc3\xa9");
    tx__request_free(&rq);
    /* every number the grammar allows, a string with a quote and a backslash, and an integer
     * beyond 64 bits (upstreams take it; only the model rewrite sees it as a real) */
    assert_int_equal(parse(TX_ROUTE_CHAT,
                           "{\"messages\":[],\"a\":[0,-0,1.5,-2e10,3E+2,4e-3,10,"
                           "123456789012345678901234567890],\"s\":\"q\\\"\\\\1.\"}",
                           &rq, &rej),
                     0);
    tx__request_free(&rq);
    assert_int_equal(rq.parsed, 0);
    tx__request_free(NULL);
    /* no out, no rej: only the verdict (and nothing leaks: ASan) */
    const char *b = "{\"model\":\"m\",\"messages\":[]}";
    assert_int_equal(tx__request_parse(TX_ROUTE_CHAT, b, strlen(b), 0, NULL, NULL), 0);
    assert_int_equal(tx__request_parse(TX_ROUTE_CHAT, "{", 1, 0, NULL, NULL), -1);

    assert_int_equal(parse(TX_ROUTE_MODELS, NULL, &rq, &rej), 0);
    assert_int_equal(rq.parsed, 0);
}

static void expect_reject(tx_route_kind_t r, const char *body, int status, const char *code,
                          const char *field)
{
    tx_request_t rq;
    tx_request_reject_t rej;
    memset(&rej, 0, sizeof rej);
    assert_int_equal(parse(r, body, &rq, &rej), -1);
    assert_int_equal(rq.parsed, 0);
    assert_int_equal(rej.status, status);
    assert_string_equal(rej.type, "invalid_request_error");
    assert_string_equal(rej.code, code);
    if (field != NULL) assert_non_null(strstr(rej.message, field));
}

static void rejects(void **state)
{
    (void)state;
    expect_reject(TX_ROUTE_CHAT, NULL, 400, "invalid_json", NULL);
    expect_reject(TX_ROUTE_CHAT, "", 400, "invalid_json", NULL);
    expect_reject(TX_ROUTE_CHAT, "{\"model\":", 400, "invalid_json", NULL);
    expect_reject(TX_ROUTE_CHAT, "\xff\xfe{}", 400, "invalid_json", NULL);
    expect_reject(TX_ROUTE_CHAT, "[1,2]", 400, "invalid_type", "object");
    expect_reject(TX_ROUTE_CHAT, "{\"model\":5,\"messages\":[]}", 400, "invalid_type", "model");
    expect_reject(TX_ROUTE_CHAT, "{\"model\":\"\",\"messages\":[]}", 400, "invalid_value", "model");
    expect_reject(TX_ROUTE_CHAT, "{\"messages\":[],\"stream\":\"yes\"}", 400, "invalid_type",
                  "stream");
    expect_reject(TX_ROUTE_CHAT, "{\"model\":\"m\"}", 400, "missing_field", "messages");
    expect_reject(TX_ROUTE_CHAT, "{\"messages\":{}}", 400, "invalid_type", "messages");
    expect_reject(TX_ROUTE_CHAT, "{\"messages\":[{},3]}", 400, "invalid_type", "messages");
    expect_reject(TX_ROUTE_COMPLETIONS, "{\"model\":\"m\"}", 400, "missing_field", "prompt");
    expect_reject(TX_ROUTE_EMBEDDINGS, "{\"model\":\"m\"}", 400, "missing_field", "input");
    expect_reject(TX_ROUTE_EMBEDDINGS, "{\"input\":\"x\",\"stream\":true}", 400, "invalid_value",
                  "stream");
    expect_reject(TX_ROUTE_CHAT, "{\"messages\":[],\"messages\":[]}", 400, "invalid_json", "twice");
    expect_reject(TX_ROUTE_CHAT, "{\"b\":1,\"a\":2,\"messages\":[],\"a\":3}", 400, "invalid_json",
                  "'a'");
    /* several keys repeated: the smallest is named, with few keys and with many */
    expect_reject(TX_ROUTE_CHAT, "{\"z\":1,\"c\":1,\"z\":2,\"c\":2,\"messages\":[]}", 400,
                  "invalid_json", "'c'");
    expect_reject(TX_ROUTE_CHAT,
                  "{\"k1\":1,\"k2\":1,\"k3\":1,\"zz\":1,\"k4\":1,\"k5\":1,\"k6\":1,"
                  "\"k7\":1,\"k8\":1,\"k9\":1,\"zz\":2,\"k7\":2,\"messages\":[]}",
                  400, "invalid_json", "'k7'");
    /* what cJSON alone would let through: raw control characters, bytes that are not UTF-8,
     * data after the value */
    expect_reject(TX_ROUTE_CHAT, "{\"messages\":[],\"x\":\"a\x01b\"}", 400, "invalid_json",
                  "control");
    expect_reject(TX_ROUTE_CHAT, "{\x01\"messages\":[]}", 400, "invalid_json", "control");
    expect_reject(TX_ROUTE_CHAT, "{\"messages\":[],\"x\":\"\xc3\x28\"}", 400, "invalid_json",
                  "UTF-8");
    expect_reject(TX_ROUTE_CHAT, "{\"messages\":[],\"x\":\"\xed\xa0\x80\"}", 400, "invalid_json",
                  "UTF-8");
    expect_reject(TX_ROUTE_CHAT, "{\"messages\":[]} {}", 400, "invalid_json", "after");
    expect_reject(TX_ROUTE_CHAT, "{\"messages\":[]}x", 400, "invalid_json", "after");
    expect_reject(TX_ROUTE_CHAT, "{\"messages\":[\"a\\q\"]}", 400, "invalid_json", NULL);
    expect_reject(TX_ROUTE_CHAT, "{\"Messages\":[]}", 400, "missing_field", "messages");
    expect_reject(TX_ROUTE_CHAT, "{\"messages\":[],\"x\":\"a\\u0000\"}", 400, "invalid_json",
                  "u0000");
    expect_reject(TX_ROUTE_CHAT, "{\"messages\":[],\"=\\u?;(t\":1}", 400, "invalid_json", "escape");
    expect_reject(TX_ROUTE_CHAT, "{\"messages\":[],\"x\":\"\\u12\"}", 400, "invalid_json",
                  "escape");
    static const char *const bad_numbers[] = {"01",  "+1",    ".5",  "1.",   "-",    "1e",
                                              "1e+", "1.2.3", "-01", "1ee2", "0x10", "1.5e3.2"};
    for (size_t i = 0; i < sizeof bad_numbers / sizeof *bad_numbers; i++) {
        char b[64];
        snprintf(b, sizeof b, "{\"messages\":[],\"t\":%s}", bad_numbers[i]);
        expect_reject(TX_ROUTE_CHAT, b, 400, "invalid_json", NULL);
    }
    /* beyond a double's range (cJSON would read infinity; the model rewrite's jansson refuses) */
    static const char *const huge_numbers[] = {"1e400", "-1E+400", "3E7777777777", "1.5e309"};
    for (size_t i = 0; i < sizeof huge_numbers / sizeof *huge_numbers; i++) {
        char b[64];
        snprintf(b, sizeof b, "{\"messages\":[],\"t\":[%s]}", huge_numbers[i]);
        expect_reject(TX_ROUTE_CHAT, b, 400, "invalid_json", "range");
    }
    char digits[400];
    memset(digits, '0', sizeof digits);
    digits[0] = '1';
    digits[350] = '\0'; /* an integer of 350 digits: 1e349 */
    char b[512];
    snprintf(b, sizeof b, "{\"messages\":[],\"t\":%s}", digits);
    expect_reject(TX_ROUTE_CHAT, b, 400, "invalid_json", "range");
    /* in range, however long or small */
    digits[0] = '0';
    digits[1] = '.';
    digits[349] = '7'; /* 0.000…07, 350 characters */
    snprintf(b, sizeof b, "{\"messages\":[],\"t\":[%s,1e308,-1.7e308,1e-400,2E-5]}", digits);
    tx_request_t ok;
    tx_request_reject_t rej;
    assert_int_equal(parse(TX_ROUTE_CHAT, b, &ok, &rej), 0);
    tx__request_free(&ok);
    /* too large: 413 before any parse */
    char *big = malloc(2048);
    assert_non_null(big);
    memset(big, ' ', 2047);
    big[2047] = '\0';
    expect_reject(TX_ROUTE_CHAT, big, 413, "body_too_large", "1024");
    free(big);
}

static void body_for_model(void **state)
{
    (void)state;
    const char *body =
        "{\"model\":\"a\",  \"messages\":[{\"role\":\"user\",\"content\":\"h\\u00e9\"}]}";
    tx_request_t rq;
    tx_request_reject_t rej;
    assert_int_equal(parse(TX_ROUTE_CHAT, body, &rq, &rej), 0);
    size_t blen = strlen(body);
    char *out = (char *)1;
    size_t len = 99;
    /* same model or none asked: the client's bytes as they are */
    assert_int_equal(tx__request_body_for_model(body, blen, rq.model, "a", &out, &len), 0);
    assert_null(out);
    assert_int_equal(len, 0);
    assert_int_equal(tx__request_body_for_model(body, blen, rq.model, NULL, &out, &len), 0);
    assert_null(out);
    /* another model: re-serialised with that model, everything else kept */
    assert_int_equal(tx__request_body_for_model(body, blen, rq.model, "fb-b", &out, &len), 0);
    assert_non_null(out);
    assert_int_equal(len, strlen(out));
    json_t *re = json_loads(out, 0, NULL);
    assert_non_null(re);
    assert_string_equal(json_string_value(json_object_get(re, "model")), "fb-b");
    json_t *orig = json_loads(body, 0, NULL);
    assert_non_null(orig);
    assert_true(json_equal(json_object_get(re, "messages"), json_object_get(orig, "messages")));
    /* the key order is the client's */
    assert_true(strstr(out, "\"model\"") < strstr(out, "\"messages\""));
    json_decref(orig);
    json_decref(re);
    free(out);
    /* the request's own model is unchanged */
    assert_string_equal(rq.model, "a");
    tx__request_free(&rq);

    /* a body without a model gets one */
    assert_int_equal(parse(TX_ROUTE_CHAT, "{\"messages\":[]}", &rq, &rej), 0);
    assert_int_equal(
        tx__request_body_for_model("{\"messages\":[]}", 15, rq.model, "dflt", &out, &len), 0);
    assert_non_null(out);
    assert_non_null(strstr(out, "\"model\":\"dflt\""));
    free(out);
    assert_null(rq.model);
    tx__request_free(&rq);
    assert_int_equal(tx__request_body_for_model(NULL, 0, NULL, "x", &out, &len), -1);
    assert_null(out);
    assert_int_equal(tx__request_body_for_model("[1]", 3, NULL, "x", &out, &len), -1);
    assert_null(out);
    assert_int_equal(tx__request_body_for_model("{\"a\":", 5, NULL, "x", &out, &len), -1);
    assert_null(out);
    /* big integers survive the rewrite exactly */
    const char *big = "{\"model\":\"a\",\"seed\":9007199254740993,\"messages\":[]}";
    assert_int_equal(tx__request_body_for_model(big, strlen(big), "a", "b", &out, &len), 0);
    assert_non_null(strstr(out, "\"seed\":9007199254740993"));
    free(out);
    /* the splice: only the top-level model changes (not one inside a message, not one inside a
     * string), the client's bytes around it stay, the new name is escaped */
    const char *nested = "{ \"messages\" : [{\"model\":\"inner\",\"c\":\"a \\\"model\\\": x\"}],"
                         "\n \"model\" :\"a\" , \"n\":1}";
    assert_int_equal(tx__request_body_for_model(nested, strlen(nested), "a", "q\"x", &out, &len),
                     0);
    assert_string_equal(out,
                        "{ \"messages\" : [{\"model\":\"inner\",\"c\":\"a \\\"model\\\": x\"}],"
                        "\n \"model\" :\"q\\\"x\" , \"n\":1}");
    json_t *doc = json_loads(out, JSON_REJECT_DUPLICATES, NULL);
    assert_non_null(doc);
    assert_string_equal(json_string_value(json_object_get(doc, "model")), "q\"x");
    json_decref(doc);
    free(out);
    assert_int_equal(tx__request_body_for_model(" {} ", 4, NULL, "m", &out, &len), 0);
    assert_string_equal(out, " {\"model\":\"m\"} ");
    free(out);
    const char *esc = "{\"mod\\u0065l\":\"a\"}"; /* the same key, spelled with an escape */
    assert_int_equal(tx__request_body_for_model(esc, strlen(esc), "a", "b", &out, &len), 0);
    assert_string_equal(out, "{\"mod\\u0065l\":\"b\"}");
    free(out);
    assert_int_equal(tx__request_body_for_model("{\"a\":1", 6, NULL, "m", &out, &len), -1);
    assert_int_equal(tx__request_body_for_model("{\"a\" 1}", 7, NULL, "m", &out, &len), -1);
    assert_int_equal(tx__request_body_for_model("{\"a\":\"x}", 8, NULL, "m", &out, &len), -1);
    assert_null(out);
}

static void routes(void **state)
{
    (void)state;
    assert_string_equal(tx__route_upstream_path(TX_ROUTE_CHAT), "/chat/completions");
    assert_string_equal(tx__route_path(TX_ROUTE_EMBEDDINGS), "/v1/embeddings");
    assert_null(tx__route_path(TX_ROUTE__LAST));
    assert_null(tx__route_upstream_path((tx_route_kind_t)-1));
}

static void transitions(void **state)
{
    (void)state;
    assert_true(tx__call_transition_ok(TX_CALL_QUEUED, TX_CALL_CONNECTING));
    assert_true(tx__call_transition_ok(TX_CALL_CONNECTING, TX_CALL_WAITING));
    assert_true(tx__call_transition_ok(TX_CALL_WAITING, TX_CALL_STREAMING));
    assert_true(tx__call_transition_ok(TX_CALL_WAITING, TX_CALL_BACKOFF));
    assert_true(tx__call_transition_ok(TX_CALL_BACKOFF, TX_CALL_QUEUED));
    assert_true(tx__call_transition_ok(TX_CALL_BACKOFF, TX_CALL_CONNECTING));
    assert_true(tx__call_transition_ok(TX_CALL_STREAMING, TX_CALL_DONE));
    /* no retry once streaming, nothing after done, no attempt without a slot */
    assert_false(tx__call_transition_ok(TX_CALL_STREAMING, TX_CALL_BACKOFF));
    assert_false(tx__call_transition_ok(TX_CALL_STREAMING, TX_CALL_CONNECTING));
    assert_false(tx__call_transition_ok(TX_CALL_DONE, TX_CALL_QUEUED));
    assert_false(tx__call_transition_ok(TX_CALL_QUEUED, TX_CALL_STREAMING));
    assert_false(tx__call_transition_ok(TX_CALL__LAST, TX_CALL_DONE));
    assert_string_equal(tx__call_state_name(TX_CALL_BACKOFF), "backoff");
    assert_string_equal(tx__call_state_name(TX_CALL__LAST), "unknown");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(valid_chat),     cmocka_unit_test(rejects),
        cmocka_unit_test(body_for_model), cmocka_unit_test(routes),
        cmocka_unit_test(transitions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
