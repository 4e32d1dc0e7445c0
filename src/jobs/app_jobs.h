/* The job engine plugged into the app of `tenax serve`: one engine on the app's loop, store
 * executor, admission (shared with the gateway, gateway first) and attempt primitive. */
#ifndef TX_JOBS_APP_JOBS_H
#define TX_JOBS_APP_JOBS_H

#include "server/host.h"
#include "jobs/engine.h"

/* Starts the engine for `app` (kept in app->jobs) and registers its stop hook. TX_EOK; TX_EINVAL
 * when the app has no store; or the engine's error. Call once, after tx__app_new. */
tx_err_t tx__jobs_start(tx_app_t *app);

/* The app's engine (NULL when not started): for tx__jobs_kick / tx__jobs_resume / tx__jobs_stats
 * from the routes, diag and a config change. */
tx_jobs_t *tx__jobs_of(const tx_app_t *app);

/* The attempt port over the gateway's attempt primitive (tx__gw_attempt_start) of `app`. */
void tx__jobs_app_port(tx_app_t *app, tx_jobs_port_t *out);

#endif
