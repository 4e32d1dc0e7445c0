/* One upstream attempt (attempt.h): endpoint pick, send, bounded collection or stream relay with
 * the first event checked before anything is committed, classification, endpoint report. */
#include "gateway/attempt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>

#include "core/classify_tree.h"
#include "core/clock.h"
#include "core/poison.h"
#include "gateway/json_arena.h"
#include "gateway/spares.h"
#include "obs/log.h"
#include "obs/observe.h"
#include "ops/ops.h"
#include "upstream/sse.h"

#define DEFAULT_MAX_RESPONSE (16u << 20)
/* A finished attempt kept for reuse keeps its buffers up to these sizes. */
#define KEEP_BODY_BYTES (64u << 10)
#define KEEP_HEAD_BYTES (8u << 10)

struct tx_gw_attempt {
    tx_app_t *app;
    tx_gw_attempt_req_t req;
    tx_gw_attempt_cb_t cb;
    void *ud;
    tx_upstream_req_t *ureq;
    tx_ep_pick_t pick;
    const char *route_model; /* the name the routes and pair health use (borrowed from req) */
    const char *provider;    /* the picked endpoint's provider (borrowed from cfg) */
    tx_config_t *cfg;        /* the snapshot the route came from (own reference) */
    char *sent_body;         /* the body with a substituted model, or NULL (the client's bytes) */
    tx_ms_t t0;
    int status;
    tx_header_t *rh; /* response headers (copied): the array, then the strings */
    size_t nrh, rh_cap;
    char *buf; /* collected body; for a stream, the bytes before the commit */
    size_t len, cap, max;
    /* stream */
    tx_sse_t *sse;
    int events;      /* events seen before the commit */
    int first_ok;    /* the first event is an ordinary one: commit */
    int first_error; /* the first event is an error: the attempt failed */
    tx_classification_t first_info;
    int committed;
    int in_start;           /* inside on_stream_start: a cancel then only marks the attempt */
    int cancelled_in_start; /* … and the free happens when that callback has returned */
    int overflow;
    int usage_off;     /* the stream parser failed after the commit: usage no longer read */
    int64_t usage[3];  /* a stream's token counts (prompt, completion, total); -1: none */
    tx_limiter_t *lim; /* the endpoint's adaptive limit this attempt counts in (NULL: none) */
    tx_lim_ticket_t ticket;
};

/* Maps a transport outcome of the upstream client to the classifier's transport kind
 * (docs/upstream.md): TIMEOUT → timeout, ABORTED → aborted, the rest → network (TOO_LARGE is
 * handled by the caller as invalid_response). */
static tx_transport_t tx__gw_attempt_transport_kind(tx_upstream_err_t e)
{
    switch (e) {
    case TX_UPSTREAM_ETIMEOUT:
        return TX_TRANSPORT_TIMEOUT;
    case TX_UPSTREAM_EABORTED:
        return TX_TRANSPORT_ABORTED;
    case TX_UPSTREAM_ECONNECT:
        return TX_TRANSPORT_CONNECT;
    case TX_UPSTREAM_EDNS:
        return TX_TRANSPORT_DNS;
    case TX_UPSTREAM_ETLS:
        return TX_TRANSPORT_TLS;
    case TX_UPSTREAM_EPARTIAL:
        return TX_TRANSPORT_PARTIAL;
    default:
        return TX_TRANSPORT_RESET;
    }
}

/* The classifier's response kind for a route (chat → TX_RESP_CHAT …, models → TX_RESP_ANY). */
static tx_resp_kind_t tx__gw_attempt_resp_kind(tx_route_kind_t r)
{
    switch (r) {
    case TX_ROUTE_CHAT:
        return TX_RESP_CHAT;
    case TX_ROUTE_COMPLETIONS:
        return TX_RESP_COMPLETION;
    case TX_ROUTE_EMBEDDINGS:
        return TX_RESP_EMBEDDING;
    case TX_ROUTE_RESPONSES:
        return TX_RESP_RESPONSES;
    default:
        return TX_RESP_ANY;
    }
}

int tx__gw_attempt_endpoint(const tx_gw_attempt_t *a)
{
    return a != NULL ? a->pick.index : -1;
}

const char *tx__gw_attempt_provider(const tx_gw_attempt_t *a)
{
    return a != NULL && a->provider != NULL ? a->provider : "";
}

size_t tx__gw_attempt_candidates(const tx_app_t *app, const char *model, int *cands,
                                 tx_config_route_t *routes)
{
    const tx_config_t *cfg = app->config;
    tx_config_route_t r[TX_PROVIDERS_MAX];
    size_t nr = 0;
    if (model != NULL) {
        nr = tx__config_resolve(cfg, model, r, TX_PROVIDERS_MAX);
        if (nr > TX_PROVIDERS_MAX) nr = TX_PROVIDERS_MAX;
    } else {
        for (size_t i = 0; i < cfg->providers.n && i < TX_PROVIDERS_MAX; i++)
            r[nr++] = (tx_config_route_t){(int)i, NULL}; /* no model (GET /v1/models): any */
    }
    size_t n = 0;
    for (size_t i = 0; i < nr; i++) {
        const tx_config_provider_t *p = &cfg->providers.v[r[i].provider];
        for (size_t j = 0; j < p->base_urls.n && n < TX_ENDPOINTS_MAX; j++, n++) {
            cands[n] = (int)(p->ep_first + j);
            if (routes != NULL) routes[n] = r[i];
        }
    }
    return n;
}

int tx__gw_attempt_model_available(tx_app_t *app, const char *model, int avoid)
{
    int cands[TX_ENDPOINTS_MAX];
    size_t n = tx__gw_attempt_candidates(app, model, cands, NULL);
    return n > 0 &&
           tx__endpoints_available(app->endpoints, cands, n, model, avoid, tx__app_now(app));
}

/* --- adaptive concurrency ---------------------------------------------------------------- */

/* Keeps the candidates (and their routes) whose endpoint is below its adaptive limit, when
 * that leaves one healthy for the model, or when none is healthy anyway; otherwise all stay
 * (the endpoints that could serve it are full: the attempt goes over the limit). Returns the
 * count. */
static size_t with_room(const tx_app_t *app, const char *model, int *cands,
                        tx_config_route_t *routes, size_t n, tx_ms_t now)
{
    int keep[TX_ENDPOINTS_MAX];
    tx_config_route_t kr[TX_ENDPOINTS_MAX];
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (cands[i] < 0 || cands[i] >= TX_ENDPOINTS_MAX ||
            tx__limiter_has_room(&app->limits[cands[i]])) {
            if (routes != NULL) kr[k] = routes[i];
            keep[k++] = cands[i];
        }
    if (k == n || k == 0) return k == n ? n : 0;
    if (!tx__endpoints_available(app->endpoints, keep, k, model, -1, now) &&
        tx__endpoints_available(app->endpoints, cands, n, model, -1, now))
        return 0;
    memcpy(cands, keep, k * sizeof *keep);
    if (routes != NULL) memcpy(routes, kr, k * sizeof *kr);
    return k;
}

/* 1 when some endpoint is at its adaptive limit (only then do the candidates need a look). */
static int any_full(const tx_app_t *app)
{
    size_t n =
        app->config->n_route_eps < TX_ENDPOINTS_MAX ? app->config->n_route_eps : TX_ENDPOINTS_MAX;
    for (size_t i = 0; i < n; i++)
        if (!tx__limiter_has_room(&app->limits[i])) return 1;
    return 0;
}

int tx__gw_attempt_room(tx_app_t *app, const char *model)
{
    if (app == NULL || !any_full(app)) /* with adaptive off no limiter is ever full */
        return 1;
    int cands[TX_ENDPOINTS_MAX];
    size_t n = tx__gw_attempt_candidates(app, model, cands, NULL);
    return n == 0 || with_room(app, model, cands, NULL, n, tx__app_now(app)) > 0;
}

/* The attempt is over for its endpoint's limit: a push-back or a timeout cuts it, a success at
 * the limit counts toward raising it. */
static void lim_done(tx_gw_attempt_t *a, tx_class_t cls)
{
    tx_limiter_t *l = a->lim;
    if (l == NULL) return;
    a->lim = NULL;
    tx_lim_outcome_t o = cls == TX_CLASS_OK            ? TX_LIM_SUCCESS
                         : cls == TX_CLASS_CONCURRENCY ? TX_LIM_CONCURRENCY
                         : (cls == TX_CLASS_RATE_LIMIT || cls == TX_CLASS_TIMEOUT) ? TX_LIM_OVERLOAD
                                                                                   : TX_LIM_NEUTRAL;
    unsigned old = 0;
    if (tx__limiter_done(l, a->ticket, o, &old) && tx__log_enabled(TX_LOG_INFO))
        tx__log(TX_LOG_INFO, "ai][limit", "endpoint=%d limit=%u -> %u reason=%s",
                (int)(l - a->app->limits), old, l->limit, tx_class_name(cls));
    /* the endpoint has room again (or a higher limit): waiters queued for it may go now, also
     * when the admission slot itself was released before this */
    if (l->limit > l->in_flight) tx__admission_kick(a->app->admission, tx__app_now(a->app));
}

/* The endpoint's health takes network and timeout failures; other failures counted toward
 * failover are the (endpoint, model) pair's. */
static tx_ep_outcome_t ep_outcome(tx_class_t cls)
{
    if (cls == TX_CLASS_OK) return TX_EP_OK;
    if (cls == TX_CLASS_ABORTED) return TX_EP_CANCELLED;
    if (cls == TX_CLASS_NETWORK || cls == TX_CLASS_TIMEOUT) return TX_EP_FAIL;
    return tx_class_counts_failover(cls) ? TX_EP_FAIL_MODEL : TX_EP_NEUTRAL;
}

static void report(tx_gw_attempt_t *a, tx_ep_outcome_t eo, tx_ms_t now)
{
    tx_app_t *app = a->app;
    tx_ep_event_t ev;
    if (!tx__endpoints_report_for(app->endpoints, a->pick, a->route_model, eo, now, &ev)) return;
    if (ev.kind == TX_EP_EV_FAILOVER) {
        if (ev.to != ev.from)
            tx__log(TX_LOG_WARN, "ai][failover", "from=%d to=%d", ev.from, ev.to);
        else
            tx__log(TX_LOG_WARN, "ai][failover", "endpoint=%d down, no healthy endpoint left",
                    ev.from);
        tx__obs_on_failover(tx__ops_obs(app), ev.from, ev.to); /* metric + notification */
    } else if (ev.kind == TX_EP_EV_RECOVERED) {
        tx__log(TX_LOG_INFO, "ai][failover", "recovered=%d active=%d", ev.from, ev.to);
    } else if (ev.kind == TX_EP_EV_MODEL_DOWN) {
        tx__log(TX_LOG_WARN, "ai][health", "endpoint=%d model=%s down for %lld ms", ev.from,
                a->route_model != NULL ? a->route_model : "-",
                (long long)app->config->ai_endpoint_cooldown_ms);
    } else if (ev.kind == TX_EP_EV_MODEL_RECOVERED) {
        tx__log(TX_LOG_INFO, "ai][health", "endpoint=%d model=%s recovered", ev.from,
                a->route_model != NULL ? a->route_model : "-");
    }
}

void tx__gw_attempt_destroy(void *p)
{
    tx_gw_attempt_t *a = p;
    if (a == NULL) return;
    tx_unpoison(a, sizeof *a); /* it may come from the spares */
    tx__config_unref(a->cfg);
    free(a->sent_body);
    free(a->rh);
    free(a->buf);
    tx__sse_free(a->sse);
    free(a);
}

/* The end of an attempt: kept for the next one (with its header and body buffers when they are
 * not large) on the gateway's spares, else freed. */
static void attempt_free(tx_gw_attempt_t *a)
{
    if (a == NULL) return;
    tx_gw_spares_t *g = tx__gw_spares(a->app);
    if (g == NULL || g->attempts.n >= TX_SPARES_MAX) {
        tx__gw_attempt_destroy(a);
        return;
    }
    tx__config_unref(a->cfg);
    a->cfg = NULL;
    free(a->sent_body);
    a->sent_body = NULL;
    tx__sse_reset(a->sse, KEEP_HEAD_BYTES); /* a fresh parser for the next stream */
    if (a->cap > KEEP_BODY_BYTES) {
        free(a->buf);
        a->buf = NULL;
        a->cap = 0;
    }
    if (a->rh_cap > KEEP_HEAD_BYTES) {
        free(a->rh);
        a->rh = NULL;
        a->rh_cap = 0;
    }
    if (tx__freelist_put(&g->attempts, a))
        tx_poison(a, sizeof *a);
    else
        tx__gw_attempt_destroy(a);
}

/* A zeroed attempt: a kept one (its buffers stay, emptied) or a new one; NULL when out of
 * memory. */
static tx_gw_attempt_t *attempt_alloc(tx_app_t *app)
{
    tx_gw_spares_t *g = tx__gw_spares(app);
    tx_gw_attempt_t *a = tx__freelist_take(g != NULL ? &g->attempts : NULL);
    if (a == NULL) return calloc(1, sizeof *a);
    tx_unpoison(a, sizeof *a);
    tx_header_t *rh = a->rh;
    size_t rh_cap = a->rh_cap, cap = a->cap;
    char *buf = a->buf;
    tx_sse_t *sse = a->sse; /* reset when the attempt was kept */
    memset(a, 0, sizeof *a);
    a->rh = rh;
    a->rh_cap = rh_cap;
    a->buf = buf;
    a->cap = cap;
    a->sse = sse;
    return a;
}

static int append(tx_gw_attempt_t *a, const char *data, size_t len)
{
    if (a->len + len > a->max) {
        a->overflow = 1;
        return -1;
    }
    if (a->len + len + 1 > a->cap) {
        size_t cap = a->cap ? a->cap : 4096;
        while (cap < a->len + len + 1)
            cap *= 2;
        char *p = realloc(a->buf, cap);
        if (p == NULL) {
            a->overflow = 1;
            return -1;
        }
        a->buf = p;
        a->cap = cap;
    }
    memcpy(a->buf + a->len, data, len);
    a->len += len;
    a->buf[a->len] = '\0';
    return 0;
}

/* Content-Length's value: plain digits (as the client hands it over) read here, anything else as
 * strtoull reads it. */
static unsigned long long content_length_value(const char *v)
{
    unsigned long long n = 0;
    const char *p = v;
    while (*p >= '0' && *p <= '9' && n < (1ull << 59)) /* no overflow: n * 10 + 9 fits */
        n = n * 10 + (unsigned)(*p++ - '0');
    return p != v && *p == '\0' ? n : strtoull(v, NULL, 10);
}

/* Headers whose name and value lengths on_head keeps on the stack (more are measured twice). */
#define HEAD_LENS 32

static void on_head(void *ud, int status, const tx_header_t *h, size_t nh)
{
    tx_gw_attempt_t *a = ud;
    a->status = status;
    /* one block: the array, then the strings */
    size_t lens[2 * HEAD_LENS];
    size_t bytes = nh * sizeof(tx_header_t);
    for (size_t i = 0; i < nh; i++) {
        size_t ln = strlen(h[i].name) + 1, lv = strlen(h[i].value) + 1;
        if (i < HEAD_LENS) {
            lens[2 * i] = ln;
            lens[2 * i + 1] = lv;
        }
        bytes += ln + lv;
    }
    const char *content_length = NULL; /* the first one */
    if (nh > 0 && bytes > a->rh_cap) {
        free(a->rh);
        a->rh_cap = (a->rh = malloc(bytes)) != NULL ? bytes : 0;
    }
    if (nh > 0 && a->rh != NULL) {
        char *s = (char *)(a->rh + nh);
        for (size_t i = 0; i < nh; i++) {
            size_t ln = i < HEAD_LENS ? lens[2 * i] : strlen(h[i].name) + 1;
            size_t lv = i < HEAD_LENS ? lens[2 * i + 1] : strlen(h[i].value) + 1;
            memcpy(s, h[i].name, ln);
            a->rh[i].name = s;
            s += ln;
            memcpy(s, h[i].value, lv);
            a->rh[i].value = s;
            s += lv;
            if (content_length == NULL && ln == sizeof "Content-Length" &&
                strcasecmp(a->rh[i].name, "Content-Length") == 0)
                content_length = a->rh[i].value;
        }
        a->nrh = nh;
    }
    /* size the body buffer once from Content-Length (bounded) instead of growing it */
    if (content_length != NULL) {
        unsigned long long cl = content_length_value(content_length);
        if (cl > 0 && cl <= a->max && a->len == 0 && cl + 1 > a->cap) {
            free(a->buf); /* empty: nothing to keep */
            a->cap = (a->buf = malloc(cl + 1)) != NULL ? cl + 1 : 0;
        }
    }
    if (a->cb.on_head != NULL) a->cb.on_head(a->ud, status);
}

static void take_usage(tx_gw_attempt_t *a, const tx_classification_t *c)
{
    if (c->prompt_tokens >= 0) a->usage[0] = c->prompt_tokens;
    if (c->completion_tokens >= 0) a->usage[1] = c->completion_tokens;
    if (c->total_tokens >= 0) a->usage[2] = c->total_tokens;
}

/* Events after the commit: only the usage is of interest, and only events naming it are
 * parsed. */
static int on_later_event(void *ud, const tx_sse_event_t *ev)
{
    tx_gw_attempt_t *a = ud;
    if (tx__sse_contains(ev->data, ev->data_len, "usage\"", 6)) {
        tx_classification_t c;
        tx__json_arena_begin(); /* the classifier's tree lives only in the call */
        tx_class_t cls =
            tx__classify_stream_event_with(ev->data, ev->data_len, &c, tx__json_arena_delete);
        tx__json_arena_end();
        if (cls == TX_CLASS_OK) take_usage(a, &c);
    }
    return 0;
}

/* Events before the commit: held back until one carries output; an error first is a failed
 * attempt. Every event of that chunk is read (one may carry the usage). */
static int on_first_event(void *ud, const tx_sse_event_t *ev)
{
    tx_gw_attempt_t *a = ud;
    if (a->first_ok) return on_later_event(ud, ev);
    a->events++;
    tx__json_arena_begin();
    tx_class_t cls = tx__classify_stream_event_with(ev->data, ev->data_len, &a->first_info,
                                                    tx__json_arena_delete);
    tx__json_arena_end();
    if (ev->kind == TX_SSE_ERROR && cls == TX_CLASS_OK) {
        /* `event: error` whose data the classifier did not recognise: still a failure */
        cls = a->first_info.cls = TX_CLASS_SERVER;
        snprintf(a->first_info.message, sizeof a->first_info.message, "%s",
                 "the upstream stream began with an error event");
    }
    if (cls == TX_CLASS_OK) {
        take_usage(a, &a->first_info);
        if (a->first_info.output && ev->kind != TX_SSE_DONE) a->first_ok = 1;
        return 0;
    }
    a->first_error = 1;
    return 1; /* stop: the attempt failed */
}

static void finish(tx_gw_attempt_t *a, const tx_upstream_result_t *ur);

static void on_body(void *ud, const char *data, size_t len)
{
    tx_gw_attempt_t *a = ud;
    if (a->committed) {
        /* after the commit only events naming the usage matter: a chunk of whole events
         * without it is not parsed at all */
        if (!a->usage_off && a->sse != NULL &&
            !tx__sse_skippable(a->sse, data, len, "usage\"", 6) &&
            tx__sse_feed(a->sse, data, len, on_later_event, a) == TX_ERANGE)
            a->usage_off = 1;
        a->cb.on_stream_data(a->ud, data, len); /* may end the attempt: nothing after it */
        return;
    }
    if (append(a, data, len) != 0) {
        if (!a->req.stream) return; /* the client's max_response_bytes ends it with TOO_LARGE */
        /* a stream whose first event never completes within the bound: give up on it */
        tx__upstream_cancel(a->ureq);
        tx_upstream_result_t r = {.err = TX_UPSTREAM_ETOO_LARGE, .status = a->status};
        finish(a, &r);
        return;
    }
    if (!a->req.stream || a->status < 200 || a->status > 299) return;
    if (a->sse == NULL && (a->sse = tx__sse_new(0)) == NULL) return;
    if (tx__sse_feed(a->sse, data, len, on_first_event, a) == TX_ERANGE) {
        /* a first event larger than the parser's bound (1 MiB): not a stream we can relay */
        tx__upstream_cancel(a->ureq);
        tx_upstream_result_t r = {.err = TX_UPSTREAM_ETOO_LARGE, .status = a->status};
        finish(a, &r);
        return;
    }
    if (a->first_error) {
        /* a 200 whose first event is an error: the attempt failed, nothing was relayed */
        tx__upstream_cancel(a->ureq);
        tx_upstream_result_t r = {.err = TX_UPSTREAM_EOK, .status = a->status};
        finish(a, &r);
        return;
    }
    if (a->first_ok) {
        /* starting the client's stream can close its connection at once (a write that fails
         * on the spot), and that cancels this attempt from inside the callback */
        a->in_start = 1;
        int refused = a->cb.on_stream_start(a->ud, a->status, a->rh, a->nrh);
        a->in_start = 0;
        if (a->cancelled_in_start) {
            attempt_free(a);
            return;
        }
        if (refused) {
            tx__upstream_cancel(a->ureq);
            tx__endpoints_report_for(a->app->endpoints, a->pick, a->route_model, TX_EP_CANCELLED,
                                     tx__app_now(a->app), NULL);
            lim_done(a, TX_CLASS_ABORTED);
            attempt_free(a);
            return;
        }
        a->committed = 1;
        size_t held = a->len;
        a->len = 0;
        a->cb.on_stream_data(a->ud, a->buf, held); /* may end the attempt: nothing after it */
    }
}

static void finish(tx_gw_attempt_t *a, const tx_upstream_result_t *ur)
{
    tx_app_t *app = a->app;
    tx_gw_attempt_result_t r;
    memset(&r, 0, sizeof r);
    r.transport = ur->err;
    r.endpoint = a->pick.index;
    r.provider = a->provider != NULL ? a->provider : "";
    r.status = ur->status ? ur->status : a->status;
    r.headers = a->rh;
    r.nheaders = a->nrh;
    r.body = a->len > 0 ? a->buf : "";
    r.body_len = a->len;
    r.prompt_tokens = r.completion_tokens = r.total_tokens = -1;
    r.committed = a->committed;
    tx_ms_t now = tx__app_now(app);
    r.latency_ms = now - a->t0;

    if (ur->err == TX_UPSTREAM_EOK && !a->committed) {
        int is2xx = r.status >= 200 && r.status <= 299;
        if (a->req.stream && is2xx && a->first_error) {
            r.info = a->first_info;
            r.info.status = r.status;
        } else if (a->req.stream && is2xx && a->events > 0) {
            /* only [DONE] (or nothing usable) arrived: no content */
            tx_classify_transport(TX_TRANSPORT_PARTIAL, NULL, &r.info);
            r.info.cls = TX_CLASS_INVALID_RESPONSE;
            snprintf(r.info.message, sizeof r.info.message, "%s",
                     "the upstream stream ended without a content event");
        } else {
            /* a plain answer (also a stream request answered with JSON) */
            tx__json_arena_begin(); /* the classifier's tree lives only in the call */
            tx__classify_response_with(r.status, a->rh, a->nrh, r.body, r.body_len,
                                       tx__gw_attempt_resp_kind(a->req.route), tx__clock_wall_ms(),
                                       &r.info, tx__json_arena_delete);
            tx__json_arena_end();
            r.prompt_tokens = r.info.prompt_tokens; /* read by the classifier's parse */
            r.completion_tokens = r.info.completion_tokens;
            r.total_tokens = r.info.total_tokens;
        }
    } else if (ur->err == TX_UPSTREAM_EOK) {
        r.info.cls = TX_CLASS_OK; /* a committed stream that ended normally */
        r.info.retry_after_ms = -1;
        r.info.status = r.status;
        r.prompt_tokens = a->usage[0];
        r.completion_tokens = a->usage[1];
        r.total_tokens = a->usage[2];
    } else if (ur->err == TX_UPSTREAM_ETOO_LARGE || a->overflow) {
        tx_classify_transport(TX_TRANSPORT_PARTIAL, NULL, &r.info);
        r.info.cls = TX_CLASS_INVALID_RESPONSE;
        snprintf(r.info.message, sizeof r.info.message,
                 "the upstream response is too large (limit %zu bytes, one stream event 1 MiB)",
                 a->max);
    } else {
        tx_classify_transport(tx__gw_attempt_transport_kind(ur->err), ur->message, &r.info);
    }
    r.cls = r.info.cls;

    report(a, ep_outcome(r.cls), now);
    lim_done(a, r.cls);
    if (r.cls == TX_CLASS_TIMEOUT)
        tx__log(TX_LOG_WARN, "ai][timeout", "endpoint=%d model=%s after_ms=%lld%s", r.endpoint,
                a->req.model != NULL ? a->req.model : (a->req.doc_model ? a->req.doc_model : "-"),
                (long long)r.latency_ms, a->committed ? " (stream gap)" : "");
    a->cb.on_done(a->ud, &r);
    attempt_free(a);
}

static void on_done(void *ud, const tx_upstream_result_t *ur)
{
    finish(ud, ur);
}

static void fail_why(tx_classification_t *why, const char *msg)
{
    if (why != NULL) tx_classify_transport(TX_TRANSPORT_CONNECT, msg, why);
}

tx_gw_attempt_t *tx__gw_attempt_start(tx_app_t *app, const tx_gw_attempt_req_t *req,
                                      const tx_gw_attempt_cb_t *cb, void *ud,
                                      tx_classification_t *why)
{
    if (app == NULL || req == NULL || cb == NULL || cb->on_done == NULL ||
        (unsigned)req->route >= TX_ROUTE__LAST ||
        (req->stream && (cb->on_stream_start == NULL || cb->on_stream_data == NULL))) {
        fail_why(why, "bad attempt arguments");
        return NULL;
    }
    tx_gw_attempt_t *a = attempt_alloc(app);
    if (a == NULL) {
        fail_why(why, "out of memory");
        return NULL;
    }
    a->app = app;
    a->req = *req;
    a->cb = *cb;
    a->ud = ud;
    a->max = req->max_response_bytes ? req->max_response_bytes : DEFAULT_MAX_RESPONSE;
    a->t0 = tx__app_now(app);
    a->usage[0] = a->usage[1] = a->usage[2] = -1;
    a->route_model = req->model != NULL ? req->model : req->doc_model;
    if (req->route == TX_ROUTE_MODELS) a->route_model = NULL;

    int cands[TX_ENDPOINTS_MAX];
    tx_config_route_t routes[TX_ENDPOINTS_MAX];
    size_t nc = tx__gw_attempt_candidates(app, a->route_model, cands, routes);
    if (nc == 0) {
        if (why != NULL) {
            tx_classify_transport(TX_TRANSPORT_CONNECT, NULL, why);
            why->cls = TX_CLASS_MODEL_UNAVAILABLE;
            snprintf(why->code, sizeof why->code, "%s", "model_not_found");
            snprintf(why->message, sizeof why->message,
                     "The model `%.200s` does not exist: no provider serves it",
                     a->route_model != NULL ? a->route_model : "");
        }
        a->pick.index = -1;
        attempt_free(a);
        return NULL;
    }
    if (any_full(app)) {
        size_t nr = with_room(app, a->route_model, cands, routes, nc, a->t0);
        if (nr > 0) nc = nr;
    }
    a->pick =
        tx__endpoints_pick_for(app->endpoints, cands, nc, a->route_model, req->avoid1 - 1, a->t0);
    if (a->pick.index >= 0 && a->pick.index < TX_ENDPOINTS_MAX) {
        a->lim = &app->limits[a->pick.index];
        a->ticket = tx__limiter_take(a->lim);
    }
    const tx_config_route_t *route = &routes[0];
    for (size_t i = 0; i < nc; i++)
        if (cands[i] == a->pick.index) {
            route = &routes[i];
            break;
        }
    const tx_config_provider_t *prov = &app->config->providers.v[route->provider];
    a->cfg = tx__config_ref(app->config); /* the provider's name outlives a reload meanwhile */
    a->provider = prov->name;

    const char *base = tx__endpoints_url(app->endpoints, a->pick.index);
    const char *path = tx__route_upstream_path(req->route);
    size_t bl = base != NULL ? strlen(base) : 0;
    while (bl > 0 && base[bl - 1] == '/')
        bl--;
    size_t pl = strlen(path);
    size_t ql = prov->query_string != NULL ? strlen(prov->query_string) + 1 : 0;
    size_t ul = bl + pl + ql + 1;
    const tx_config_route_ep_t *rep = (size_t)a->pick.index < app->config->n_route_eps
                                          ? &app->config->route_eps[a->pick.index]
                                          : NULL;
    const char *body = req->body;
    size_t len = req->len;
    /* the URL is copied by tx__upstream_send: a stack buffer unless too long */
    char url_buf[1024];
    char *url = url_buf;
    if (base == NULL || rep == NULL || (ul > sizeof url_buf && (url = malloc(ul)) == NULL))
        goto fail;
    memcpy(url, base, bl); /* "<base without trailing '/'><path>[?<query>]" */
    memcpy(url + bl, path, pl + 1);
    if (ql > 0) {
        url[bl + pl] = '?';
        memcpy(url + bl + pl + 1, prov->query_string, ql);
    }
    if (req->route != TX_ROUTE_MODELS && req->body != NULL) {
        /* the provider's own name for the model (a "*" route keeps the asked name) */
        const char *send_model = route->model != NULL ? route->model : req->model;
        if (tx__request_body_for_model(req->body, req->len, req->doc_model, send_model,
                                       &a->sent_body, &len) != 0)
            goto fail;
        if (a->sent_body != NULL)
            body = a->sent_body;
        else
            len = req->len;
    }
    tx_header_t h[4 + 32];
    size_t nh = 0;
    if (req->route != TX_ROUTE_MODELS) h[nh++] = (tx_header_t){"Content-Type", "application/json"};
    if (rep->auth_value != NULL)
        h[nh++] = (tx_header_t){rep->auth_name, rep->auth_value};
    else if (prov->implicit && req->client_auth != NULL && req->client_auth[0] != '\0')
        h[nh++] = (tx_header_t){"Authorization", req->client_auth};
    h[nh++] = (tx_header_t){"Accept", req->stream ? "text/event-stream" : "application/json"};
    for (size_t i = 0; i < prov->nheaders && nh < sizeof h / sizeof h[0]; i++)
        h[nh++] = (tx_header_t){prov->headers[i].name, prov->headers[i].value};
    tx_upstream_limits_t lim = {.attempt_timeout_ms = req->timeout_ms,
                                .gap_timeout_ms = req->timeout_ms,
                                .max_response_bytes = req->stream ? 0 : a->max};
    static const tx_upstream_cb_t ucb = {on_head, on_body, on_done};
    a->ureq = tx__upstream_send(app->upstream, req->route == TX_ROUTE_MODELS ? "GET" : "POST", url,
                                h, nh, req->route == TX_ROUTE_MODELS ? NULL : body,
                                req->route == TX_ROUTE_MODELS ? 0 : len, &lim, &ucb, a);
    if (a->ureq == NULL) goto fail;
    if (url != url_buf) free(url);
    return a;
fail:
    if (url != url_buf) free(url);
    fail_why(why, "the upstream request could not be started");
    tx__endpoints_report_for(app->endpoints, a->pick, a->route_model, TX_EP_CANCELLED,
                             tx__app_now(app), NULL);
    lim_done(a, TX_CLASS_ABORTED);
    attempt_free(a);
    return NULL;
}

tx_err_t tx__gw_attempt_pause(tx_gw_attempt_t *a, int pause)
{
    return a != NULL ? tx__upstream_pause(a->ureq, pause) : TX_EINVAL;
}

void tx__gw_attempt_cancel(tx_gw_attempt_t *a)
{
    if (a == NULL) return;
    tx__upstream_cancel(a->ureq);
    tx__endpoints_report_for(a->app->endpoints, a->pick, a->route_model, TX_EP_CANCELLED,
                             tx__app_now(a->app), NULL);
    lim_done(a, TX_CLASS_ABORTED);
    if (a->in_start) {
        a->cancelled_in_start = 1; /* freed by on_body once on_stream_start returns */
        return;
    }
    attempt_free(a);
}
