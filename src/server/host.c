/* The host's small services to its plug-ins (server/host.h): the loop's clock, a snapshot
 * reference, stop hooks, endpoint keys. */
#include "server/host.h"

tx_config_t *tx_app_config_get(tx_app_t *app)
{
    return app != NULL ? tx_config_ref(app->config) : NULL;
}

tx_err_t tx_app_on_stop(tx_app_t *app, tx_app_stop_fn fn, void *ud)
{
    if (app == NULL || fn == NULL)
        return TX_EINVAL;
    if (app->nstop_hooks >= TX_APP_MAX_STOP_HOOKS)
        return TX_ERANGE;
    app->stop_hooks[app->nstop_hooks].fn = fn;
    app->stop_hooks[app->nstop_hooks].ud = ud;
    app->nstop_hooks++;
    return TX_EOK;
}

tx_ms_t tx_app_now(const tx_app_t *app)
{
    return (tx_ms_t)uv_now(app->loop);
}

