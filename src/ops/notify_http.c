/* Notification POSTs over a dedicated upstream client, so a hanging webhook never takes a
 * connection or a concurrency slot from the gateway or the jobs. */
#include "ops/notify_http.h"

#include <stdlib.h>
#include <string.h>

#include "obs/log.h"
#include "upstream/client.h"

typedef struct post post_t;
struct post {
    post_t *prev, *next;
    tx_notify_http_t *s;
    tx_upstream_req_t *req;
    char *body;
};

struct tx_notify_http {
    tx_upstream_t *up;
    tx_notify_t *notify;
    long timeout_ms;
    post_t *head;
    size_t inflight;
    int closing;
    void (*done)(void *);
    void *done_arg;
};

tx_notify_http_t *tx__notify_http_new(uv_loop_t *loop, long timeout_ms)
{
    if (loop == NULL) return NULL;
    tx_notify_http_t *s = calloc(1, sizeof *s);
    if (s == NULL) return NULL;
    s->timeout_ms = timeout_ms > 0 ? timeout_ms : TX_NOTIFY_HTTP_TIMEOUT_MS;
    tx_upstream_opts_t o = {.max_total_conns = TX_NOTIFY_HTTP_MAX_INFLIGHT,
                            .connect_timeout_ms = s->timeout_ms};
    /* webhooks leave through the same proxy (an unusable one is reported by serve's client) */
    tx__upstream_proxy_env(&o, getenv("AI_PROXY"), NULL, 0);
    const char *ca = getenv("AI_CA_FILE");
    o.ca_file = ca != NULL && ca[0] != '\0' ? ca : NULL;
    s->up = tx__upstream_new(loop, &o);
    if (s->up == NULL) {
        free(s);
        return NULL;
    }
    return s;
}

void tx__notify_http_set_notifier(tx_notify_http_t *s, tx_notify_t *n)
{
    if (s != NULL) s->notify = n;
}

size_t tx__notify_http_inflight(const tx_notify_http_t *s)
{
    return s != NULL ? s->inflight : 0;
}

static void unlink_post(post_t *p)
{
    tx_notify_http_t *s = p->s;
    if (p->prev != NULL)
        p->prev->next = p->next;
    else
        s->head = p->next;
    if (p->next != NULL) p->next->prev = p->prev;
    s->inflight--;
    free(p->body);
    free(p);
}

static void on_done(void *ud, const tx_upstream_result_t *r)
{
    post_t *p = ud;
    tx_notify_http_t *s = p->s;
    int ok = r->err == TX_UPSTREAM_EOK && r->status >= 200 && r->status < 300;
    if (!ok)
        tx__log(TX_LOG_WARN, "ai][notify", "delivery failed: %s, status %d",
                tx__upstream_strerror(r->err), r->status);
    if (s->notify != NULL) tx__notify_delivered(s->notify, ok);
    unlink_post(p);
}

int tx__notify_http_post(void *ud, const char *url, const char *json)
{
    tx_notify_http_t *s = ud;
    if (s == NULL || url == NULL || json == NULL || s->closing ||
        s->inflight >= TX_NOTIFY_HTTP_MAX_INFLIGHT)
        return -1;
    post_t *p = calloc(1, sizeof *p);
    if (p == NULL || (p->body = strdup(json)) == NULL) {
        free(p);
        return -1;
    }
    p->s = s;
    static const tx_header_t h[] = {{"Content-Type", "application/json"},
                                    {"User-Agent", "tenax-notify"}};
    tx_upstream_limits_t lim = {.attempt_timeout_ms = s->timeout_ms,
                                .gap_timeout_ms = s->timeout_ms,
                                .max_response_bytes = 65536};
    tx_upstream_cb_t cb = {.on_done = on_done};
    p->req = tx__upstream_send(s->up, "POST", url, h, 2, p->body, strlen(p->body), &lim, &cb, p);
    if (p->req == NULL) {
        free(p->body);
        free(p);
        return -1;
    }
    p->next = s->head;
    if (s->head != NULL) s->head->prev = p;
    s->head = p;
    s->inflight++;
    return 0;
}

static void on_closed(void *arg)
{
    tx_notify_http_t *s = arg;
    void (*done)(void *) = s->done;
    void *darg = s->done_arg;
    free(s);
    if (done != NULL) done(darg);
}

void tx__notify_http_close(tx_notify_http_t *s, void (*done)(void *), void *arg)
{
    if (s == NULL) return;
    s->closing = 1;
    s->done = done;
    s->done_arg = arg;
    while (s->head != NULL) {
        tx__upstream_cancel(s->head->req);
        unlink_post(s->head);
    }
    tx__upstream_close(s->up, on_closed, s);
}
