/* The observer: one call per event on the gateway and job paths, fanned out to the metric
 * families (kept handles for the unlabelled ones), the access log and the notifier. */
#include "obs/observe.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/clock.h"
#include "core/numfmt.h"
#include "obs/log.h"

struct tx_obs {
    int metrics, access_log, own_reg;
    tx_metrics_t *reg;
    tx_metric_family_t *fam[TX_M__LAST];
    tx_metric_series_t *req_dur, *att_dur, *wait, *overhead, *in_flight, *queued, *dropped;
    uint64_t dropped_seen;
    tx_notify_t *notify;
    tx_window_t win; /* the dashboard's window (GET /admin/stats), kept with metrics off too */
};

void tx__obs_opts_from_env(tx_obs_opts_t *o)
{
    if (o == NULL) return;
    const char *m = getenv("TENAX_METRICS");
    o->metrics = !(m != NULL && (strcmp(m, "0") == 0 || strcasecmp(m, "off") == 0 ||
                                 strcasecmp(m, "false") == 0));
    o->access_log = 1;
    o->registry = NULL;
    o->fams = NULL;
}

tx_obs_t *tx__obs_create(const tx_obs_opts_t *o)
{
    tx_obs_t *obs = calloc(1, sizeof *obs);
    if (obs == NULL) return NULL;
    obs->metrics = o != NULL ? o->metrics : 1;
    obs->access_log = o != NULL ? o->access_log : 1;
    tx__window_init(&obs->win);
    if (!obs->metrics) return obs;
    if (o != NULL && o->registry != NULL && o->fams != NULL) {
        obs->reg = o->registry;
        for (int i = 0; i < TX_M__LAST; i++)
            obs->fam[i] = o->fams[i];
    } else {
        obs->own_reg = 1;
        obs->reg = tx__metrics_create();
        if (obs->reg == NULL || tx__metrics_std_register(obs->reg, obs->fam) != 0) {
            tx__obs_destroy(obs);
            return NULL;
        }
    }
    obs->req_dur = tx__metrics_series(obs->fam[TX_M_REQUEST_DURATION], NULL);
    obs->att_dur = tx__metrics_series(obs->fam[TX_M_ATTEMPT_DURATION], NULL);
    obs->wait = tx__metrics_series(obs->fam[TX_M_QUEUE_WAIT], NULL);
    obs->overhead = tx__metrics_series(obs->fam[TX_M_OVERHEAD], NULL);
    obs->in_flight = tx__metrics_series(obs->fam[TX_M_IN_FLIGHT], NULL);
    obs->queued = tx__metrics_series(obs->fam[TX_M_QUEUED], NULL);
    obs->dropped = tx__metrics_series(obs->fam[TX_M_DROPPED], NULL);
    return obs;
}

void tx__obs_destroy(tx_obs_t *obs)
{
    if (obs == NULL) return;
    if (obs->own_reg) tx__metrics_destroy(obs->reg);
    free(obs);
}

void tx__obs_set_notify(tx_obs_t *obs, tx_notify_t *n)
{
    if (obs != NULL) obs->notify = n;
}

tx_notify_t *tx__obs_notify(const tx_obs_t *obs)
{
    return obs != NULL ? obs->notify : NULL;
}

int tx__obs_metrics_enabled(const tx_obs_t *obs)
{
    return obs != NULL && obs->metrics;
}

tx_metrics_t *tx__obs_registry(const tx_obs_t *obs)
{
    return obs != NULL ? obs->reg : NULL;
}

tx_metric_family_t *tx__obs_family(const tx_obs_t *obs, tx_metric_id_t id)
{
    if (obs == NULL || !obs->metrics || (int)id < 0 || id >= TX_M__LAST) return NULL;
    return obs->fam[id];
}

void tx__obs_on_request_done(tx_obs_t *obs, const char *route, const char *model, int status,
                             double total_ms, double upstream_ms)
{
    if (obs == NULL) return;
    if (obs->access_log && tx__log_enabled(TX_LOG_INFO))
        tx__log(TX_LOG_INFO, "ai][request", "route=%s model=%s status=%d ms=%.1f upstream_ms=%.1f",
                route ? route : "", model ? model : "", status, total_ms, upstream_ms);
    tx__window_request(&obs->win, tx__clock_coarse_ms(), status, total_ms, upstream_ms);
    if (!obs->metrics) return;
    char st[TX_NUMFMT_MAX];
    tx__fmt_i64(st, status);
    const char *v[3] = {route, model, st};
    tx__metrics_inc(obs->fam[TX_M_REQUESTS], v, 1);
    tx__metrics_observe(obs->req_dur, total_ms / 1000.0);
    double over = total_ms - upstream_ms;
    tx__metrics_observe(obs->overhead, (over > 0 ? over : 0) / 1000.0);
}

static void notify_class(tx_obs_t *obs, int endpoint, const char *model, tx_class_t cls,
                         int attempt, double delay_s)
{
    int type = tx__notify_type_for_class(cls);
    if (type < 0 || obs->notify == NULL) return;
    char msg[256];
    snprintf(msg, sizeof msg, "upstream answered %s (endpoint %d, model %.100s)",
             tx_class_name(cls), endpoint, model ? model : "");
    tx__notify_event(obs->notify, (tx_notify_type_t)type, msg, attempt > 0 ? attempt : -1, delay_s,
                     tx__clock_mono_ms(), tx__clock_wall_ms());
}

static void on_attempt(tx_obs_t *obs, int endpoint, const char *model, tx_class_t cls,
                       double duration_ms, int attempt, double delay_s, int gateway)
{
    if (obs == NULL) return;
    tx__window_attempt(&obs->win, tx__clock_coarse_ms(), endpoint, cls, attempt, gateway);
    if (obs->metrics) {
        char ep[TX_NUMFMT_MAX];
        tx__fmt_i64(ep, endpoint);
        const char *v[3] = {ep, model, tx_class_name(cls)};
        tx__metrics_inc(obs->fam[TX_M_UPSTREAM_ATTEMPTS], v, 1);
        tx__metrics_observe(obs->att_dur, duration_ms / 1000.0);
    }
    if (cls != TX_CLASS_OK) notify_class(obs, endpoint, model, cls, attempt, delay_s);
}

void tx__obs_on_attempt(tx_obs_t *obs, int endpoint, const char *model, tx_class_t cls,
                        double duration_ms, int attempt, double delay_s)
{
    on_attempt(obs, endpoint, model, cls, duration_ms, attempt, delay_s, 1);
}

void tx__obs_on_job_attempt(tx_obs_t *obs, int endpoint, const char *model, tx_class_t cls,
                            double duration_ms, int attempt, double delay_s)
{
    on_attempt(obs, endpoint, model, cls, duration_ms, attempt, delay_s, 0);
}

void tx__obs_on_retry_after(tx_obs_t *obs, int endpoint, double ms)
{
    if (obs != NULL) tx__window_retry_after(&obs->win, tx__clock_coarse_ms(), endpoint, ms);
}

const tx_window_t *tx__obs_window(const tx_obs_t *obs)
{
    return obs != NULL ? &obs->win : NULL;
}

void tx__obs_on_retry(tx_obs_t *obs, tx_class_t cls)
{
    if (obs == NULL) return;
    tx__window_retry(&obs->win, tx__clock_coarse_ms());
    if (!obs->metrics) return;
    const char *v[1] = {tx_class_name(cls)};
    tx__metrics_inc(obs->fam[TX_M_RETRIES], v, 1);
}

void tx__obs_on_queue_wait(tx_obs_t *obs, double wait_ms)
{
    if (obs == NULL || !obs->metrics) return;
    tx__metrics_observe(obs->wait, wait_ms / 1000.0);
}

void tx__obs_on_failover(tx_obs_t *obs, int from, int to)
{
    if (obs == NULL) return;
    tx__window_failover(&obs->win, tx__clock_coarse_ms());
    if (obs->metrics) {
        char f[TX_NUMFMT_MAX], t[TX_NUMFMT_MAX];
        tx__fmt_i64(f, from);
        tx__fmt_i64(t, to);
        const char *v[2] = {f, t};
        tx__metrics_inc(obs->fam[TX_M_FAILOVERS], v, 1);
    }
    if (obs->notify != NULL) {
        char msg[128];
        snprintf(msg, sizeof msg, "endpoint %d is down; failing over to endpoint %d", from, to);
        tx__notify_event(obs->notify, TX_NOTIFY_ENDPOINT_DOWN, msg, -1, -1, tx__clock_mono_ms(),
                         tx__clock_wall_ms());
    }
}

void tx__obs_on_usage(tx_obs_t *obs, const char *model, int64_t prompt, int64_t completion)
{
    if (obs == NULL || !obs->metrics) return;
    const char *vp[2] = {model, "prompt"}, *vc[2] = {model, "completion"};
    if (prompt >= 0) tx__metrics_inc(obs->fam[TX_M_TOKENS], vp, (double)prompt);
    if (completion >= 0) tx__metrics_inc(obs->fam[TX_M_TOKENS], vc, (double)completion);
}

void tx__obs_on_cache(tx_obs_t *obs, int hit)
{
    if (obs == NULL || !obs->metrics) return;
    const char *v[1] = {hit ? "hit" : "miss"};
    tx__metrics_inc(obs->fam[TX_M_CACHE], v, 1);
}

void tx__obs_set_admission(tx_obs_t *obs, unsigned in_flight, size_t queued, uint64_t dropped)
{
    if (obs == NULL || !obs->metrics) return;
    tx__metrics_set(obs->in_flight, (double)in_flight);
    tx__metrics_set(obs->queued, (double)queued);
    if (dropped > obs->dropped_seen) {
        tx__metrics_add(obs->dropped, (double)(dropped - obs->dropped_seen));
        obs->dropped_seen = dropped;
    }
}

void tx__obs_set_items(tx_obs_t *obs, const char *status, double count)
{
    if (obs == NULL || !obs->metrics) return;
    const char *v[1] = {status};
    tx__metrics_gauge_set(obs->fam[TX_M_ITEMS], v, count);
}

char *tx__obs_render(const tx_obs_t *obs, size_t *len)
{
    if (obs == NULL || !obs->metrics) return NULL;
    return tx__metrics_render(obs->reg, len);
}
