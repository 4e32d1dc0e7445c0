/* What a plug-in of the served process (the gateway, the jobs API and scheduler, ops) gets from
 * its host: the loop, the config snapshot, the router and HTTP server, the upstream client,
 * endpoints, admission, retry budgets, adaptive limits, rng, store executor, metrics, auth, the
 * plug-in slots and the stop hooks.
 * The composition root (app/app.c) builds and runs it; plug-ins include this header, never the
 * root's. Loop thread only unless said otherwise. */
#ifndef TX_SERVER_HOST_H
#define TX_SERVER_HOST_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "config/config.h"
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

struct tx_storeq; /* store/storeq.h: the store executor (a layer above this one) */

typedef struct tx_app tx_app_t;

/* A plug-in's stop hook: called once when the app begins its graceful stop (before the server
 * stops); `done(app)` must be called once the plug-in has released everything it holds on the
 * loop (it may be called from inside the hook). */
typedef void (*tx_app_stop_fn)(tx_app_t *app, void *ud, void (*done)(tx_app_t *app));

#define TX_APP_MAX_STOP_HOOKS 8

struct tx_app {
    uv_loop_t *loop;
    tx_config_t *config; /* the current snapshot (one reference owned by the app); a request
                            takes its own with tx__app_config_get and keeps it to the end */
    tx_router_t *router;
    tx_http_server_t *server; /* NULL until tx__app_listen (and for a front door without HTTP) */
    tx_upstream_t *upstream;
    tx_endpoints_t *endpoints; /* same order as config->route_eps (every provider's) */
    tx_admission_t *admission;
    /* the retry budget of each provider (same order as config->providers; a reload carries a
       provider's budget by its name) and the adaptive in-flight limit of each endpoint (same
       order as endpoints; carried by position) */
    tx_budget_t budgets[TX_PROVIDERS_MAX];
    tx_limiter_t limits[TX_ENDPOINTS_MAX];
    tx_rng_t rng;             /* per-loop jitter source */
    struct tx_storeq *storeq; /* NULL when opened without a store */
    tx_metrics_t *metrics;
    tx_metric_family_t *fam[TX_M__LAST];
    tx_auth_t *auth;
    int ready;      /* listening and the store open (GET /readyz) */
    int stopping;   /* a graceful stop began: new calls are refused */
    unsigned calls; /* gateway calls alive (for the stop) */
    /* Plug-in slots: each module keeps its own state here (NULL until it plugs in). */
    void *gateway, *jobs, *jobsapi, *ops;
    void *store_health; /* ops/store_health.c: the cached store ping (/readyz, diag) */
    /* internal */
    struct {
        tx_app_stop_fn fn;
        void *ud;
    } stop_hooks[TX_APP_MAX_STOP_HOOKS];
    size_t nstop_hooks, stop_pending;
    unsigned grace_ms;
    uv_signal_t sigint, sigterm;
    int signals_on;
    /* Set by the composition root (app/app.c): swaps the current snapshot for `cfg` (the host
     * takes its own reference) and applies what lives outside it (endpoints, failover policy,
     * admission limits, auth). TX_EOK, or an error when something could not be applied (the old
     * config stays). Loop thread only. */
    tx_err_t (*config_swap)(tx_app_t *app, tx_config_t *cfg);
    void (*stopped)(tx_app_t *app, void *ud);
    void *stopped_ud;
};

/* The current snapshot with a new reference for the caller (release with tx__config_unref). */
tx_config_t *tx__app_config_get(tx_app_t *app);

/* Registers a stop hook (see tx_app_stop_fn). TX_ERANGE when the table is full. */
tx_err_t tx__app_on_stop(tx_app_t *app, tx_app_stop_fn fn, void *ud);

/* Monotonic milliseconds of the loop (uv_now). */
tx_ms_t tx__app_now(const tx_app_t *app);

/* A retry wants to go after a failed attempt on endpoint `index`: 1 when that provider's budget
 * allows it (counted), 0 when spent (counted as an exhaustion, and `[ai][budget] exhausted
 * provider=<p>` logged at most once a second). 1 for an index out of range. */
int tx__app_budget_retry(tx_app_t *app, int index);

/* A first attempt (a request's or an item's) went to endpoint `index`. */
void tx__app_budget_first(tx_app_t *app, int index);

#endif
