/* Validation of gateway request bodies (one pass of the strict scanner core/json_scan.h when
 * the body is good and no cache key is wanted; else parsed once with cJSON, made strict: UTF-8,
 * no raw control characters, no duplicate top-level key, each refusal with its message) and the
 * per-attempt body with a substituted model (spliced into the client's bytes, no second parse). See
 * request.h. */
#include "gateway/request.h"

#include <cjson/cJSON.h>
#include <stdlib.h>

#include "core/buf.h"
#include "core/json_scan.h"
#include "gateway/json_arena.h"

#include <stdio.h>
#include <string.h>

static const char *const upstream_paths[TX_ROUTE__LAST] = {"/chat/completions", "/completions",
                                                           "/embeddings", "/models", "/responses"};
static const char *const client_paths[TX_ROUTE__LAST] = {
    "/v1/chat/completions", "/v1/completions", "/v1/embeddings", "/v1/models", "/v1/responses"};

const char *tx__route_upstream_path(tx_route_kind_t r)
{
    return (unsigned)r < TX_ROUTE__LAST ? upstream_paths[r] : NULL;
}

const char *tx__route_path(tx_route_kind_t r)
{
    return (unsigned)r < TX_ROUTE__LAST ? client_paths[r] : NULL;
}

static int reject(tx_request_reject_t *rej, tx_request_t *out, int status, const char *code,
                  const char *msg, const char *arg)
{
    memset(out, 0, sizeof *out);
    if (rej != NULL) {
        rej->status = status;
        rej->type = "invalid_request_error";
        rej->code = code;
        snprintf(rej->message, sizeof rej->message, msg, arg != NULL ? arg : "");
    }
    return -1;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The smallest (strcmp) key that appears twice among an object's members, or NULL. Past a few
 * keys they are sorted, so a body with many keys costs n log n, not n². */
static const char *duplicate_key(const cJSON *obj)
{
    size_t n = 0;
    for (const cJSON *m = obj->child; m != NULL; m = m->next)
        n++;
    if (n < 2) return NULL;
    if (n <= 8) {
        /* few keys (the usual body): every pair, keeping the smallest name repeated, as the
         * sorted scan below would find it */
        const char *dup = NULL;
        for (const cJSON *a = obj->child; a != NULL; a = a->next) {
            const char *x = a->string != NULL ? a->string : "";
            for (const cJSON *b = a->next; b != NULL; b = b->next)
                if (strcmp(x, b->string != NULL ? b->string : "") == 0 &&
                    (dup == NULL || strcmp(x, dup) < 0))
                    dup = x;
        }
        return dup;
    }
    const char *stack[32];
    const char **names = n <= 32 ? stack : malloc(n * sizeof *names);
    if (names == NULL) return "";
    size_t i = 0;
    for (const cJSON *m = obj->child; m != NULL; m = m->next)
        names[i++] = m->string != NULL ? m->string : "";
    qsort(names, n, sizeof *names, cmp_names);
    const char *dup = NULL;
    for (i = 1; i < n && dup == NULL; i++)
        if (strcmp(names[i - 1], names[i]) == 0) dup = names[i];
    if (names != stack) free((void *)names);
    return dup;
}

/* What the cache wants of the parse (tx__request_parse_keyed), NULL when nothing. */
typedef struct {
    const char *route, *default_model;
    tx_cache_req_t *cr;
} want_key_t;

static int check_doc(tx_route_kind_t route, const char *body, size_t len, tx_request_t *out,
                     tx_request_reject_t *rej, const want_key_t *wk);

/* request.h. Refused here (0): every refusal and its message, a key with an escape, more than 32
 * keys, a model with an escape, what the strict scanner refuses and cJSON might not. */
#define FAST_MAX_KEYS 32

int tx__request_check_one_pass(tx_route_kind_t route, const char *body, size_t len,
                               tx_request_t *out)
{
    tx_json_scan_t sc;
    tx_json_val_t k, v, model = {0};
    struct {
        const char *p;
        size_t n;
    } keys[FAST_MAX_KEYS];
    size_t nkeys = 0;
    int stream = 0, msgs = 0, prompt = 0, input = 0, r;
    tx__json_scan_init(&sc, body, len);
    if (tx__json_value(&sc, &v) != 0 || v.type != TX_JSON_OBJECT) return 0;
    while ((r = tx__json_member(&sc, &k, &v)) == 1) {
        if (k.esc || nkeys == FAST_MAX_KEYS) return 0;
        for (size_t i = 0; i < nkeys; i++) /* a key twice: the tree path names it */
            if (keys[i].n == k.n && memcmp(keys[i].p, k.p, k.n) == 0) return 0;
        keys[nkeys].p = k.p;
        keys[nkeys++].n = k.n;
        if (tx__json_is(&k, "model")) {
            if (v.type != TX_JSON_STRING || v.esc || v.n == 0) return 0;
            model = v;
        } else if (tx__json_is(&k, "stream")) {
            if (v.type != TX_JSON_TRUE && v.type != TX_JSON_FALSE) return 0;
            stream = v.type == TX_JSON_TRUE;
        } else if (tx__json_is(&k, "messages")) {
            msgs = 1;
            if (route == TX_ROUTE_CHAT) {
                if (v.type != TX_JSON_ARRAY) return 0;
                while ((r = tx__json_element(&sc, &v)) == 1)
                    if (v.type != TX_JSON_OBJECT || tx__json_skip(&sc, &v) != 0) return 0;
                if (r < 0) return 0;
                continue;
            }
        } else if (tx__json_is(&k, "prompt")) {
            prompt = 1;
        } else if (tx__json_is(&k, "input")) {
            input = 1;
        }
        if (tx__json_skip(&sc, &v) != 0) return 0;
    }
    if (r < 0 || tx__json_finish(&sc) != 0) return 0;
    if ((route == TX_ROUTE_CHAT && !msgs) || (route == TX_ROUTE_COMPLETIONS && !prompt) ||
        (route == TX_ROUTE_EMBEDDINGS && (!input || stream)))
        return 0;
    char *copy = NULL;
    if (model.p != NULL && (copy = strndup(model.p, model.n)) == NULL) return 0;
    out->model = copy;
    out->stream = stream;
    out->parsed = 1;
    return 1;
}

static int parse(tx_route_kind_t route, const char *body, size_t len, size_t max_len,
                 const char *cache_route, const char *default_model, tx_cache_req_t *cr,
                 tx_request_t *out, tx_request_reject_t *rej, int fast)
{
    if (cr != NULL) {
        cr->result = TX_CACHE_KEY_INVALID;
        cr->model = default_model;
    }
    want_key_t wk = {cache_route, default_model, cr};
    tx_request_t dummy;
    if (out == NULL) out = &dummy;
    memset(out, 0, sizeof *out);
    if ((unsigned)route >= TX_ROUTE__LAST)
        return reject(rej, out, 400, "invalid_route", "%sunknown route", NULL);
    if (route == TX_ROUTE_MODELS) return 0;
    if (max_len > 0 && len > max_len) {
        char lim[32];
        snprintf(lim, sizeof lim, "%zu", max_len);
        return reject(rej, out, 413, "body_too_large",
                      "the request body is larger than the limit of %s bytes", lim);
    }
    if (body == NULL || len == 0)
        return reject(rej, out, 400, "invalid_json",
                      "%sthe request body is empty: send a JSON object", NULL);
    /* the cache key needs the tree; without the cache, one pass of the scanner decides */
    if (fast && cr == NULL && tx__request_check_one_pass(route, body, len, out)) {
        if (out == &dummy) tx__request_free(&dummy);
        return 0;
    }
    char where[96];
    size_t bad = 0;
    const char *why = tx__json_lex_check(body, len, &bad);
    if (why != NULL) {
        snprintf(where, sizeof where, "%s at byte %zu", why, bad);
        return reject(rej, out, 400, "invalid_json", "the request body is not valid JSON: %s",
                      where);
    }
    tx__json_arena_begin(); /* the tree lives only in this call */
    int rc = check_doc(route, body, len, out, rej, cr != NULL ? &wk : NULL);
    tx__json_arena_end();
    if (out == &dummy) tx__request_free(&dummy);
    return rc;
}

int tx__request_parse(tx_route_kind_t route, const char *body, size_t len, size_t max_len,
                      tx_request_t *out, tx_request_reject_t *rej)
{
    return parse(route, body, len, max_len, NULL, NULL, NULL, out, rej, 1);
}

int tx__request_parse_tree(tx_route_kind_t route, const char *body, size_t len, size_t max_len,
                           tx_request_t *out, tx_request_reject_t *rej)
{
    return parse(route, body, len, max_len, NULL, NULL, NULL, out, rej, 0);
}

int tx__request_parse_keyed(tx_route_kind_t route, const char *body, size_t len, size_t max_len,
                            const char *cache_route, const char *default_model, tx_cache_req_t *cr,
                            tx_request_t *out, tx_request_reject_t *rej)
{
    return parse(route, body, len, max_len, cache_route, default_model, cr, out, rej, 1);
}

/* The structural checks on the parsed body; fills `out` (the model copied) or `rej`. */
static int check_doc(tx_route_kind_t route, const char *body, size_t len, tx_request_t *out,
                     tx_request_reject_t *rej, const want_key_t *wk)
{
    char where[96];
    const char *end = NULL;
    cJSON *doc = cJSON_ParseWithLengthOpts(body, len, &end, 0);
    if (doc == NULL) {
        size_t at = end != NULL && end >= body && end <= body + len ? (size_t)(end - body) : 0;
        snprintf(where, sizeof where, "%s near byte %zu",
                 at >= len ? "it ends too early" : "syntax error", at);
        return reject(rej, out, 400, "invalid_json", "the request body is not valid JSON: %s",
                      where);
    }
    while (end != NULL && end < body + len &&
           (*end == ' ' || *end == '\t' || *end == '\n' || *end == '\r'))
        end++;
    if (end == NULL || end != body + len) {
        tx__json_arena_delete(doc);
        snprintf(where, sizeof where, "more data after the JSON value at byte %zu",
                 end != NULL ? (size_t)(end - body) : 0);
        return reject(rej, out, 400, "invalid_json", "the request body is not valid JSON: %s",
                      where);
    }
    if (!cJSON_IsObject(doc)) {
        tx__json_arena_delete(doc);
        return reject(rej, out, 400, "invalid_type", "%sthe request body must be a JSON object",
                      NULL);
    }
    const char *dup = duplicate_key(doc);
    if (dup != NULL) {
        snprintf(where, sizeof where, "%.64s", dup);
        tx__json_arena_delete(doc);
        return reject(rej, out, 400, "invalid_json",
                      "the request body is not valid JSON: the key '%s' appears twice", where);
    }
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(doc, "model");
    if (model != NULL && !cJSON_IsString(model)) {
        tx__json_arena_delete(doc);
        return reject(rej, out, 400, "invalid_type", "%s'model' must be a string", NULL);
    }
    if (model != NULL && model->valuestring[0] == '\0') {
        tx__json_arena_delete(doc);
        return reject(rej, out, 400, "invalid_value", "%s'model' must not be empty", NULL);
    }
    const cJSON *stream = cJSON_GetObjectItemCaseSensitive(doc, "stream");
    if (stream != NULL && !cJSON_IsBool(stream)) {
        tx__json_arena_delete(doc);
        return reject(rej, out, 400, "invalid_type", "%s'stream' must be a boolean", NULL);
    }
    if (route == TX_ROUTE_CHAT) {
        const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(doc, "messages");
        if (msgs == NULL) {
            tx__json_arena_delete(doc);
            return reject(rej, out, 400, "missing_field", "%s'messages' is required", NULL);
        }
        if (!cJSON_IsArray(msgs)) {
            tx__json_arena_delete(doc);
            return reject(rej, out, 400, "invalid_type", "%s'messages' must be an array of objects",
                          NULL);
        }
        for (const cJSON *m = msgs->child; m != NULL; m = m->next) {
            if (!cJSON_IsObject(m)) {
                tx__json_arena_delete(doc);
                return reject(rej, out, 400, "invalid_type",
                              "%s'messages' must be an array of objects", NULL);
            }
        }
    } else if (route == TX_ROUTE_COMPLETIONS &&
               cJSON_GetObjectItemCaseSensitive(doc, "prompt") == NULL) {
        tx__json_arena_delete(doc);
        return reject(rej, out, 400, "missing_field", "%s'prompt' is required", NULL);
    } else if (route == TX_ROUTE_EMBEDDINGS &&
               cJSON_GetObjectItemCaseSensitive(doc, "input") == NULL) {
        tx__json_arena_delete(doc);
        return reject(rej, out, 400, "missing_field", "%s'input' is required", NULL);
    }
    if (route == TX_ROUTE_EMBEDDINGS && cJSON_IsTrue(stream)) {
        tx__json_arena_delete(doc);
        return reject(rej, out, 400, "invalid_value", "%s'stream' is not supported for embeddings",
                      NULL);
    }
    char *copy = model != NULL ? strdup(model->valuestring) : NULL;
    int streamed = cJSON_IsTrue(stream);
    if (wk != NULL) /* the cache key from this same tree: no second parse */
        wk->cr->result = tx__cache_key_tree(wk->route, wk->default_model, doc, wk->cr->key);
    tx__json_arena_delete(doc);
    if (model != NULL && copy == NULL) {
        reject(rej, out, 500, "out_of_memory", "%sout of memory", NULL);
        if (rej != NULL) rej->type = "server_error";
        return -1;
    }
    out->model = copy;
    out->stream = streamed;
    out->parsed = 1;
    if (wk != NULL && copy != NULL) wk->cr->model = copy;
    return 0;
}

void tx__request_free(tx_request_t *rq)
{
    if (rq == NULL) return;
    free(rq->model);
    memset(rq, 0, sizeof *rq);
}

/* ---- the model swap: a splice into the client's bytes, no second parse ---------------------- */

static const char *skip_ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    return p;
}

/* Past the JSON string at p ('"'), or NULL when it does not end before `end`. *esc is set when it
 * holds a backslash escape. */
static const char *skip_string(const char *p, const char *end, int *esc)
{
    for (p++; p < end; p++) {
        if (*p == '\\') {
            *esc = 1;
            p++;
        } else if (*p == '"') {
            return p + 1;
        }
    }
    return NULL;
}

/* Past the JSON value at p (strings, nesting, scalars), or NULL when it is cut short. */
static const char *skip_value(const char *p, const char *end)
{
    int depth = 0, esc = 0;
    while (p < end) {
        char ch = *p;
        if (ch == '"') {
            p = skip_string(p, end, &esc);
            if (p == NULL) return NULL;
            if (depth == 0) return p;
            continue;
        }
        if (ch == '{' || ch == '[') {
            depth++;
        } else if (ch == '}' || ch == ']') {
            if (depth == 0) return p; /* a scalar ended by the container's close */
            if (--depth == 0) return p + 1;
        } else if (depth == 0 &&
                   (ch == ',' || ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r')) {
            return p;
        }
        p++;
    }
    return depth == 0 ? p : NULL;
}

/* 1 when the key text [k, end) (inside the quotes, with escapes) decodes to "model". */
static int key_is_model(const char *k, const char *end)
{
    static const char want[] = "model";
    size_t i = 0;
    while (k < end) {
        unsigned c = (unsigned char)*k++;
        if (c == '\\' && k < end) {
            c = (unsigned char)*k++;
            if (c == 'u') {
                if (end - k < 4) return 0;
                char hex[5] = {k[0], k[1], k[2], k[3], 0};
                c = (unsigned)strtoul(hex, NULL, 16);
                k += 4;
            } else if (c != '"' && c != '\\' && c != '/') {
                return 0; /* \b \f \n \r \t: not a letter of "model" */
            }
        }
        if (i >= sizeof want - 1 || c != (unsigned char)want[i++]) return 0;
    }
    return i == sizeof want - 1;
}

int tx__request_body_for_model(const char *body, size_t len, const char *doc_model,
                               const char *model, char **out, size_t *out_len)
{
    if (out == NULL) return -1;
    *out = NULL;
    if (out_len != NULL) *out_len = 0;
    if (model == NULL || (doc_model != NULL && strcmp(doc_model, model) == 0)) return 0;
    if (body == NULL) return -1;
    /* The body was validated already (one parse, tx__request_parse): walk its top level to find
     * the "model" value's bytes and splice the new one in, so everything else — integers of any
     * size, key order, the client's spacing — reaches the upstream as the client sent it. */
    const char *end = body + len, *p = skip_ws(body, end);
    if (p >= end || *p != '{') return -1;
    const char *open = p, *vstart = NULL, *vend = NULL;
    p = skip_ws(p + 1, end);
    while (p < end && *p != '}') {
        int esc = 0;
        const char *k = p;
        if (*p != '"' || (p = skip_string(p, end, &esc)) == NULL) return -1;
        int is_model =
            esc ? key_is_model(k + 1, p - 1) : p - k == 7 && memcmp(k, "\"model\"", 7) == 0;
        p = skip_ws(p, end);
        if (p >= end || *p != ':') return -1;
        p = skip_ws(p + 1, end);
        const char *v = p;
        if ((p = skip_value(p, end)) == NULL || p == v) return -1;
        if (is_model) {
            vstart = v;
            vend = p;
        }
        p = skip_ws(p, end);
        if (p < end && *p == ',')
            p = skip_ws(p + 1, end);
        else if (p >= end || *p != '}')
            return -1;
    }
    if (p >= end) return -1;
    tx__buf_t b = {0};
    int rc = 0;
    if (vstart != NULL) { /* replace the value */
        rc = tx__buf_add(&b, body, (size_t)(vstart - body)) | tx__buf_add_json_string(&b, model) |
             tx__buf_add(&b, vend, (size_t)(end - vend));
    } else { /* a body without a model gets one, first */
        const char *rest = skip_ws(open + 1, end);
        rc = tx__buf_add(&b, body, (size_t)(open + 1 - body)) | tx__buf_add(&b, "\"model\":", 8) |
             tx__buf_add_json_string(&b, model) | (*rest != '}' ? tx__buf_add(&b, ",", 1) : 0) |
             tx__buf_add(&b, open + 1, (size_t)(end - open - 1));
    }
    if (rc != 0 || b.p == NULL) {
        tx__buf_free(&b);
        return -1;
    }
    *out = b.p;
    if (out_len != NULL) *out_len = b.len;
    return 0;
}
