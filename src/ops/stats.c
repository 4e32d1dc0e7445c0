/* GET /admin/stats (stats.h): the dashboard's summary of the window and the live numbers. */
#include "ops/stats.h"

#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "ops/ops_internal.h"

/* A rate or a latency: null when there is nothing to measure (the page shows "—"). */
static json_t *num_or_null(double v)
{
    return v < 0 ? json_null() : json_real(v);
}

static json_t *counts_json(const tx_win_counts_t *c)
{
    return json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "requests", (json_int_t)c->requests,
                     "succeeded", (json_int_t)c->ok, "firstAttempts", (json_int_t)c->first,
                     "firstAttemptOk", (json_int_t)c->first_ok, "rescued", (json_int_t)c->rescued,
                     "retries", (json_int_t)c->retries, "failovers", (json_int_t)c->failovers);
}

static json_t *endpoints_json(const tx_window_t *w, tx_ms_t now)
{
    json_t *list = json_array();
    if (list == NULL || w == NULL) return list;
    for (int i = 0; i <= w->ep_max && i < TX_WIN_ENDPOINTS; i++) {
        json_t *by = json_object();
        uint64_t attempts = 0;
        for (int k = 0; k < TX_CLASS__LAST; k++) {
            uint64_t n = w->ep_class[i][k];
            attempts += n;
            if (n > 0 && k != TX_CLASS_OK)
                json_object_set_new(by, tx_class_name((tx_class_t)k), json_integer((json_int_t)n));
        }
        tx_ms_t at = w->ep_retry_after_at[i];
        json_array_append_new(
            list,
            json_pack("{s:i,s:I,s:I,s:o,s:o,s:o}", "index", i, "attempts", (json_int_t)attempts,
                      "ok", (json_int_t)w->ep_class[i][TX_CLASS_OK], "failures", by,
                      "lastRetryAfterMs", at > 0 ? json_real(w->ep_retry_after_ms[i]) : json_null(),
                      "lastRetryAfterAgoMs",
                      at > 0 ? json_integer(now > at ? now - at : 0) : json_null()));
    }
    return list;
}

json_t *tx__admin_stats_json(const tx_window_t *w, tx_ms_t now, const tx_stats_live_t *live)
{
    static const tx_stats_live_t none = {0};
    if (live == NULL) live = &none;
    tx_win_counts_t rate;
    tx_win_summary_t win;
    tx__window_counts(w, now, TX_STATS_RATE_SECONDS, &rate);
    tx__window_summary(w, now, TX_STATS_WINDOW_SECONDS, &win);
    /* "Rescued": answered 2xx although the first attempt was not a success — the gap between
     * the two rates is what retries and fallbacks bought. */
    json_t *d = json_pack(
        "{s:i,s:i,s:f,s:o,s:o,s:o,s:o,s:o,s:{s:o,s:o,s:o,s:o,s:I}}", "rateWindowSeconds",
        TX_STATS_RATE_SECONDS, "windowSeconds", TX_STATS_WINDOW_SECONDS, "requestsPerSecond",
        (double)rate.requests / tx__window_elapsed_s(now, TX_STATS_RATE_SECONDS), "window",
        counts_json(&win.c), "sinceBoot",
        counts_json(w != NULL ? &w->total : &(tx_win_counts_t){0}), "clientSuccessRate",
        num_or_null(win.client_success), "firstAttemptSuccessRate", num_or_null(win.first_success),
        "endpoints", endpoints_json(w, now), "latencyMs", "p50", num_or_null(win.p50_ms), "p95",
        num_or_null(win.p95_ms), "addedP50", num_or_null(win.added_p50_ms), "addedP95",
        num_or_null(win.added_p95_ms), "samples", (json_int_t)win.samples);
    if (d == NULL) return NULL;
    json_object_set_new(d, "inFlight", json_integer(live->in_flight));
    json_object_set_new(d, "limit", json_integer(live->limit));
    json_object_set_new(d, "queued", json_integer((json_int_t)live->queued));
    json_object_set_new(d, "queuedJobs", json_integer((json_int_t)live->queued_jobs));
    json_object_set_new(d, "maxQueue", json_integer((json_int_t)live->max_queue));
    json_object_set_new(d, "oldestWaitMs", json_integer(live->oldest_wait_ms));
    json_object_set_new(d, "dropped", json_integer((json_int_t)live->dropped));
    json_object_set_new(d, "items",
                        json_is_object(live->items) ? json_deep_copy(live->items) : json_null());
    json_object_set_new(d, "jobsPaused", json_boolean(live->jobs_paused));
    json_object_set_new(d, "uptimeMs", json_integer(live->uptime_ms));
    return d;
}

void tx__ops_route_stats(tx_http_req_t *req, void *ud)
{
    tx_app_t *app = ud;
    if (!tx__ops_require_admin(app, req)) return;
    tx_ops_state_t *s = app->ops;
    tx_adm_stats_t st;
    tx__admission_stats(app->admission, &st);
    tx_stats_live_t live = {
        .in_flight = st.in_flight,
        .limit = st.max_inflight,
        .queued = st.queued_gateway,
        .queued_jobs = st.queued_jobs,
        .max_queue = st.max_queue,
        .oldest_wait_ms =
            tx__admission_oldest_wait(app->admission, TX_ADM_GATEWAY, tx__app_now(app)),
        .dropped = st.dropped,
        .uptime_ms = s != NULL && s->loaded_at > 0 ? tx__clock_wall_ms() - s->loaded_at : 0,
    };
    /* The job engine's in-memory counts (never a store round trip: the page polls every
     * second). */
    json_t *jobs =
        s != NULL && s->has_jobs && s->jobs.status != NULL ? s->jobs.status(s->jobs.ud) : NULL;
    live.items = json_object_get(jobs, "counts");
    live.jobs_paused = json_is_true(json_object_get(jobs, "paused"));
    json_t *d =
        tx__admin_stats_json(tx__obs_window(tx__ops_obs(app)), tx__clock_coarse_ms(), &live);
    json_decref(jobs);
    char *text = d != NULL ? json_dumps(d, JSON_COMPACT | JSON_REAL_PRECISION(6)) : NULL;
    json_decref(d);
    if (text == NULL) {
        tx__http_respond_error(req, 500, "server_error", NULL, "out of memory", NULL, 0);
        return;
    }
    static const tx_header_t h[] = {{"Content-Type", "application/json"},
                                    {"Cache-Control", "no-store"}};
    tx__http_respond(req, 200, h, 2, text, strlen(text));
    free(text);
}
