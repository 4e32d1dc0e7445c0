/* The app object graph (app.h): builds and tears down everything `tenax serve` runs on its one
 * loop, applies config swaps to the parts that live outside the snapshot, and runs the graceful
 * stop in order: plug-ins, HTTP server (grace), upstream client, store executor. */
#include "app/app.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ops/store_health.h"
#include "obs/log.h"
#include "store/storeq.h"

static void set_err(tx_error_t *err, tx_err_t code, const char *fmt, const char *arg)
{
    if (err == NULL) return;
    err->code = code;
    snprintf(err->detail, sizeof err->detail, fmt, arg != NULL ? arg : "");
    err->msg = err->detail;
}

static void route_readyz(tx_http_req_t *req, void *ud)
{
    tx_app_t *app = ud;
    static const tx_header_t ct[] = {{"Content-Type", "application/json"}};
    if (app->ready && !app->stopping && tx__store_health_ready(app)) {
        static const char ok[] = "{\"status\":\"ready\"}";
        tx__http_respond(req, 200, ct, 1, ok, sizeof ok - 1);
    } else {
        tx__http_respond_error(req, 503, "not_ready", NULL,
                               app->stopping ? "tenax is stopping"
                               : app->ready  ? "the store is unreachable"
                                             : "tenax is not ready yet",
                               NULL, 0);
    }
}

/* The endpoints of every provider, in the config's flat order (config.h route_eps). */
static tx_err_t build_endpoints(const tx_config_t *cfg, tx_ep_spec_t *specs, size_t *n)
{
    if (cfg->n_route_eps == 0 || cfg->n_route_eps > TX_ENDPOINTS_MAX) return TX_ERANGE;
    for (size_t i = 0; i < cfg->n_route_eps; i++)
        specs[i] = (tx_ep_spec_t){cfg->route_eps[i].ident, cfg->route_eps[i].url,
                                  cfg->route_eps[i].provider};
    *n = cfg->n_route_eps;
    return TX_EOK;
}

/* Swaps the current snapshot for `cfg` (the app takes its own reference): new calls see it;
 * calls in flight keep theirs. Applies what lives outside the snapshot: endpoint list and
 * failover policy, admission limits, the auth checker. TX_EOK, or an error (the old config
 * stays) when something could not be applied. Plug-ins reach it as app->config_swap. */
static tx_err_t tx_app_config_swap(tx_app_t *app, tx_config_t *cfg);

tx_app_t *tx__app_new(uv_loop_t *loop, tx_config_t *cfg, const tx_app_opts_t *opts, tx_error_t *err)
{
    if (loop == NULL || cfg == NULL) {
        set_err(err, TX_EINVAL, "%sno loop or no config", NULL);
        return NULL;
    }
    tx_app_opts_t o = {0};
    if (opts != NULL) o = *opts;
    tx_app_t *app = calloc(1, sizeof *app);
    if (app == NULL) {
        set_err(err, TX_ENOMEM, "%sout of memory", NULL);
        return NULL;
    }
    app->loop = loop;
    app->config = tx__config_ref(cfg);
    app->grace_ms = o.grace_ms ? o.grace_ms : 10000;
    app->config_swap = tx_app_config_swap;
    uint64_t seed =
        o.seed ? o.seed : ((uint64_t)time(NULL) << 20) ^ (uint64_t)getpid() ^ uv_hrtime();
    tx_rng_seed(&app->rng, seed);

    tx_ep_spec_t specs[TX_ENDPOINTS_MAX];
    size_t n = 0;
    if (build_endpoints(cfg, specs, &n) != TX_EOK) {
        set_err(err, TX_ERANGE, "%sthe providers must have 1 to 64 endpoints in all", NULL);
        goto fail;
    }
    app->endpoints = tx__endpoints_new(&specs[0].url, 1, (int)cfg->ai_endpoint_failover_threshold,
                                       cfg->ai_endpoint_cooldown_ms);
    if (app->endpoints != NULL && tx__endpoints_replace_specs(app->endpoints, specs, n) != TX_EOK) {
        tx__endpoints_free(app->endpoints);
        app->endpoints = NULL;
    }
    app->admission =
        tx__admission_new((unsigned)cfg->ai_max_concurrency, (size_t)cfg->ai_queue_max_size);
    for (size_t i = 0; i < TX_PROVIDERS_MAX; i++)
        tx__budget_init(&app->budgets[i], (unsigned)cfg->ai_retry_budget_percent,
                        (unsigned)cfg->ai_retry_budget_min_per_s);
    for (size_t i = 0; i < TX_ENDPOINTS_MAX; i++)
        tx__limiter_init(&app->limits[i], (unsigned)cfg->ai_max_concurrency,
                         tx__config_adaptive(cfg));
    app->router = tx__router_new();
    app->metrics = tx__metrics_create();
    app->auth = tx__auth_create(cfg->admin_token, NULL);
    tx_upstream_opts_t uo = {0};
    /* enough connections for every slot, keep-alive to the upstream */
    uo.max_total_conns = (unsigned)(cfg->ai_max_concurrency < 64 ? 64 : cfg->ai_max_concurrency);
    uo.ca_file = cfg->ai_ca_file; /* "" : the system store; both apply until a restart */
    char proxy_why[160];
    tx__upstream_proxy_env(&uo, cfg->ai_proxy, proxy_why, sizeof proxy_why);
    if (proxy_why[0] != '\0') /* not silently: the operator meant requests to go through it */
        tx__log(TX_LOG_WARN, "ai][proxy", "%s; upstream requests go direct", proxy_why);
    app->upstream = tx__upstream_new(loop, &uo);
    if (app->endpoints == NULL || app->admission == NULL || app->router == NULL ||
        app->metrics == NULL || app->auth == NULL || app->upstream == NULL ||
        tx__metrics_std_register(app->metrics, app->fam) != 0) {
        set_err(err, TX_ENOMEM, "%sout of memory (or the upstream client failed to start)", NULL);
        goto fail;
    }
    if (tx__router_add(app->router, "GET", "/healthz", tx__route_healthz, NULL) != TX_EOK ||
        tx__router_add(app->router, "GET", "/readyz", route_readyz, app) != TX_EOK) {
        set_err(err, TX_ENOMEM, "%sout of memory", NULL);
        goto fail;
    }
    if (o.store_url != NULL) {
        int threads = o.store_threads > 0 ? o.store_threads : 1;
        tx_error_t serr = {0};
        if (tx__storeq_open(loop, o.store_url, threads, &app->storeq, &serr) != 0) {
            set_err(err, TX_ESTORE, "store: %s", serr.msg != NULL ? serr.msg : "cannot open");
            app->storeq = NULL;
            goto fail;
        }
    }
    return app;
fail:
    tx__app_destroy(app);
    return NULL;
}

tx_err_t tx__app_listen(tx_app_t *app, const char *listen, tx_error_t *err)
{
    if (app == NULL || listen == NULL || app->server != NULL) {
        set_err(err, TX_EINVAL, "%sbad arguments", NULL);
        return TX_EINVAL;
    }
    tx_http_config_t hc;
    tx__http_config_defaults(&hc);
    const tx_config_t *c = app->config;
    hc.limits.max_body_bytes = (size_t)c->max_body_bytes;
    hc.max_connections = (unsigned)c->max_connections;
    hc.header_timeout_ms = (unsigned)c->header_timeout_ms;
    hc.idle_timeout_ms = (unsigned)c->idle_timeout_ms;
    hc.handler = tx__router_handler;
    hc.handler_ud = app->router;
    tx_error_t herr = {0};
    app->server = tx__http_server_start(app->loop, listen, &hc, &herr);
    if (app->server == NULL) {
        set_err(err, herr.code ? herr.code : TX_EIO, "%s",
                herr.msg != NULL ? herr.msg : "cannot listen");
        return err != NULL ? err->code : TX_EIO;
    }
    app->ready = 1;
    return TX_EOK;
}

static void on_signal(uv_signal_t *s, int signum)
{
    tx_app_t *app = s->data;
    tx__log(TX_LOG_INFO, "serve", "signal %d, stopping (grace %u ms)", signum, app->grace_ms);
    tx__app_stop(app, app->stopped, app->stopped_ud);
}

void tx__app_handle_signals(tx_app_t *app)
{
    if (app == NULL || app->signals_on) return;
    uv_signal_init(app->loop, &app->sigint);
    uv_signal_init(app->loop, &app->sigterm);
    app->sigint.data = app->sigterm.data = app;
    uv_signal_start(&app->sigint, on_signal, SIGINT);
    uv_signal_start(&app->sigterm, on_signal, SIGTERM);
    app->signals_on = 1;
}

static void storeq_closed(void *ud)
{
    tx_app_t *app = ud;
    app->storeq = NULL;
    if (app->stopped != NULL) {
        void (*cb)(tx_app_t *, void *) = app->stopped;
        app->stopped = NULL;
        cb(app, app->stopped_ud);
    }
}

static void upstream_closed(void *ud)
{
    tx_app_t *app = ud;
    app->upstream = NULL;
    if (app->storeq != NULL)
        tx__storeq_close(app->storeq, storeq_closed, app);
    else
        storeq_closed(app);
}

static void server_stopped(tx_http_server_t *srv, void *ud)
{
    (void)srv;
    tx_app_t *app = ud;
    tx__upstream_close(app->upstream, upstream_closed, app);
}

static void stop_server(tx_app_t *app)
{
    if (app->server != NULL)
        tx__http_server_stop(app->server, app->grace_ms, server_stopped, app);
    else
        server_stopped(NULL, app);
}

static void hook_done(tx_app_t *app)
{
    if (app->stop_pending > 0 && --app->stop_pending == 0) stop_server(app);
}

void tx__app_stop(tx_app_t *app, void (*stopped)(tx_app_t *, void *), void *ud)
{
    if (app == NULL || app->stopping) return;
    app->stopping = 1;
    app->ready = 0;
    app->stopped = stopped;
    app->stopped_ud = ud;
    if (app->signals_on) {
        uv_close((uv_handle_t *)&app->sigint, NULL);
        uv_close((uv_handle_t *)&app->sigterm, NULL);
        app->signals_on = 0;
    }
    if (app->nstop_hooks == 0) {
        stop_server(app);
        return;
    }
    /* +1 so a hook finishing inside its own call does not stop the server before the others run */
    app->stop_pending = app->nstop_hooks + 1;
    for (size_t i = 0; i < app->nstop_hooks; i++)
        app->stop_hooks[i].fn(app, app->stop_hooks[i].ud, hook_done);
    hook_done(app);
}

void tx__app_destroy(tx_app_t *app)
{
    if (app == NULL) return;
    /* Only parts that hold no loop handles, or were never started, can be freed here; a started
     * app must have gone through tx__app_stop first (server, upstream and storeq are NULL). */
    tx__http_server_destroy(app->server);
    if (app->upstream != NULL)
        tx__upstream_close(app->upstream, NULL, NULL); /* the loop must run to release it */
    tx__router_destroy(app->router);
    tx__endpoints_free(app->endpoints);
    tx__admission_free(app->admission);
    tx__metrics_destroy(app->metrics);
    tx__auth_destroy(app->auth);
    tx__config_unref(app->config);
    free(app);
}

/* A reload keeps each provider's retry budget (found by name) with the new parameters; a new
 * provider starts with an empty one. */
static void carry_budgets(tx_app_t *app, const tx_config_t *old, const tx_config_t *cfg)
{
    tx_budget_t next[TX_PROVIDERS_MAX]; /* about 7 KiB */
    for (size_t i = 0; i < TX_PROVIDERS_MAX; i++) {
        size_t j = TX_PROVIDERS_MAX;
        if (i < cfg->providers.n && old != NULL)
            for (j = 0; j < old->providers.n && j < TX_PROVIDERS_MAX; j++)
                if (strcmp(old->providers.v[j].name, cfg->providers.v[i].name) == 0) break;
        if (old != NULL && j < old->providers.n && j < TX_PROVIDERS_MAX)
            next[i] = app->budgets[j];
        else
            tx__budget_init(&next[i], 0, 0);
        tx__budget_set(&next[i], (unsigned)cfg->ai_retry_budget_percent,
                       (unsigned)cfg->ai_retry_budget_min_per_s);
    }
    memcpy(app->budgets, next, sizeof next);
}

static tx_err_t tx_app_config_swap(tx_app_t *app, tx_config_t *cfg)
{
    if (app == NULL || cfg == NULL) return TX_EINVAL;
    tx_ep_spec_t specs[TX_ENDPOINTS_MAX];
    size_t n = 0;
    tx_err_t rc = build_endpoints(cfg, specs, &n);
    if (rc != TX_EOK) return rc;
    tx_auth_t *auth = tx__auth_create(cfg->admin_token, NULL);
    if (auth == NULL) return TX_ENOMEM;
    rc = tx__endpoints_replace_specs(app->endpoints, specs, n);
    if (rc != TX_EOK) {
        tx__auth_destroy(auth);
        return rc;
    }
    tx__endpoints_set_policy(app->endpoints, (int)cfg->ai_endpoint_failover_threshold,
                             cfg->ai_endpoint_cooldown_ms);
    tx__admission_set_limits(app->admission, (unsigned)cfg->ai_max_concurrency,
                             (size_t)cfg->ai_queue_max_size, tx__app_now(app));
    carry_budgets(app, app->config, cfg);
    for (size_t i = 0; i < TX_ENDPOINTS_MAX; i++)
        tx__limiter_configure(&app->limits[i], (unsigned)cfg->ai_max_concurrency,
                              tx__config_adaptive(cfg));
    tx__auth_destroy(app->auth);
    app->auth = auth;
    tx_config_t *old = app->config;
    app->config = tx__config_ref(cfg);
    tx__config_unref(old);
    tx__admission_kick(app->admission, tx__app_now(app)); /* the endpoints' limits may have risen */
    return TX_EOK;
}
