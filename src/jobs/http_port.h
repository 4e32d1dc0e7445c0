/* The built-in attempt port of the job engine: one POST /chat/completions through the upstream
 * client (libcurl on libuv), endpoint failover (SPEC §3.3) and the classifier (§3.1). Used by
 * `tenax run` and `tenax demo`; `tenax serve` may pass the gateway's attempt primitive instead. */
#ifndef TX_JOBS_HTTP_PORT_H
#define TX_JOBS_HTTP_PORT_H

#include <uv.h>

#include "config/config.h"
#include "jobs/port.h"

typedef struct tx_jobs_http tx_jobs_http_t;

/* A port on `loop` for the endpoints, keys and failover settings of `cfg` (read at creation;
 * the snapshot is not kept). NULL on out of memory or a bad endpoint list. */
tx_jobs_http_t *tx_jobs_http_new(uv_loop_t *loop, const tx_config_t *cfg);

/* Fills `out` with the port functions bound to `h`. */
void tx_jobs_http_port(tx_jobs_http_t *h, tx_jobs_port_t *out);

/* Endpoint failovers counted since creation (all endpoints). 0 for NULL. */
unsigned tx_jobs_http_failovers(const tx_jobs_http_t *h);

/* Aborts attempts still running (no callbacks), closes the client and frees `h`; `done(arg)`
 * (may be NULL) runs once every handle is closed. NULL: no-op. */
void tx_jobs_http_close(tx_jobs_http_t *h, void (*done)(void *), void *arg);

#endif
