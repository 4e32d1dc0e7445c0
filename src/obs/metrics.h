/* A small metrics registry for one loop thread: counters, gauges and fixed-bucket histograms with
 * bounded label sets, rendered in the Prometheus text exposition format 0.0.4. Not thread-safe:
 * every call on one registry must come from the same thread (the loop). */
#ifndef TX_OBS_METRICS_H
#define TX_OBS_METRICS_H

#include <stddef.h>
#include <stdint.h>

#define TX_METRICS_MAX_LABELS 4
#define TX_METRICS_MAX_BUCKETS 32
/* A label value longer than this is cut to its first TX_METRICS_LABEL_MAX bytes. */
#define TX_METRICS_LABEL_MAX 128

typedef enum { TX_METRIC_COUNTER, TX_METRIC_GAUGE, TX_METRIC_HISTOGRAM } tx_metric_type_t;

typedef struct tx_metrics tx_metrics_t;
typedef struct tx_metric_family tx_metric_family_t;
typedef struct tx_metric_series tx_metric_series_t;

/* Latency buckets in seconds, 0.0001 … 60 (TX_METRICS_LATENCY_NBUCKETS values). */
extern const double tx_metrics_latency_buckets[];
#define TX_METRICS_LATENCY_NBUCKETS 18

/* A new, empty registry; NULL when out of memory. Free with tx__metrics_destroy. */
tx_metrics_t *tx__metrics_create(void);

/* Frees the registry, its families and series (every handle into it dies). NULL: no-op. */
void tx__metrics_destroy(tx_metrics_t *m);

/* Registers a family once. `name` must be a valid metric name and unique in the registry,
 * `label_names` holds `nlabels` (≤ TX_METRICS_MAX_LABELS) valid label names; histograms take
 * `nbuckets` (1…TX_METRICS_MAX_BUCKETS) strictly increasing finite upper bounds (+Inf is
 * implied). At most `max_series` (≥ 1) label combinations are kept; later new ones are refused
 * and counted. Strings are copied. A family without labels has its one series from the start.
 * Returns a handle owned by the registry, or NULL on a bad argument, a duplicate name or no
 * memory (nothing is registered then). */
tx_metric_family_t *tx__metrics_register(tx_metrics_t *m, tx_metric_type_t type, const char *name,
                                         const char *help, size_t nlabels,
                                         const char *const *label_names, const double *buckets,
                                         size_t nbuckets, size_t max_series);

/* The series for these label values (`values` holds nlabels strings; NULL for none; a NULL
 * value counts as ""), created on first use. The handle stays valid for the registry's life, so
 * a hot path may keep it. Returns NULL when the family is NULL, the cap of series is reached
 * (the refusal is counted) or memory runs out; every update function accepts NULL as a no-op. */
tx_metric_series_t *tx__metrics_series(tx_metric_family_t *f, const char *const *values);

/* Counter: adds `delta` (negative or NaN deltas are ignored). Gauge: adds `delta`. */
void tx__metrics_add(tx_metric_series_t *s, double delta);
/* Gauge: sets the value (ignored for counters and histograms). */
void tx__metrics_set(tx_metric_series_t *s, double value);
/* Histogram: records one observation (NaN is ignored). */
void tx__metrics_observe(tx_metric_series_t *s, double value);

/* Lookup and update in one call, for paths that do not keep handles. */
void tx__metrics_inc(tx_metric_family_t *f, const char *const *values, double delta);
void tx__metrics_gauge_set(tx_metric_family_t *f, const char *const *values, double value);
void tx__metrics_observe_at(tx_metric_family_t *f, const char *const *values, double value);

/* Readers for tests and diag: the current value (counter/gauge), observation count and sum
 * (histogram), the number of series and the number of refused new series. 0 for NULL. */
double tx__metrics_value(const tx_metric_series_t *s);
uint64_t tx__metrics_hist_count(const tx_metric_series_t *s);
double tx__metrics_hist_sum(const tx_metric_series_t *s);
size_t tx__metrics_series_count(const tx_metric_family_t *f);
uint64_t tx__metrics_refused(const tx_metric_family_t *f);

/* Renders every family in registration order (series in creation order) in the Prometheus text
 * format 0.0.4, followed by `tenax_metrics_series_refused_total{family}` for the families that
 * refused series. Returns a NUL-terminated heap string the caller frees (its length in *len when
 * len is not NULL), or NULL when out of memory or m is NULL. */
char *tx__metrics_render(const tx_metrics_t *m, size_t *len);

#endif
