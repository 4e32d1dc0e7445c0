/* The jobs HTTP API (docs/api.md, docs/classifier.md): item import, item and page reads, stats,
 * bulk retry, regenerate, their seed-compatible aliases, and the task routes. Every store call runs
 * through the store executor (storeq.h): nothing here blocks the loop. Routes: docs/api.md. */
#ifndef TX_JOBS_API_H
#define TX_JOBS_API_H

#include "store/storeq.h"
#include "server/router.h"

typedef struct tx_jobsapi tx_jobsapi_t;
struct tx_app;

typedef struct {
    tx_storeq_t *storeq; /* required; borrowed: must outlive the API's last queued call */
    /* Wakes the scheduler (tx__jobs_kick) after an import, retry or regenerate made items due.
     * Called on the loop thread when the answer is sent, possibly after tx__jobsapi_destroy
     * (calls still queued on the storeq keep it): it must then do nothing. May be NULL. */
    void (*kick)(void *ud);
    /* JOB_MAX_ATTEMPTS as shown by stats, read at each request (hot reload); NULL or <= 0
     * means 5. Loop thread. */
    int (*max_attempts)(void *ud);
    /* Called first on each item-mutating route (every POST: import, retry, regenerate, tasks;
     * docs/operations.md admin token): returns 1 to go on, or 0 after answering `req` itself (401).
     * NULL: every request goes on. Loop thread. */
    int (*guard)(void *ud, tx_http_req_t *req);
    void *ud;
} tx_jobsapi_config_t;

/* A new API over cfg->storeq. NULL when cfg or cfg->storeq is NULL, or on out of memory.
 * `cfg` is copied. */
tx_jobsapi_t *tx__jobsapi_new(const tx_jobsapi_config_t *cfg);

/* Registers every route on `r`; the handlers find the API through `slot` (*slot == api), which
 * must stay valid as long as the router can dispatch. A handler that finds *slot NULL answers
 * 503. Returns TX_EOK, TX_EINVAL for NULL arguments, or the router's error (TX_ENOMEM) with
 * some routes possibly added. */
tx_err_t tx__jobsapi_register(tx_jobsapi_t **slot, tx_router_t *r);

/* Frees the API. Requests already handed to the storeq still answer (they hold nothing of the
 * API); set the slot to NULL first so new ones get 503. NULL is a no-op. */
void tx__jobsapi_destroy(tx_jobsapi_t *api);

/* `tenax serve` wiring: builds the API on app->storeq (kick → the scheduler in app->jobs,
 * max_attempts → the app's current config), keeps it in app->jobsapi, registers the routes
 * and a stop hook that frees it. TX_EINVAL when the app has no store. */
tx_err_t tx__jobsapi_routes(struct tx_app *app);

#endif
