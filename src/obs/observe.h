/* The observer the gateway and job paths call once per event (request done, attempt, retry,
 * queue wait, failover, usage, cache lookup): it updates the /metrics families, writes the
 * access log line and raises the admin notifications (docs/operations.md). Loop thread only. */
#ifndef TX_OBS_OBSERVE_H
#define TX_OBS_OBSERVE_H

#include <stddef.h>
#include <stdint.h>

#include "obs/metrics.h"
#include "obs/notify.h"
#include "obs/tx_metrics.h"
#include "obs/window.h"
#include "tenax/class.h"

typedef struct tx_obs tx_obs_t;

/* What an observer does. */
typedef struct {
    int metrics;    /* 1: keep the metric families (TENAX_METRICS, default on) */
    int access_log; /* 1: one info line per gateway request ([ai][request]) */
    /* Families already registered elsewhere (the app's registry; borrowed, must outlive the
     * observer). NULL: the observer makes and owns its own registry. */
    tx_metrics_t *registry;
    tx_metric_family_t *const *fams; /* TX_M__LAST handles into `registry` */
} tx_obs_opts_t;

/* Reads TENAX_METRICS ("0", "off", "false" turn metrics off; default on); access_log is on
 * (its lines still obey TENAX_LOG_LEVEL); registry and fams are set to NULL. */
void tx__obs_opts_from_env(tx_obs_opts_t *o);

/* A new observer (NULL opts: both on). NULL when out of memory. Free with tx__obs_destroy. */
tx_obs_t *tx__obs_create(const tx_obs_opts_t *o);
void tx__obs_destroy(tx_obs_t *obs); /* NULL: no-op; does not free the notifier */

/* The notifier events go to (borrowed; NULL: none). */
void tx__obs_set_notify(tx_obs_t *obs, tx_notify_t *n);
tx_notify_t *tx__obs_notify(const tx_obs_t *obs);

/* 1 when metrics are kept. The registry and a family (NULL when metrics are off). */
int tx__obs_metrics_enabled(const tx_obs_t *obs);
tx_metrics_t *tx__obs_registry(const tx_obs_t *obs);
tx_metric_family_t *tx__obs_family(const tx_obs_t *obs, tx_metric_id_t id);

/* A gateway request answered: `route` ("/v1/chat/completions"), requested `model` (NULL: ""),
 * HTTP `status`, its whole duration and the part spent upstream (attempts, queue wait and
 * backoff), both in ms; the difference is tenax's overhead. */
void tx__obs_on_request_done(tx_obs_t *obs, const char *route, const char *model, int status,
                             double total_ms, double upstream_ms);

/* One upstream attempt ended on endpoint index `endpoint` for `model` with class `cls`
 * (TX_CLASS_OK for a success), after `duration_ms`. A quota, rate-limit, concurrency or auth
 * class raises the matching notification (throttled by the notifier); `attempt` is the 1-based
 * attempt number of the call (< 1: unknown) and `delay_s` the wait before the next (< 0: none). */
void tx__obs_on_attempt(tx_obs_t *obs, int endpoint, const char *model, tx_class_t cls,
                        double duration_ms, int attempt, double delay_s);

/* The same for an attempt of the job engine: it counts everywhere an attempt counts except as
 * a gateway call's first attempt or rescue in the dashboard's window. */
void tx__obs_on_job_attempt(tx_obs_t *obs, int endpoint, const char *model, tx_class_t cls,
                            double duration_ms, int attempt, double delay_s);

/* The dashboard's window (GET /admin/stats) the events above feed; NULL for a NULL observer. */
const tx_window_t *tx__obs_window(const tx_obs_t *obs);

/* Endpoint index `endpoint` answered with a Retry-After of `ms` (for the dashboard). */
void tx__obs_on_retry_after(tx_obs_t *obs, int endpoint, double ms);

/* A retry was decided because of `cls`. */
void tx__obs_on_retry(tx_obs_t *obs, tx_class_t cls);

/* A call waited `wait_ms` for a concurrency slot (0 when granted at once). */
void tx__obs_on_queue_wait(tx_obs_t *obs, double wait_ms);

/* Endpoint `from` was marked down and `to` is active: counted, and endpoint_down notified. */
void tx__obs_on_failover(tx_obs_t *obs, int from, int to);

/* Tokens from an upstream answer's `usage` (negative values are ignored). */
void tx__obs_on_usage(tx_obs_t *obs, const char *model, int64_t prompt, int64_t completion);

/* A response cache lookup: hit 1, miss 0. */
void tx__obs_on_cache(tx_obs_t *obs, int hit);

/* Point-in-time values, set before rendering: admission (in flight, queued, dropped since boot:
 * tenax_dropped_total follows the admission's count) and the number of job items with
 * `status`. */
void tx__obs_set_admission(tx_obs_t *obs, unsigned in_flight, size_t queued, uint64_t dropped);
void tx__obs_set_items(tx_obs_t *obs, const char *status, double count);

/* The Prometheus text (heap string the caller frees, length in *len when not NULL), or NULL
 * when metrics are off or memory runs out. */
char *tx__obs_render(const tx_obs_t *obs, size_t *len);

#endif
