/* The ops plug-in: builds the filters, the notifier (webhook/Telegram over its own HTTP client)
 * and the observer, watches the config file and applies each new snapshot to the app and to
 * itself, serves /admin/diag, /metrics and /admin/resume, and closes all of it on stop. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "obs/log.h"
#include "core/clock.h"
#include "ops/dashboard.h"
#include "ops/ops_internal.h"
#include "ops/stats.h"

#define SWEEP_MS 60000

static tx_ops_state_t *tx__ops_state(tx_app_t *app)
{
    if (app == NULL) return NULL;
    if (app->ops == NULL) {
        tx_ops_state_t *s = calloc(1, sizeof *s);
        if (s == NULL) return NULL;
        s->app = app;
        app->ops = s;
    }
    return app->ops;
}

static tx_ops_state_t *started(const tx_app_t *app)
{
    tx_ops_state_t *s = app != NULL ? app->ops : NULL;
    return s != NULL && s->started ? s : NULL;
}

/* --- settings from a snapshot ---------------------------------------------------------- */

/* TENAX_CLIENT_KEYS back to the comma-separated form auth.h takes (heap; NULL: none/no mem). */
static char *join_keys(const tx_config_list_t *l)
{
    size_t n = 1;
    for (size_t i = 0; i < l->n; i++)
        n += strlen(l->v[i]) + 1;
    char *s = calloc(1, n);
    if (s == NULL) return NULL;
    size_t off = 0;
    for (size_t i = 0; i < l->n; i++) {
        size_t k = strlen(l->v[i]);
        if (off > 0) s[off++] = ',';
        memcpy(s + off, l->v[i], k);
        off += k;
    }
    s[off] = '\0';
    return s;
}

static tx_err_t configure_filters(tx_ops_state_t *s, const tx_config_t *c)
{
    char *keys = join_keys(&c->client_keys);
    if (keys == NULL) return TX_ENOMEM;
    tx_filters_config_t fc = {.admin_token = c->admin_token,
                              .client_keys = keys,
                              .rate_limit_rpm = (uint32_t)c->client_rate_limit_rpm,
                              .cache_ttl_s = (uint32_t)c->cache_ttl_s,
                              .cache_max_entries = (size_t)c->cache_max_entries};
    tx_err_t rc = TX_EOK;
    if (s->filters == NULL) {
        s->filters = tx__filters_create(&fc);
        if (s->filters == NULL) rc = TX_ENOMEM;
    } else {
        rc = tx__filters_configure(s->filters, &fc);
    }
    /* The keys were copied into digests: wipe the joined copy before freeing it. */
    volatile char *p = keys;
    for (size_t i = 0; p[i] != '\0'; i++)
        p[i] = 0;
    free(keys);
    return rc;
}

static void notify_config(const tx_config_t *c, tx_notify_config_t *nc)
{
    tx__notify_config_from_env(nc); /* Telegram settings and the auth/endpoint intervals */
    nc->webhook_url = c->notify_webhook_url;
    nc->interval_s[TX_NOTIFY_QUOTA_EXCEEDED] = (uint32_t)c->notify_quota_interval_s;
    nc->interval_s[TX_NOTIFY_RATE_LIMIT] = (uint32_t)c->notify_rate_limit_interval_s;
}

static void resume_if_paused(tx_ops_state_t *s)
{
    if (!s->has_jobs || s->jobs.status == NULL || s->jobs.resume == NULL) return;
    json_t *st = s->jobs.status(s->jobs.ud);
    int paused = json_is_true(json_object_get(st, "paused"));
    json_decref(st);
    if (!paused) return;
    tx__log(TX_LOG_INFO, "ai][jobs", "config changed: resuming paused job work");
    if (s->jobs.resume(s->jobs.ud) < 0)
        tx__log(TX_LOG_WARN, "ai][jobs", "the job engine could not resume");
}

/* The watcher's callback: a new validated snapshot (one reference is ours). */
static tx_err_t apply_config(void *ud, tx_config_t *cfg, const tx_config_t *old)
{
    (void)old;
    tx_ops_state_t *s = ud;
    tx_err_t rc = s->app->config_swap(s->app, cfg);
    if (rc != TX_EOK) { /* the watcher logs it and shows it in configError */
        tx__config_unref(cfg);
        return rc;
    }
    if (configure_filters(s, cfg) != TX_EOK)
        tx__log(TX_LOG_ERROR, "ai][config", "client auth/rate limit/cache settings not applied");
    tx_notify_config_t nc;
    notify_config(cfg, &nc);
    if (tx__notify_configure(s->notify, &nc) != 0)
        tx__log(TX_LOG_ERROR, "ai][config", "notification settings not applied");
    if (s->has_jobs && s->jobs.config_changed != NULL) s->jobs.config_changed(s->jobs.ud, cfg);
    resume_if_paused(s);   /* docs/jobs.md: a config change resumes paused job work */
    tx__config_unref(cfg); /* the app took its own reference */
    return TX_EOK;
}

/* --- routes ------------------------------------------------------------------------------ */

static void respond_json(tx_http_req_t *req, int status, json_t *j)
{
    char *text = j != NULL ? json_dumps(j, JSON_INDENT(2)) : NULL;
    json_decref(j);
    if (text == NULL) {
        tx__http_respond_error(req, 500, "server_error", NULL, "out of memory", NULL, 0);
        return;
    }
    static const tx_header_t h[] = {{"Content-Type", "application/json"},
                                    {"Cache-Control", "no-store"}};
    tx__http_respond(req, status, h, 2, text, strlen(text));
    free(text);
}

static void route_diag(tx_http_req_t *req, void *ud)
{
    tx_app_t *app = ud;
    if (!tx__ops_require_admin(app, req)) return;
    respond_json(req, 200, tx__ops_diag_json(app));
}

static void route_metrics(tx_http_req_t *req, void *ud)
{
    tx_app_t *app = ud;
    tx_ops_state_t *s = started(app);
    if (s == NULL || !tx__obs_metrics_enabled(s->obs)) {
        tx__http_respond_error(req, 404, "invalid_request_error", "metrics_off",
                               "Metrics are off (TENAX_METRICS=0).", NULL, 0);
        return;
    }
    tx_adm_stats_t st;
    tx__admission_stats(app->admission, &st);
    tx__obs_set_admission(s->obs, st.in_flight, st.queued_gateway, st.dropped);
    const tx_config_t *cfg = app->config;
    tx_ms_t now = tx__app_now(app);
    for (size_t i = 0; i < cfg->providers.n && i < TX_PROVIDERS_MAX; i++) {
        const char *lv[] = {cfg->providers.v[i].name};
        tx__metrics_gauge_set(app->fam[TX_M_RETRY_BUDGET_AVAILABLE], lv,
                              (double)tx__budget_available(&app->budgets[i], now));
    }
    for (size_t i = 0; i < cfg->n_route_eps && i < TX_ENDPOINTS_MAX; i++) {
        char idx[24];
        snprintf(idx, sizeof idx, "%zu", i);
        const char *lv[] = {idx};
        tx__metrics_gauge_set(app->fam[TX_M_CONCURRENCY_LIMIT], lv, (double)app->limits[i].limit);
        tx__metrics_gauge_set(app->fam[TX_M_ENDPOINT_IN_FLIGHT], lv,
                              (double)app->limits[i].in_flight);
    }
    json_t *jobs = s->has_jobs && s->jobs.status != NULL ? s->jobs.status(s->jobs.ud) : NULL;
    json_t *counts = json_object_get(jobs, "counts");
    const char *k;
    json_t *v;
    json_object_foreach(counts, k, v)
    {
        if (json_is_number(v)) tx__obs_set_items(s->obs, k, json_number_value(v));
    }
    json_decref(jobs);
    size_t len = 0;
    char *text = tx__obs_render(s->obs, &len);
    if (text == NULL) {
        tx__http_respond_error(req, 500, "server_error", NULL, "out of memory", NULL, 0);
        return;
    }
    static const tx_header_t h[] = {{"Content-Type", "text/plain; version=0.0.4; charset=utf-8"}};
    tx__http_respond(req, 200, h, 1, text, len);
    free(text);
}

static void route_resume(tx_http_req_t *req, void *ud)
{
    tx_app_t *app = ud;
    if (!tx__ops_require_admin(app, req)) return;
    tx_ops_state_t *s = app->ops;
    if (s == NULL || !s->has_jobs || s->jobs.resume == NULL) {
        respond_json(
            req, 200,
            json_pack("{s:s,s:s}", "status", "not_paused", "detail", "no job engine is running"));
        return;
    }
    int rc = s->jobs.resume(s->jobs.ud);
    if (rc < 0) {
        tx__http_respond_error(req, 500, "server_error", NULL, "the job engine could not resume",
                               NULL, 0);
        return;
    }
    tx__log(TX_LOG_INFO, "ai][jobs", "resume requested by an admin (%s)",
            rc == 0 ? "resumed" : "was not paused");
    respond_json(req, 200, json_pack("{s:s}", "status", rc == 0 ? "resumed" : "not_paused"));
}

/* --- lifecycle --------------------------------------------------------------------------- */

static void on_sweep(uv_timer_t *t)
{
    tx_ops_state_t *s = t->data;
    tx__filters_sweep(s->filters, tx__app_now(s->app));
}

static void free_state(tx_ops_state_t *s)
{
    tx__obs_destroy(s->obs);
    tx__notify_destroy(s->notify);
    tx__filters_destroy(s->filters);
    free(s);
}

static void one_closed(tx_ops_state_t *s)
{
    if (--s->pending > 0) return;
    tx_app_t *app = s->app;
    void (*done)(tx_app_t *) = s->done;
    app->ops = NULL;
    free_state(s);
    if (done != NULL) done(app);
}

static void closed_cb(void *arg)
{
    one_closed(arg);
}

static void timer_closed(uv_handle_t *h)
{
    one_closed(h->data);
}

static void on_stop(tx_app_t *app, void *ud, void (*done)(tx_app_t *app))
{
    (void)app;
    tx_ops_state_t *s = ud;
    s->done = done;
    s->started = 0;
    /* Calls still finishing during the grace period may report events: they keep counting, but
     * nothing reaches the sender being closed. */
    tx__obs_set_notify(s->obs, NULL);
    s->pending = 1; /* held until every close below has been started */
    if (s->watch != NULL) {
        s->pending++;
        tx__config_watch_close(s->watch, closed_cb, s);
        s->watch = NULL;
    }
    if (s->sender != NULL) {
        s->pending++;
        tx__notify_http_close(s->sender, closed_cb, s);
        s->sender = NULL;
    }
    if (s->sweep_on) {
        s->pending++;
        s->sweep_on = 0;
        uv_close((uv_handle_t *)&s->sweep, timer_closed);
    }
    one_closed(s);
}

tx_err_t tx__ops_start(tx_app_t *app)
{
    if (app == NULL || app->config == NULL) return TX_EINVAL;
    tx_ops_state_t *s = tx__ops_state(app);
    if (s == NULL) return TX_ENOMEM;
    if (s->started) return TX_EINVAL;
    const tx_config_t *c = app->config;
    s->loaded_at = tx__clock_wall_ms();

    tx_obs_opts_t oo;
    tx__obs_opts_from_env(&oo);
    oo.registry = app->metrics;
    oo.fams = app->fam;
    s->obs = tx__obs_create(&oo);
    s->sender = tx__notify_http_new(app->loop, 0);
    tx_notify_config_t nc;
    notify_config(c, &nc);
    s->notify = s->sender != NULL ? tx__notify_create(&nc, tx__notify_http_post, s->sender) : NULL;
    tx__notify_http_set_notifier(s->sender, s->notify);
    tx__obs_set_notify(s->obs, s->notify);
    tx_err_t rc = s->obs != NULL && s->notify != NULL ? configure_filters(s, c) : TX_ENOMEM;
    if (rc == TX_EOK) rc = tx__app_on_stop(app, on_stop, s);
    if (rc != TX_EOK) {
        /* Not registered as a stop hook: close what holds loop handles ourselves. */
        if (s->sender != NULL) tx__notify_http_close(s->sender, NULL, NULL);
        app->ops = NULL;
        free_state(s);
        return rc;
    }
    s->started = 1;
    static const tx_route_t table[] = {
        {"GET", "/admin/diag", route_diag},
        {"GET", "/metrics", route_metrics},
        {"POST", "/admin/resume", route_resume},
        {"GET", "/admin/stats", tx__ops_route_stats},   /* ops/stats.c */
        {"GET", "/dashboard", tx__ops_route_dashboard}, /* ops/dashboard.c */
        {NULL, NULL, NULL},
    };
    rc = tx__router_add_table(app->router, table, app);
    if (rc != TX_EOK) return rc; /* the stop hook frees everything */

    if (uv_timer_init(app->loop, &s->sweep) == 0) {
        s->sweep_on = 1;
        s->sweep.data = s;
        uv_timer_start(&s->sweep, on_sweep, SWEEP_MS, SWEEP_MS);
        uv_unref((uv_handle_t *)&s->sweep);
    }
    if (c->path != NULL && c->path[0] != '\0') {
        tx_config_watch_opts_t wo = {
            .loop = app->loop, .path = c->path, .sighup = 1, .apply = apply_config, .ud = s};
        tx_error_t err = {0};
        s->watch = tx__config_watch_start(&wo, app->config, &err);
        if (s->watch == NULL) {
            tx__log(TX_LOG_ERROR, "ai][config", "cannot watch the config file: %s",
                    err.msg ? err.msg : "unknown");
            return err.code ? err.code : TX_EIO;
        }
        tx__log(TX_LOG_INFO, "ai][config", "watching %s (file events, poll every 10 s, SIGHUP)",
                c->path);
    }
    return TX_EOK;
}

tx_err_t tx__ops_set_jobs(tx_app_t *app, const tx_ops_jobs_t *jobs)
{
    tx_ops_state_t *s = tx__ops_state(app);
    if (s == NULL) return TX_ENOMEM;
    if (jobs == NULL) {
        s->has_jobs = 0;
        return TX_EOK;
    }
    s->jobs = *jobs;
    s->has_jobs = 1;
    return TX_EOK;
}

tx_obs_t *tx__ops_obs(const tx_app_t *app)
{
    tx_ops_state_t *s = app != NULL ? app->ops : NULL;
    return s != NULL ? s->obs : NULL; /* also while stopping, until the state is freed */
}

int tx__ops_require_admin(tx_app_t *app, tx_http_req_t *req)
{
    if (app == NULL || req == NULL) return 0;
    tx_ops_state_t *s = started(app);
    if (s != NULL) return tx__filter_admin(s->filters, req);
    if (tx__auth_check_admin(app->auth, tx__http_req_header(req, "authorization")) ==
        TX_AUTH_ALLOWED)
        return 1;
    tx__http_respond_error(req, 401, "invalid_request_error", "invalid_admin_token",
                           "This route needs Authorization: Bearer <TENAX_ADMIN_TOKEN>.", NULL, 0);
    return 0;
}

int tx__ops_cache_on(tx_app_t *app)
{
    tx_ops_state_t *s = started(app);
    return s != NULL && tx__filters_cache_on(s->filters);
}

int tx__ops_gateway_before(tx_app_t *app, tx_http_req_t *req, const char *route,
                           const tx_cache_req_t *cr, tx_filter_ctx_t *ctx)
{
    tx_ops_state_t *s = started(app);
    if (s == NULL) {
        tx__filter_gateway_before(NULL, NULL, NULL, NULL, 0, ctx);
        return 0;
    }
    tx_ms_t t0 = tx__app_now(app);
    int answered = tx__filter_gateway_before(s->filters, req, route, cr, t0, ctx);
    if (ctx != NULL && ctx->cache_result >= 0) tx__obs_on_cache(s->obs, ctx->cache_result);
    if (answered) {
        /* 401, 429 or a cache hit: counted here, the gateway never sees these. */
        double ms = (double)(tx__app_now(app) - t0);
        tx__obs_on_request_done(s->obs, route, ctx != NULL ? ctx->model : NULL,
                                ctx != NULL ? ctx->status : 0, ms, 0);
    }
    return answered;
}

void tx__ops_gateway_after(tx_app_t *app, const tx_filter_ctx_t *ctx, int status,
                           const tx_header_t *headers, size_t n, const char *body, size_t len)
{
    tx_ops_state_t *s = started(app);
    if (s == NULL) return;
    tx__filter_gateway_after(s->filters, ctx, status, headers, n, body, len, tx__app_now(app));
}
