/* The composition root of `tenax serve` (and any front door that needs the engine): builds the
 * host (server/host.h: one libuv loop thread owning the config snapshot, HTTP server + router,
 * upstream client, endpoints, admission, rng, store executor and metrics registry) that the
 * gateway, the jobs API, the scheduler and ops plug into, and runs its start and graceful stop.
 * Plug-ins never include this header. Loop thread only unless said otherwise. */
#ifndef TX_APP_APP_H
#define TX_APP_APP_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "config/config.h"
#include "server/host.h"
#include "tenax/error.h"

typedef struct {
    const char *store_url; /* NULL: no store executor */
    int store_threads;     /* 0: 1 */
    unsigned grace_ms;     /* in-flight requests get this long on stop; 0: 10000 */
    uint64_t seed;         /* rng seed; 0: from the clock and the pid */
} tx_app_opts_t;

/* Builds the graph on `loop` from `cfg` (the app takes its own reference; the caller keeps
 * theirs). Opens the store when opts->store_url is set. Registers GET /healthz and /readyz and
 * the std metric families. NULL on failure with `err` filled; nothing is left open then. */
tx_app_t *tx__app_new(uv_loop_t *loop, tx_config_t *cfg, const tx_app_opts_t *opts,
                      tx_error_t *err);

/* Starts the HTTP server on `listen` with the router as handler and the limits of the config.
 * TX_EOK, or an error with `err` filled (e.g. the port is in use). Marks the app ready. */
tx_err_t tx__app_listen(tx_app_t *app, const char *listen, tx_error_t *err);

/* Catches SIGINT and SIGTERM on the loop: the first one begins tx__app_stop. */
void tx__app_handle_signals(tx_app_t *app);

/* Graceful stop: refuses new calls, runs the stop hooks, stops accepting and lets requests in
 * flight finish for up to grace_ms (the rest are aborted), closes the upstream client and the
 * store executor, then calls `stopped(app, ud)` (may be NULL) on the loop. After that the loop
 * has nothing of the app's left and tx__app_destroy may be called. Idempotent. */
void tx__app_stop(tx_app_t *app, void (*stopped)(tx_app_t *, void *), void *ud);

/* Frees what is left of a stopped app (or one never started: then run the loop once more so
 * the upstream client's handles close). NULL: no-op. */
void tx__app_destroy(tx_app_t *app);

#endif
