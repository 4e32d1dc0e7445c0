/* The client protections of the gateway and admin routes, composed from auth.h, ratelimit.h and
 * cache.h: answers 401/429/cache hits itself and tells the route what to add to its answer. */
#include "server/filters.h"

#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "obs/log.h"

#define TX_FILTERS_MAX_CLIENTS 100000

struct tx_filters {
    tx_auth_t *auth;
    tx_ratelimit_t *rl;
    tx_cache_t *cache;
};

tx_filters_t *tx__filters_create(const tx_filters_config_t *c)
{
    tx_filters_config_t none = {0};
    if (c == NULL) c = &none;
    tx_filters_t *f = calloc(1, sizeof *f);
    if (f == NULL) return NULL;
    f->auth = tx__auth_create(c->admin_token, c->client_keys);
    f->rl = tx__ratelimit_create(c->rate_limit_rpm, TX_FILTERS_MAX_CLIENTS);
    f->cache = tx__cache_create(c->cache_ttl_s, c->cache_max_entries ? c->cache_max_entries : 1);
    if (f->auth == NULL || f->rl == NULL || f->cache == NULL) {
        tx__filters_destroy(f);
        return NULL;
    }
    return f;
}

void tx__filters_destroy(tx_filters_t *f)
{
    if (f == NULL) return;
    tx__auth_destroy(f->auth);
    tx__ratelimit_destroy(f->rl);
    tx__cache_destroy(f->cache);
    free(f);
}

tx_err_t tx__filters_configure(tx_filters_t *f, const tx_filters_config_t *c)
{
    if (f == NULL || c == NULL) return TX_EINVAL;
    tx_auth_t *auth = tx__auth_create(c->admin_token, c->client_keys);
    if (auth == NULL) return TX_ENOMEM;
    tx__auth_destroy(f->auth);
    f->auth = auth;
    tx__ratelimit_set_rpm(f->rl, c->rate_limit_rpm);
    tx__cache_set_ttl(f->cache, c->cache_ttl_s);
    if (c->cache_max_entries > 0) tx__cache_set_max_entries(f->cache, c->cache_max_entries);
    return TX_EOK;
}

static void unauthorized(tx_http_req_t *req, const char *code, const char *message)
{
    static const tx_header_t h[] = {{"WWW-Authenticate", "Bearer"}};
    tx__http_respond_error(req, 401, "invalid_request_error", code, message, h, 1);
}

int tx__filter_admin(tx_filters_t *f, tx_http_req_t *req)
{
    if (f == NULL || req == NULL) return 0;
    if (tx__auth_check_admin(f->auth, tx__http_req_header(req, "authorization")) == TX_AUTH_ALLOWED)
        return 1;
    tx__log(TX_LOG_WARN, "ai][auth", "admin token missing or wrong: %s %s from %s",
            tx__http_req_method(req), tx__http_req_path(req), tx__http_req_peer(req));
    unauthorized(req, "invalid_admin_token",
                 "This route needs Authorization: Bearer <TENAX_ADMIN_TOKEN>.");
    return 0;
}

/* The peer address without its port: "1.2.3.4:5678" -> "1.2.3.4", "[::1]:80" -> "[::1]". */
static void peer_host(const char *peer, char *out, size_t cap)
{
    snprintf(out, cap, "%s", peer != NULL ? peer : "");
    char *colon = strrchr(out, ':');
    char *bracket = strrchr(out, ']');
    if (colon != NULL && (bracket == NULL || colon > bracket)) *colon = '\0';
}

static void add_header(tx_filter_ctx_t *ctx, const char *name, const char *value)
{
    if (ctx->nheaders < TX_FILTER_MAX_HEADERS)
        ctx->headers[ctx->nheaders++] = (tx_header_t){name, value};
}

static void rate_limit_headers(tx_filter_ctx_t *ctx, const tx_ratelimit_info_t *info)
{
    snprintf(ctx->limit, sizeof ctx->limit, "%u", info->limit);
    snprintf(ctx->remaining, sizeof ctx->remaining, "%u", info->remaining);
    tx__ratelimit_format_reset(info->reset_ms, ctx->reset, sizeof ctx->reset);
    add_header(ctx, "x-ratelimit-limit-requests", ctx->limit);
    add_header(ctx, "x-ratelimit-remaining-requests", ctx->remaining);
    add_header(ctx, "x-ratelimit-reset-requests", ctx->reset);
}

int tx__filter_ctx_needed(const tx_filter_ctx_t *ctx)
{
    return ctx != NULL && (ctx->nheaders > 0 || ctx->cache_store);
}

tx_filter_ctx_t *tx__filter_ctx_dup(const tx_filter_ctx_t *ctx)
{
    tx_filter_ctx_t *d = malloc(sizeof *d);
    if (d == NULL) return NULL;
    *d = *ctx;
    uintptr_t lo = (uintptr_t)ctx, hi = lo + sizeof *ctx;
    for (size_t i = 0; i < d->nheaders; i++) { /* values in ctx's own buffers move along */
        uintptr_t v = (uintptr_t)d->headers[i].value;
        if (v >= lo && v < hi) d->headers[i].value = (const char *)d + (v - lo);
    }
    return d;
}

const tx_header_t *tx__filter_headers(const tx_filter_ctx_t *ctx, size_t *n)
{
    if (n != NULL) *n = ctx != NULL ? ctx->nheaders : 0;
    return ctx != NULL ? ctx->headers : NULL;
}

static int answer_hit(tx_http_req_t *req, tx_filter_ctx_t *ctx, const tx_cache_entry_t *e)
{
    tx_header_t h[32];
    size_t n = 0;
    for (size_t i = 0; i < e->nheaders && n < 24; i++)
        h[n++] = e->headers[i];
    for (size_t i = 0; i < ctx->nheaders && n < 31; i++)
        h[n++] = ctx->headers[i];
    h[n++] = (tx_header_t){"X-Tenax-Cache", "hit"};
    tx__http_respond(req, e->status, h, n, (const char *)e->body, e->body_len);
    return 1;
}

int tx__filters_cache_on(const tx_filters_t *f)
{
    return f != NULL && tx__cache_enabled(f->cache);
}

int tx__filter_gateway_before(tx_filters_t *f, tx_http_req_t *req, const char *route,
                              const tx_cache_req_t *cr, tx_ms_t now, tx_filter_ctx_t *ctx)
{
    if (ctx == NULL) return 0;
    memset(ctx, 0, sizeof *ctx);
    ctx->cache_result = -1;
    ctx->who.key_index = -1;
    if (f == NULL || req == NULL) return 0;

    if (tx__auth_check_client(f->auth, tx__http_req_header(req, "authorization"), &ctx->who) !=
        TX_AUTH_ALLOWED) {
        tx__log(TX_LOG_WARN, "ai][auth", "client key missing or wrong: %s from %s",
                tx__http_req_path(req), tx__http_req_peer(req));
        unauthorized(req, "invalid_api_key", "Incorrect API key provided.");
        ctx->status = 401;
        return 1;
    }

    if (tx__ratelimit_rpm(f->rl) > 0) {
        char client[80];
        if (ctx->who.key_index >= 0)
            snprintf(client, sizeof client, "%s", ctx->who.fingerprint);
        else
            peer_host(tx__http_req_peer(req), client, sizeof client);
        tx_ratelimit_info_t info;
        int ok = tx__ratelimit_take(f->rl, client, now, &info);
        rate_limit_headers(ctx, &info);
        if (!ok) {
            char ra[16], msg[160];
            snprintf(ra, sizeof ra, "%u", info.retry_after_s);
            snprintf(msg, sizeof msg,
                     "Rate limit reached: %u requests per minute. Try again in %u s.", info.limit,
                     info.retry_after_s);
            tx_header_t h[TX_FILTER_MAX_HEADERS + 1];
            size_t n = 0;
            for (size_t i = 0; i < ctx->nheaders; i++)
                h[n++] = ctx->headers[i];
            h[n++] = (tx_header_t){"Retry-After", ra};
            tx__log(TX_LOG_INFO, "ai][ratelimit", "client=%s limited, retry in %u s", client,
                    info.retry_after_s);
            tx__http_respond_error(req, 429, "rate_limit_exceeded", "rate_limit_exceeded", msg, h,
                                   n);
            ctx->status = 429;
            return 1;
        }
    }

    (void)route;
    if (cr == NULL || !tx__cache_enabled(f->cache)) return 0;
    snprintf(ctx->model, sizeof ctx->model, "%s", cr->model != NULL ? cr->model : "");
    if (cr->result != TX_CACHE_KEY_OK) return 0;
    memcpy(ctx->key, cr->key, sizeof ctx->key);
    const char *mode = tx__http_req_header(req, "x-tenax-cache");
    int bypass = mode != NULL && strcasecmp(mode, "bypass") == 0;
    int refresh = mode != NULL && strcasecmp(mode, "refresh") == 0;
    if (bypass) {
        add_header(ctx, "X-Tenax-Cache", "miss"); /* answered from upstream, nothing stored */
        return 0;
    }
    ctx->cache_store = 1;
    ctx->cache_result = 0;
    if (!refresh) {
        const tx_cache_entry_t *e = tx__cache_get(f->cache, ctx->key, now);
        if (e != NULL) {
            ctx->cache_result = 1;
            ctx->cache_store = 0;
            ctx->status = e->status;
            answer_hit(req, ctx, e);
            tx__cache_release(e);
            return 1;
        }
    }
    add_header(ctx, "X-Tenax-Cache", "miss");
    return 0;
}

void tx__filter_gateway_after(tx_filters_t *f, const tx_filter_ctx_t *ctx, int status,
                              const tx_header_t *headers, size_t n, const char *body, size_t len,
                              tx_ms_t now)
{
    if (f == NULL || ctx == NULL || !ctx->cache_store || status < 200 || status > 299) return;
    /* Replay only what describes the content; never hop-by-hop or per-answer headers. */
    tx_header_t keep[8];
    size_t k = 0;
    for (size_t i = 0; i < n && headers != NULL && k < 8; i++) {
        const char *name = headers[i].name;
        if (name == NULL || headers[i].value == NULL) continue;
        if (strcasecmp(name, "content-type") == 0 || strcasecmp(name, "x-tenax-model") == 0 ||
            strcasecmp(name, "x-tenax-endpoint") == 0 || strcasecmp(name, "x-tenax-attempts") == 0)
            keep[k++] = headers[i];
    }
    tx__cache_put(f->cache, ctx->key, status, keep, k, body, len, now);
}

void tx__filters_sweep(tx_filters_t *f, tx_ms_t now)
{
    if (f == NULL) return;
    tx__ratelimit_sweep(f->rl, now);
    tx__cache_sweep(f->cache, now);
}

tx_cache_t *tx__filters_cache(const tx_filters_t *f)
{
    return f != NULL ? f->cache : NULL;
}

tx_ratelimit_t *tx__filters_ratelimit(const tx_filters_t *f)
{
    return f != NULL ? f->rl : NULL;
}

const tx_auth_t *tx__filters_auth(const tx_filters_t *f)
{
    return f != NULL ? f->auth : NULL;
}
