/* Response cache: canonical request → SHA-256 key (a sorted compact dump of the parsed request),
 * and refcounted entries in a bounded LRU map, expired lazily against the current TTL. */
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <math.h>
#include <openssl/evp.h>

#include "server/cache.h"
#include "core/buf.h"
#include "core/utf8.h"
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

static int by_key(const void *a, const void *b)
{
    return strcmp((*(const cJSON *const *)a)->string, (*(const cJSON *const *)b)->string);
}

/* The compact dump of v with every object's keys sorted; -1 out of memory or a key twice. */
static int canon(tx__buf_t *b, const cJSON *v, int depth)
{
    if (depth > 1000) return -1;
    if (cJSON_IsObject(v)) {
        size_t n = 0;
        for (const cJSON *c = v->child; c != NULL; c = c->next)
            n++;
        const cJSON *stack[32], **m = n <= 32 ? stack : malloc(n * sizeof *m);
        if (m == NULL) return -1;
        n = 0;
        for (const cJSON *c = v->child; c != NULL; c = c->next)
            m[n++] = c;
        qsort(m, n, sizeof *m, by_key);
        int rc = tx__buf_add(b, "{", 1);
        for (size_t i = 0; rc == 0 && i < n; i++) {
            if (i > 0 && strcmp(m[i - 1]->string, m[i]->string) == 0)
                rc = -1;
            else
                rc = (i > 0 ? tx__buf_add(b, ",", 1) : 0) |
                     tx__buf_add_json_string(b, m[i]->string) | tx__buf_add(b, ":", 1) |
                     canon(b, m[i], depth + 1);
        }
        if (m != stack) free(m);
        return rc != 0 ? -1 : tx__buf_add(b, "}", 1);
    }
    if (cJSON_IsArray(v)) {
        int rc = tx__buf_add(b, "[", 1);
        for (const cJSON *c = v->child; rc == 0 && c != NULL; c = c->next)
            rc = (c != v->child ? tx__buf_add(b, ",", 1) : 0) | canon(b, c, depth + 1);
        return rc != 0 ? -1 : tx__buf_add(b, "]", 1);
    }
    if (cJSON_IsString(v)) return tx__buf_add_json_string(b, v->valuestring);
    if (cJSON_IsTrue(v)) return tx__buf_add(b, "true", 4);
    if (cJSON_IsFalse(v)) return tx__buf_add(b, "false", 5);
    if (cJSON_IsNull(v)) return tx__buf_add(b, "null", 4);
    if (cJSON_IsNumber(v)) {
        char num[40];
        double d = v->valuedouble;
        int n = (isfinite(d) && d == floor(d) && fabs(d) < 9.0e15)
                    ? snprintf(num, sizeof num, "%lld", (long long)d)
                    : snprintf(num, sizeof num, "%.17g", d);
        return tx__buf_add(b, num, (size_t)n);
    }
    return -1;
}

tx_cache_key_result_t tx__cache_key_tree(const char *route, const char *default_model,
                                         const cJSON *req, unsigned char key[TX_CACHE_KEY_LEN])
{
    if (req == NULL || !cJSON_IsObject(req) || key == NULL) return TX_CACHE_KEY_INVALID;
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(req, "stream"))) return TX_CACHE_KEY_STREAM;
    /* {"route","model", the key fields present}, as one object: its members sorted by name */
    cJSON route_v = {.type = cJSON_String,
                     .valuestring = (char *)(route != NULL ? route : ""),
                     .string = (char *)"route"};
    cJSON model_v = {
        .type = cJSON_String, .valuestring = (char *)default_model, .string = (char *)"model"};
    const cJSON *m[64];
    size_t n = 0;
    m[n++] = &route_v;
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(req, "model");
    if (model != NULL)
        m[n++] = model;
    else if (default_model != NULL)
        m[n++] = &model_v;
    for (size_t i = 0; tx_cache_key_fields[i] != NULL && n < 64; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(req, tx_cache_key_fields[i]);
        if (v != NULL) m[n++] = v;
    }
    qsort(m, n, sizeof *m, by_key);
    tx__buf_t b = {0};
    int rc = tx__buf_add(&b, "{", 1);
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = (i > 0 ? tx__buf_add(&b, ",", 1) : 0) | tx__buf_add_json_string(&b, m[i]->string) |
             tx__buf_add(&b, ":", 1) | canon(&b, m[i], 1);
    /* a key twice in the request itself (the canonical object above cannot have one) */
    for (const cJSON *c = req->child; rc == 0 && c != NULL; c = c->next)
        for (const cJSON *d = c->next; rc == 0 && d != NULL; d = d->next)
            if (strcmp(c->string, d->string) == 0) rc = -1;
    rc = rc == 0 ? tx__buf_add(&b, "}", 1) : -1;
    unsigned int len = 0;
    int ok = rc == 0 && EVP_Digest(b.p, b.len, key, &len, EVP_sha256(), NULL) == 1 &&
             len == TX_CACHE_KEY_LEN;
    tx__buf_free(&b);
    return ok ? TX_CACHE_KEY_OK : TX_CACHE_KEY_INVALID;
}

tx_cache_key_result_t tx__cache_key(const char *route, const char *default_model, const char *body,
                                    size_t len, unsigned char key[TX_CACHE_KEY_LEN])
{
    if (body == NULL || len == 0 || !tx__utf8_valid(body, len)) return TX_CACHE_KEY_INVALID;
    const char *end = NULL;
    cJSON *req = cJSON_ParseWithLengthOpts(body, len, &end, 0);
    while (req != NULL && end < body + len &&
           (*end == ' ' || *end == '\t' || *end == '\n' || *end == '\r'))
        end++;
    tx_cache_key_result_t r = req != NULL && end == body + len
                                  ? tx__cache_key_tree(route, default_model, req, key)
                                  : TX_CACHE_KEY_INVALID;
    cJSON_Delete(req);
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
    while (c->bytes + extra > c->max_bytes && tx__lru_oldest(c->lru, &key, &klen) != NULL) {
        tx__lru_remove(c->lru, key, klen);
        c->byte_evictions++;
    }
}

tx_cache_t *tx__cache_create(uint32_t ttl_s, size_t max_entries)
{
    if (max_entries == 0) return NULL;
    tx_cache_t *c = calloc(1, sizeof(*c));
    if (c == NULL) return NULL;
    c->ttl_s = ttl_s;
    c->max_bytes = TX_CACHE_DEFAULT_MAX_BYTES;
    c->lru = tx__lru_create(max_entries, entry_dropped, c);
    if (c->lru == NULL) {
        free(c);
        return NULL;
    }
    return c;
}

void tx__cache_destroy(tx_cache_t *c)
{
    if (c == NULL) return;
    tx__lru_destroy(c->lru);
    free(c);
}

void tx__cache_set_ttl(tx_cache_t *c, uint32_t ttl_s)
{
    if (c != NULL) c->ttl_s = ttl_s;
}

void tx__cache_set_max_entries(tx_cache_t *c, size_t max_entries)
{
    if (c != NULL) tx__lru_set_max(c->lru, max_entries);
}

void tx__cache_set_max_bytes(tx_cache_t *c, size_t max_bytes)
{
    if (c == NULL || max_bytes == 0) return;
    c->max_bytes = max_bytes;
    make_room(c, 0);
}

int tx__cache_enabled(const tx_cache_t *c)
{
    return c != NULL && c->ttl_s > 0;
}

static int expired(const tx_cache_t *c, const stored_t *s, tx_ms_t now)
{
    return now - s->pub.stored_at >= (tx_ms_t)c->ttl_s * 1000 || now < s->pub.stored_at - 1000;
}

const tx_cache_entry_t *tx__cache_get(tx_cache_t *c, const unsigned char key[TX_CACHE_KEY_LEN],
                                      tx_ms_t now)
{
    if (!tx__cache_enabled(c) || key == NULL) return NULL;
    stored_t *s = tx__lru_get(c->lru, key, TX_CACHE_KEY_LEN);
    if (s != NULL && expired(c, s, now)) {
        tx__lru_remove(c->lru, key, TX_CACHE_KEY_LEN);
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

void tx__cache_release(const tx_cache_entry_t *e)
{
    entry_unref((stored_t *)(uintptr_t)e);
}

tx_err_t tx__cache_put(tx_cache_t *c, const unsigned char key[TX_CACHE_KEY_LEN], int status,
                       const tx_header_t *headers, size_t nheaders, const void *body,
                       size_t body_len, tx_ms_t now)
{
    if (!tx__cache_enabled(c) || key == NULL || status < 200 || status > 299 ||
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
    tx__lru_remove(c->lru, key, TX_CACHE_KEY_LEN); /* a replaced entry frees its bytes first */
    make_room(c, size);
    if (tx__lru_put(c->lru, key, TX_CACHE_KEY_LEN, s) != 0) {
        free(s);
        return TX_ENOMEM;
    }
    c->bytes += size;
    c->stores++;
    return TX_EOK;
}

size_t tx__cache_sweep(tx_cache_t *c, tx_ms_t now)
{
    if (c == NULL) return 0;
    size_t dropped = 0, n = tx__lru_count(c->lru);
    for (size_t i = 0; i < n; i++) {
        const void *key;
        size_t klen;
        stored_t *s = tx__lru_oldest(c->lru, &key, &klen);
        if (s == NULL) break;
        if (c->ttl_s == 0 || expired(c, s, now)) {
            tx__lru_remove(c->lru, key, klen);
            c->expired++;
            dropped++;
        } else {
            tx__lru_get(c->lru, key, klen); /* rotate: look at each entry once */
        }
    }
    return dropped;
}

void tx__cache_stats(const tx_cache_t *c, tx_cache_stats_t *out)
{
    if (out == NULL) return;
    memset(out, 0, sizeof(*out));
    if (c == NULL) return;
    out->hits = c->hits;
    out->misses = c->misses;
    out->stores = c->stores;
    out->evictions = tx__lru_evictions(c->lru) + c->byte_evictions;
    out->bytes = c->bytes;
    out->expired = c->expired;
    out->entries = tx__lru_count(c->lru);
}
