/* Finished gateway objects kept for reuse (calls, attempts): they are large, or carry buffers,
 * so reusing them spares malloc work on every request. The lists hang on app->gateway from
 * tx_gw_spares_start until the app's stop frees them; objects released later are freed by their
 * owner. Loop thread only. */
#ifndef TX_GATEWAY_SPARES_H
#define TX_GATEWAY_SPARES_H

#include "server/host.h"

#define TX_SPARES_MAX 32

/* A bounded stack of kept objects and how to free one of them. */
typedef struct {
    void *v[TX_SPARES_MAX];
    unsigned n;
    void (*destroy)(void *p);
} tx_spares_t;

/* The gateway's lists (on app->gateway). */
typedef struct {
    tx_spares_t calls, attempts;
} tx_gw_spares_t;

/* A kept object (the caller resets it), or NULL when s is NULL or empty. */
void *tx_spares_take(tx_spares_t *s);

/* Keeps p for reuse: 1, or 0 when s is NULL or full (then the caller frees p). */
int tx_spares_put(tx_spares_t *s, void *p);

/* Frees every kept object with s->destroy. NULL: no-op. */
void tx_spares_clear(tx_spares_t *s);

/* Hangs the lists on app->gateway (calls freed with free(); attempts with `attempt_destroy`)
 * and registers the app stop hook that clears and frees them. TX_EOK; TX_EINVAL (NULL app or
 * destroy function, or the slot is taken), TX_ENOMEM, or tx_app_on_stop's error, and then
 * nothing changed. */
tx_err_t tx_gw_spares_start(tx_app_t *app, void (*attempt_destroy)(void *p));

/* The lists of app, or NULL (not started, or the app stopped). */
tx_gw_spares_t *tx_gw_spares(const tx_app_t *app);

#endif
