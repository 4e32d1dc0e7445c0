/* Data-driven classifier tests: every tests/data/classify/NAME.case (format in its README.md) is
 * classified and checked for class, code, retry_after_ms, decision and message; plus edge cases
 * of bad input that must not crash. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tenax/classify.h"

#define MAX_HEADERS 16

typedef struct {
    char *buf; /* the whole file; every string below points into it */
    int status;
    const char *transport, *stream, *kind, *cls, *code, *decision, *message;
    long long ra, now;
    int has_ra;
    tx_header_t h[MAX_HEADERS];
    size_t nh;
    const char *body;
    size_t body_len;
} tcase_t;

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    if (b != NULL && fread(b, 1, (size_t)n, f) != (size_t)n) {
        free(b);
        b = NULL;
    }
    fclose(f);
    if (b == NULL) return NULL;
    b[n] = '\0';
    *len = (size_t)n;
    return b;
}

/* Parses a case file; returns NULL on success or what is wrong with it. */
static const char *parse_case(char *buf, size_t len, tcase_t *c)
{
    memset(c, 0, sizeof *c);
    c->buf = buf;
    c->now = 1700000000000LL;
    char *p = buf, *end = buf + len;
    while (p < end) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        if (nl == NULL) return "line without newline before body:";
        *nl = '\0';
        char *line = p;
        p = nl + 1;
        if (line[0] == '#' || line[0] == '\0') continue;
        if (strcmp(line, "body:") == 0) {
            c->body = p;
            c->body_len = (size_t)(end - p);
            break;
        }
        char *colon = strchr(line, ':');
        if (colon == NULL) return "line without a colon";
        *colon = '\0';
        char *val = colon + 1;
        while (*val == ' ')
            val++;
        if (strcmp(line, "status") == 0) {
            c->status = (int)strtol(val, NULL, 10);
        } else if (strcmp(line, "transport") == 0) {
            c->transport = val;
        } else if (strcmp(line, "stream") == 0) {
            c->stream = val;
        } else if (strcmp(line, "kind") == 0) {
            c->kind = val;
        } else if (strcmp(line, "now") == 0) {
            c->now = strtoll(val, NULL, 10);
        } else if (strcmp(line, "class") == 0) {
            c->cls = val;
        } else if (strcmp(line, "code") == 0) {
            c->code = val;
        } else if (strcmp(line, "decision") == 0) {
            c->decision = val;
        } else if (strcmp(line, "message") == 0) {
            c->message = val;
        } else if (strcmp(line, "retry_after_ms") == 0) {
            c->ra = strtoll(val, NULL, 10);
            c->has_ra = 1;
        } else if (strcmp(line, "header") == 0) {
            char *hc = strchr(val, ':');
            if (hc == NULL || c->nh == MAX_HEADERS) return "bad header line";
            *hc = '\0';
            char *hv = hc + 1;
            while (*hv == ' ')
                hv++;
            c->h[c->nh].name = val;
            c->h[c->nh].value = hv;
            c->nh++;
        } else {
            return "unknown key";
        }
    }
    if (c->body == NULL) return "no body: line";
    if (c->cls == NULL || c->code == NULL || c->decision == NULL || !c->has_ra)
        return "class, code, retry_after_ms and decision are required";
    return NULL;
}

static const char *decision_of(tx_class_t cls)
{
    if (cls == TX_CLASS_OK) return "ok";
    if (tx_class_next_model(cls)) return "next_model";
    if (tx_class_retryable(cls)) return "retry";
    return "stop";
}

static tx_resp_kind_t kind_of(const char *k)
{
    if (k == NULL || strcmp(k, "chat") == 0) return TX_RESP_CHAT;
    if (strcmp(k, "completion") == 0) return TX_RESP_COMPLETION;
    if (strcmp(k, "embedding") == 0) return TX_RESP_EMBEDDING;
    return TX_RESP_ANY;
}

static tx_transport_t transport_of(const char *t)
{
    static const char *const names[] = {"connect", "reset",   "dns",    "tls",
                                        "partial", "timeout", "aborted"};
    for (int i = 0; i < 7; i++)
        if (strcmp(t, names[i]) == 0) return (tx_transport_t)i;
    return (tx_transport_t)-1;
}

/* Runs one case; returns the number of failed checks (printed with the file name). */
static int run_case(const char *name, tcase_t *c)
{
    tx_classification_t out;
    if (c->transport != NULL) {
        char detail[256];
        snprintf(detail, sizeof detail, "%.*s", (int)c->body_len, c->body);
        tx_classify_transport(transport_of(c->transport), c->body_len ? detail : NULL, &out);
    } else if (c->stream != NULL) {
        tx_classify_stream_event(c->body, c->body_len, &out);
    } else {
        tx_classify_response(c->status, c->h, c->nh, c->body, c->body_len, kind_of(c->kind), c->now,
                             &out);
    }
    int bad = 0;
    if (strcmp(tx_class_name(out.cls), c->cls) != 0) {
        fprintf(stderr, "FAIL %s: class %s, want %s (message: %s)\n", name, tx_class_name(out.cls),
                c->cls, out.message);
        bad++;
    }
    if (strcmp(out.code, c->code) != 0) {
        fprintf(stderr, "FAIL %s: code \"%s\", want \"%s\"\n", name, out.code, c->code);
        bad++;
    }
    if (out.retry_after_ms != c->ra) {
        fprintf(stderr, "FAIL %s: retry_after_ms %lld, want %lld\n", name,
                (long long)out.retry_after_ms, c->ra);
        bad++;
    }
    if (strcmp(decision_of(out.cls), c->decision) != 0) {
        fprintf(stderr, "FAIL %s: decision %s, want %s\n", name, decision_of(out.cls), c->decision);
        bad++;
    }
    if (c->message != NULL && strstr(out.message, c->message) == NULL) {
        fprintf(stderr, "FAIL %s: message \"%s\" lacks \"%s\"\n", name, out.message, c->message);
        bad++;
    }
    return bad;
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

static int is_case(const struct dirent *e)
{
    size_t n = strlen(e->d_name);
    return n > 5 && strcmp(e->d_name + n - 5, ".case") == 0;
}

static void all_case_files(void **state)
{
    (void)state;
    const char *data = getenv("TX_TEST_DATA");
    assert_non_null(data);
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/classify", data);
    struct dirent **list = NULL;
    int n = scandir(dir, &list, is_case, by_name);
    assert_true(n >= 45);
    int failed = 0;
    for (int i = 0; i < n; i++) {
        char path[2048];
        snprintf(path, sizeof path, "%s/%s", dir, list[i]->d_name);
        size_t len = 0;
        char *buf = slurp(path, &len);
        if (buf == NULL) {
            fprintf(stderr, "FAIL %s: cannot read\n", list[i]->d_name);
            failed++;
        } else {
            tcase_t c;
            const char *why = parse_case(buf, len, &c);
            if (why != NULL) {
                fprintf(stderr, "FAIL %s: bad case file: %s\n", list[i]->d_name, why);
                failed++;
            } else if (run_case(list[i]->d_name, &c) != 0) {
                failed++;
            }
            free(buf);
        }
        free(list[i]);
    }
    free(list);
    fprintf(stderr, "classify: %d case files, %d failed\n", n, failed);
    assert_int_equal(failed, 0);
}

static void bad_input_never_crashes(void **state)
{
    (void)state;
    tx_classification_t out;
    assert_int_equal(tx_classify_response(200, NULL, 0, NULL, 10, TX_RESP_CHAT, 0, &out),
                     TX_CLASS_INVALID_RESPONSE);
    assert_string_equal(out.message, "empty body");
    assert_int_equal(tx_classify_response(200, NULL, 5, "{}", 2, TX_RESP_CHAT, 0, &out),
                     TX_CLASS_INVALID_RESPONSE);
    assert_int_equal(tx_classify_response(200, NULL, 0, "{}", 2, TX_RESP_ANY, 0, &out),
                     TX_CLASS_OK);
    assert_int_equal(tx_classify_response(-1, NULL, 0, "", 0, TX_RESP_CHAT, 0, &out),
                     TX_CLASS_INVALID_RESPONSE);
    assert_int_equal(tx_classify_response(200, NULL, 0, "{}", 2, TX_RESP_CHAT, 0, NULL),
                     TX_CLASS_INVALID_RESPONSE);

    /* 10 MB of '[': deep nesting and a huge body give a clear invalid_response */
    size_t big = 10u << 20;
    char *b = malloc(big);
    assert_non_null(b);
    memset(b, '[', big);
    assert_int_equal(tx_classify_response(200, NULL, 0, b, big, TX_RESP_CHAT, 0, &out),
                     TX_CLASS_INVALID_RESPONSE);
    assert_string_equal(out.message, "body is not JSON");
    /* the same as a 500 HTML-ish page: server, message truncated and valid */
    memset(b, 'x', big);
    assert_int_equal(tx_classify_response(500, NULL, 0, b, big, TX_RESP_CHAT, 0, &out),
                     TX_CLASS_SERVER);
    assert_int_equal(strlen(out.message), sizeof out.message - 1);
    free(b);

    /* invalid UTF-8 inside a JSON message never reaches out.message */
    const char *msg = "{\"error\":{\"message\":\"caf\\u00e9 \\ud800\",\"code\":\"x\"}}";
    tx_classify_response(400, NULL, 0, msg, strlen(msg), TX_RESP_CHAT, 0, &out);
    assert_int_equal(out.cls, TX_CLASS_BAD_REQUEST);

    /* a long multi-byte message is cut on a character boundary */
    char longmsg[2048];
    size_t o = (size_t)snprintf(longmsg, sizeof longmsg, "{\"error\":{\"message\":\"");
    for (int i = 0; i < 300; i++)
        o += (size_t)snprintf(longmsg + o, sizeof longmsg - o, "é");
    snprintf(longmsg + o, sizeof longmsg - o, "\",\"code\":\"1214\"}}");
    tx_classify_response(400, NULL, 0, longmsg, strlen(longmsg), TX_RESP_CHAT, 0, &out);
    assert_int_equal(out.cls, TX_CLASS_BAD_REQUEST);
    assert_int_equal(strlen(out.message), 382); /* 191 two-byte characters fit in 383 bytes */

    /* out-of-range transport value */
    assert_int_equal(tx_classify_transport((tx_transport_t)99, NULL, &out), TX_CLASS_NETWORK);
    assert_int_equal(tx_classify_stream_event(NULL, 3, &out), TX_CLASS_INVALID_RESPONSE);
}

/* The Responses API: a failed or incomplete response is a failed attempt; a completed one needs
 * an output array and gives its usage; stream events hold back until output, fail on
 * response.failed / error, and carry the usage of response.completed. */
static void responses_api(void **state)
{
    (void)state;
    tx_classification_t c;
    const char *ok =
        "{\"id\":\"r\",\"object\":\"response\",\"status\":\"completed\",\"error\":null,"
        "\"output\":[{\"type\":\"message\"}],\"usage\":{\"input_tokens\":3,"
        "\"output_tokens\":5,\"total_tokens\":8}}";
    assert_int_equal(tx_classify_response(200, NULL, 0, ok, strlen(ok), TX_RESP_RESPONSES, 0, &c),
                     TX_CLASS_OK);
    assert_int_equal(c.prompt_tokens, 3);
    assert_int_equal(c.completion_tokens, 5);
    const char *failed = "{\"status\":\"failed\",\"error\":{\"code\":\"server_error\","
                         "\"message\":\"boom\"},\"output\":[]}";
    assert_int_not_equal(
        tx_classify_response(200, NULL, 0, failed, strlen(failed), TX_RESP_RESPONSES, 0, &c),
        TX_CLASS_OK);
    const char *failed2 = "{\"status\":\"failed\",\"error\":null,\"output\":[]}";
    assert_int_equal(
        tx_classify_response(200, NULL, 0, failed2, strlen(failed2), TX_RESP_RESPONSES, 0, &c),
        TX_CLASS_SERVER);
    const char *inc = "{\"status\":\"incomplete\",\"incomplete_details\":{\"reason\":"
                      "\"content_filter\"},\"output\":[]}";
    assert_int_equal(tx_classify_response(200, NULL, 0, inc, strlen(inc), TX_RESP_RESPONSES, 0, &c),
                     TX_CLASS_CONTENT_FILTER);
    const char *inc2 = "{\"status\":\"incomplete\",\"incomplete_details\":{\"reason\":"
                       "\"max_output_tokens\"},\"output\":[]}";
    assert_int_equal(
        tx_classify_response(200, NULL, 0, inc2, strlen(inc2), TX_RESP_RESPONSES, 0, &c),
        TX_CLASS_INVALID_RESPONSE);
    const char *noout = "{\"status\":\"completed\"}";
    assert_int_equal(
        tx_classify_response(200, NULL, 0, noout, strlen(noout), TX_RESP_RESPONSES, 0, &c),
        TX_CLASS_INVALID_RESPONSE);

    const char *created = "{\"type\":\"response.created\",\"response\":{\"status\":\"in_progress\","
                          "\"output\":[]}}";
    assert_int_equal(tx_classify_stream_event(created, strlen(created), &c), TX_CLASS_OK);
    assert_false(c.output);
    const char *delta = "{\"type\":\"response.output_text.delta\",\"delta\":\"hi\"}";
    assert_int_equal(tx_classify_stream_event(delta, strlen(delta), &c), TX_CLASS_OK);
    assert_true(c.output);
    const char *rf = "{\"type\":\"response.failed\",\"response\":{\"status\":\"failed\","
                     "\"error\":{\"code\":\"server_error\",\"message\":\"x\"},\"output\":[]}}";
    assert_int_not_equal(tx_classify_stream_event(rf, strlen(rf), &c), TX_CLASS_OK);
    const char *err = "{\"type\":\"error\",\"code\":\"server_error\",\"message\":\"x\"}";
    assert_int_not_equal(tx_classify_stream_event(err, strlen(err), &c), TX_CLASS_OK);
    const char *done = "{\"type\":\"response.completed\",\"response\":{\"status\":\"completed\","
                       "\"output\":[],\"usage\":{\"input_tokens\":2,\"output_tokens\":7}}}";
    assert_int_equal(tx_classify_stream_event(done, strlen(done), &c), TX_CLASS_OK);
    assert_true(c.output);
    assert_int_equal(c.completion_tokens, 7);

    /* chat: a role-only delta holds back, content commits, a usage chunk carries the counts */
    const char *role = "{\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\","
                       "\"content\":\"\"},\"finish_reason\":null}]}";
    assert_int_equal(tx_classify_stream_event(role, strlen(role), &c), TX_CLASS_OK);
    assert_false(c.output);
    const char *content = "{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}]}";
    tx_classify_stream_event(content, strlen(content), &c);
    assert_true(c.output);
    const char *usage = "{\"choices\":[],\"usage\":{\"prompt_tokens\":4,\"completion_tokens\":9,"
                        "\"total_tokens\":13}}";
    assert_int_equal(tx_classify_stream_event(usage, strlen(usage), &c), TX_CLASS_OK);
    assert_false(c.output);
    assert_int_equal(c.prompt_tokens, 4);
    assert_int_equal(c.total_tokens, 13);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(all_case_files),
        cmocka_unit_test(bad_input_never_crashes),
        cmocka_unit_test(responses_api),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
