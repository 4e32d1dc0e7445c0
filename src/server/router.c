/* The route table (router.h): patterns split into segments once at registration; matching walks
 * the path's segments against each row in order. */
#include "server/router.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SEGMENTS 32
#define MAX_PARAMS 8

typedef struct {
    char *method;
    char *pattern;
    char **segs; /* literal text, or the param name for a {param} segment */
    size_t *seg_len;
    int *is_param;
    size_t nsegs;
    tx_route_fn fn;
    void *ud;
} row_t;

struct tx_router {
    row_t *rows;
    size_t n, cap;
};

tx_router_t *tx__router_new(void)
{
    return calloc(1, sizeof(tx_router_t));
}

static void row_free(row_t *w)
{
    for (size_t i = 0; i < w->nsegs; i++)
        free(w->segs[i]);
    free(w->segs);
    free(w->seg_len);
    free(w->is_param);
    free(w->method);
    free(w->pattern);
}

void tx__router_destroy(tx_router_t *r)
{
    if (r == NULL) return;
    for (size_t i = 0; i < r->n; i++)
        row_free(&r->rows[i]);
    free(r->rows);
    free(r);
}

tx_err_t tx__router_add(tx_router_t *r, const char *method, const char *pattern, tx_route_fn fn,
                        void *ud)
{
    if (r == NULL || method == NULL || pattern == NULL || fn == NULL || pattern[0] != '/')
        return TX_EINVAL;
    row_t w = {0};
    w.fn = fn;
    w.ud = ud;
    w.method = strdup(method);
    w.pattern = strdup(pattern);
    w.segs = calloc(MAX_SEGMENTS, sizeof *w.segs);
    w.seg_len = calloc(MAX_SEGMENTS, sizeof *w.seg_len);
    w.is_param = calloc(MAX_SEGMENTS, sizeof *w.is_param);
    tx_err_t rc = TX_ENOMEM;
    if (!w.method || !w.pattern || !w.segs || !w.seg_len || !w.is_param) goto fail;
    const char *p = pattern + 1;
    while (*p) {
        const char *end = strchr(p, '/');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        rc = TX_EINVAL;
        if (w.nsegs == MAX_SEGMENTS || len == 0) goto fail;
        int param = p[0] == '{';
        if (param && (len < 3 || p[len - 1] != '}')) goto fail;
        if (!param && memchr(p, '{', len)) goto fail;
        rc = TX_ENOMEM;
        w.segs[w.nsegs] = param ? strndup(p + 1, len - 2) : strndup(p, len);
        if (w.segs[w.nsegs] == NULL) goto fail;
        w.seg_len[w.nsegs] = param ? len - 2 : len;
        w.is_param[w.nsegs++] = param;
        p += len;
        if (*p == '/') p++;
    }
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 16;
        row_t *rows = realloc(r->rows, cap * sizeof *rows);
        if (rows == NULL) goto fail;
        r->rows = rows;
        r->cap = cap;
    }
    r->rows[r->n++] = w;
    return TX_EOK;
fail:
    row_free(&w);
    return rc;
}

tx_err_t tx__router_add_table(tx_router_t *r, const tx_route_t *t, void *ud)
{
    if (t == NULL) return TX_EINVAL;
    for (; t->method; t++) {
        tx_err_t rc = tx__router_add(r, t->method, t->pattern, t->fn, ud);
        if (rc != TX_EOK) return rc;
    }
    return TX_EOK;
}

void tx__router_free_params(char **names, char **values, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(names[i]);
        free(values[i]);
        names[i] = values[i] = NULL;
    }
}

/* Splits `path` into segments (pointers into it with lengths). -1 when too many. A trailing
 * slash is not a segment of its own except for "/" itself. */
static int split(const char *path, const char **seg, size_t *len, size_t *n)
{
    *n = 0;
    if (path == NULL || path[0] != '/') return -1;
    const char *p = path + 1;
    while (*p) {
        const char *end = strchr(p, '/');
        size_t l = end ? (size_t)(end - p) : strlen(p);
        if (*n == MAX_SEGMENTS) return -1;
        seg[*n] = p;
        len[*n] = l;
        (*n)++;
        p += l;
        if (*p == '/') p++;
    }
    return 0;
}

static int row_matches(const row_t *w, const char **seg, const size_t *len, size_t n)
{
    if (w->nsegs != n) return 0;
    for (size_t i = 0; i < n; i++) {
        if (w->is_param[i]) {
            if (len[i] == 0) return 0;
        } else if (w->seg_len[i] != len[i] || memcmp(w->segs[i], seg[i], len[i]) != 0) {
            return 0;
        }
    }
    return 1;
}

int tx__router_match(const tx_router_t *r, const char *method, const char *path, size_t *index,
                     char **names, char **values, size_t cap, size_t *nparams, char *allow,
                     size_t allow_cap)
{
    const char *seg[MAX_SEGMENTS];
    size_t len[MAX_SEGMENTS], n;
    if (nparams) *nparams = 0;
    if (allow && allow_cap) allow[0] = '\0';
    if (r == NULL || method == NULL || split(path, seg, len, &n) != 0) return 404;
    int path_seen = 0;
    for (size_t i = 0; i < r->n; i++) {
        const row_t *w = &r->rows[i];
        if (!row_matches(w, seg, len, n)) continue;
        int same = strcmp(w->method, method) == 0 ||
                   (strcmp(method, "HEAD") == 0 && strcmp(w->method, "GET") == 0);
        if (!same) {
            if (allow && allow_cap && !strstr(allow, w->method)) {
                size_t used = strlen(allow);
                snprintf(allow + used, allow_cap - used, "%s%s", used ? ", " : "", w->method);
            }
            path_seen = 1;
            continue;
        }
        size_t k = 0;
        for (size_t s = 0; s < n; s++) {
            if (!w->is_param[s]) continue;
            char *v = tx__url_decode(seg[s], len[s], 0);
            if (v == NULL) {
                tx__router_free_params(names, values, k);
                return 400;
            }
            if (k < cap && names && values) {
                names[k] = strdup(w->segs[s]);
                values[k] = v;
                if (names[k] == NULL) {
                    free(v);
                    tx__router_free_params(names, values, k);
                    return 400;
                }
                k++;
            } else {
                free(v);
            }
        }
        if (nparams) *nparams = k;
        if (index) *index = i;
        return 200;
    }
    return path_seen ? 405 : 404;
}

static void tx_router_dispatch(tx_router_t *r, tx_http_req_t *req)
{
    char *names[MAX_PARAMS], *values[MAX_PARAMS], allow[128];
    size_t idx = 0, np = 0;
    const char *method = tx__http_req_method(req), *path = tx__http_req_path(req);
    int st = tx__router_match(r, method, path, &idx, names, values, MAX_PARAMS, &np, allow,
                              sizeof allow);
    if (st == 200) {
        for (size_t i = 0; i < np; i++)
            tx__http_req_set_param(req, names[i], values[i]);
        tx__router_free_params(names, values, np);
        r->rows[idx].fn(req, r->rows[idx].ud);
        return;
    }
    char msg[512];
    if (st == 405) {
        tx_header_t h = {"Allow", allow};
        snprintf(msg, sizeof msg, "Method %.20s is not allowed on %.200s (allowed: %s).", method,
                 path, allow);
        tx__http_respond_error(req, 405, "invalid_request_error", "method_not_allowed", msg, &h, 1);
    } else if (st == 400) {
        tx__http_respond_error(req, 400, "invalid_request_error", "bad_request",
                               "The path has invalid percent-encoding.", NULL, 0);
    } else {
        snprintf(msg, sizeof msg, "Unknown request URL: %.20s %.200s.", method, path);
        tx__http_respond_error(req, 404, "invalid_request_error", "unknown_url", msg, NULL, 0);
    }
}

void tx__router_handler(tx_http_req_t *req, void *ud)
{
    tx_router_dispatch(ud, req);
}

void tx__route_healthz(tx_http_req_t *req, void *ud)
{
    (void)ud;
    static const char body[] = "{\"status\":\"ok\"}";
    tx_header_t h = {"Content-Type", "application/json"};
    tx__http_respond(req, 200, &h, 1, body, sizeof body - 1);
}

/* ---- percent-decoding and queries -------------------------------------------------------- */

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

char *tx__url_decode(const char *in, size_t len, int plus)
{
    if (in == NULL) return NULL;
    char *out = malloc(len + 1), *o = out;
    if (out == NULL) return NULL;
    for (size_t i = 0; i < len; i++) {
        char c = in[i];
        if (c == '%') {
            if (len - i < 3) goto bad; /* fewer than two characters follow */
            int h = hexval(in[i + 1]), l = hexval(in[i + 2]);
            if (h < 0 || l < 0 || (h == 0 && l == 0)) goto bad;
            *o++ = (char)(h * 16 + l);
            i += 2;
        } else if (c == '+' && plus) {
            *o++ = ' ';
        } else if (c == '\0') {
            goto bad;
        } else {
            *o++ = c;
        }
    }
    *o = '\0';
    return out;
bad:
    free(out);
    return NULL;
}

struct tx_query {
    char **keys, **vals;
    size_t n;
};

void tx__query_free(tx_query_t *q)
{
    if (q == NULL) return;
    for (size_t i = 0; i < q->n; i++) {
        free(q->keys[i]);
        free(q->vals[i]);
    }
    free(q->keys);
    free(q->vals);
    free(q);
}

tx_query_t *tx__query_parse(const char *query)
{
    tx_query_t *q = calloc(1, sizeof *q);
    if (q == NULL) return NULL;
    if (query == NULL) return q;
    size_t cap = 1;
    for (const char *s = query; *s; s++)
        cap += *s == '&';
    q->keys = calloc(cap, sizeof *q->keys);
    q->vals = calloc(cap, sizeof *q->vals);
    if (!q->keys || !q->vals) goto fail;
    const char *p = query;
    while (*p) {
        const char *end = strchr(p, '&');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len > 0) {
            const char *eq = memchr(p, '=', len);
            size_t klen = eq ? (size_t)(eq - p) : len;
            char *k = tx__url_decode(p, klen, 1);
            char *v = eq ? tx__url_decode(eq + 1, len - klen - 1, 1) : strdup("");
            if (k == NULL || v == NULL) {
                free(k);
                free(v);
                goto fail;
            }
            q->keys[q->n] = k;
            q->vals[q->n++] = v;
        }
        p += len;
        if (*p == '&') p++;
    }
    return q;
fail:
    tx__query_free(q);
    return NULL;
}

const char *tx__query_get(const tx_query_t *q, const char *key)
{
    for (size_t i = 0; q && key && i < q->n; i++)
        if (strcmp(q->keys[i], key) == 0) return q->vals[i];
    return NULL;
}

size_t tx__query_count(const tx_query_t *q)
{
    return q ? q->n : 0;
}
