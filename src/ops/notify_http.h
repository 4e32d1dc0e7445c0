/* The HTTP side of notifications: a tx_notify_post_fn that POSTs over its own upstream client on
 * the loop, fire-and-forget, with a bounded timeout and a bounded number in flight; the outcome
 * goes back to the notifier (tx__notify_delivered). Never logs a URL. Loop thread only. */
#ifndef TX_OPS_NOTIFY_HTTP_H
#define TX_OPS_NOTIFY_HTTP_H

#include <uv.h>

#include "obs/notify.h"

#define TX_NOTIFY_HTTP_TIMEOUT_MS 5000
#define TX_NOTIFY_HTTP_MAX_INFLIGHT 16

typedef struct tx_notify_http tx_notify_http_t;

/* A sender on `loop` whose POSTs time out after `timeout_ms` (0: TX_NOTIFY_HTTP_TIMEOUT_MS;
 * connecting included), on tenax's upstream client with the proxy and CA file the environment
 * names (AI_PROXY, else HTTP(S)_PROXY; NO_PROXY; AI_CA_FILE). NULL when out of memory. */
tx_notify_http_t *tx__notify_http_new(uv_loop_t *loop, long timeout_ms);

/* Where outcomes are reported (borrowed; may be NULL). Set it once the notifier exists. */
void tx__notify_http_set_notifier(tx_notify_http_t *s, tx_notify_t *n);

/* The post function for tx__notify_create; ud is the sender. Returns 0 when the POST started,
 * -1 when it could not (too many in flight, no memory, closing). Copies url and json. */
int tx__notify_http_post(void *ud, const char *url, const char *json);

/* POSTs started and not finished. */
size_t tx__notify_http_inflight(const tx_notify_http_t *s);

/* Drops the POSTs in flight (not reported) and closes the client; `done(arg)` (may be NULL) runs
 * once its handles are closed and the sender is freed. NULL: no-op. */
void tx__notify_http_close(tx_notify_http_t *s, void (*done)(void *), void *arg);

#endif
