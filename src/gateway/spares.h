/* Finished gateway objects kept for reuse (calls, attempts): they are large, or carry buffers,
 * so reusing them spares malloc work on every request. The lists hang on app->gateway from
 * tx__gw_spares_start until the app's stop frees them; objects released later are freed by their
 * owner. Loop thread only. */
#ifndef TX_GATEWAY_SPARES_H
#define TX_GATEWAY_SPARES_H

#include "core/freelist.h"
#include "server/host.h"

#define TX_SPARES_MAX 32

/* The gateway's lists (on app->gateway), TX_SPARES_MAX each: calls, their run state (what a call
 * has from its first attempt on) and attempts. */
typedef struct {
    tx__freelist_t calls, runs, attempts;
} tx_gw_spares_t;

/* Hangs the lists on app->gateway (calls and runs freed with free(); attempts with
 * `attempt_destroy`) and registers the app stop hook that clears and frees them. TX_EOK; TX_EINVAL
 * (NULL app or destroy function, or the slot is taken), TX_ENOMEM, or tx__app_on_stop's error, and
 * then nothing changed. */
tx_err_t tx__gw_spares_start(tx_app_t *app, void (*attempt_destroy)(void *p));

/* The lists of app, or NULL (not started, or the app stopped). */
tx_gw_spares_t *tx__gw_spares(const tx_app_t *app);

#endif
