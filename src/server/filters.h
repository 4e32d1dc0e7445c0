/* Client protections in front of the routes: the admin token check (/admin/... and item-mutating
 * routes), and for gateway routes the client key (401), the per-client rate limit (429 with
 * Retry-After and x-ratelimit-*) and the response cache (a hit is answered here; a miss is
 * stored after). A route calls "before" first and "after" once its answer is known. Loop only. */
#ifndef TX_SERVER_FILTERS_H
#define TX_SERVER_FILTERS_H

#include <stddef.h>
#include <stdint.h>

#include "server/auth.h"
#include "server/cache.h"
#include "server/http.h"
#include "server/ratelimit.h"
#include "tenax/types.h"

/* The settings, from a config snapshot. Strings are only read during the call. */
typedef struct {
    const char *admin_token; /* NULL or "": admin routes open */
    const char *client_keys; /* comma-separated; NULL or "": client auth off */
    uint32_t rate_limit_rpm; /* 0: off */
    uint32_t cache_ttl_s;    /* 0: off */
    size_t cache_max_entries;
} tx_filters_config_t;

typedef struct tx_filters tx_filters_t;

/* Most headers "before" asks the answer to carry. */
#define TX_FILTER_MAX_HEADERS 4

/* What "before" learnt about a gateway request, for the answer and for "after". Caller memory,
 * filled in place (e.g. inside the call's state); `headers` point into it, so do not copy it. */
typedef struct {
    tx_auth_client_t who;
    int cache_result; /* -1: cache not consulted, 0: miss (store after), 1: hit (answered) */
    int cache_store;  /* 1: "after" stores a 2xx answer */
    int status;       /* the status "before" answered with (401, 429, a hit's); 0: not answered */
    unsigned char key[TX_CACHE_KEY_LEN];
    tx_header_t headers[TX_FILTER_MAX_HEADERS]; /* x-ratelimit-*, X-Tenax-Cache: miss */
    size_t nheaders;
    char limit[16], remaining[16], reset[32];
    char model[128]; /* the request's model when the cache looked it up ("" otherwise) */
} tx_filter_ctx_t;

/* 1 when a gateway answer needs ctx after "before" (headers to add, or a cache store to do). */
int tx__filter_ctx_needed(const tx_filter_ctx_t *ctx);
/* A heap copy of ctx (free() it), its headers pointing into the copy; NULL on out of memory. */
tx_filter_ctx_t *tx__filter_ctx_dup(const tx_filter_ctx_t *ctx);

/* NULL when out of memory or the client keys are too many. Free with tx__filters_destroy. */
tx_filters_t *tx__filters_create(const tx_filters_config_t *c);
void tx__filters_destroy(tx_filters_t *f); /* NULL: no-op */

/* A reload: new tokens and keys, rate and cache settings (buckets and entries are kept).
 * TX_EOK, or TX_ENOMEM/TX_EINVAL with the old settings still in force. */
tx_err_t tx__filters_configure(tx_filters_t *f, const tx_filters_config_t *c);

/* 1 when the request may go on; otherwise it has been answered 401 (OpenAI-style error,
 * `WWW-Authenticate: Bearer`) and 0 is returned. Allowed when no admin token is set. */
int tx__filter_admin(tx_filters_t *f, tx_http_req_t *req);

/* Before a gateway route (`route` e.g. "/v1/chat/completions") at monotonic `now`: checks the
 * client key (401), takes a rate-limit token (429), looks the cache up (honouring
 * `X-Tenax-Cache: bypass|refresh`) with `cr`, the request's key from the gateway's parse (NULL:
 * not cacheable, e.g. GET /v1/models, or the cache is off). Returns 1 when the request has been
 * answered here (401, 429 or a cache hit: the caller must not touch it again), 0 to go on; ctx
 * is filled either way. */
int tx__filter_gateway_before(tx_filters_t *f, tx_http_req_t *req, const char *route,
                              const tx_cache_req_t *cr, tx_ms_t now, tx_filter_ctx_t *ctx);

/* 1 when the cache is on (then the gateway computes each request's key for "before"). */
int tx__filters_cache_on(const tx_filters_t *f);

/* After the gateway's final, non-stream answer: stores it when "before" said so and status is
 * 2xx (headers worth replaying, e.g. content-type and x-tenax-model, and the body). */
void tx__filter_gateway_after(tx_filters_t *f, const tx_filter_ctx_t *ctx, int status,
                              const tx_header_t *headers, size_t n, const char *body, size_t len,
                              tx_ms_t now);

/* The headers the gateway adds to every answer of this request (x-ratelimit-* when the limit is
 * on, X-Tenax-Cache: miss when the cache was consulted); their count in *n. Point into ctx. */
const tx_header_t *tx__filter_headers(const tx_filter_ctx_t *ctx, size_t *n);

/* Housekeeping, every minute or so: forgets full buckets and expired entries. */
void tx__filters_sweep(tx_filters_t *f, tx_ms_t now);

/* The parts, for diag and tests (owned by f). */
tx_cache_t *tx__filters_cache(const tx_filters_t *f);
tx_ratelimit_t *tx__filters_ratelimit(const tx_filters_t *f);
const tx_auth_t *tx__filters_auth(const tx_filters_t *f);

#endif
