/* The jobs API plugged into `tenax serve` (app.h): one line in cmd_serve calls tx__jobsapi_routes.
 * The API lives in app->jobsapi from registration to the app's stop; the routes find it there. */
#include "server/host.h"
#include "jobs/api.h"
#include "jobs/app_jobs.h"
#include "jobs/engine.h"
#include "ops/ops.h"

/* The scheduler, once the jobs module has plugged in (tx__jobs_kick(NULL) is a no-op). */
static void kick(void *ud)
{
    tx_app_t *app = ud;
    if (!app->stopping) tx__jobs_kick(tx__jobs_of(app));
}

static int max_attempts(void *ud)
{
    tx_app_t *app = ud;
    return app->config ? (int)app->config->job_max_attempts : 0;
}

/* The admin token (docs/operations.md) through ops: 401 answered there when it is missing or wrong.
 */
static int guard(void *ud, tx_http_req_t *req)
{
    return tx__ops_require_admin(ud, req);
}

static void on_stop(tx_app_t *app, void *ud, void (*done)(tx_app_t *app))
{
    (void)ud;
    tx_jobsapi_t *api = app->jobsapi;
    app->jobsapi = NULL; /* new requests get 503; queued ones still answer */
    tx__jobsapi_destroy(api);
    done(app);
}

tx_err_t tx__jobsapi_routes(struct tx_app *app)
{
    if (!app || !app->storeq || !app->router) return TX_EINVAL;
    tx_jobsapi_config_t cfg = {.storeq = app->storeq,
                               .kick = kick,
                               .max_attempts = max_attempts,
                               .guard = guard,
                               .ud = app};
    tx_jobsapi_t *api = tx__jobsapi_new(&cfg);
    if (!api) return TX_ENOMEM;
    tx_err_t rc = tx__app_on_stop(app, on_stop, NULL);
    if (rc != TX_EOK) {
        tx__jobsapi_destroy(api);
        return rc;
    }
    app->jobsapi = api;
    return tx__jobsapi_register((tx_jobsapi_t **)&app->jobsapi, app->router);
}
