/* The OpenAI-compatible gateway as a plug-in of the host (docs/gateway.md): its routes. */
#ifndef TX_GATEWAY_GATEWAY_H
#define TX_GATEWAY_GATEWAY_H

#include "server/host.h"
#include "tenax/error.h"

/* Registers the gateway routes (docs/gateway.md) on app->router and starts the spare-attempt
 * pool. TX_EOK; TX_EINVAL for a NULL app; the router's error when a route cannot be added. */
tx_err_t tx__gateway_routes(tx_app_t *app);

#endif
