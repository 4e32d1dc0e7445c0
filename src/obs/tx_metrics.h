/* The metric families tenax exposes on GET /metrics (issue 5), as one list: id, type, name,
 * help, comma-separated label names, histogram buckets (latency or none) and the cap of series.
 * The gateway and the job engine update them through the handles tx__metrics_std_register fills. */
#ifndef TX_OBS_TX_METRICS_H
#define TX_OBS_TX_METRICS_H

#include "obs/metrics.h"

#define TX_METRICS_STD(X)                                                                          \
    X(REQUESTS, COUNTER, "tenax_requests_total",                                                   \
      "Gateway requests answered, by route, requested model and HTTP status.",                     \
      "route,model,status", NONE, 1024)                                                            \
    X(UPSTREAM_ATTEMPTS, COUNTER, "tenax_upstream_attempts_total",                                 \
      "Upstream attempts, by endpoint index, model and outcome class (ok or an error class).",     \
      "endpoint,model,class", NONE, 2048)                                                          \
    X(RETRIES, COUNTER, "tenax_retries_total", "Retries decided, by the class that caused them.",  \
      "reason", NONE, 32)                                                                          \
    X(REQUEST_DURATION, HISTOGRAM, "tenax_request_duration_seconds",                               \
      "Gateway request duration from the first byte received to the last byte sent.", "", LATENCY, \
      1)                                                                                           \
    X(ATTEMPT_DURATION, HISTOGRAM, "tenax_upstream_attempt_duration_seconds",                      \
      "Duration of one upstream attempt.", "", LATENCY, 1)                                         \
    X(QUEUE_WAIT, HISTOGRAM, "tenax_queue_wait_seconds",                                           \
      "Time a call waited for an upstream concurrency slot.", "", LATENCY, 1)                      \
    X(OVERHEAD, HISTOGRAM, "tenax_overhead_seconds",                                               \
      "Time tenax itself adds to a request: its duration minus upstream attempts and waits.", "",  \
      LATENCY, 1)                                                                                  \
    X(IN_FLIGHT, GAUGE, "tenax_in_flight", "Upstream requests in flight now.", "", NONE, 1)        \
    X(QUEUED, GAUGE, "tenax_queued", "Gateway requests waiting for a slot now.", "", NONE, 1)      \
    X(DROPPED, COUNTER, "tenax_dropped_total",                                                     \
      "Gateway requests dropped because the queue was full.", "", NONE, 1)                         \
    X(FAILOVERS, COUNTER, "tenax_failovers_total",                                                 \
      "Endpoint failovers, by endpoint index left and taken.", "from,to", NONE, 256)               \
    X(TOKENS, COUNTER, "tenax_tokens_total", "Tokens reported by the upstream usage, by model.",   \
      "model,kind", NONE, 512)                                                                     \
    X(CACHE, COUNTER, "tenax_cache_total", "Response cache lookups, by result (hit or miss).",     \
      "result", NONE, 4)                                                                           \
    X(ITEMS, GAUGE, "tenax_items", "Job items by status.", "status", NONE, 16)                     \
    X(RETRY_BUDGET_AVAILABLE, GAUGE, "tenax_retry_budget_available",                               \
      "Retries a provider's retry budget still allows in its 10 s window.", "provider", NONE, 64)  \
    X(RETRY_BUDGET_EXHAUSTED, COUNTER, "tenax_retry_budget_exhausted_total",                       \
      "Retries refused because the provider's retry budget was spent.", "provider", NONE, 64)      \
    X(CONCURRENCY_LIMIT, GAUGE, "tenax_endpoint_concurrency_limit",                                \
      "An endpoint's adaptive in-flight limit.", "endpoint", NONE, 64)                             \
    X(ENDPOINT_IN_FLIGHT, GAUGE, "tenax_endpoint_in_flight",                                       \
      "Upstream requests in flight on an endpoint now.", "endpoint", NONE, 64)

typedef enum {
#define TX_METRICS_STD_ENUM(id, type, name, help, labels, buckets, max) TX_M_##id,
    TX_METRICS_STD(TX_METRICS_STD_ENUM)
#undef TX_METRICS_STD_ENUM
        TX_M__LAST
} tx_metric_id_t;

/* Registers every family of TX_METRICS_STD in `m` and stores their handles in fams[id].
 * Returns 0, or -1 when one could not be registered (already there, or no memory); the
 * families registered before the failure stay in `m` and fams is then not to be used. */
int tx__metrics_std_register(tx_metrics_t *m, tx_metric_family_t *fams[TX_M__LAST]);

#endif
