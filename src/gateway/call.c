/* The gateway call (call.h): one client request through admission, attempts (attempt.h), the
 * retry policy (tx_policy_next) and waits on the loop, to exactly one answer. All transitions go
 * through set_state(); every exit goes through answer_*() then finish(). */
#include "gateway/call.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/numfmt.h"
#include "core/poison.h"
#include "core/utf8.h"
#include "gateway/attempt.h"
#include "gateway/spares.h"
#include "obs/log.h"
#include "obs/observe.h"
#include "ops/ops.h"
#include "tenax/policy.h"

/* What a call needs from its first attempt on (or when it must consult its retry schedule
 * before one): allocated then, so a call waiting for an upstream slot holds only gw_call_t. */
typedef struct {
    tx_policy_t policy;
    tx_call_state_t st;
    uv_timer_t backoff; /* initialised on the first retry that waits (backoff_open) */
    uv_timer_t drain;   /* while paused: checks whether the client caught up (drain_open) */
    unsigned backoff_open : 1, drain_open : 1;
    unsigned paused : 1;           /* reading the upstream stream is paused for a slow client */
    unsigned first_counted : 1;    /* the first attempt counted in its provider's retry budget */
    unsigned budget_exhausted : 1; /* the answer was cut short by the retry budget */
    tx_ms_t paused_at;
    tx_ms_t last_latency;
    char provider[40]; /* the provider of the current/last attempt ("" before one) */
    /* the last failure, to answer with when the call stops */
    tx_class_t last_cls;
    int last_status;
    tx_ms_t last_retry_after;
    tx_upstream_err_t last_transport;
    char *last_body;
    size_t last_body_len;
    int last_error_shape; /* the classifier's reading of last_body (TX_ERROR_SHAPE_*) */
    char last_ctype[96];
    char last_msg[384];
    char last_code[48];
} gw_run_t;

/* One call. Sized for the many that wait in the admission queue (10,000 clients behind 256
 * upstream slots): the attempts' state is in `run`, the filters' context only when a filter
 * left something for the answer. */
typedef struct {
    tx_app_t *app;
    tx_http_req_t *req; /* NULL once finished */
    tx_config_t *cfg;   /* the snapshot this call started with (own reference) */
    tx_route_kind_t route;
    tx_call_state_kind_t state;
    tx_request_t rq;     /* the validated request: its model (owned), stream */
    const char *primary; /* the request's model or AI_MODEL (borrowed from rq or cfg) */
    gw_run_t *run;       /* NULL until needed (call_run) */
    tx_adm_waiter_t waiter;
    int holding; /* an admission slot is held */
    int avoid;   /* the endpoint the next attempt moves off (-1: none) */
    tx_gw_attempt_t *attempt;
    int open_handles; /* the run's timers not closed yet */
    int endpoint;     /* endpoint of the current/last attempt, -1 before one */
    tx_ms_t t0;
    tx_ms_t deadline_ms; /* the whole call's, from t0 (AI_DEADLINE_MS or the client's shorter) */
    const char *model;   /* model of the current/last attempt (NULL: none, e.g. /v1/models) */
    /* ops: client key, rate limit, cache (a copy of what tx__ops_gateway_before filled, when it
     * gave the answer headers or a cache store to do; NULL otherwise) */
    tx_filter_ctx_t *filter;
    tx_ms_t upstream_ms; /* attempts + queue waits + backoff waits */
    tx_ms_t queued_at;
} gw_call_t;

static const char *const state_names[TX_CALL__LAST] = {"queued",    "connecting", "waiting",
                                                       "streaming", "backoff",    "done"};

const char *tx__call_state_name(tx_call_state_kind_t s)
{
    return (unsigned)s < TX_CALL__LAST ? state_names[s] : "unknown";
}

int tx__call_transition_ok(tx_call_state_kind_t from, tx_call_state_kind_t to)
{
    /* rows: from; bits: allowed to */
#define B(x) (1u << TX_CALL_##x)
    static const unsigned allowed[TX_CALL__LAST] = {
        [TX_CALL_QUEUED] = B(CONNECTING) | B(BACKOFF) | B(DONE),
        [TX_CALL_CONNECTING] = B(WAITING) | B(STREAMING) | B(BACKOFF) | B(QUEUED) | B(DONE),
        [TX_CALL_WAITING] = B(STREAMING) | B(BACKOFF) | B(QUEUED) | B(DONE),
        [TX_CALL_STREAMING] = B(DONE),
        [TX_CALL_BACKOFF] = B(QUEUED) | B(CONNECTING) | B(DONE),
        [TX_CALL_DONE] = 0,
    };
#undef B
    if ((unsigned)from >= TX_CALL__LAST || (unsigned)to >= TX_CALL__LAST) return 0;
    return (allowed[from] >> to) & 1u;
}

static void set_state(gw_call_t *c, tx_call_state_kind_t to)
{
    if (c->state == to) return;
    if (!tx__call_transition_ok(c->state, to))
        tx__log(TX_LOG_ERROR, "gateway", "bad call transition %s -> %s", state_names[c->state],
                tx__call_state_name(to));
    if (tx__log_enabled(TX_LOG_DEBUG))
        tx__log(TX_LOG_DEBUG, "gateway][call", "%p %s -> %s", (void *)c, state_names[c->state],
                tx__call_state_name(to));
    c->state = to;
}

/* --- memory ------------------------------------------------------------------------------ */

/* A call is large (> 1 KiB: malloc would consolidate its fast bins for each), so finished ones
 * are kept on the gateway's spares when there are some. */
static gw_call_t *call_alloc(tx_app_t *app)
{
    tx_gw_spares_t *g = tx__gw_spares(app);
    gw_call_t *c = tx__freelist_take(g != NULL ? &g->calls : NULL);
    if (c == NULL) return calloc(1, sizeof(gw_call_t));
    tx_unpoison(c, sizeof *c);
    memset(c, 0, sizeof *c);
    return c;
}

static void call_release(tx_app_t *app, gw_call_t *c)
{
    tx_gw_spares_t *g = tx__gw_spares(app);
    if (c->run != NULL) {
        free(c->run->last_body);
        if (tx__freelist_put(g != NULL ? &g->runs : NULL, c->run))
            tx_poison(c->run, sizeof *c->run);
        else
            free(c->run);
    }
    free(c->filter);
    if (tx__freelist_put(g != NULL ? &g->calls : NULL, c))
        tx_poison(c, sizeof *c); /* kept: a use from now on is reported under ASan */
    else
        free(c);
}

static void build_policy(const gw_call_t *c, tx_policy_t *p);

/* The call's run state, made on first need: its retry policy built and started at the call's
 * start (so the schedule and the deadline count from there). NULL on out of memory; a policy
 * that cannot start leaves st.done set (the caller answers 500 bad_policy). */
static gw_run_t *call_run(gw_call_t *c)
{
    if (c->run != NULL) return c->run;
    tx_gw_spares_t *g = tx__gw_spares(c->app);
    gw_run_t *r = tx__freelist_take(g != NULL ? &g->runs : NULL);
    if (r != NULL)
        tx_unpoison(r, sizeof *r);
    else if ((r = malloc(sizeof *r)) == NULL)
        return NULL;
    memset(r, 0, sizeof *r);
    c->run = r;
    build_policy(c, &r->policy);
    if (tx_policy_start(&r->policy, &r->st, c->t0) != TX_EOK) r->st.done = 1;
    return r;
}

/* Attempts so far: 1 before the run exists (what starting the policy gives). */
static unsigned call_attempts(const gw_call_t *c)
{
    return c->run != NULL ? c->run->st.attempts : 1;
}

/* A run timer, initialised on its first use (it is closed with the call). */
static uv_timer_t *run_timer(gw_call_t *c, int drain)
{
    gw_run_t *r = c->run;
    uv_timer_t *t = drain ? &r->drain : &r->backoff;
    if (drain ? !r->drain_open : !r->backoff_open) {
        uv_timer_init(c->app->loop, t);
        t->data = c;
        c->open_handles++;
        if (drain)
            r->drain_open = 1;
        else
            r->backoff_open = 1;
    }
    return t;
}

/* --- teardown ---------------------------------------------------------------------------- */

static void call_free(gw_call_t *c)
{
    tx__request_free(&c->rq);
    tx__config_unref(c->cfg);
    c->app->calls--;
    call_release(c->app, c);
}

static void on_handle_closed(uv_handle_t *h)
{
    gw_call_t *c = h->data;
    if (--c->open_handles == 0) call_free(c);
}

/* Releases everything but the request (already finished) and frees the call: now, or once the
 * run's timers are closed when it opened some. Callers touch nothing of the call after it. */
static void call_end(gw_call_t *c)
{
    tx_app_t *app = c->app;
    set_state(c, TX_CALL_DONE);
    if (c->attempt != NULL) {
        tx__gw_attempt_cancel(c->attempt);
        c->attempt = NULL;
    }
    if (c->waiter.queued) tx__admission_cancel(app->admission, &c->waiter);
    if (c->holding) {
        c->holding = 0;
        tx__admission_release(app->admission, tx__app_now(app));
    }
    if (c->req != NULL) tx__http_req_set_deadline(c->req, 0, NULL, NULL);
    gw_run_t *r = c->run;
    if (r != NULL) {
        r->paused = 0;
        if (r->backoff_open) uv_close((uv_handle_t *)&r->backoff, on_handle_closed);
        if (r->drain_open) uv_close((uv_handle_t *)&r->drain, on_handle_closed);
    }
    if (c->open_handles == 0) call_free(c);
}

/* call_end from inside an attempt's callback after which the attempt still reads what the call
 * lent it (its model, on refusing a stream): the call is freed once a run timer has closed, on
 * the next loop turn, not now. */
static void call_end_after_attempt(gw_call_t *c)
{
    if (c->run != NULL) run_timer(c, 0);
    call_end(c);
}

/* --- answers ----------------------------------------------------------------------------- */

/* Room for the X-Tenax-* headers, the filters' headers and a few of our own. */
#define MAX_ANSWER_HEADERS 16

typedef struct {
    char attempts[TX_NUMFMT_MAX], endpoint[TX_NUMFMT_MAX];
} tx_hdrbuf_t;

static void observe_done(gw_call_t *c, int status)
{
    tx_obs_t *obs = tx__ops_obs(c->app);
    if (obs == NULL) return;
    tx_ms_t total = tx__app_now(c->app) - c->t0;
    tx__obs_on_request_done(obs, tx__route_path(c->route), c->primary, status, (double)total,
                            (double)(c->upstream_ms < total ? c->upstream_ms : total));
}

static size_t tenax_headers(gw_call_t *c, tx_header_t *h, tx_hdrbuf_t *b)
{
    size_t n = 0;
    size_t nf = 0;
    const tx_header_t *fh = tx__filter_headers(c->filter, &nf);
    for (size_t i = 0; i < nf && i < 6; i++)
        h[n++] = fh[i];
    tx__fmt_i64(b->attempts, call_attempts(c));
    h[n++] = (tx_header_t){"X-Tenax-Attempts", b->attempts};
    if (c->model != NULL) h[n++] = (tx_header_t){"X-Tenax-Model", c->model};
    if (c->endpoint >= 0) {
        tx__fmt_i64(b->endpoint, c->endpoint);
        h[n++] = (tx_header_t){"X-Tenax-Endpoint", b->endpoint};
    }
    if (c->run != NULL && c->run->provider[0] != '\0')
        h[n++] = (tx_header_t){"X-Tenax-Provider", c->run->provider};
    if (c->run != NULL && c->run->budget_exhausted)
        h[n++] = (tx_header_t){"X-Tenax-Retry-Budget", "exhausted"};
    return n;
}

/* The first header called `name` (its first letter compared before the whole name). */
static const char *find_header(const tx_header_t *h, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if ((h[i].name[0] | 0x20) == (name[0] | 0x20) && strcasecmp(h[i].name, name) == 0)
            return h[i].value;
    return NULL;
}

/* Appends "Retry-After: <seconds, rounded up>" to h[0..n) when retry_after_ms > 0 (the value
 * written into ra); the new count. */
static size_t add_retry_after(tx_header_t *h, size_t n, char *ra, size_t cap,
                              tx_ms_t retry_after_ms)
{
    if (retry_after_ms <= 0) return n;
    snprintf(ra, cap, "%lld", (long long)((retry_after_ms + 999) / 1000));
    h[n] = (tx_header_t){"Retry-After", ra};
    return n + 1;
}

static void finish_error(gw_call_t *c, int status, const char *type, const char *code,
                         const char *msg, tx_ms_t retry_after_ms)
{
    tx_header_t h[MAX_ANSWER_HEADERS];
    tx_hdrbuf_t b;
    size_t n = tenax_headers(c, h, &b);
    char ra[24];
    n = add_retry_after(h, n, ra, sizeof ra, retry_after_ms);
    tx__http_respond_error(c->req, status, type, code, msg, h, n);
    c->req = NULL;
    observe_done(c, status);
    call_end(c);
}

/* Makes c->run->last_body an OpenAI-style error when it is a JSON error object: as it is when it
 * has message and type, else with a "type" added (Azure omits it). 0 when it is not one. The
 * classifier's parse of the body said which (no second parse), except in the Azure case, where
 * the body is re-serialised with the type added. */
static int openai_style(gw_call_t *c)
{
    if (c->run->last_error_shape == TX_ERROR_SHAPE_NONE ||
        !tx__utf8_valid(c->run->last_body, c->run->last_body_len))
        return 0;
    if (c->run->last_error_shape == TX_ERROR_SHAPE_OPENAI) return 1;
    json_t *root = json_loadb(c->run->last_body, c->run->last_body_len, 0, NULL);
    json_t *e = json_object_get(root, "error");
    int ok = json_is_object(e) && json_is_string(json_object_get(e, "message"));
    if (ok && json_object_get(e, "type") == NULL) {
        const char *type = c->run->last_status >= 500 ? "server_error" : "invalid_request_error";
        char *s = NULL;
        if (json_object_set_new(e, "type", json_string(type)) == 0 &&
            (s = json_dumps(root, JSON_COMPACT)) != NULL) {
            free(c->run->last_body);
            c->run->last_body = s;
            c->run->last_body_len = strlen(s);
            snprintf(c->run->last_ctype, sizeof c->run->last_ctype, "%s", "application/json");
        } else {
            ok = 0;
        }
    }
    json_decref(root);
    return ok;
}

/* Answers with the last failure: the provider's status and error body when it answered with
 * one, else our own OpenAI-style error saying what happened. */
static void answer_last(gw_call_t *c, tx_ms_t retry_after_ms)
{
    char msg[512];
    if (c->run->last_status == 0) {
        int timeout = c->run->last_cls == TX_CLASS_TIMEOUT;
        snprintf(msg, sizeof msg, "%s after %u attempt%s: %s",
                 timeout ? "the upstream did not answer in time"
                         : "the upstream could not be reached",
                 c->run->st.attempts, c->run->st.attempts == 1 ? "" : "s", c->run->last_msg);
        finish_error(c, timeout ? 504 : 502, timeout ? "timeout" : "upstream_error",
                     tx_class_name(c->run->last_cls), msg, 0);
        return;
    }
    if (c->run->last_status < 200 || c->run->last_status > 299) {
        if (c->run->last_body_len > 0 && c->run->last_body[0] == '{' && openai_style(c)) {
            tx_header_t h[MAX_ANSWER_HEADERS];
            tx_hdrbuf_t b;
            size_t n = tenax_headers(c, h, &b);
            char ra[24];
            n = add_retry_after(h, n, ra, sizeof ra, retry_after_ms);
            h[n++] = (tx_header_t){"Content-Type",
                                   c->run->last_ctype[0] ? c->run->last_ctype : "application/json"};
            tx__http_respond(c->req, c->run->last_status, h, n, c->run->last_body,
                             c->run->last_body_len);
            c->req = NULL;
            observe_done(c, c->run->last_status);
            call_end(c);
            return;
        }
        finish_error(c, c->run->last_status, "upstream_error",
                     c->run->last_code[0] ? c->run->last_code : tx_class_name(c->run->last_cls),
                     c->run->last_msg[0] ? c->run->last_msg : "the upstream answered with an error",
                     retry_after_ms);
        return;
    }
    /* a 2xx that carried an error or no usable content */
    snprintf(msg, sizeof msg, "the upstream answered %d with %s: %s", c->run->last_status,
             tx_class_name(c->run->last_cls), c->run->last_msg);
    finish_error(c, 502, "upstream_error", tx_class_name(c->run->last_cls), msg, retry_after_ms);
}

/* --- the loop ---------------------------------------------------------------------------- */

static void acquire(gw_call_t *c);

/* Keeps the provider's name (a call may outlive the config it came from); no snprintf on the
 * hot path. */
static void set_provider(gw_call_t *c, const char *name)
{
    size_t n = name != NULL ? strnlen(name, sizeof c->run->provider - 1) : 0;
    memcpy(c->run->provider, name != NULL ? name : "", n);
    c->run->provider[n] = '\0';
}

/* When every endpoint serving the attempt's model is down for it, the attempt moves to the next
 * model of the chain that has a healthy endpoint, at once and without spending an attempt; with
 * the whole chain down it stays (the endpoint back soonest is tried). */
static void skip_down_models(gw_call_t *c)
{
    if (c->route == TX_ROUTE_MODELS || c->model == NULL ||
        tx__gw_attempt_model_available(c->app, c->model, -1) || call_run(c) == NULL ||
        c->run->st.done)
        return; /* (without memory for the run, the attempt goes to the model as it is) */
    const tx_schedule_t *s = &c->run->policy.schedule;
    unsigned nm = tx_schedule_models(s);
    for (unsigned idx = c->run->st.model_idx + 1; idx < nm; idx++) {
        const char *m = tx_schedule_model_name(s, idx);
        if (m == NULL || !tx__gw_attempt_model_available(c->app, m, -1)) continue;
        tx__log(TX_LOG_INFO, "ai][route", "model=%s is down on every endpoint serving it: %s next",
                c->model, m);
        c->run->st.model_idx = idx;
        c->run->st.on_model = 1;
        c->model = m;
        return;
    }
}

static void on_backoff_done(uv_timer_t *t)
{
    gw_call_t *c = t->data;
    acquire(c);
}

static void remember_failure(gw_call_t *c, const tx_gw_attempt_result_t *r)
{
    c->run->last_cls = r->cls;
    /* an answer that arrived (even cut for size) keeps its status; no answer is status 0 */
    c->run->last_status =
        (r->transport == TX_UPSTREAM_EOK || r->cls == TX_CLASS_INVALID_RESPONSE) ? r->status : 0;
    c->run->last_retry_after = r->info.retry_after_ms;
    if (r->info.retry_after_ms >= 0) /* the dashboard's "last Retry-After" (GET /admin/stats) */
        tx__obs_on_retry_after(tx__ops_obs(c->app), r->endpoint, (double)r->info.retry_after_ms);
    c->run->last_transport = r->transport;
    snprintf(c->run->last_msg, sizeof c->run->last_msg, "%s", r->info.message);
    snprintf(c->run->last_code, sizeof c->run->last_code, "%s", r->info.code);
    free(c->run->last_body);
    c->run->last_body = NULL;
    c->run->last_body_len = 0;
    c->run->last_error_shape = r->info.error_shape;
    c->run->last_ctype[0] = '\0';
    if (r->body_len > 0 && (c->run->last_body = malloc(r->body_len)) != NULL) {
        memcpy(c->run->last_body, r->body, r->body_len);
        c->run->last_body_len = r->body_len;
    }
    const char *ct = find_header(r->headers, r->nheaders, "Content-Type");
    if (ct != NULL) snprintf(c->run->last_ctype, sizeof c->run->last_ctype, "%s", ct);
}

/* An attempt failed (class in c->run->last_*): ask the policy what next. */
static void decide(gw_call_t *c)
{
    tx_app_t *app = c->app;
    tx_outcome_t o = {c->run->last_cls,
                      c->run->last_retry_after > 0 ? c->run->last_retry_after : 0};
    tx_decision_t d;
    tx_ms_t now = tx__app_now(app);
    int failed_n = (int)c->run->st.attempts; /* the attempt just reported */
    if (tx_policy_next(&c->run->policy, &c->run->st, &o, now, &app->rng, &d) != TX_EOK) {
        answer_last(c, 0);
        return;
    }
    if (d.action == TX_ACT_RETRY && !tx__app_budget_retry(app, c->endpoint)) {
        /* the provider's retry budget is spent: the failure is answered as it is (the policy
         * counted the retry that does not happen) */
        c->run->budget_exhausted = 1;
        c->run->st.attempts = (unsigned)failed_n;
        tx__obs_on_attempt(tx__ops_obs(app), c->endpoint, c->model, c->run->last_cls,
                           (double)c->run->last_latency, failed_n, -1);
        answer_last(
            c, (c->run->last_cls == TX_CLASS_RATE_LIMIT || c->run->last_cls == TX_CLASS_CONCURRENCY)
                   ? c->run->last_retry_after
                   : 0);
        return;
    }
    if (d.action == TX_ACT_RETRY) {
        const char *next = c->route == TX_ROUTE_MODELS ? NULL : d.model;
        if (next == NULL && c->route != TX_ROUTE_MODELS) next = c->primary;
        const char *failed_model = c->model;
        c->model = next;
        skip_down_models(c);
        next = c->model;
        /* after a failure that counts toward failover, or a push-back, the next attempt moves
         * to another endpoint serving the model when one is healthy: at once, as the wait was
         * for the one that failed */
        c->avoid = -1;
        if (c->endpoint >= 0 &&
            (tx_class_counts_failover(c->run->last_cls) ||
             c->run->last_cls == TX_CLASS_RATE_LIMIT || c->run->last_cls == TX_CLASS_CONCURRENCY)) {
            c->avoid = c->endpoint;
            if (tx__gw_attempt_model_available(app, next, c->endpoint)) d.delay_ms = 0;
        }
        if (tx__log_enabled(TX_LOG_INFO))
            tx__log(TX_LOG_INFO, "ai][retry",
                    "attempt=%u model=%s endpoint=%d class=%s delay_ms=%lld", d.attempt,
                    next != NULL ? next : "-", c->endpoint, tx_class_name(d.cls),
                    (long long)d.delay_ms);
        tx_obs_t *obs = tx__ops_obs(app);
        tx__obs_on_attempt(obs, c->endpoint, failed_model, c->run->last_cls,
                           (double)c->run->last_latency, failed_n, (double)d.delay_ms / 1000.0);
        tx__obs_on_retry(obs, d.cls);
        c->upstream_ms += d.delay_ms;
        set_state(c, TX_CALL_BACKOFF);
        if (d.delay_ms <= 0)
            acquire(c);
        else
            uv_timer_start(run_timer(c, 0), on_backoff_done, (uint64_t)d.delay_ms, 0);
        return;
    }
    /* STOP */
    tx__obs_on_attempt(tx__ops_obs(app), c->endpoint, c->model, c->run->last_cls,
                       (double)c->run->last_latency, failed_n, -1);
    if (d.reason == TX_REASON_RETRY_AFTER_TOO_LONG) {
        answer_last(c, d.delay_ms);
        return;
    }
    answer_last(
        c, (c->run->last_cls == TX_CLASS_RATE_LIMIT || c->run->last_cls == TX_CLASS_CONCURRENCY)
               ? d.retry_after_ms
               : 0);
}

static void release_slot(gw_call_t *c)
{
    if (c->holding) {
        c->holding = 0;
        tx__admission_release(c->app->admission, tx__app_now(c->app));
    }
}

static void on_attempt_head(void *ud, int status)
{
    (void)status;
    gw_call_t *c = ud;
    if (c->state == TX_CALL_CONNECTING) set_state(c, TX_CALL_WAITING);
}

static int on_stream_start(void *ud, int status, const tx_header_t *uh, size_t nuh)
{
    gw_call_t *c = ud;
    if (c->req == NULL || tx__http_req_aborted(c->req)) {
        /* the abort path cancels the attempt first, so this is a safety net: the attempt ends
         * without on_done when we refuse */
        c->attempt = NULL;
        release_slot(c);
        if (c->state != TX_CALL_DONE) call_end_after_attempt(c);
        return 1;
    }
    /* the stream's gaps are bounded by the attempt timeout */
    tx__http_req_set_deadline(c->req, 0, NULL, NULL);
    set_state(c, TX_CALL_STREAMING);
    tx_header_t h[MAX_ANSWER_HEADERS];
    tx_hdrbuf_t b;
    size_t n = tenax_headers(c, h, &b);
    const char *ct = find_header(uh, nuh, "Content-Type");
    h[n++] = (tx_header_t){"Content-Type", ct != NULL ? ct : "text/event-stream"};
    h[n++] = (tx_header_t){"Cache-Control", "no-cache"};
    if (tx__http_stream_begin(c->req, status, h, n) != TX_EOK) {
        c->attempt = NULL;
        release_slot(c);
        tx__http_respond_error(c->req, 500, "server_error", NULL, "the stream could not start",
                               NULL, 0);
        c->req = NULL;
        call_end_after_attempt(c);
        return 1;
    }
    return 0;
}

/* Back-pressure on a relayed stream: when more than STREAM_HIGH bytes wait for a slow client,
 * reading the upstream pauses (nothing is lost: the client keeps what it has, the provider's socket
 * fills) and resumes once the client is down to STREAM_LOW. The check runs every
 * STREAM_DRAIN_MS while paused, from the loop, outside any client or write callback. */
#define STREAM_HIGH (1u << 20)
#define STREAM_LOW (256u << 10)
#define STREAM_DRAIN_MS 5

static void on_drain_check(uv_timer_t *t)
{
    gw_call_t *c = t->data;
    if (!c->run->paused || c->req == NULL || c->attempt == NULL) {
        c->run->paused = 0;
        uv_timer_stop(t);
        return;
    }
    if (tx__http_stream_pending(c->req) > STREAM_LOW) return;
    c->run->paused = 0;
    uv_timer_stop(t);
    if (tx__log_enabled(TX_LOG_INFO))
        tx__log(TX_LOG_INFO, "ai][stream", "resumed: the client caught up after %lld ms",
                (long long)(tx__app_now(c->app) - c->run->paused_at));
    tx__gw_attempt_pause(c->attempt,
                         0); /* may hand over kept bytes at once: on_stream_data again */
}

static void on_stream_data(void *ud, const char *data, size_t len)
{
    gw_call_t *c = ud;
    if (c->req == NULL || len == 0) return;
    tx__http_stream_write(c->req, data, len);
    size_t pending = tx__http_stream_pending(c->req);
    if (c->run->paused || pending <= STREAM_HIGH || c->attempt == NULL ||
        tx__gw_attempt_pause(c->attempt, 1) != TX_EOK)
        return;
    c->run->paused = 1;
    c->run->paused_at = tx__app_now(c->app);
    uv_timer_start(run_timer(c, 1), on_drain_check, STREAM_DRAIN_MS, STREAM_DRAIN_MS);
    if (tx__log_enabled(TX_LOG_INFO))
        tx__log(TX_LOG_INFO, "ai][stream", "paused: the client is slow (%zu bytes waiting for it)",
                pending);
}

static void on_attempt_done(void *ud, const tx_gw_attempt_result_t *r)
{
    gw_call_t *c = ud;
    c->attempt = NULL;
    if (r->endpoint >= 0) {
        c->endpoint = r->endpoint;
        set_provider(c, r->provider);
    }
    c->run->last_latency = r->latency_ms;
    c->upstream_ms += r->latency_ms;
    release_slot(c);
    if (r->cls == TX_CLASS_OK) {
        tx_obs_t *obs = tx__ops_obs(c->app);
        tx__obs_on_attempt(obs, r->endpoint, c->model, TX_CLASS_OK, (double)r->latency_ms,
                           (int)c->run->st.attempts, -1);
        if (r->prompt_tokens >= 0 || r->completion_tokens >= 0)
            tx__obs_on_usage(obs, c->model != NULL ? c->model : "", r->prompt_tokens,
                             r->completion_tokens);
    }
    if (r->committed) {
        if (r->cls != TX_CLASS_OK && c->req != NULL) {
            /* after the first byte a failure can only end the stream with an error event */
            json_t *e = json_pack("{s:{s:s,s:s,s:s}}", "error", "message", r->info.message, "type",
                                  r->cls == TX_CLASS_TIMEOUT ? "timeout" : "upstream_error", "code",
                                  tx_class_name(r->cls));
            char *s = e != NULL ? json_dumps(e, JSON_COMPACT) : NULL;
            json_decref(e);
            if (s != NULL) {
                size_t bl = strlen(s) + 32;
                char *ev = malloc(bl);
                if (ev != NULL) {
                    int n = snprintf(ev, bl, "event: error\ndata: %s\n\n", s);
                    tx__http_stream_write(c->req, ev, (size_t)n);
                    free(ev);
                }
                free(s);
            }
        }
        if (c->req != NULL) {
            tx__http_stream_end(c->req);
            observe_done(c, 200);
        }
        c->req = NULL;
        call_end(c);
        return;
    }
    if (r->cls == TX_CLASS_OK) {
        tx_header_t h[MAX_ANSWER_HEADERS];
        tx_hdrbuf_t b;
        size_t n = tenax_headers(c, h, &b);
        const char *ct = find_header(r->headers, r->nheaders, "Content-Type");
        h[n++] = (tx_header_t){"Content-Type", ct != NULL ? ct : "application/json"};
        tx__http_respond(c->req, r->status, h, n, r->body, r->body_len);
        c->req = NULL;
        tx__ops_gateway_after(c->app, c->filter, r->status, h, n, r->body, r->body_len);
        observe_done(c, r->status);
        call_end(c);
        return;
    }
    remember_failure(c, r);
    decide(c);
}

/* 1 when an attempt could send the client's Authorization: an endpoint has no key of its own
 * (the attempt sends the endpoint's key otherwise) and tenax's own client keys are off (never
 * leak those upstream). */
static int may_pass_client_auth(const gw_call_t *c)
{
    if (c->cfg->client_keys.n != 0) return 0;
    const tx_config_t *cfg = c->app->config;
    for (size_t i = 0; i < cfg->n_route_eps; i++)
        if (cfg->route_eps[i].auth_value == NULL &&
            cfg->providers.v[cfg->route_eps[i].provider].implicit)
            return 1;
    return 0;
}

static void start_attempt(gw_call_t *c)
{
    tx_app_t *app = c->app;
    gw_run_t *run = call_run(c);
    if (run == NULL || run->st.done) {
        release_slot(c);
        if (run == NULL)
            finish_error(c, 500, "server_error", NULL, "out of memory", 0);
        else
            finish_error(c, 500, "server_error", "bad_policy", "the retry policy is invalid", 0);
        return;
    }
    set_state(c, TX_CALL_CONNECTING);
    tx_gw_attempt_req_t ar = {
        .route = c->route,
        .body = NULL,
        .len = 0,
        .doc_model = c->rq.model,
        .model = c->route == TX_ROUTE_MODELS ? NULL : c->model,
        .client_auth =
            may_pass_client_auth(c) ? tx__http_req_header(c->req, "Authorization") : NULL,
        .timeout_ms = (long)c->cfg->ai_timeout_ms,
        .stream = c->rq.stream,
        .max_response_bytes = 0,
        .avoid1 = c->avoid + 1,
    };
    ar.body = tx__http_req_body(c->req, &ar.len);
    static const tx_gw_attempt_cb_t cb = {on_attempt_head, on_stream_start, on_stream_data,
                                          on_attempt_done};
    tx_classification_t why;
    c->attempt = tx__gw_attempt_start(app, &ar, &cb, c, &why);
    if (c->attempt != NULL) {
        /* the headers of a stream go out before on_done: name the endpoint now */
        c->endpoint = tx__gw_attempt_endpoint(c->attempt);
        set_provider(c, tx__gw_attempt_provider(c->attempt));
        if (!c->run->first_counted) {
            c->run->first_counted = 1;
            tx__app_budget_first(app, c->endpoint);
        }
    }
    if (c->attempt == NULL) {
        release_slot(c);
        tx_gw_attempt_result_t r;
        memset(&r, 0, sizeof r);
        r.cls = why.cls;
        r.info = why;
        r.transport = TX_UPSTREAM_EOTHER;
        r.endpoint = c->endpoint;
        remember_failure(c, &r);
        decide(c);
    }
}

static void on_grant(tx_adm_waiter_t *w, void *ud)
{
    (void)w;
    gw_call_t *c = ud;
    c->holding = 1;
    tx_ms_t waited = tx__app_now(c->app) - c->queued_at;
    c->upstream_ms += waited;
    tx__obs_on_queue_wait(tx__ops_obs(c->app), (double)waited);
    start_attempt(c);
}

/* The admission's room callback: an endpoint serving the call's model is below its adaptive
 * limit. */
static int call_room(tx_adm_waiter_t *w, void *ud)
{
    (void)w;
    gw_call_t *c = ud;
    return tx__gw_attempt_room(c->app, c->model);
}

static void acquire(gw_call_t *c)
{
    tx_app_t *app = c->app;
    if (app->stopping) {
        finish_error(c, 503, "unavailable", "shutting_down", "tenax is shutting down", 1000);
        return;
    }
    tx_adm_result_t r = tx__admission_acquire_room(app->admission, TX_ADM_GATEWAY, &c->waiter,
                                                   on_grant, c, call_room, tx__app_now(app));
    if (r == TX_ADM_GRANTED) {
        c->holding = 1;
        tx__obs_on_queue_wait(tx__ops_obs(app), 0);
        start_attempt(c);
    } else if (r == TX_ADM_QUEUED) {
        c->queued_at = tx__app_now(app);
        set_state(c, TX_CALL_QUEUED);
    } else {
        finish_error(c, 503, "queue_full", "queue_full",
                     "too many requests are waiting for an upstream slot; retry later", 1000);
    }
}

static void on_deadline(tx_http_req_t *req, void *ud)
{
    (void)req;
    gw_call_t *c = ud;
    if (c->req == NULL || c->state == TX_CALL_STREAMING || c->state == TX_CALL_DONE) return;
    if (c->state == TX_CALL_BACKOFF && c->run != NULL && c->run->st.attempts > 0 &&
        c->run->last_cls != TX_CLASS_OK) {
        if (c->run->backoff_open) uv_timer_stop(&c->run->backoff);
        answer_last(c, c->run->last_retry_after);
        return;
    }
    if (c->attempt != NULL) {
        tx__gw_attempt_cancel(c->attempt);
        c->attempt = NULL;
        release_slot(c);
        tx__log(TX_LOG_WARN, "ai][timeout", "deadline endpoint=%d model=%s after_ms=%lld",
                c->endpoint, c->model != NULL ? c->model : "-",
                (long long)(tx__app_now(c->app) - c->t0));
    }
    char msg[160];
    snprintf(msg, sizeof msg, "the request's deadline of %lld ms passed %s",
             (long long)c->deadline_ms,
             c->state == TX_CALL_QUEUED ? "while it waited for an upstream slot"
                                        : "before the upstream answered");
    finish_error(c, 504, "timeout", "deadline_exceeded", msg, 0);
}

static void on_abort(tx_http_req_t *req, void *ud)
{
    gw_call_t *c = ud;
    if (c->req == NULL) return;
    if (c->run != NULL && c->run->backoff_open) uv_timer_stop(&c->run->backoff);
    tx__http_req_set_deadline(req, 0, NULL, NULL);
    if (c->attempt != NULL) {
        tx__gw_attempt_cancel(c->attempt);
        c->attempt = NULL;
    }
    release_slot(c);
    tx__log(TX_LOG_DEBUG, "gateway", "client went away (class aborted) after %u attempts",
            call_attempts(c));
    if (c->state == TX_CALL_STREAMING)
        tx__http_stream_end(c->req);
    else
        tx__http_respond(c->req, 499, NULL, 0, NULL, 0); /* nothing is sent */
    c->req = NULL;
    call_end(c);
}

/* --- entry ------------------------------------------------------------------------------- */

/* GET /v1/models when the providers name their models: the names clients may use, each once,
 * answered here. 0 when every provider serves "*" only (then the upstream's list is relayed). */
static int answer_models(gw_call_t *c)
{
    const tx_config_t *cfg = c->app->config;
    json_t *names = tx__config_model_names(cfg);
    if (names == NULL || json_array_size(names) == 0) {
        json_decref(names);
        return 0;
    }
    json_t *data = json_array();
    size_t i;
    json_t *n;
    json_array_foreach(names, i, n)
    {
        tx_config_route_t r;
        const char *owner = tx__config_resolve(cfg, json_string_value(n), &r, 1) > 0
                                ? cfg->providers.v[r.provider].name
                                : "tenax";
        json_array_append_new(data, json_pack("{s:O,s:s,s:i,s:s}", "id", n, "object", "model",
                                              "created", 0, "owned_by", owner));
    }
    json_decref(names);
    json_t *doc = json_pack("{s:s,s:o}", "object", "list", "data", data);
    char *body = doc != NULL ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    if (body == NULL) {
        finish_error(c, 500, "server_error", NULL, "out of memory", 0);
        return 1;
    }
    tx_header_t h[MAX_ANSWER_HEADERS];
    tx_hdrbuf_t b;
    size_t nh = tenax_headers(c, h, &b);
    h[nh++] = (tx_header_t){"Content-Type", "application/json"};
    tx__http_respond(c->req, 200, h, nh, body, strlen(body));
    free(body);
    c->req = NULL;
    observe_done(c, 200);
    call_end(c);
    return 1;
}

static tx_ms_t client_deadline(tx_http_req_t *req)
{
    const char *v = tx__http_req_header(req, "X-Tenax-Deadline-Ms");
    if (v == NULL) return 0;
    char *end = NULL;
    long long ms = strtoll(v, &end, 10);
    if (end == v || *end != '\0' || ms <= 0) return 0;
    return (tx_ms_t)ms;
}

/* The call's retry policy (its deadline is c->deadline_ms, from the start). */
static void build_policy(const gw_call_t *c, tx_policy_t *p)
{
    const tx_config_t *cfg = c->cfg;
    tx_policy_init(p, c->primary);
    tx_schedule_t *s = &p->schedule;
    s->retry_max = (unsigned)cfg->ai_retry_max;
    s->fallback_attempts = (unsigned)cfg->ai_fallback_attempts;
    s->n_fallbacks = 0;
    if (c->route != TX_ROUTE_MODELS) {
        for (size_t i = 0; i < cfg->ai_fallback_models.n && i < TX_SCHEDULE_MAX_FALLBACKS; i++)
            s->fallbacks[s->n_fallbacks++] = cfg->ai_fallback_models.v[i];
    }
    p->backoff.kind = TX_BACKOFF_EXPONENTIAL;
    p->backoff.jitter = cfg->ai_retry_jitter;
    p->backoff.base_ms = cfg->ai_retry_delay_ms;
    p->backoff.cap_ms = cfg->ai_retry_max_delay_ms;
    p->retry_after_max_ms = cfg->ai_retry_after_max_ms;
    p->deadline_ms = c->deadline_ms;
}

void tx__call_start(tx_app_t *app, tx_http_req_t *req, tx_route_kind_t route)
{
    if (app->stopping) {
        tx__http_respond_error(req, 503, "unavailable", "shutting_down", "tenax is shutting down",
                               NULL, 0);
        return;
    }
    gw_call_t *c = call_alloc(app);
    if (c == NULL) {
        tx__http_respond_error(req, 500, "server_error", NULL, "out of memory", NULL, 0);
        return;
    }
    /* One parse of the body: validation, and the cache key when the cache is on. Then ops:
     * client key (401), rate limit (429), cache hit — answered there, before a 400 for the body
     * (a client without a key learns nothing about its body). */
    size_t len = 0;
    const char *body = tx__http_req_body(req, &len);
    tx_request_t rq;
    tx_request_reject_t rej;
    tx_cache_req_t cr;
    tx_filter_ctx_t fc;
    int keyed = route != TX_ROUTE_MODELS && tx__ops_cache_on(app);
    int bad = tx__request_parse_keyed(route, body, len, (size_t)app->config->max_body_bytes,
                                      tx__route_path(route), app->config->ai_model,
                                      keyed ? &cr : NULL, &rq, &rej) != 0;
    if (tx__ops_gateway_before(app, req, tx__route_path(route), keyed ? &cr : NULL, &fc)) {
        if (!bad) tx__request_free(&rq);
        call_release(app, c);
        return;
    }
    if (!bad && tx__filter_ctx_needed(&fc) && (c->filter = tx__filter_ctx_dup(&fc)) == NULL) {
        tx__request_free(&rq);
        call_release(app, c);
        tx__http_respond_error(req, 500, "server_error", NULL, "out of memory", NULL, 0);
        return;
    }
    if (bad) {
        size_t nf = 0;
        const tx_header_t *fh = tx__filter_headers(&fc, &nf);
        tx__http_respond_error(req, rej.status, rej.type, rej.code, rej.message, fh, nf);
        tx__obs_on_request_done(tx__ops_obs(app), tx__route_path(route), NULL, rej.status, 0, 0);
        call_release(app, c);
        return;
    }
    c->app = app;
    c->req = req;
    c->cfg = tx__app_config_get(app);
    c->route = route;
    c->rq = rq;
    c->endpoint = -1;
    c->avoid = -1;
    c->primary = route == TX_ROUTE_MODELS ? NULL : (rq.model != NULL ? rq.model : c->cfg->ai_model);
    c->model = c->primary;
    c->t0 = tx__app_now(app);
    c->state = TX_CALL_QUEUED;
    tx_ms_t cd = client_deadline(req);
    c->deadline_ms = cd > 0 && cd < c->cfg->ai_deadline_ms ? cd : c->cfg->ai_deadline_ms;
    /* the retry policy, its state and the timers wait for the first attempt (call_run); the
     * deadline is the request's (the server keeps it) */
    app->calls++;
    if (route != TX_ROUTE_MODELS && tx__config_resolve(app->config, c->primary, NULL, 0) == 0) {
        char msg[360];
        snprintf(msg, sizeof msg,
                 "The model `%.200s` does not exist: no provider of this gateway serves it "
                 "(GET /v1/models lists the names it serves)",
                 c->primary);
        c->model = NULL;
        finish_error(c, 404, "invalid_request_error", "model_not_found", msg, 0);
        return;
    }
    if (route == TX_ROUTE_MODELS && answer_models(c)) return;
    tx__http_req_on_abort(req, on_abort, c);
    tx__http_req_set_deadline(req, (uint64_t)c->deadline_ms, on_deadline, c);
    skip_down_models(c);
    acquire(c);
}
