/* One gateway request (docs/retry-engine.md, docs/upstream.md, docs/gateway.md) as an explicit
 * state machine: admission, attempts through attempt.h, decisions through tx_policy_next, waits in
 * a uv_timer, the answer to the client (fixed or streamed). States and transitions:
 * docs/gateway.md. */
#ifndef TX_GATEWAY_CALL_H
#define TX_GATEWAY_CALL_H

#include "server/host.h"
#include "gateway/request.h"

typedef enum {
    TX_CALL_QUEUED,     /* waiting for an admission slot */
    TX_CALL_CONNECTING, /* an attempt is in flight, no response head yet */
    TX_CALL_WAITING,    /* the head arrived, the body is on its way */
    TX_CALL_STREAMING,  /* bytes went to the client: no retry any more */
    TX_CALL_BACKOFF,    /* waiting before the next attempt (no slot held) */
    TX_CALL_DONE,
    TX_CALL__LAST
} tx_call_state_kind_t;

/* The state's name ("backoff"); "unknown" when out of range. Static. */
const char *tx__call_state_name(tx_call_state_kind_t s);

/* 1 when `from -> to` is a transition of the machine (docs/gateway.md), 0 otherwise. */
int tx__call_transition_ok(tx_call_state_kind_t from, tx_call_state_kind_t to);

/* Takes over `req` (an HTTP request for `route`) and finishes it exactly once: validates it,
 * then runs the call. Loop thread only. */
void tx__call_start(tx_app_t *app, tx_http_req_t *req, tx_route_kind_t route);

#endif
