/* Operating tenax (issue 5) plugged into the app: hot reload of the config file, GET /admin/diag,
 * GET /metrics, POST /admin/resume, admin-token and client-key checks, the client rate limit, the
 * response cache and the admin notifications. The gateway and jobs paths call the few functions
 * below; everything is a no-op before tx__ops_start. Loop thread only. */
#ifndef TX_OPS_OPS_H
#define TX_OPS_OPS_H

#include <jansson.h>

#include "server/host.h"
#include "obs/observe.h"
#include "server/filters.h"

/* What the job engine lends to diag, /metrics and /admin/resume. Neither function may block:
 * `status` returns what the engine holds in memory. */
typedef struct {
    /* {"paused": bool, "pauseReason": string|null, "counts": {"pending": n, …}}, a new
     * reference (NULL: unknown). */
    json_t *(*status)(void *ud);
    /* Resumes paused job work (docs/jobs.md); 0 when it was paused and resumes, 1 when it was not
     * paused, -1 on failure. */
    int (*resume)(void *ud);
    /* A new config was applied (hot reload); `cfg` is borrowed: tx__config_ref it to keep it.
     * May be NULL. After it, paused job work is resumed through `resume` (docs/jobs.md). */
    void (*config_changed)(void *ud, tx_config_t *cfg);
    void *ud;
} tx_ops_jobs_t;

/* Plugs ops into `app` (after the gateway routes, before tx__app_listen): routes, filters,
 * notifier, observer over app->metrics, the config watcher when the config came from a file
 * (app->config->path), a stop hook. TX_EOK or an error (nothing half-registered is used). */
tx_err_t tx__ops_start(tx_app_t *app);

/* Lends the job engine's status and resume (copied; may be called before or after
 * tx__ops_start). TX_ENOMEM when the ops state cannot be made. */
tx_err_t tx__ops_set_jobs(tx_app_t *app, const tx_ops_jobs_t *jobs);

/* The observer the gateway and jobs report events to; NULL before tx__ops_start and once the
 * stop has freed it (every tx_obs_* call accepts NULL). While stopping it still counts but no
 * longer notifies. Call it at each event rather than keeping the pointer. */
tx_obs_t *tx__ops_obs(const tx_app_t *app);

/* For item-mutating routes (POST /v1/items, retry, regenerate, tasks, seed alias POSTs): 1 when
 * the request may go on, 0 when it has been answered 401 (TENAX_ADMIN_TOKEN set and not
 * presented). Before tx__ops_start: checks app->auth. */
int tx__ops_require_admin(tx_app_t *app, tx_http_req_t *req);

/* First thing a gateway route does after its parse: client key (401), rate limit (429), cache
 * hit. Returns 1 when `req` has been answered (the route returns at once), 0 to go on; `ctx`
 * (caller memory, kept with the call until its answer) says what to add to the answer and
 * whether to store it. `cr`: the request's cache key (NULL for routes never cached, GET
 * /v1/models, or when tx__ops_cache_on said no). */
int tx__ops_gateway_before(tx_app_t *app, tx_http_req_t *req, const char *route,
                           const tx_cache_req_t *cr, tx_filter_ctx_t *ctx);

/* 1 when the response cache is on: the gateway then computes each request's key in its parse. */
int tx__ops_cache_on(tx_app_t *app);

/* Once a gateway route's final non-stream answer is known: stores a 2xx answer in the cache
 * when "before" asked for it. The route adds tx__filter_headers(ctx) to every answer. */
void tx__ops_gateway_after(tx_app_t *app, const tx_filter_ctx_t *ctx, int status,
                           const tx_header_t *headers, size_t n, const char *body, size_t len);

/* The diag document of GET /admin/diag?q=ai-queue (docs/operations.md), a new reference; NULL when
 * out of memory. Works before tx__ops_start too (no configError, no jobs). */
json_t *tx__ops_diag_json(tx_app_t *app);

#endif
