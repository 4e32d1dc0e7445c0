/* Store health (store_health.h): a uv timer submits tx__store_ping to the store executor (the
 * ping runs on a store thread; PostgreSQL reconnects first when the connection was lost), and
 * the answer is cached on the loop for /readyz and /admin/diag. */
#include "ops/store_health.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "obs/log.h"
#include "obs/notify.h"
#include "store/storeq.h"

typedef struct {
    tx_app_t *app;
    uv_timer_t timer;
    char backend[16];
    int ok;
    char error[256];
    tx_ms_t checked_at; /* Unix ms of the last answer (0: none yet) */
    uint64_t sent_at;   /* uv_now when the ping in flight was sent */
    int in_flight;      /* a ping is on the store executor */
    int stopping, timer_open;
    uint64_t wakeups; /* LISTEN/NOTIFY wake-ups delivered to the scheduler */
    int listening;
    void (*done)(tx_app_t *app);
    /* the ping's answer (written on the store thread, read in done) */
    int rc;
    tx_error_t err;
    char msg[256];
} health_t;

static void maybe_done(health_t *h)
{
    if (!h->stopping || h->in_flight || h->timer_open) return;
    tx_app_t *app = h->app;
    void (*done)(tx_app_t *) = h->done;
    if (app->store_health == h) app->store_health = NULL;
    free(h);
    done(app);
}

static void w_ping(tx_store_t *s, void *arg)
{
    health_t *h = arg;
    memset(&h->err, 0, sizeof h->err);
    h->rc = tx__store_ping(s, &h->err);
    snprintf(h->msg, sizeof h->msg, "%s", h->err.msg ? h->err.msg : tx_strerror(h->rc));
}

static void ping_done(void *arg)
{
    health_t *h = arg;
    h->in_flight = 0;
    int ok = h->rc == TX_EOK;
    if (ok != h->ok) {
        if (ok)
            tx__log(TX_LOG_INFO, "store", "store reachable again: ready");
        else
            tx__log(TX_LOG_WARN, "store", "store unreachable: not ready (%s)", h->msg);
    }
    h->ok = ok;
    snprintf(h->error, sizeof h->error, "%s", ok ? "" : h->msg);
    h->checked_at = tx__clock_wall_ms();
    maybe_done(h);
}

static void tick(uv_timer_t *t)
{
    health_t *h = t->data;
    if (h->in_flight || h->stopping || h->app->storeq == NULL) return;
    h->in_flight = 1;
    h->sent_at = uv_now(h->app->loop);
    if (tx__storeq_submit(h->app->storeq, w_ping, ping_done, h) != TX_EOK) h->in_flight = 0;
}

static void timer_closed(uv_handle_t *hd)
{
    health_t *h = hd->data;
    h->timer_open = 0;
    maybe_done(h);
}

static void on_stop(tx_app_t *app, void *ud, void (*done)(tx_app_t *app))
{
    (void)app;
    health_t *h = ud;
    h->stopping = 1;
    h->done = done;
    uv_timer_stop(&h->timer);
    uv_close((uv_handle_t *)&h->timer, timer_closed);
}

static const char *backend_of(const char *url)
{
    if (url == NULL) return "unknown";
    if (strncmp(url, "sqlite:", 7) == 0) return "sqlite";
    if (strncmp(url, "postgres://", 11) == 0 || strncmp(url, "postgresql://", 13) == 0)
        return "postgres";
    return "unknown";
}

tx_err_t tx__store_health_start(tx_app_t *app, const char *store_url, unsigned interval_ms)
{
    if (app == NULL || app->storeq == NULL) return TX_EINVAL;
    health_t *h = calloc(1, sizeof *h);
    if (h == NULL) return TX_ENOMEM;
    h->app = app;
    h->ok = 1; /* the store opened a moment ago */
    h->checked_at = tx__clock_wall_ms();
    snprintf(h->backend, sizeof h->backend, "%s", backend_of(store_url));
    tx_err_t rc = tx__app_on_stop(app, on_stop, h);
    if (rc != TX_EOK) {
        free(h);
        return rc;
    }
    uv_timer_init(app->loop, &h->timer);
    h->timer.data = h;
    h->timer_open = 1;
    uint64_t every = interval_ms ? interval_ms : 1000;
    uv_timer_start(&h->timer, tick, every, every);
    app->store_health = h;
    return TX_EOK;
}

void tx__store_health_note_wake(tx_app_t *app, int listening)
{
    health_t *h = app ? app->store_health : NULL;
    if (h == NULL) return;
    h->wakeups++;
    h->listening = listening;
}

static int stalled(const health_t *h)
{
    return h->in_flight && uv_now(h->app->loop) - h->sent_at > TX_STORE_HEALTH_STALL_MS;
}

int tx__store_health_ready(const tx_app_t *app)
{
    const health_t *h = app ? app->store_health : NULL;
    return h == NULL || (h->ok && !stalled(h));
}

json_t *tx__store_health_json(const tx_app_t *app)
{
    const health_t *h = app ? app->store_health : NULL;
    if (h == NULL) return json_null();
    int ok = h->ok && !stalled(h);
    const char *error = !h->ok ? h->error : ok ? NULL : "the store has not answered a ping in time";
    char ts[40];
    json_t *at = h->checked_at > 0 && tx__notify_rfc3339(h->checked_at, ts, sizeof ts) == 0
                     ? json_string(ts)
                     : json_null();
    json_t *j = json_pack("{s:s,s:b,s:s?,s:o}", "backend", h->backend, "ok", ok, "error", error,
                          "checkedAt", at);
    if (j && h->wakeups) {
        json_object_set_new(j, "wakeups", json_integer((json_int_t)h->wakeups));
        json_object_set_new(j, "listening", json_boolean(h->listening));
    }
    return j;
}
