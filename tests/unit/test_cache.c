/* Response cache: canonical key rules, stream refusal, LRU + TTL with a passed-in clock,
 * run-time limits, references that outlive eviction, hit/miss counts. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <jansson.h>
#include <openssl/evp.h>

#include "server/cache.h"

#define ROUTE "/v1/chat/completions"

static tx_cache_key_result_t key_of(const char *body, unsigned char k[TX_CACHE_KEY_LEN])
{
    return tx__cache_key(ROUTE, "gpt-4o-mini", body, strlen(body), k);
}

static void key_ignores_order_whitespace_and_other_fields(void **state)
{
    (void)state;
    unsigned char a[32], b[32], c[32];
    assert_int_equal(
        key_of("{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],"
               "\"temperature\":0.5}",
               a),
        TX_CACHE_KEY_OK);
    assert_int_equal(key_of(" { \"temperature\" : 0.50 ,\n \"messages\":[{\"content\":\"hi\","
                            "\"role\":\"user\"}], \"model\":\"m\", \"user\":\"alice\","
                            "\"stream_options\":{\"include_usage\":true}, \"stream\":false}",
                            b),
                     TX_CACHE_KEY_OK);
    assert_memory_equal(a, b, 32);
    /* every field of the key changes it */
    const char *variants[] = {
        "{\"model\":\"m2\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"temperature\":0."
        "5}",
        "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"ho\"}],\"temperature\":0."
        "5}",
        "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"temperature\":0."
        "6}",
        "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"temperature\":0."
        "5,\"top_p\":1}",
        "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"temperature\":0."
        "5,\"max_tokens\":9}",
        "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"temperature\":0."
        "5,\"n\":2}",
        "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"temperature\":0."
        "5,\"stop\":[\"x\"]}",
        "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"temperature\":0."
        "5,\"seed\":1}",
        "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"temperature\":0."
        "5,\"presence_penalty\":1}",
        "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"temperature\":0."
        "5,\"frequency_penalty\":1}",
        "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"temperature\":0."
        "5,\"logit_bias\":{\"1\":2}}",
        "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"temperature\":0."
        "5,\"tools\":[]}",
        "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"temperature\":0."
        "5,\"tool_choice\":\"auto\"}",
        "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"temperature\":0."
        "5,\"response_format\":{\"type\":\"json_object\"}}",
    };
    for (size_t i = 0; i < sizeof(variants) / sizeof(variants[0]); i++) {
        assert_int_equal(key_of(variants[i], c), TX_CACHE_KEY_OK);
        if (memcmp(a, c, 32) == 0) fail_msg("same key for variant %zu", i);
    }
    /* the route is part of the key */
    const char *body = "{\"model\":\"m\",\"prompt\":\"hi\"}";
    assert_int_equal(tx__cache_key("/v1/completions", NULL, body, strlen(body), b),
                     TX_CACHE_KEY_OK);
    assert_int_equal(tx__cache_key("/v1/embeddings", NULL, body, strlen(body), c), TX_CACHE_KEY_OK);
    assert_memory_not_equal(b, c, 32);
    /* no model: the default model stands in */
    assert_int_equal(key_of("{\"messages\":[]}", b), TX_CACHE_KEY_OK);
    assert_int_equal(key_of("{\"messages\":[],\"model\":\"gpt-4o-mini\"}", c), TX_CACHE_KEY_OK);
    assert_memory_equal(b, c, 32);
}

/* The key is, by definition, SHA-256 of the sorted compact dump of {route, model, fields}. */
static void expect_definition(const char *content)
{
    json_t *canon = json_pack("{s:s, s:s, s:[{s:s, s:s}], s:i}", "route", ROUTE, "model", "m",
                              "messages", "role", "user", "content", content, "seed", 7);
    char *dump = json_dumps(canon, JSON_SORT_KEYS | JSON_COMPACT);
    unsigned char want[32], got[32];
    unsigned int n;
    EVP_Digest(dump, strlen(dump), want, &n, EVP_sha256(), NULL);
    /* the request: other order, whitespace, an extra field */
    json_t *req = json_pack("{s:i, s:s, s:[{s:s, s:s}], s:b}", "seed", 7, "user", "bob", "messages",
                            "content", content, "role", "user", "stream", 0);
    json_object_set_new(req, "model", json_string("m"));
    char *body = json_dumps(req, JSON_INDENT(3));
    assert_int_equal(tx__cache_key(ROUTE, NULL, body, strlen(body), got), TX_CACHE_KEY_OK);
    assert_memory_equal(got, want, 32);
    free(body);
    free(dump);
    json_decref(req);
    json_decref(canon);
}

static void key_matches_its_definition(void **state)
{
    (void)state;
    expect_definition("short");
    char *big = malloc(40001); /* larger than the stack buffer: the streamed path */
    memset(big, 'x', 40000);
    big[40000] = '\0';
    expect_definition(big);
    free(big);
}

static void key_refuses_stream_and_garbage(void **state)
{
    (void)state;
    unsigned char k[32];
    assert_int_equal(key_of("{\"model\":\"m\",\"stream\":true,\"messages\":[]}", k),
                     TX_CACHE_KEY_STREAM);
    assert_int_equal(key_of("not json", k), TX_CACHE_KEY_INVALID);
    assert_int_equal(key_of("[1,2]", k), TX_CACHE_KEY_INVALID);
    assert_int_equal(key_of("{\"model\":\"a\",\"model\":\"b\"}", k), TX_CACHE_KEY_INVALID);
    assert_int_equal(key_of("{\"model\":\"\xff\"}", k), TX_CACHE_KEY_INVALID);
    assert_int_equal(key_of("", k), TX_CACHE_KEY_INVALID);
    assert_int_equal(tx__cache_key(ROUTE, NULL, NULL, 5, k), TX_CACHE_KEY_INVALID);
    assert_int_equal(tx__cache_key_tree(ROUTE, NULL, NULL, k), TX_CACHE_KEY_INVALID);
    /* a key twice below the top level too */
    assert_int_equal(key_of("{\"messages\":[{\"role\":\"user\",\"role\":\"x\"}]}", k),
                     TX_CACHE_KEY_INVALID);
    assert_int_equal(key_of("{\"model\":\"m\",\"messages\":[]} x", k), TX_CACHE_KEY_INVALID);
}

static void fill_key(unsigned char k[32], int i)
{
    memset(k, 0, 32);
    memcpy(k, &i, sizeof(i));
}

static void lru_ttl_and_counts(void **state)
{
    (void)state;
    tx_cache_t *c = tx__cache_create(10, 3);
    unsigned char k[32];
    tx_header_t hdr[] = {{"content-type", "application/json"}, {"x-tenax-model", "m"}};
    fill_key(k, 1);
    assert_null(tx__cache_get(c, k, 0));
    assert_int_equal(tx__cache_put(c, k, 200, hdr, 2, "{\"ok\":1}", 8, 0), TX_EOK);
    const tx_cache_entry_t *e = tx__cache_get(c, k, 9999);
    assert_non_null(e);
    assert_int_equal(e->status, 200);
    assert_int_equal(e->nheaders, 2);
    assert_string_equal(e->headers[1].name, "x-tenax-model");
    assert_string_equal(e->headers[0].value, "application/json");
    assert_int_equal(e->body_len, 8);
    assert_memory_equal(e->body, "{\"ok\":1}", 8);
    /* the reference survives the entry's expiry and removal */
    assert_null(tx__cache_get(c, k, 10000));
    assert_string_equal(e->headers[0].value, "application/json");
    tx__cache_release(e);
    tx_cache_stats_t st;
    tx__cache_stats(c, &st);
    assert_int_equal(st.hits, 1);
    assert_int_equal(st.misses, 2);
    assert_int_equal(st.expired, 1);
    assert_int_equal(st.entries, 0);
    /* LRU: 4 puts into 3 slots evict the least recently used */
    for (int i = 1; i <= 3; i++) {
        fill_key(k, i);
        assert_int_equal(tx__cache_put(c, k, 200, NULL, 0, "x", 1, 100), TX_EOK);
    }
    fill_key(k, 1);
    tx__cache_release(tx__cache_get(c, k, 100));
    fill_key(k, 4);
    assert_int_equal(tx__cache_put(c, k, 200, NULL, 0, "y", 1, 100), TX_EOK);
    fill_key(k, 2);
    assert_null(tx__cache_get(c, k, 100));
    fill_key(k, 1);
    e = tx__cache_get(c, k, 100);
    assert_non_null(e);
    /* shrinking at run time evicts down to the new bound; the held reference stays valid */
    tx__cache_set_max_entries(c, 1);
    tx__cache_stats(c, &st);
    assert_int_equal(st.entries, 1);
    assert_true(st.evictions >= 2);
    assert_memory_equal(e->body, "x", 1);
    tx__cache_release(e);
    /* a shorter TTL applies to stored entries */
    fill_key(k, 1);
    assert_int_equal(tx__cache_put(c, k, 200, NULL, 0, "z", 1, 1000), TX_EOK);
    tx__cache_set_ttl(c, 2);
    assert_non_null(e = tx__cache_get(c, k, 2999));
    tx__cache_release(e);
    assert_int_equal(tx__cache_sweep(c, 3000), 1);
    tx__cache_stats(c, &st);
    assert_int_equal(st.entries, 0);
    tx__cache_destroy(c);
}

static void byte_budget(void **state)
{
    (void)state;
    tx_cache_t *c = tx__cache_create(60, 1000);
    char body[1000];
    memset(body, 'b', sizeof(body));
    unsigned char k[32];
    tx__cache_set_max_bytes(c, 5000); /* room for four 1000-byte bodies and their overhead */
    for (int i = 0; i < 10; i++) {
        fill_key(k, i);
        assert_int_equal(tx__cache_put(c, k, 200, NULL, 0, body, sizeof(body), 0), TX_EOK);
    }
    tx_cache_stats_t st;
    tx__cache_stats(c, &st);
    assert_true(st.bytes <= 5000);
    assert_int_equal(st.entries, 4);
    assert_int_equal(st.evictions, 6);
    fill_key(k, 9); /* the newest are kept */
    const tx_cache_entry_t *e = tx__cache_get(c, k, 1);
    assert_non_null(e);
    tx__cache_release(e);
    fill_key(k, 5);
    assert_null(tx__cache_get(c, k, 1));
    /* replacing an entry does not count its old bytes twice */
    fill_key(k, 9);
    assert_int_equal(tx__cache_put(c, k, 200, NULL, 0, body, sizeof(body), 2), TX_EOK);
    tx__cache_stats(c, &st);
    assert_int_equal(st.entries, 4);
    size_t before = st.bytes;
    /* larger than the whole budget: refused, nothing evicted */
    char *huge = calloc(1, 6000);
    assert_int_equal(tx__cache_put(c, k, 200, NULL, 0, huge, 6000, 2), TX_ERANGE);
    free(huge);
    tx__cache_stats(c, &st);
    assert_int_equal(st.bytes, before);
    /* shrinking the budget evicts down */
    tx__cache_set_max_bytes(c, 2500);
    tx__cache_stats(c, &st);
    assert_true(st.bytes <= 2500);
    assert_int_equal(st.entries, 2);
    tx__cache_destroy(c);
}

static void refusals(void **state)
{
    (void)state;
    tx_cache_t *c = tx__cache_create(0, 10); /* off */
    unsigned char k[32];
    fill_key(k, 7);
    assert_false(tx__cache_enabled(c));
    assert_int_equal(tx__cache_put(c, k, 200, NULL, 0, "x", 1, 0), TX_EINVAL);
    assert_null(tx__cache_get(c, k, 0));
    tx_cache_stats_t st;
    tx__cache_stats(c, &st);
    assert_int_equal(st.misses, 0); /* off: nothing counted */
    tx__cache_set_ttl(c, 60);
    assert_int_equal(tx__cache_put(c, k, 500, NULL, 0, "x", 1, 0), TX_EINVAL);
    assert_int_equal(tx__cache_put(c, k, 429, NULL, 0, "x", 1, 0), TX_EINVAL);
    assert_int_equal(tx__cache_put(c, k, 200, NULL, 0, NULL, 1, 0), TX_EINVAL);
    tx_header_t bad[] = {{"x", NULL}};
    assert_int_equal(tx__cache_put(c, k, 200, bad, 1, "x", 1, 0), TX_EINVAL);
    size_t big = TX_CACHE_MAX_ENTRY_BYTES + 1;
    char *body = calloc(1, big);
    assert_int_equal(tx__cache_put(c, k, 200, NULL, 0, body, big, 0), TX_ERANGE);
    free(body);
    assert_int_equal(tx__cache_put(c, k, 200, NULL, 0, "", 0, 0), TX_EOK); /* empty body is fine */
    const tx_cache_entry_t *e = tx__cache_get(c, k, 1);
    assert_non_null(e);
    assert_int_equal(e->body_len, 0);
    tx__cache_release(e);
    tx__cache_release(NULL);
    assert_null(tx__cache_create(10, 0));
    tx__cache_destroy(c);
    tx__cache_destroy(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(key_ignores_order_whitespace_and_other_fields),
        cmocka_unit_test(key_matches_its_definition),
        cmocka_unit_test(key_refuses_stream_and_garbage),
        cmocka_unit_test(lru_ttl_and_counts),
        cmocka_unit_test(byte_budget),
        cmocka_unit_test(refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
