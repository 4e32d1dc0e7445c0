/* The job engine inside `tenax serve`: its attempt port over the gateway's attempt primitive,
 * its start with the app's loop/store/admission, and its graceful stop as an app stop hook. */
#include "jobs/app_jobs.h"

#include <stdlib.h>
#include <string.h>

#include "gateway/attempt.h"
#include "obs/log.h"
#include "obs/observe.h"
#include "ops/ops.h"

typedef struct {
    tx_app_t *app;
    tx_jobs_attempt_cb done;
    void *ud;
    tx_gw_attempt_t *a;
} app_att_t;

static void att_done(void *ud, const tx_gw_attempt_result_t *r)
{
    app_att_t *q = ud;
    tx_jobs_attempt_t a;
    memset(&a, 0, sizeof a);
    a.c = r->info;
    a.c.cls = r->cls;
    a.status = r->status;
    a.body = r->body;
    a.len = r->body_len;
    a.latency_ms = r->latency_ms;
    char ep[16];
    snprintf(ep, sizeof ep, "%d", r->endpoint);
    a.endpoint = ep;
    a.provider = r->provider;
    tx_jobs_attempt_cb cb = q->done;
    void *cud = q->ud;
    free(q);
    cb(cud, &a);
}

static void *port_start(void *self, const char *model, const char *body, size_t len,
                        long timeout_ms, int avoid, tx_jobs_attempt_cb done, void *ud,
                        tx_classification_t *why)
{
    tx_app_t *app = self;
    app_att_t *q = calloc(1, sizeof *q);
    if (q == NULL) return NULL;
    q->app = app;
    q->done = done;
    q->ud = ud;
    tx_gw_attempt_req_t req = {.route = TX_ROUTE_CHAT,
                               .body = body,
                               .len = len,
                               .doc_model = model,
                               .model = model,
                               .timeout_ms = timeout_ms,
                               .avoid1 = avoid >= 0 ? avoid + 1 : 0};
    tx_gw_attempt_cb_t cb = {.on_done = att_done};
    q->a = tx__gw_attempt_start(app, &req, &cb, q, why);
    if (q->a == NULL) {
        free(q);
        return NULL;
    }
    return q;
}

static void port_cancel(void *self, void *handle)
{
    (void)self;
    app_att_t *q = handle;
    if (q == NULL) return;
    tx__gw_attempt_cancel(q->a);
    free(q);
}

static int port_model_available(void *self, const char *model)
{
    return tx__gw_attempt_model_available(self, model, -1);
}

static int port_retry_ok(void *self, const char *model, int endpoint)
{
    tx_app_t *app = self;
    if (endpoint < 0) {
        int cands[TX_ENDPOINTS_MAX];
        if (tx__gw_attempt_candidates(app, model, cands, NULL) == 0) return 1;
        endpoint = cands[0];
    }
    return tx__app_budget_retry(app, endpoint);
}

static void port_first_attempt(void *self, int endpoint)
{
    tx__app_budget_first(self, endpoint);
}

static int port_room(void *self, const char *model)
{
    return tx__gw_attempt_room(self, model);
}

void tx__jobs_app_port(tx_app_t *app, tx_jobs_port_t *out)
{
    if (out == NULL) return;
    out->retry_ok = port_retry_ok;
    out->first_attempt = port_first_attempt;
    out->room = port_room;
    out->start = port_start;
    out->model_available = port_model_available;
    out->cancel = port_cancel;
    out->self = app;
}

typedef struct {
    tx_app_t *app;
    void (*done)(tx_app_t *);
} stop_ctx_t;

static void stopped(void *ud)
{
    stop_ctx_t *c = ud;
    tx_app_t *app = c->app;
    void (*done)(tx_app_t *) = c->done;
    free(c);
    app->jobs = NULL;
    done(app);
}

static void stop_hook(tx_app_t *app, void *ud, void (*done)(tx_app_t *app))
{
    (void)ud;
    tx_jobs_t *e = app->jobs;
    stop_ctx_t *c = e ? malloc(sizeof *c) : NULL;
    if (c == NULL) {
        if (e) tx__log(TX_LOG_ERROR, "jobs", "out of memory at stop");
        done(app);
        return;
    }
    *c = (stop_ctx_t){app, done};
    tx__jobs_close(e, stopped, c);
}

/* Each attempt to the observer: metrics, and the quota/rate-limit/auth notifications. */
static void on_attempt(void *ud, const tx_jobs_attempt_event_t *ev)
{
    tx_app_t *app = ud;
    tx_obs_t *obs = tx__ops_obs(app);
    tx__obs_on_job_attempt(obs, ev->endpoint, ev->model, ev->cls, (double)ev->latency_ms,
                           ev->attempt, ev->delay_ms >= 0 ? (double)ev->delay_ms / 1000.0 : -1.0);
    if (ev->cls != TX_CLASS_OK && ev->delay_ms >= 0) tx__obs_on_retry(obs, ev->cls);
}

/* For diag and /metrics: what the engine holds in memory (never blocks). */
static json_t *status_json(void *ud)
{
    tx_jobs_t *e = tx__jobs_of(ud);
    if (e == NULL) return NULL;
    tx_jobs_stats_t st;
    tx__jobs_stats(e, &st);
    json_t *counts = json_object();
    if (st.counts_valid)
        for (int i = 0; i < TX_ITEM__LAST; i++)
            json_object_set_new(counts, tx__item_status_name((tx_item_status_t)i),
                                json_integer(st.by_status[i]));
    return json_pack("{s:b,s:s?,s:o,s:b,s:i,s:i,s:I,s:I,s:I,s:I}", "paused", st.paused,
                     "pauseReason", st.paused ? st.pause_reason : NULL, "counts", counts, "running",
                     1, "inFlight", (int)st.in_flight, "held", (int)st.held, "attempts",
                     (json_int_t)st.attempts, "retries", (json_int_t)st.retries, "fallbacks",
                     (json_int_t)st.fallbacks, "parked", (json_int_t)st.parked);
}

static int resume(void *ud)
{
    tx_jobs_t *e = tx__jobs_of(ud);
    if (e == NULL) return -1;
    tx_jobs_stats_t st;
    tx__jobs_stats(e, &st);
    tx__jobs_resume(e); /* also clears a pause another process persisted */
    return st.paused ? 0 : 1;
}

static struct tx_config *config_get(void *ud)
{
    return tx__app_config_get(ud);
}

tx_err_t tx__jobs_start(tx_app_t *app)
{
    if (app == NULL || app->storeq == NULL) return TX_EINVAL;
    tx_jobs_opts_t o = {.loop = app->loop,
                        .storeq = app->storeq,
                        .cfg = app->config,
                        .adm = app->admission,
                        .worker = "tenax serve",
                        .config_get = config_get,
                        .config_ud = app,
                        .on_attempt = on_attempt,
                        .ud = app};
    tx__jobs_app_port(app, &o.port);
    tx_jobs_t *e = NULL;
    tx_error_t err = {0};
    int rc = tx__jobs_open(&o, &e, &err);
    if (rc != TX_EOK) {
        tx__log(TX_LOG_ERROR, "jobs", "cannot start: %s", err.msg ? err.msg : tx_strerror(rc));
        return (tx_err_t)rc;
    }
    app->jobs = e;
    tx_ops_jobs_t lend = {.status = status_json, .resume = resume, .ud = app};
    if (tx__ops_set_jobs(app, &lend) != TX_EOK)
        tx__log(TX_LOG_WARN, "jobs", "diag and /admin/resume will not see the job engine");
    tx_err_t hr = tx__app_on_stop(app, stop_hook, NULL);
    if (hr != TX_EOK) tx__log(TX_LOG_WARN, "jobs", "no stop hook left: jobs stop with the loop");
    return TX_EOK;
}

tx_jobs_t *tx__jobs_of(const tx_app_t *app)
{
    return app ? app->jobs : NULL;
}
