/* The store's health for `tenax serve`: a ping through the store executor about once a second,
 * cached, so GET /readyz can say 503 while the database is unreachable and /admin/diag can show
 * the store's state ({"backend","ok","error","checkedAt"}) without waiting on the database. */
#ifndef TX_APP_STORE_HEALTH_H
#define TX_APP_STORE_HEALTH_H

#include <jansson.h>

#include "server/host.h"

/* A ping older than this without an answer counts as "not answering" (not ready). */
#define TX_STORE_HEALTH_STALL_MS 3000

/* Starts the checks on app->storeq (every `interval_ms`, 0: 1000) and keeps the state in
 * app->store_health; a stop hook ends them. `store_url` only names the backend (never kept,
 * never shown). TX_EOK; TX_EINVAL when the app has no store executor; TX_ENOMEM. */
tx_err_t tx__store_health_start(tx_app_t *app, const char *store_url, unsigned interval_ms);

/* 1 when the last ping succeeded and none has been waiting longer than
 * TX_STORE_HEALTH_STALL_MS; 1 as well when the checks are not running (nothing known against
 * the store, which opened). Loop thread. */
int tx__store_health_ready(const tx_app_t *app);

/* Counts one wake-up delivered to the scheduler (jobs/pgwake_app.c) and whether the listener is
 * connected now; shown in the JSON below. No-op when the checks are not running. Loop thread. */
void tx__store_health_note_wake(tx_app_t *app, int listening);

/* {"backend":"postgres","ok":true,"error":null,"checkedAt":"2026-…Z","wakeups":12,
 * "listening":true} (a new reference; the last two only once a wake-up was noted), or JSON
 * null when the checks are not running. Loop thread. */
json_t *tx__store_health_json(const tx_app_t *app);

#endif
