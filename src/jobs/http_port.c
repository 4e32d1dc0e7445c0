/* The built-in attempt port: one chat-completions POST on the active endpoint through the
 * upstream client, classified, with the endpoint's health updated (failover logged). */
#include "jobs/http_port.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "obs/log.h"
#include "upstream/client.h"
#include "upstream/endpoints.h"

#define TX_JOBS_HTTP_MAX_RESPONSE (8u * 1024u * 1024u)
#define TX_JOBS_HTTP_MAX_HEADERS 64

typedef struct http_req http_req_t;

struct tx_jobs_http {
    uv_loop_t *loop;
    tx_upstream_t *up;
    tx_endpoints_t *eps;
    char **keys; /* per endpoint, NULL = none */
    char **names;
    size_t n;
    unsigned failovers;
    int closing;
    http_req_t *reqs; /* in flight, for close */
    void (*close_done)(void *);
    void *close_arg;
};

struct http_req {
    tx_jobs_http_t *h;
    http_req_t *prev, *next;
    tx_upstream_req_t *r;
    tx_ep_pick_t pick;
    tx_jobs_attempt_cb done;
    void *ud;
    uint64_t t0;
    char *buf;
    size_t len, cap;
    tx_header_t hdr[TX_JOBS_HTTP_MAX_HEADERS];
    size_t nh;
    char *hdr_text; /* names and values of hdr, packed */
};

static tx_ms_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (tx_ms_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static tx_ms_t mono_ms(tx_jobs_http_t *h)
{
    return (tx_ms_t)uv_now(h->loop);
}

tx_jobs_http_t *tx_jobs_http_new(uv_loop_t *loop, const tx_config_t *cfg)
{
    if (loop == NULL || cfg == NULL || cfg->endpoints.n == 0) return NULL;
    tx_jobs_http_t *h = calloc(1, sizeof *h);
    if (h == NULL) return NULL;
    h->loop = loop;
    h->n = cfg->endpoints.n;
    const char *urls[TX_ENDPOINTS_MAX];
    h->keys = calloc(h->n, sizeof *h->keys);
    h->names = calloc(h->n, sizeof *h->names);
    if (h->keys == NULL || h->names == NULL || h->n > TX_ENDPOINTS_MAX) goto fail;
    for (size_t i = 0; i < h->n; i++) {
        const tx_config_endpoint_t *e = &cfg->endpoints.v[i];
        urls[i] = e->url;
        if (e->api_key && e->api_key[0] && (h->keys[i] = strdup(e->api_key)) == NULL) goto fail;
        char idx[24];
        snprintf(idx, sizeof idx, "%zu", i);
        if ((h->names[i] = strdup(idx)) == NULL) goto fail; /* SPEC: endpoint=<i> */
    }
    h->eps = tx_endpoints_new(urls, h->n, (int)cfg->ai_endpoint_failover_threshold,
                              cfg->ai_endpoint_cooldown_ms);
    h->up = tx_upstream_new(loop, NULL);
    if (h->eps == NULL || h->up == NULL) goto fail;
    return h;
fail:
    if (h->up) tx_upstream_close(h->up, NULL, NULL);
    tx_endpoints_free(h->eps);
    for (size_t i = 0; h->keys && i < h->n; i++)
        free(h->keys[i]);
    for (size_t i = 0; h->names && i < h->n; i++)
        free(h->names[i]);
    free(h->keys);
    free(h->names);
    free(h);
    return NULL;
}

static void req_unlink_free(http_req_t *q)
{
    if (q->prev)
        q->prev->next = q->next;
    else
        q->h->reqs = q->next;
    if (q->next) q->next->prev = q->prev;
    free(q->buf);
    free(q->hdr_text);
    free(q);
}

static void on_head(void *ud, int status, const tx_header_t *hd, size_t nh)
{
    (void)status;
    http_req_t *q = ud;
    size_t total = 0, keep = 0;
    for (size_t i = 0; i < nh && keep < TX_JOBS_HTTP_MAX_HEADERS; i++, keep++)
        total += strlen(hd[i].name) + strlen(hd[i].value) + 2;
    free(q->hdr_text);
    q->nh = 0;
    q->hdr_text = malloc(total ? total : 1);
    if (q->hdr_text == NULL) return;
    char *p = q->hdr_text;
    for (size_t i = 0; i < keep; i++) {
        size_t ln = strlen(hd[i].name) + 1, lv = strlen(hd[i].value) + 1;
        memcpy(p, hd[i].name, ln);
        q->hdr[i].name = p;
        p += ln;
        memcpy(p, hd[i].value, lv);
        q->hdr[i].value = p;
        p += lv;
    }
    q->nh = keep;
}

static void on_body(void *ud, const char *data, size_t len)
{
    http_req_t *q = ud;
    if (q->buf == NULL && q->cap == SIZE_MAX) return; /* out of memory earlier */
    if (q->len + len + 1 > q->cap) {
        size_t cap = q->cap ? q->cap : 4096;
        while (cap < q->len + len + 1)
            cap *= 2;
        char *nb = realloc(q->buf, cap);
        if (nb == NULL) {
            free(q->buf);
            q->buf = NULL;
            q->len = 0;
            q->cap = SIZE_MAX;
            return;
        }
        q->buf = nb;
        q->cap = cap;
    }
    memcpy(q->buf + q->len, data, len);
    q->len += len;
    q->buf[q->len] = '\0';
}

static tx_transport_t transport_of(tx_upstream_err_t e)
{
    switch (e) {
    case TX_UPSTREAM_ECONNECT:
        return TX_TRANSPORT_CONNECT;
    case TX_UPSTREAM_EDNS:
        return TX_TRANSPORT_DNS;
    case TX_UPSTREAM_ETLS:
        return TX_TRANSPORT_TLS;
    case TX_UPSTREAM_EPARTIAL:
        return TX_TRANSPORT_PARTIAL;
    case TX_UPSTREAM_ETIMEOUT:
        return TX_TRANSPORT_TIMEOUT;
    case TX_UPSTREAM_EABORTED:
        return TX_TRANSPORT_ABORTED;
    default:
        return TX_TRANSPORT_RESET;
    }
}

static void on_done(void *ud, const tx_upstream_result_t *r)
{
    http_req_t *q = ud;
    tx_jobs_http_t *h = q->h;
    if (h->closing) {
        req_unlink_free(q);
        return;
    }
    tx_jobs_attempt_t a;
    memset(&a, 0, sizeof a);
    if (r->err == TX_UPSTREAM_EOK && q->cap == SIZE_MAX) {
        tx_classify_transport(TX_TRANSPORT_PARTIAL, "out of memory reading the answer", &a.c);
    } else if (r->err == TX_UPSTREAM_EOK) {
        a.status = r->status;
        tx_classify_response(r->status, q->hdr, q->nh, q->buf, q->len, TX_RESP_CHAT, wall_ms(),
                             &a.c);
    } else if (r->err == TX_UPSTREAM_ETOO_LARGE) {
        a.status = r->status;
        tx_classify_transport(TX_TRANSPORT_PARTIAL, "response too large", &a.c);
    } else {
        tx_classify_transport(transport_of(r->err), r->message, &a.c);
    }
    a.body = q->buf;
    a.len = q->len;
    a.latency_ms = (int64_t)((uv_hrtime() - q->t0) / 1000000u);
    a.endpoint = h->names[q->pick.index >= 0 && (size_t)q->pick.index < h->n ? q->pick.index : 0];
    tx_ep_outcome_t oc = a.c.cls == TX_CLASS_OK              ? TX_EP_OK
                         : tx_class_counts_failover(a.c.cls) ? TX_EP_FAIL
                         : a.c.cls == TX_CLASS_ABORTED       ? TX_EP_CANCELLED
                                                             : TX_EP_NEUTRAL;
    tx_ep_event_t ev;
    if (tx_endpoints_report(h->eps, q->pick, oc, mono_ms(h), &ev)) {
        if (ev.kind == TX_EP_EV_FAILOVER) {
            h->failovers++;
            tx_log(TX_LOG_WARN, "ai][failover", "from=%d to=%d", ev.from, ev.to);
        } else if (ev.kind == TX_EP_EV_RECOVERED) {
            tx_log(TX_LOG_INFO, "ai][failover", "recovered=%d active=%d", ev.from, ev.to);
        }
    }
    tx_jobs_attempt_cb cb = q->done;
    void *cud = q->ud;
    cb(cud, &a);
    req_unlink_free(q);
}

static void *port_start(void *self, const char *body, size_t len, long timeout_ms,
                        tx_jobs_attempt_cb done, void *ud)
{
    tx_jobs_http_t *h = self;
    if (h == NULL || h->closing || body == NULL || done == NULL) return NULL;
    http_req_t *q = calloc(1, sizeof *q);
    if (q == NULL) return NULL;
    q->h = h;
    q->done = done;
    q->ud = ud;
    q->pick = tx_endpoints_pick(h->eps, mono_ms(h));
    const char *base = tx_endpoints_url(h->eps, q->pick.index);
    char url[4200];
    size_t bl = base ? strlen(base) : 0;
    while (bl > 0 && base[bl - 1] == '/')
        bl--;
    snprintf(url, sizeof url, "%.*s/chat/completions", (int)bl, base ? base : "");
    char auth[1200];
    tx_header_t hd[3] = {{"Content-Type", "application/json"}, {"Accept", "application/json"}};
    size_t nh = 2;
    const char *key = h->keys[q->pick.index];
    if (key) {
        snprintf(auth, sizeof auth, "Bearer %s", key);
        hd[nh++] = (tx_header_t){"Authorization", auth};
    }
    tx_upstream_limits_t lim = {.attempt_timeout_ms = timeout_ms,
                                .gap_timeout_ms = timeout_ms,
                                .max_response_bytes = TX_JOBS_HTTP_MAX_RESPONSE};
    tx_upstream_cb_t cb = {.on_head = on_head, .on_body = on_body, .on_done = on_done};
    q->t0 = uv_hrtime();
    q->next = h->reqs;
    if (h->reqs) h->reqs->prev = q;
    h->reqs = q;
    q->r = tx_upstream_send(h->up, "POST", url, hd, nh, body, len, &lim, &cb, q);
    if (q->r == NULL) {
        tx_endpoints_report(h->eps, q->pick, TX_EP_CANCELLED, mono_ms(h), NULL);
        req_unlink_free(q);
        return NULL;
    }
    return q;
}

static void port_cancel(void *self, void *handle)
{
    tx_jobs_http_t *h = self;
    http_req_t *q = handle;
    if (h == NULL || q == NULL) return;
    tx_upstream_cancel(q->r);
    tx_endpoints_report(h->eps, q->pick, TX_EP_CANCELLED, mono_ms(h), NULL);
    req_unlink_free(q);
}

void tx_jobs_http_port(tx_jobs_http_t *h, tx_jobs_port_t *out)
{
    if (out == NULL) return;
    out->start = port_start;
    out->cancel = port_cancel;
    out->self = h;
}

unsigned tx_jobs_http_failovers(const tx_jobs_http_t *h)
{
    return h ? h->failovers : 0;
}

static void closed(void *arg)
{
    tx_jobs_http_t *h = arg;
    while (h->reqs)
        req_unlink_free(h->reqs);
    tx_endpoints_free(h->eps);
    for (size_t i = 0; i < h->n; i++) {
        free(h->keys[i]);
        free(h->names[i]);
    }
    free(h->keys);
    free(h->names);
    void (*done)(void *) = h->close_done;
    void *darg = h->close_arg;
    free(h);
    if (done) done(darg);
}

void tx_jobs_http_close(tx_jobs_http_t *h, void (*done)(void *), void *arg)
{
    if (h == NULL) return;
    h->closing = 1;
    h->close_done = done;
    h->close_arg = arg;
    tx_upstream_close(h->up, closed, h);
}
