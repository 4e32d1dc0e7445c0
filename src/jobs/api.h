/* The jobs HTTP API (SPEC §4.2–4.6, §5.4): item import, item and page reads, stats, bulk retry,
 * regenerate, their seed-compatible aliases, and the task routes. Every store call runs through
 * the store executor (storeq.h): nothing here blocks the loop. Routes: docs/api.md. */
#ifndef TX_JOBS_API_H
#define TX_JOBS_API_H

#include "jobs/storeq.h"
#include "server/router.h"

typedef struct tx_jobsapi tx_jobsapi_t;

/* Wakes the scheduler (tx_jobs_kick) after an import, retry or regenerate made items due.
 * Called on the loop thread. */
typedef void (*tx_jobsapi_kick_fn)(void *ud);

typedef struct {
    tx_storeq_t *storeq;     /* required; borrowed: must outlive the API's last request */
    tx_jobsapi_kick_fn kick; /* may be NULL */
    void *kick_ud;
    int max_attempts;        /* JOB_MAX_ATTEMPTS as shown by stats; <= 0 means 5 */
} tx_jobsapi_config_t;

/* A new API over cfg->storeq. NULL when cfg or cfg->storeq is NULL, or on out of memory.
 * `cfg` is copied. */
tx_jobsapi_t *tx_jobsapi_new(const tx_jobsapi_config_t *cfg);

/* Registers every route on `r` (the handlers get `api` as their data). Returns TX_EOK, or the
 * router's error (TX_ENOMEM) with some routes possibly added; TX_EINVAL for NULL arguments. */
tx_err_t tx_jobsapi_register(tx_jobsapi_t *api, tx_router_t *r);

/* Hot reload: the JOB_MAX_ATTEMPTS shown by later stats (<= 0 means 5). Loop thread. */
void tx_jobsapi_set_max_attempts(tx_jobsapi_t *api, int max_attempts);

/* Requests handed to the store executor and not answered yet. */
size_t tx_jobsapi_in_flight(const tx_jobsapi_t *api);

/* Frees the API. Call it only once no request is in flight (close the storeq first: its close
 * drains every queued call, which answers them). NULL is a no-op. */
void tx_jobsapi_destroy(tx_jobsapi_t *api);

#endif
