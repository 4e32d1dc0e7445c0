/* Response cache: canonical request → SHA-256 key (jansson dump streamed into an EVP digest),
 * and refcounted entries in a bounded LRU map, expired lazily against the current TTL. */
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "server/cache.h"
#include "server/lru.h"

const char *const tx_cache_key_fields[] = {
    /* chat */
    "messages", "tools", "tool_choice", "parallel_tool_calls", "functions", "function_call",
    "response_format",
    /* sampling */
    "temperature", "top_p", "max_tokens", "max_completion_tokens", "n", "stop", "seed",
    "presence_penalty", "frequency_penalty", "logit_bias", "logprobs", "top_logprobs",
    /* completions and embeddings: the input itself */
    "prompt", "suffix", "echo", "best_of", "input", "dimensions", "encoding_format", NULL};

#define KEY_FLAGS (JSON_SORT_KEYS | JSON_COMPACT)

static int digest_cb(const char *buffer, size_t size, void *data)
{
    return EVP_DigestUpdate((EVP_MD_CTX *)data, buffer, size) == 1 ? 0 : -1;
}

tx_cache_key_result_t tx_cache_key_json(const char *route, const char *default_model,
                                        const json_t *req, unsigned char key[TX_CACHE_KEY_LEN])
{
    if (req == NULL || !json_is_object(req) || key == NULL) return TX_CACHE_KEY_INVALID;
    if (json_is_true(json_object_get(req, "stream"))) return TX_CACHE_KEY_STREAM;
    json_t *canon = json_object();
    if (canon == NULL) return TX_CACHE_KEY_INVALID;
    int ok = json_object_set_new(canon, "route", json_string(route != NULL ? route : "")) == 0;
    json_t *model = json_object_get(req, "model");
    if (model != NULL)
        ok = ok && json_object_set(canon, "model", model) == 0;
    else if (default_model != NULL)
        ok = ok && json_object_set_new(canon, "model", json_string(default_model)) == 0;
    for (size_t i = 0; ok && tx_cache_key_fields[i] != NULL; i++) {
        json_t *v = json_object_get(req, tx_cache_key_fields[i]);
        if (v != NULL) ok = json_object_set(canon, tx_cache_key_fields[i], v) == 0;
    }
    /* Dump into a stack buffer (one digest call; most requests fit), else stream the dump
     * into the digest. */
    char stack[16384];
    size_t need = ok ? json_dumpb(canon, stack, sizeof(stack), KEY_FLAGS) : 0;
    unsigned int n = 0;
    if (ok && need > 0 && need <= sizeof(stack)) {
        ok = EVP_Digest(stack, need, key, &n, EVP_sha256(), NULL) == 1 && n == TX_CACHE_KEY_LEN;
    } else if (ok) {
        EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        ok = ctx != NULL && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 &&
             json_dump_callback(canon, digest_cb, ctx, KEY_FLAGS) == 0 &&
             EVP_DigestFinal_ex(ctx, key, &n) == 1 && n == TX_CACHE_KEY_LEN;
        EVP_MD_CTX_free(ctx);
    }
    json_decref(canon);
    return ok ? TX_CACHE_KEY_OK : TX_CACHE_KEY_INVALID;
}

tx_cache_key_result_t tx_cache_key(const char *route, const char *default_model, const char *body,
                                   size_t len, unsigned char key[TX_CACHE_KEY_LEN])
{
    if (body == NULL || len == 0) return TX_CACHE_KEY_INVALID;
    json_t *req = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
    tx_cache_key_result_t r = tx_cache_key_json(route, default_model, req, key);
    json_decref(req);
    return r;
}

/* ---- entries ---- */

typedef struct {
    tx_cache_entry_t pub; /* first: a tx_cache_entry_t * is a stored_t * */
    unsigned refs;
    size_t bytes; /* the whole block */
} stored_t;

struct tx_cache {
    uint32_t ttl_s;
    tx_lru_t *lru;
    size_t bytes, max_bytes;
    uint64_t hits, misses, stores, expired, byte_evictions;
};

static void entry_unref(stored_t *s)
{
    if (s == NULL || --s->refs > 0) return;
    free(s); /* headers, strings and body live in the same block */
}

/* The LRU lets go of an entry: it no longer counts against the budget. */
static void entry_dropped(void *ud, void *p)
{
    tx_cache_t *c = ud;
    stored_t *s = p;
    c->bytes -= s->bytes;
    entry_unref(s);
}

/* Evicts least recently used entries until `extra` more bytes fit in the budget. */
static void make_room(tx_cache_t *c, size_t extra)
{
    const void *key;
    size_t klen;
    while (c->bytes + extra > c->max_bytes && tx_lru_oldest(c->lru, &key, &klen) != NULL) {
        tx_lru_remove(c->lru, key, klen);
        c->byte_evictions++;
    }
}

tx_cache_t *tx_cache_create(uint32_t ttl_s, size_t max_entries)
{
    if (max_entries == 0) return NULL;
    tx_cache_t *c = calloc(1, sizeof(*c));
    if (c == NULL) return NULL;
    c->ttl_s = ttl_s;
    c->max_bytes = TX_CACHE_DEFAULT_MAX_BYTES;
    c->lru = tx_lru_create(max_entries, entry_dropped, c);
    if (c->lru == NULL) {
        free(c);
        return NULL;
    }
    return c;
}

void tx_cache_destroy(tx_cache_t *c)
{
    if (c == NULL) return;
    tx_lru_destroy(c->lru);
    free(c);
}

void tx_cache_set_ttl(tx_cache_t *c, uint32_t ttl_s)
{
    if (c != NULL) c->ttl_s = ttl_s;
}

void tx_cache_set_max_entries(tx_cache_t *c, size_t max_entries)
{
    if (c != NULL) tx_lru_set_max(c->lru, max_entries);
}

void tx_cache_set_max_bytes(tx_cache_t *c, size_t max_bytes)
{
    if (c == NULL || max_bytes == 0) return;
    c->max_bytes = max_bytes;
    make_room(c, 0);
}

int tx_cache_enabled(const tx_cache_t *c)
{
    return c != NULL && c->ttl_s > 0;
}

static int expired(const tx_cache_t *c, const stored_t *s, tx_ms_t now)
{
    return now - s->pub.stored_at >= (tx_ms_t)c->ttl_s * 1000 || now < s->pub.stored_at - 1000;
}

const tx_cache_entry_t *tx_cache_get(tx_cache_t *c, const unsigned char key[TX_CACHE_KEY_LEN],
                                     tx_ms_t now)
{
    if (!tx_cache_enabled(c) || key == NULL) return NULL;
    stored_t *s = tx_lru_get(c->lru, key, TX_CACHE_KEY_LEN);
    if (s != NULL && expired(c, s, now)) {
        tx_lru_remove(c->lru, key, TX_CACHE_KEY_LEN);
        c->expired++;
        s = NULL;
    }
    if (s == NULL) {
        c->misses++;
        return NULL;
    }
    c->hits++;
    s->refs++;
    return &s->pub;
}

void tx_cache_release(const tx_cache_entry_t *e)
{
    entry_unref((stored_t *)(uintptr_t)e);
}

tx_err_t tx_cache_put(tx_cache_t *c, const unsigned char key[TX_CACHE_KEY_LEN], int status,
                      const tx_header_t *headers, size_t nheaders, const void *body,
                      size_t body_len, tx_ms_t now)
{
    if (!tx_cache_enabled(c) || key == NULL || status < 200 || status > 299 ||
        (nheaders > 0 && headers == NULL) || (body == NULL && body_len > 0) || nheaders > 64)
        return TX_EINVAL;
    if (body_len > TX_CACHE_MAX_ENTRY_BYTES) return TX_ERANGE;
    size_t size = sizeof(stored_t) + nheaders * sizeof(tx_header_t) + body_len + 1;
    for (size_t i = 0; i < nheaders; i++) {
        if (headers[i].name == NULL || headers[i].value == NULL) return TX_EINVAL;
        size += strlen(headers[i].name) + strlen(headers[i].value) + 2;
    }
    if (size > c->max_bytes) return TX_ERANGE;
    stored_t *s = malloc(size);
    if (s == NULL) return TX_ENOMEM;
    tx_header_t *h = (tx_header_t *)(void *)(s + 1);
    char *p = (char *)(h + nheaders);
    for (size_t i = 0; i < nheaders; i++) {
        size_t nl = strlen(headers[i].name) + 1, vl = strlen(headers[i].value) + 1;
        memcpy(p, headers[i].name, nl);
        h[i].name = p;
        p += nl;
        memcpy(p, headers[i].value, vl);
        h[i].value = p;
        p += vl;
    }
    if (body_len > 0) memcpy(p, body, body_len);
    p[body_len] = '\0';
    s->pub.status = status;
    s->pub.nheaders = nheaders;
    s->pub.headers = h;
    s->pub.body = (const unsigned char *)p;
    s->pub.body_len = body_len;
    s->pub.stored_at = now;
    s->refs = 1;
    s->bytes = size;
    tx_lru_remove(c->lru, key, TX_CACHE_KEY_LEN); /* a replaced entry frees its bytes first */
    make_room(c, size);
    if (tx_lru_put(c->lru, key, TX_CACHE_KEY_LEN, s) != 0) {
        free(s);
        return TX_ENOMEM;
    }
    c->bytes += size;
    c->stores++;
    return TX_EOK;
}

size_t tx_cache_sweep(tx_cache_t *c, tx_ms_t now)
{
    if (c == NULL) return 0;
    size_t dropped = 0, n = tx_lru_count(c->lru);
    for (size_t i = 0; i < n; i++) {
        const void *key;
        size_t klen;
        stored_t *s = tx_lru_oldest(c->lru, &key, &klen);
        if (s == NULL) break;
        if (c->ttl_s == 0 || expired(c, s, now)) {
            tx_lru_remove(c->lru, key, klen);
            c->expired++;
            dropped++;
        } else {
            tx_lru_get(c->lru, key, klen); /* rotate: look at each entry once */
        }
    }
    return dropped;
}

void tx_cache_stats(const tx_cache_t *c, tx_cache_stats_t *out)
{
    if (out == NULL) return;
    memset(out, 0, sizeof(*out));
    if (c == NULL) return;
    out->hits = c->hits;
    out->misses = c->misses;
    out->stores = c->stores;
    out->evictions = tx_lru_evictions(c->lru) + c->byte_evictions;
    out->bytes = c->bytes;
    out->expired = c->expired;
    out->entries = tx_lru_count(c->lru);
}
