/* The gateway's lists of finished objects kept for reuse (spares.h), freed by the app's stop. */
#include "gateway/spares.h"

#include <stdlib.h>

static void on_stop(tx_app_t *app, void *ud, void (*done)(tx_app_t *app))
{
    tx_gw_spares_t *g = ud;
    if (app->gateway == g)
        app->gateway = NULL; /* objects released from now on are freed by their owners */
    tx__freelist_clear(&g->calls);
    tx__freelist_clear(&g->runs);
    tx__freelist_clear(&g->attempts);
    free(g);
    done(app);
}

tx_err_t tx__gw_spares_start(tx_app_t *app, void (*attempt_destroy)(void *p))
{
    if (app == NULL || attempt_destroy == NULL || app->gateway != NULL) return TX_EINVAL;
    tx_gw_spares_t *g = calloc(1, sizeof *g);
    if (g == NULL) return TX_ENOMEM;
    g->calls.destroy = g->runs.destroy = free;
    g->attempts.destroy = attempt_destroy;
    g->calls.max = g->runs.max = g->attempts.max = TX_SPARES_MAX;
    tx_err_t rc = tx__app_on_stop(app, on_stop, g);
    if (rc != TX_EOK) {
        free(g);
        return rc;
    }
    app->gateway = g;
    return TX_EOK;
}

tx_gw_spares_t *tx__gw_spares(const tx_app_t *app)
{
    return app != NULL ? app->gateway : NULL;
}
