/* The host's small services to its plug-ins (server/host.h): the loop's clock, a snapshot
 * reference, stop hooks, the providers' retry budgets. */
#include "server/host.h"

#include "obs/log.h"

tx_config_t *tx__app_config_get(tx_app_t *app)
{
    return app != NULL ? tx__config_ref(app->config) : NULL;
}

tx_err_t tx__app_on_stop(tx_app_t *app, tx_app_stop_fn fn, void *ud)
{
    if (app == NULL || fn == NULL) return TX_EINVAL;
    if (app->nstop_hooks >= TX_APP_MAX_STOP_HOOKS) return TX_ERANGE;
    app->stop_hooks[app->nstop_hooks].fn = fn;
    app->stop_hooks[app->nstop_hooks].ud = ud;
    app->nstop_hooks++;
    return TX_EOK;
}

tx_ms_t tx__app_now(const tx_app_t *app)
{
    return (tx_ms_t)uv_now(app->loop);
}

/* The retry budget of the provider of endpoint `index` under the current config (NULL when out
 * of range). */
static tx_budget_t *tx__app_budget_of_endpoint(tx_app_t *app, int index)
{
    if (app == NULL || index < 0 || (size_t)index >= app->config->n_route_eps) return NULL;
    int p = app->config->route_eps[index].provider;
    return p >= 0 && p < TX_PROVIDERS_MAX ? &app->budgets[p] : NULL;
}

int tx__app_budget_retry(tx_app_t *app, int index)
{
    tx_budget_t *b = tx__app_budget_of_endpoint(app, index);
    if (b == NULL) return 1;
    tx_ms_t now = tx__app_now(app);
    if (tx__budget_try_retry(b, now)) return 1;
    int p = app->config->route_eps[index].provider;
    const char *name =
        (size_t)p < app->config->providers.n ? app->config->providers.v[p].name : "-";
    const char *lv[] = {name};
    tx__metrics_inc(app->fam[TX_M_RETRY_BUDGET_EXHAUSTED], lv, 1);
    if (tx__budget_log_due(b, now))
        tx__log(TX_LOG_WARN, "ai][budget", "exhausted provider=%s", name);
    return 0;
}

void tx__app_budget_first(tx_app_t *app, int index)
{
    tx_budget_t *b = tx__app_budget_of_endpoint(app, index);
    if (b != NULL) tx__budget_on_first(b, tx__app_now(app));
}
