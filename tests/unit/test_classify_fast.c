/* The classifier's fast path (one pass with core/json_scan, no tree) against the cJSON tree path
 * it stands in for: for every body here, the case files' bodies, and mutations of each (every
 * cut, every byte replaced by a structural character, deleted), both paths must give the same
 * tx_classification_t, for every 2xx status kind; and the plain success shapes must really take
 * the fast path. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "core/classify_tree.h"
#include "tenax/classify.h"

static const tx_resp_kind_t kinds[] = {TX_RESP_ANY, TX_RESP_CHAT, TX_RESP_COMPLETION,
                                       TX_RESP_EMBEDDING, TX_RESP_RESPONSES};
static long compared, skimmed;

static void same(const char *body, size_t len, int status, tx_resp_kind_t kind)
{
    tx_classification_t a, b;
    static const tx_header_t h[] = {{"Retry-After", "7"}};
    size_t nh = status == 201 ? 1 : 0;
    memset(&a, 0x5a, sizeof a);
    memset(&b, 0xa5, sizeof b);
    tx_class_t ca = tx__classify_response_with(status, h, nh, body, len, kind, 0, &a, cJSON_Delete);
    tx_class_t cb = tx__classify_response_tree(status, h, nh, body, len, kind, 0, &b, cJSON_Delete);
    int eq = ca == cb && a.cls == b.cls && a.status == b.status && strcmp(a.code, b.code) == 0 &&
             strcmp(a.message, b.message) == 0 && a.retry_after_ms == b.retry_after_ms &&
             a.prompt_tokens == b.prompt_tokens && a.completion_tokens == b.completion_tokens &&
             a.total_tokens == b.total_tokens && a.output == b.output &&
             a.error_shape == b.error_shape;
    if (!eq)
        fail_msg("paths differ (status %d kind %d) on %.*s\nfast: %s %s '%s' %lld/%lld/%lld\n"
                 "tree: %s %s '%s' %lld/%lld/%lld",
                 status, (int)kind, (int)len, body, tx_class_name(a.cls), a.code, a.message,
                 (long long)a.prompt_tokens, (long long)a.completion_tokens,
                 (long long)a.total_tokens, tx_class_name(b.cls), b.code, b.message,
                 (long long)b.prompt_tokens, (long long)b.completion_tokens,
                 (long long)b.total_tokens);
    compared++;
    tx_classification_t s;
    memset(&s, 0, sizeof s);
    skimmed += tx__classify_skim(body, len, kind, &s);
}

static long stream_compared, stream_skimmed;

/* The same for the body as one stream event. */
static void same_event(const char *body, size_t len)
{
    tx_classification_t a, b;
    memset(&a, 0x5a, sizeof a);
    memset(&b, 0xa5, sizeof b);
    tx_class_t ca = tx__classify_stream_event_with(body, len, &a, cJSON_Delete);
    tx_class_t cb = tx__classify_stream_event_tree(body, len, &b, cJSON_Delete);
    int eq = ca == cb && a.cls == b.cls && a.status == b.status && strcmp(a.code, b.code) == 0 &&
             strcmp(a.message, b.message) == 0 && a.retry_after_ms == b.retry_after_ms &&
             a.prompt_tokens == b.prompt_tokens && a.completion_tokens == b.completion_tokens &&
             a.total_tokens == b.total_tokens && a.output == b.output &&
             a.error_shape == b.error_shape;
    if (!eq)
        fail_msg("event paths differ on %.*s\nfast: %s '%s' output %d %lld/%lld/%lld\n"
                 "tree: %s '%s' output %d %lld/%lld/%lld",
                 (int)len, body, tx_class_name(a.cls), a.message, a.output,
                 (long long)a.prompt_tokens, (long long)a.completion_tokens,
                 (long long)a.total_tokens, tx_class_name(b.cls), b.message, b.output,
                 (long long)b.prompt_tokens, (long long)b.completion_tokens,
                 (long long)b.total_tokens);
    stream_compared++;
    tx_classification_t s;
    memset(&s, 0, sizeof s);
    stream_skimmed += tx__classify_event_skim(body, len, &s);
}

static void same_all(const char *body, size_t len)
{
    same_event(body, len);
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        same(body, len, 200, kinds[k]);
        same(body, len, 201, kinds[k]);
    }
}

/* Success shapes the fast path decides (each for at least one kind), each with its twist. */
static const char *const plain[] = {
    "{\"id\":\"c1\",\"object\":\"chat.completion\",\"choices\":[{\"index\":0,\"message\":{\"role\":"
    "\"assistant\",\"content\":\"Hello!\"},\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_"
    "tokens\":"
    "9,\"completion_tokens\":12,\"total_tokens\":21}}",
    " \n{\"choices\":[{\"message\":{\"content\":\"\"}}]} \r\n",
    "{\"choices\":[{\"message\":{\"content\":null,\"tool_calls\":[{\"id\":\"t\"}]}}]}",
    "{\"choices\":[{\"message\":{\"tool_calls\":[]}}]}",
    "{\"choices\":[{\"message\":{\"content\":[{\"type\":\"text\"}]}}]}",
    "{\"choices\":[{\"message\":\"hi\"}]}",
    "{\"choices\":[{\"finish_reason\":\"content_filter\",\"message\":{\"content\":\"x\"}}]}",
    "{\"choices\":[{\"finish_reason\":\"content_filter\"}],\"usage\":{\"total_tokens\":3}}",
    "{\"choices\":[{\"finish_reason\":\"stop\",\"finish_reason\":\"content_filter\",\"text\":\"t\"}"
    "]}",
    "{\"choices\":[],\"usage\":{\"prompt_tokens\":1}}",
    "{\"choices\":[1,{\"text\":\"x\"}]}",
    "{\"choices\":{\"text\":\"x\"}}",
    "{\"choices\":[{\"text\":\"\"}]}",
    "{\"choices\":[{\"text\":7}]}",
    "{\"choices\":[{\"text\":\"a\\nb\",\"message\":{\"content\":\"\\u00e9\"}}]}",
    "{\"choices\":[{\"text\":\"t\"}],\"choices\":[]}",
    "{\"data\":[{\"embedding\":[0.1,-2e-3,1E+2]}],\"usage\":{\"prompt_tokens\":5,\"total_tokens\":"
    "5}}",
    "{\"data\":[]}",
    "{\"data\":{}}",
    "{\"object\":\"response\",\"status\":\"completed\",\"error\":null,\"incomplete_details\":null,"
    "\"output\":[{\"type\":\"message\"}],\"usage\":{\"input_tokens\":4,\"output_tokens\":6,"
    "\"total_tokens\":10}}",
    "{\"status\":\"in_progress\",\"output\":[]}",
    "{\"status\":7,\"output\":{}}",
    "{\"error\":null,\"error\":{\"message\":\"late\"},\"choices\":[{\"text\":\"x\"}]}",
    "{\"usage\":{\"prompt_tokens\":\"9\",\"completion_tokens\":null,\"total_tokens\":[1]}}",
    "{\"usage\":{\"input_tokens\":1,\"prompt_tokens\":2,\"output_tokens\":3,\"completion_tokens\":"
    "4,"
    "\"total_tokens\":0,\"total_tokens\":5}}",
    "{\"usage\":{\"total_tokens\":999999999999999}}",
    "{\"usage\":7}",
    "{}",
    "{\"\":1,\"x\":{\"code\":1,\"error\":2,\"msg\":3},\"deep\":[[[[[{\"a\":[]}]]]]]}",
};

/* Stream events the fast path decides, and some it leaves to the tree. */
static const char *const chunks[] = {
    "{\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{"
    "\"content\":\"Hel\"},\"finish_reason\":null}]}",
    "{\"choices\":[{\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}",
    "{\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0}]}}]}",
    "{\"choices\":[{\"delta\":{\"tool_calls\":{\"a\":1}}}]}",
    "{\"choices\":[{\"delta\":{\"tool_calls\":[],\"refusal\":\"no\"}}]}",
    "{\"choices\":[{\"delta\":{},\"finish_reason\":\"stop\"}],\"usage\":null}",
    "{\"choices\":[{\"delta\":{},\"finish_reason\":\"content_filter\"}]}",
    "{\"choices\":[{\"text\":\"\",\"delta\":\"x\"}]}",
    "{\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":4,\"total_tokens\":7}}",
    "{\"choices\":[7]}",
    "{\"choices\":{}}",
    "{\"usage\":{\"total_tokens\":2}}",
    "{\"usage\":5}",
    "{\"object\":\"other\"}",
    " \v{\"choices\":[{\"delta\":{\"content\":\"\\u00e9\"}}]}\f\n",
    "{\"error\":null,\"choices\":[{\"delta\":{\"content\":\"x\"}}]}",
    /* for the tree path */
    "{\"type\":\"response.output_text.delta\",\"delta\":\"x\"}",
    "{\"type\":\"response.completed\",\"response\":{\"status\":\"completed\",\"output\":[],"
    "\"usage\":{\"input_tokens\":1}}}",
    "{\"error\":{\"message\":\"Overloaded\",\"type\":\"overloaded_error\"}}",
    "{\"code\":1302,\"msg\":\"busy\"}",
    "{\"choices\":[{\"finish_reason\":\"content\\u005ffilter\"}]}",
    "{\"choices\":[{\"d\\u0065lta\":{\"content\":\"x\"}}]}",
    "{\"choices\":[],\"usage\":{\"total_tokens\":1.0}}",
    "[DONE]",
    "",
    "[1]",
};

/* Bodies for the tree path (escapes in compared keys or strings, numbers the tree reads, errors,
 * code/msg, what the strict scanner refuses and cJSON accepts, non-objects). */
static const char *const others[] = {
    "{\"\\u0063hoices\":[{\"text\":\"x\"}]}",
    "{\"choices\":[{\"t\\u0065xt\":\"x\"}]}",
    "{\"choices\":[{\"message\":{\"cont\\u0065nt\":\"x\"}}]}",
    "{\"choices\":[{\"finish_reason\":\"content\\u005ffilter\",\"text\":\"x\"}]}",
    "{\"usage\":{\"total_tok\\u0065ns\":5}}",
    "{\"usage\":{\"total_tokens\":1e3}}",
    "{\"usage\":{\"total_tokens\":1.0}}",
    "{\"usage\":{\"total_tokens\":-0}}",
    "{\"usage\":{\"total_tokens\":-5}}",
    "{\"usage\":{\"total_tokens\":12345678901234567}}",
    "{\"usage\":{\"total_tokens\":1e400}}",
    "{\"error\":{\"message\":\"Rate limit\",\"type\":\"rate_limit_error\"}}",
    "{\"error\":\"overloaded\"}",
    "{\"error\":{}}",
    "{\"error\":false,\"choices\":[{\"text\":\"x\"}]}",
    "{\"code\":1302,\"msg\":\"busy\"}",
    "{\"code\":0,\"msg\":\"ok\",\"data\":[1]}",
    "{\"msg\":\"x\",\"choices\":[{\"text\":\"x\"}]}",
    "{\"status\":\"failed\",\"error\":null,\"output\":[]}",
    "{\"status\":\"incomplete\",\"incomplete_details\":{\"reason\":\"max_output_tokens\"}}",
    "{\"status\":\"fail\\u0065d\",\"output\":[]}",
    "{\"choices\":[{\"text\":\"\x01\"}]}",
    "{\"choices\":[{\"text\":\"\xff\"}]}",
    "{\"choices\":[{\"text\":\"x\"}],\"n\":01}",
    "{\"choices\":[{\"text\":\"x\"}]} trailing",
    "{\"choices\":[{\"text\":\"x\"}],}",
    "{\"n\":1234567890123456789012345678901234567890123456789012345678901234567890}",
    "[{\"choices\":[]}]",
    "\"a string\"",
    "",
    "<html>502</html>",
};

static void fast_path_taken(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof plain / sizeof plain[0]; i++) {
        int any = 0;
        for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
            tx_classification_t s;
            memset(&s, 0, sizeof s);
            any |= tx__classify_skim(plain[i], strlen(plain[i]), kinds[k], &s);
        }
        if (!any) fail_msg("not on the fast path: %s", plain[i]);
        same_all(plain[i], strlen(plain[i]));
    }
    for (size_t i = 0; i < sizeof others / sizeof others[0]; i++) {
        int all = 1; /* each goes to the tree path for the kinds that read what it holds */
        for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
            tx_classification_t s;
            memset(&s, 0, sizeof s);
            all &= tx__classify_skim(others[i], strlen(others[i]), kinds[k], &s);
        }
        if (all) fail_msg("on the fast path for every kind: %s", others[i]);
        same_all(others[i], strlen(others[i]));
    }
    for (size_t i = 0; i < 16; i++) {
        tx_classification_t s;
        memset(&s, 0, sizeof s);
        if (!tx__classify_event_skim(chunks[i], strlen(chunks[i]), &s))
            fail_msg("event not on the fast path: %s", chunks[i]);
    }
    for (size_t i = 16; i < sizeof chunks / sizeof chunks[0]; i++) {
        tx_classification_t s;
        memset(&s, 0, sizeof s);
        if (tx__classify_event_skim(chunks[i], strlen(chunks[i]), &s))
            fail_msg("event on the fast path: %s", chunks[i]);
        same_all(chunks[i], strlen(chunks[i]));
    }
    for (size_t i = 0; i < 16; i++)
        same_all(chunks[i], strlen(chunks[i]));
    /* the answers themselves, for the first body: what the tree path gives too */
    tx_classification_t out;
    assert_int_equal(
        tx_classify_response(200, NULL, 0, plain[0], strlen(plain[0]), TX_RESP_CHAT, 0, &out),
        TX_CLASS_OK);
    assert_int_equal(out.prompt_tokens, 9);
    assert_int_equal(out.completion_tokens, 12);
    assert_int_equal(out.total_tokens, 21);
}

static void mutate(const char *base)
{
    size_t n = strlen(base);
    char *b = malloc(n + 1);
    assert_non_null(b);
    static const char subst[] = {'"', '\\', '{', '}', '[', ']',   ',',
                                 ':', '0',  '-', ' ', 'x', '\x01'};
    for (size_t i = 0; i <= n; i++) {
        same_all(base, i); /* cut */
        if (i == n) break;
        memcpy(b, base, n);
        memmove(b + i, b + i + 1, n - i - 1); /* delete */
        same_all(b, n - 1);
        for (size_t s = 0; s < sizeof subst; s++) {
            if (base[i] == subst[s]) continue;
            memcpy(b, base, n);
            b[i] = subst[s];
            same(b, n, 200, TX_RESP_CHAT);
            same_event(b, n);
            same(b, n, 200, (tx_resp_kind_t)(TX_RESP_ANY + (i + s) % 5));
        }
    }
    free(b);
}

static void mutations(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof chunks / sizeof chunks[0]; i++)
        mutate(chunks[i]);
    for (size_t i = 0; i < sizeof plain / sizeof plain[0]; i++)
        mutate(plain[i]);
    for (size_t i = 0; i < sizeof others / sizeof others[0]; i++)
        mutate(others[i]);
}

static void case_bodies(void **state)
{
    (void)state;
    const char *root = getenv("TX_TEST_DATA");
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/classify", root != NULL ? root : "tests/data");
    DIR *d = opendir(dir);
    assert_non_null(d);
    int files = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t nl = strlen(e->d_name);
        if (nl < 6 || strcmp(e->d_name + nl - 5, ".case") != 0) continue;
        char path[1400];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        FILE *f = fopen(path, "rb");
        assert_non_null(f);
        static char buf[1 << 16];
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[n] = '\0';
        char *body = strstr(buf, "\nbody:\n");
        if (body == NULL) continue;
        body += 7;
        same_all(body, n - (size_t)(body - buf));
        files++;
    }
    closedir(d);
    assert_true(files > 50);
}

static void counted(void **state)
{
    (void)state;
    /* the differential tests above ran, and a good share of their bodies took the fast path */
    assert_true(compared > 10000);
    assert_true(skimmed > 1000);
    assert_true(stream_compared > 10000);
    assert_true(stream_skimmed > 1000);
    printf("compared %ld classifications, %ld on the fast path; %ld stream events, %ld on the "
           "fast path\n",
           compared, skimmed, stream_compared, stream_skimmed);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(fast_path_taken),
        cmocka_unit_test(case_bodies),
        cmocka_unit_test(mutations),
        cmocka_unit_test(counted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
