/* The gateway routes (docs/gateway.md): POST /v1/chat/completions, /v1/completions, /v1/embeddings,
 * /v1/responses and GET /v1/models, each handed to a call (call.c), which runs the ops filters
 * first. */
#include "gateway/gateway.h"
#include "server/host.h"
#include "gateway/attempt.h"
#include "gateway/call.h"
#include "gateway/spares.h"

static void route_chat(tx_http_req_t *req, void *ud)
{
    tx__call_start(ud, req, TX_ROUTE_CHAT);
}

static void route_completions(tx_http_req_t *req, void *ud)
{
    tx__call_start(ud, req, TX_ROUTE_COMPLETIONS);
}

static void route_embeddings(tx_http_req_t *req, void *ud)
{
    tx__call_start(ud, req, TX_ROUTE_EMBEDDINGS);
}

static void route_responses(tx_http_req_t *req, void *ud)
{
    tx__call_start(ud, req, TX_ROUTE_RESPONSES);
}

static void route_models(tx_http_req_t *req, void *ud)
{
    tx__call_start(ud, req, TX_ROUTE_MODELS);
}

tx_err_t tx__gateway_routes(tx_app_t *app)
{
    static const tx_route_t table[] = {
        {"POST", "/v1/chat/completions", route_chat},
        {"POST", "/v1/completions", route_completions},
        {"POST", "/v1/embeddings", route_embeddings},
        {"POST", "/v1/responses", route_responses},
        {"GET", "/v1/models", route_models},
        {NULL, NULL, NULL},
    };
    if (app == NULL) return TX_EINVAL;
    tx_err_t rc = tx__router_add_table(app->router, table, app);
    if (rc == TX_EOK)
        (void)tx__gw_spares_start(app, tx__gw_attempt_destroy); /* an optimisation: calls work
                                                              without it */
    return rc;
}
