/* GET /admin/stats: the dashboard's JSON summary of the metrics (docs/operations.md). The
 * document is built by a pure function from the observer's window and a few live numbers, so a
 * test can feed it events and a clock; the route gathers those numbers from the app. */
#ifndef TX_OPS_STATS_H
#define TX_OPS_STATS_H

#include <jansson.h>

#include "server/host.h"
#include "obs/window.h"

/* The seconds /admin/stats sums over: requests per second over the short one, the rest over
 * the long one. */
#define TX_STATS_RATE_SECONDS 10
#define TX_STATS_WINDOW_SECONDS 60

/* What the route reads from the app at the time of the request. */
typedef struct {
    unsigned in_flight, limit;
    size_t queued, queued_jobs, max_queue;
    tx_ms_t oldest_wait_ms; /* the gateway queue's oldest waiter */
    uint64_t dropped;
    json_t *items; /* borrowed: items by status ({"pending": n, …}), or NULL: no store/jobs */
    int jobs_paused;
    tx_ms_t uptime_ms;
} tx_stats_live_t;

/* The /admin/stats document for window `w` at monotonic `now` (a new reference; NULL when out
 * of memory). A NULL window counts as an empty one. */
json_t *tx__admin_stats_json(const tx_window_t *w, tx_ms_t now, const tx_stats_live_t *live);

/* The route handler (ud: the app): admin-protected like /admin/diag. */
void tx__ops_route_stats(tx_http_req_t *req, void *ud);

#endif
