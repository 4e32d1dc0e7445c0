/* ONE upstream attempt, shared by the gateway's call loop and the job engine: resolves the
 * model's routes (config.h tx__config_resolve) and picks an endpoint serving it
 * (tx__endpoints_pick_for, probes included), sends with the upstream client (the provider's key,
 * headers, query and its own name for the model), collects the body
 * (bounded) or relays a stream, classifies the answer (tx_classify_*), reports to the endpoint
 * set (logging `[ai][failover]` / `[ai][timeout]`), and calls back once with the result.
 * Admission is the caller's business: hold a slot from before tx__gw_attempt_start until on_done
 * (or tx__gw_attempt_cancel) and release it then. Loop thread only. docs/gateway.md has the rules.
 */
#ifndef TX_GATEWAY_ATTEMPT_H
#define TX_GATEWAY_ATTEMPT_H

#include <stddef.h>
#include <stdint.h>

#include "server/host.h"
#include "gateway/request.h"
#include "tenax/classify.h"
#include "tenax/types.h"
#include "upstream/client.h"

typedef struct tx_gw_attempt tx_gw_attempt_t;

/* What to send. Every pointer is borrowed and must stay valid until on_done or cancel. */
typedef struct {
    tx_route_kind_t route; /* chat, completions, embeddings (POST) or models (GET) */
    const char *body;      /* the client's bytes (NULL/0 for models) */
    size_t len;
    const char *doc_model;     /* the body's own "model" (NULL: none) */
    const char *model;         /* the model for this attempt: the body is re-serialised only when
                                  it differs from doc_model; NULL: send as is */
    const char *client_auth;   /* the client's Authorization, sent when the endpoint has no key */
    long timeout_ms;           /* first byte, and each gap of a stream */
    int stream;                /* 1: relay an SSE stream through on_stream_* */
    size_t max_response_bytes; /* bound of a collected (non-stream) body; 0: 16 MiB */
    int avoid1; /* 1 + an endpoint to move off (a retry after its failure); 0: none */
} tx_gw_attempt_req_t;

/* The outcome, valid only during on_done. */
typedef struct {
    tx_class_t cls;              /* TX_CLASS_OK or the error class */
    tx_classification_t info;    /* code, message, retry_after_ms (-1: none), status */
    tx_upstream_err_t transport; /* TX_UPSTREAM_EOK when an HTTP answer arrived */
    int endpoint;                /* index of the endpoint used (-1: none, no route) */
    const char *provider;        /* the provider of that endpoint ("" when none); valid during
                                    on_done */
    int status;                  /* HTTP status (0: none) */
    const tx_header_t *headers;  /* the response headers (nheaders of them) */
    size_t nheaders;
    const char *body; /* the collected body (non-stream, or a stream refused before it
                         was committed); "" when none. NUL-terminated. */
    size_t body_len;
    tx_ms_t latency_ms;                                     /* from send to the end */
    int64_t prompt_tokens, completion_tokens, total_tokens; /* -1 when the body (or, for a
                                  stream, its usage chunk / response.completed) gave none */
    int committed; /* stream: bytes were handed to on_stream_data */
} tx_gw_attempt_result_t;

typedef struct {
    /* Optional: the response head arrived (status), before any body. */
    void (*on_head)(void *ud, int status);
    /* Stream only: the upstream answered 2xx and its first event is not an error. The caller
     * starts its own response now (headers for content-type etc. are given); returning non-zero
     * refuses (the attempt is cancelled: on_done is NOT called then). */
    int (*on_stream_start)(void *ud, int status, const tx_header_t *h, size_t nh);
    /* Stream only: bytes to relay, as they arrive (the first call includes the first event). */
    void (*on_stream_data)(void *ud, const char *data, size_t len);
    /* Exactly once unless cancelled (or refused in on_stream_start). Required. */
    void (*on_done)(void *ud, const tx_gw_attempt_result_t *r);
} tx_gw_attempt_cb_t;

/* Starts an attempt. Returns the handle (valid until on_done returns or cancel), or NULL when
 * nothing could be started (bad arguments, out of memory, closing client, no provider serves
 * the model: model_unavailable with code model_not_found): then no callback runs and `why`
 * (may be NULL) is filled with the failure the caller may report. */
tx_gw_attempt_t *tx__gw_attempt_start(tx_app_t *app, const tx_gw_attempt_req_t *req,
                                      const tx_gw_attempt_cb_t *cb, void *ud,
                                      tx_classification_t *why);

/* Stops (1) or resumes (0) reading a streamed answer while the client is slow (see
 * tx__upstream_pause: nothing is lost, no timeout runs meanwhile). Safe from inside
 * on_stream_data. TX_EOK, or TX_EINVAL / TX_EIO as tx__upstream_pause. */
tx_err_t tx__gw_attempt_pause(tx_gw_attempt_t *a, int pause);

/* Cancels an attempt in flight: no callback after this; its endpoint pick is reported as
 * cancelled (a probe slot is freed). NULL: no-op. Not from inside its own on_done. */
void tx__gw_attempt_cancel(tx_gw_attempt_t *a);

/* Frees an attempt that is over (what the gateway's spares list calls at the app's stop; an
 * attempt in flight ends through on_done or tx__gw_attempt_cancel instead). NULL: no-op. */
void tx__gw_attempt_destroy(void *a);

/* The endpoint index an attempt is using (-1 for NULL), and its provider's name ("" for NULL;
 * valid while the attempt is). */
int tx__gw_attempt_endpoint(const tx_gw_attempt_t *a);
const char *tx__gw_attempt_provider(const tx_gw_attempt_t *a);

/* The candidate endpoints of `model` under the app's current config, in order of preference
 * (each provider serving it, its base URLs in order): up to TX_ENDPOINTS_MAX indexes into
 * `cands`, and for each the route (provider, provider's model name) in `routes` when not NULL.
 * Returns how many (0: no provider serves the model). No allocation. */
size_t tx__gw_attempt_candidates(const tx_app_t *app, const char *model, int *cands,
                                 tx_config_route_t *routes);

/* 1 when an endpoint other than `avoid` (-1: none) is healthy for `model` or due for a probe
 * (where a retry could move to), 0 when none is (the model is down everywhere when avoid is -1,
 * or has no route). */
int tx__gw_attempt_model_available(tx_app_t *app, const char *model, int avoid);

/* 1 when an attempt for `model` could start now within the endpoints' adaptive limits: an
 * endpoint serving it is below its limit and healthy for it (or none is healthy and one is below
 * its limit). Always 1 with AI_ADAPTIVE_CONCURRENCY off or a model without a route. For the
 * admission's room callback. */
int tx__gw_attempt_room(tx_app_t *app, const char *model);

#endif
