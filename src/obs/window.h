/* A short sliding window over the gateway's traffic for the dashboard (GET /admin/stats): one
 * slot per second for the last TX_WIN_SECONDS seconds (requests, client-visible successes, first
 * attempts and their successes, rescued calls, retries, failovers), the latencies of the last
 * TX_WIN_SAMPLES requests, and since-boot totals, including upstream attempts by endpoint and
 * class. Pure: the clock (monotonic ms) is passed in; one thread. Fixed size, no allocation. */
#ifndef TX_OBS_WINDOW_H
#define TX_OBS_WINDOW_H

#include <stddef.h>
#include <stdint.h>

#include "tenax/class.h"
#include "tenax/types.h"

#define TX_WIN_SECONDS 60
#define TX_WIN_SAMPLES 2048
#define TX_WIN_ENDPOINTS 32 /* attempts of endpoint indexes at or above this are not split */

typedef struct {
    uint64_t requests;  /* gateway requests answered */
    uint64_t ok;        /* of them answered 2xx: success as the client saw it */
    uint64_t first;     /* gateway calls that made a first upstream attempt */
    uint64_t first_ok;  /* of them, the first attempt succeeded */
    uint64_t rescued;   /* gateway calls that succeeded on a later attempt (retry, fallback) */
    uint64_t retries;   /* retries decided (gateway and jobs) */
    uint64_t failovers; /* endpoint failovers */
} tx_win_counts_t;

typedef struct {
    int64_t sec; /* the second (now / 1000) this slot counts; -1: unused */
    tx_win_counts_t c;
} tx_win_slot_t;

typedef struct {
    tx_ms_t at;
    float total_ms, added_ms;
} tx_win_sample_t;

typedef struct {
    tx_win_slot_t slot[TX_WIN_SECONDS];
    tx_win_sample_t sample[TX_WIN_SAMPLES];
    size_t nsample, next;
    tx_win_counts_t total;                               /* since boot */
    uint64_t ep_class[TX_WIN_ENDPOINTS][TX_CLASS__LAST]; /* upstream attempts, gateway and jobs */
    double ep_retry_after_ms[TX_WIN_ENDPOINTS];          /* the last Retry-After each sent */
    tx_ms_t ep_retry_after_at[TX_WIN_ENDPOINTS];         /* when (monotonic ms; 0: never) */
    int ep_max;                                          /* highest endpoint index seen, -1: none */
} tx_window_t;

/* What tx__window_summary reports over the last `seconds` seconds (the current one included). */
typedef struct {
    unsigned seconds;
    tx_win_counts_t c;
    double rps;            /* requests per second: over the seconds - 1 whole seconds and the
                              part of the current one that has passed */
    double client_success; /* ok / requests; -1 when no request */
    double first_success;  /* first_ok / first; -1 when no first attempt */
    size_t samples;        /* latency samples in the window */
    double p50_ms, p95_ms, added_p50_ms, added_p95_ms; /* -1 when no sample */
} tx_win_summary_t;

void tx__window_init(tx_window_t *w);

/* A gateway request answered with `status` after `total_ms`, of which `upstream_ms` upstream
 * (attempts, queue wait, backoff); the rest is what tenax added. */
void tx__window_request(tx_window_t *w, tx_ms_t now, int status, double total_ms,
                        double upstream_ms);

/* An upstream attempt ended on endpoint index `endpoint` with class `cls`; `attempt` is its
 * 1-based number within its call (< 1 unknown). `gateway` is 0 for the job engine's attempts:
 * those count by endpoint and class only, not as first attempts or rescues. */
void tx__window_attempt(tx_window_t *w, tx_ms_t now, int endpoint, tx_class_t cls, int attempt,
                        int gateway);

void tx__window_retry(tx_window_t *w, tx_ms_t now);

/* Endpoint index `endpoint` answered with a Retry-After of `ms` (parsed, ≥ 0). */
void tx__window_retry_after(tx_window_t *w, tx_ms_t now, int endpoint, double ms);
void tx__window_failover(tx_window_t *w, tx_ms_t now);

/* The time the last `seconds` seconds ending at `now` have lasted so far, in seconds: the
 * whole ones and the part of the current one (a rate over it does not dip at each second's
 * start). */
double tx__window_elapsed_s(tx_ms_t now, unsigned seconds);

/* Only the counts of the last `seconds` (1..TX_WIN_SECONDS, clamped) seconds ending at `now`. */
void tx__window_counts(const tx_window_t *w, tx_ms_t now, unsigned seconds, tx_win_counts_t *out);

/* Sums the last `seconds` (1..TX_WIN_SECONDS, clamped) seconds ending at `now` into *out;
 * the latency percentiles (nearest rank) are over the samples of the same seconds. */
void tx__window_summary(const tx_window_t *w, tx_ms_t now, unsigned seconds, tx_win_summary_t *out);

#endif
