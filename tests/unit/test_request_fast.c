/* Request validation's one-pass check (core/json_scan) against the cJSON tree path it stands in
 * for: for request bodies, their mutations (every cut, every byte replaced by a structural
 * character, deleted) and every route, both give the same verdict: status, type, code and
 * message of a refusal (byte positions included), or the same model and stream. The common
 * bodies must really take the one-pass check. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/request.h"

static long compared, accepted;

static void same(tx_route_kind_t route, const char *body, size_t len)
{
    tx_request_t a, b;
    tx_request_reject_t ra, rb;
    memset(&ra, 0, sizeof ra);
    memset(&rb, 0, sizeof rb);
    int xa = tx__request_parse(route, body, len, 4096, &a, &ra);
    int xb = tx__request_parse_tree(route, body, len, 4096, &b, &rb);
    int eq = xa == xb;
    if (eq && xa == 0)
        eq = a.stream == b.stream && a.parsed == b.parsed &&
             ((a.model == NULL && b.model == NULL) ||
              (a.model != NULL && b.model != NULL && strcmp(a.model, b.model) == 0));
    else if (eq)
        eq = ra.status == rb.status && strcmp(ra.type, rb.type) == 0 &&
             strcmp(ra.code, rb.code) == 0 && strcmp(ra.message, rb.message) == 0;
    if (!eq)
        fail_msg("route %d differs on %.*s\none pass: %d %d %s '%s' model=%s stream=%d\n"
                 "tree:     %d %d %s '%s' model=%s stream=%d",
                 (int)route, (int)len, body, xa, ra.status, ra.code ? ra.code : "", ra.message,
                 xa == 0 && a.model ? a.model : "-", xa == 0 ? a.stream : -1, xb, rb.status,
                 rb.code ? rb.code : "", rb.message, xb == 0 && b.model ? b.model : "-",
                 xb == 0 ? b.stream : -1);
    compared++;
    accepted += xa == 0 && route != TX_ROUTE_MODELS;
    if (xa == 0) tx__request_free(&a);
    if (xb == 0) tx__request_free(&b);
}

static void same_routes(const char *body, size_t len)
{
    for (int r = 0; r < TX_ROUTE__LAST; r++)
        same((tx_route_kind_t)r, body, len);
}

static const char *const bodies[] = {
    "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}],\"stream\":"
    "false,\"temperature\":0.2,\"max_tokens\":64}",
    "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}],\"stream\":true}",
    "{\"messages\":[]}",
    "{\"model\":\"m\",\"prompt\":\"Say hi\",\"n\":1}",
    "{\"model\":\"text-embedding-3-small\",\"input\":[\"a\",\"b\"]}",
    "{\"model\":\"m\",\"input\":\"x\",\"stream\":true}",
    "{\"model\":\"m\",\"input\":\"x\",\"stream\":false}",
    "{\"model\":\"o4\",\"input\":[{\"role\":\"user\",\"content\":\"hi\"}],\"tools\":[]}",
    " \r\n\t{\"model\":\"caf\xc3\xa9\",\"messages\":[{}]}\n",
    "{\"model\":\"m\",\"model\":\"n\",\"messages\":[{}]}",
    "{\"b\":1,\"a\":2,\"b\":3,\"a\":4,\"messages\":[{}]}",
    "{\"model\":\"\",\"messages\":[{}]}",
    "{\"model\":7,\"messages\":[{}]}",
    "{\"model\":\"m\\u0031\",\"messages\":[{}]}",
    "{\"mod\\u0065l\":\"m\",\"messages\":[{}]}",
    "{\"model\":\"m\",\"stream\":\"yes\",\"messages\":[{}]}",
    "{\"model\":\"m\",\"stream\":null,\"messages\":[{}]}",
    "{\"model\":\"m\",\"messages\":{}}",
    "{\"model\":\"m\",\"messages\":[{},\"x\"]}",
    "{\"model\":\"m\",\"messages\":[{\"content\":\"\\ud83d\\ude00\"}],\"x\":-0.5e-3}",
    "{\"model\":\"m\",\"messages\":[{\"content\":\"\\u0000\"}]}",
    "{\"model\":\"m\",\"messages\":[{}],\"n\":01}",
    "{\"model\":\"m\",\"messages\":[{}],\"n\":1e400}",
    "{\"model\":\"m\",\"messages\":[{}]} {}",
    "[{\"model\":\"m\"}]",
    "\xef\xbb\xbf{\"messages\":[{}]}",
    "{\"n\":1234567890123456789012345678901234567890123456789012345678901234567890,"
    "\"messages\":[{}]}",
    "{\"k1\":1,\"k2\":1,\"k3\":1,\"k4\":1,\"k5\":1,\"k6\":1,\"k7\":1,\"k8\":1,\"k9\":1,\"k10\":1,"
    "\"k11\":1,\"k12\":1,\"k13\":1,\"k14\":1,\"k15\":1,\"k16\":1,\"k17\":1,\"k18\":1,\"k19\":1,"
    "\"k20\":1,\"k21\":1,\"k22\":1,\"k23\":1,\"k24\":1,\"k25\":1,\"k26\":1,\"k27\":1,\"k28\":1,"
    "\"k29\":1,\"k30\":1,\"k31\":1,\"k32\":1,\"k33\":1,\"messages\":[{}],\"k1\":2}",
};

static void one_pass_taken(void **state)
{
    (void)state;
    /* the usual bodies are accepted by the one-pass check alone, the others go to the tree */
    for (size_t i = 0; i < 9; i++) {
        tx_request_t rq;
        tx_request_reject_t rej;
        int any = 0;
        for (int r = 0; r < TX_ROUTE__LAST; r++) {
            if (r == TX_ROUTE_MODELS) continue;
            if (tx__request_parse((tx_route_kind_t)r, bodies[i], strlen(bodies[i]), 0, &rq, &rej) ==
                0) {
                any = 1;
                tx__request_free(&rq);
            }
        }
        if (!any) fail_msg("not one pass on any route: %s", bodies[i]);
    }
    for (size_t i = 9; i < sizeof bodies / sizeof bodies[0]; i++) {
        tx_request_t rq;
        int all = 1; /* each goes to the tree on the routes that refuse it or look at it */
        for (int r = 0; r < TX_ROUTE__LAST; r++) {
            int one =
                tx__request_check_one_pass((tx_route_kind_t)r, bodies[i], strlen(bodies[i]), &rq);
            if (one) tx__request_free(&rq);
            all &= one;
        }
        if (all) fail_msg("one pass on every route: %s", bodies[i]);
    }
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++)
        same_routes(bodies[i], strlen(bodies[i]));
    tx_request_t rq;
    tx_request_reject_t rej;
    assert_int_equal(tx__request_parse(TX_ROUTE_CHAT, bodies[1], strlen(bodies[1]), 0, &rq, &rej),
                     0);
    assert_string_equal(rq.model, "m");
    assert_int_equal(rq.stream, 1);
    tx__request_free(&rq);
    /* a refusal keeps its message */
    assert_int_equal(tx__request_parse(TX_ROUTE_CHAT, bodies[9], strlen(bodies[9]), 0, &rq, &rej),
                     -1);
    assert_string_equal(rej.message,
                        "the request body is not valid JSON: the key 'model' appears twice");
}

static void mutations(void **state)
{
    (void)state;
    static const char subst[] = {'"', '\\', '{', '}', '[', ']',   ',',
                                 ':', '0',  '-', ' ', 'x', '\x01'};
    for (size_t k = 0; k < sizeof bodies / sizeof bodies[0]; k++) {
        const char *base = bodies[k];
        size_t n = strlen(base);
        char *b = malloc(n + 1);
        assert_non_null(b);
        for (size_t i = 0; i <= n; i++) {
            same_routes(base, i);
            if (i == n) break;
            memcpy(b, base, n);
            memmove(b + i, b + i + 1, n - i - 1);
            same_routes(b, n - 1);
            for (size_t s = 0; s < sizeof subst; s++) {
                if (base[i] == subst[s]) continue;
                memcpy(b, base, n);
                b[i] = subst[s];
                same(TX_ROUTE_CHAT, b, n);
                same((tx_route_kind_t)((i + s) % TX_ROUTE__LAST), b, n);
            }
        }
        free(b);
    }
    assert_true(compared > 10000);
    assert_true(accepted > 1000);
    printf("compared %ld verdicts, %ld acceptances\n", compared, accepted);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(one_pass_taken),
        cmocka_unit_test(mutations),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
