/* The process's object graph for `tenax serve` (and any front door that needs the engine): one
 * libuv loop thread owning the config snapshot, HTTP server + router, upstream client, endpoints,
 * admission, rng, store executor and metrics registry, plus the hook points where the gateway,
 * the jobs API, the scheduler and ops plug in. Loop thread only unless said otherwise. */
#ifndef TX_APP_APP_H
#define TX_APP_APP_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "config/config.h"
#include "jobs/storeq.h"
#include "obs/metrics.h"
#include "obs/tx_metrics.h"
#include "server/auth.h"
#include "server/http.h"
#include "server/router.h"
#include "tenax/error.h"
#include "tenax/rng.h"
#include "upstream/admission.h"
#include "upstream/budget.h"
#include "upstream/client.h"
#include "upstream/endpoints.h"
#include "upstream/limiter.h"

typedef struct tx_app tx_app_t;

/* A plug-in's stop hook: called once when the app begins its graceful stop (before the server
 * stops); `done(app)` must be called once the plug-in has released everything it holds on the
 * loop (it may be called from inside the hook). */
typedef void (*tx_app_stop_fn)(tx_app_t *app, void *ud, void (*done)(tx_app_t *app));

#define TX_APP_MAX_STOP_HOOKS 8

struct tx_app {
    uv_loop_t *loop;
    tx_config_t *config; /* the current snapshot (one reference owned by the app); a request
                            takes its own with tx_app_config_get and keeps it to the end */
    tx_router_t *router;
    tx_http_server_t *server; /* NULL until tx_app_listen (and for a front door without HTTP) */
    tx_upstream_t *upstream;
    tx_endpoints_t *endpoints; /* same order as config->route_eps (every provider's) */
    tx_admission_t *admission;
    /* the retry budget of each provider (same order as config->providers; a reload carries a
       provider's budget by its name) and the adaptive in-flight limit of each endpoint (same
       order as endpoints; carried by position) */
    tx_budget_t budgets[TX_PROVIDERS_MAX];
    tx_limiter_t limits[TX_ENDPOINTS_MAX];
    tx_rng_t rng;           /* per-loop jitter source */
    tx_storeq_t *storeq;    /* NULL when opened without a store */
    tx_metrics_t *metrics;
    tx_metric_family_t *fam[TX_M__LAST];
    tx_auth_t *auth;
    int ready;    /* listening and the store open (GET /readyz) */
    int stopping; /* a graceful stop began: new calls are refused */
    unsigned calls; /* gateway calls alive (for the stop) */
    /* Plug-in slots: each module keeps its own state here (NULL until it plugs in). */
    void *gateway, *jobs, *jobsapi, *ops;
    void *store_health; /* app/store_health.c: the cached store ping (/readyz, diag) */
    /* internal */
    struct {
        tx_app_stop_fn fn;
        void *ud;
    } stop_hooks[TX_APP_MAX_STOP_HOOKS];
    size_t nstop_hooks, stop_pending;
    unsigned grace_ms;
    uv_signal_t sigint, sigterm;
    int signals_on;
    void (*stopped)(tx_app_t *app, void *ud);
    void *stopped_ud;
};

typedef struct {
    const char *store_url; /* NULL: no store executor */
    int store_threads;     /* 0: 1 */
    unsigned grace_ms;     /* in-flight requests get this long on stop; 0: 10000 */
    uint64_t seed;         /* rng seed; 0: from the clock and the pid */
} tx_app_opts_t;

/* Builds the graph on `loop` from `cfg` (the app takes its own reference; the caller keeps
 * theirs). Opens the store when opts->store_url is set. Registers GET /healthz and /readyz and
 * the std metric families. NULL on failure with `err` filled; nothing is left open then. */
tx_app_t *tx_app_new(uv_loop_t *loop, tx_config_t *cfg, const tx_app_opts_t *opts,
                     tx_error_t *err);

/* Starts the HTTP server on `listen` with the router as handler and the limits of the config.
 * TX_EOK, or an error with `err` filled (e.g. the port is in use). Marks the app ready. */
tx_err_t tx_app_listen(tx_app_t *app, const char *listen, tx_error_t *err);

/* Catches SIGINT and SIGTERM on the loop: the first one begins tx_app_stop. */
void tx_app_handle_signals(tx_app_t *app);

/* Graceful stop: refuses new calls, runs the stop hooks, stops accepting and lets requests in
 * flight finish for up to grace_ms (the rest are aborted), closes the upstream client and the
 * store executor, then calls `stopped(app, ud)` (may be NULL) on the loop. After that the loop
 * has nothing of the app's left and tx_app_destroy may be called. Idempotent. */
void tx_app_stop(tx_app_t *app, void (*stopped)(tx_app_t *, void *), void *ud);

/* Frees what is left of a stopped app (or one never started: then run the loop once more so
 * the upstream client's handles close). NULL: no-op. */
void tx_app_destroy(tx_app_t *app);

/* The current snapshot with a new reference for the caller (release with tx_config_unref). */
tx_config_t *tx_app_config_get(tx_app_t *app);

/* Swaps the current snapshot for `cfg` (the app takes its own reference): new calls see it;
 * calls in flight keep theirs. Applies what lives outside the snapshot: endpoint list and
 * failover policy, admission limits, the auth checker. TX_EOK, or an error (the old config
 * stays) when something could not be applied. Loop thread only. */
tx_err_t tx_app_config_swap(tx_app_t *app, tx_config_t *cfg);

/* Registers a stop hook (see tx_app_stop_fn). TX_ERANGE when the table is full. */
tx_err_t tx_app_on_stop(tx_app_t *app, tx_app_stop_fn fn, void *ud);

/* Monotonic milliseconds of the loop (uv_now). */
tx_ms_t tx_app_now(const tx_app_t *app);

/* The auth header value of endpoint `index` (config.h route_eps: "Bearer KEY", or the bare key
 * for an api-key provider) of the current config, or NULL when it has no key. */
const char *tx_app_endpoint_key(const tx_app_t *app, int index);

/* --- registration hooks, called by cmd_serve in this order ------------------------------- */
/* The gateway routes of SPEC §4.1 (src/gateway/gateway.c). */
tx_err_t tx_gateway_routes(tx_app_t *app);

/* The retry budget of the provider of endpoint `index` under the current config (NULL when out
 * of range). */
tx_budget_t *tx_app_budget_of_endpoint(tx_app_t *app, int index);

/* A retry wants to go after a failed attempt on endpoint `index`: 1 when that provider's budget
 * allows it (counted), 0 when spent (counted as an exhaustion, and `[ai][budget] exhausted
 * provider=<p>` logged at most once a second). 1 for an index out of range. */
int tx_app_budget_retry(tx_app_t *app, int index);

/* A first attempt (a request's or an item's) went to endpoint `index`. */
void tx_app_budget_first(tx_app_t *app, int index);

#endif
