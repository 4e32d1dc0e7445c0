/* The wake-up listener plugged into `tenax serve` (app.h): wake-ups kick the scheduler kept in
 * app->jobs; a resume seen on the shared pause resumes it; the app's stop closes the listener. */
#include <stdlib.h>

#include "server/host.h"
#include "ops/store_health.h"
#include "jobs/engine.h"
#include "jobs/pgwake.h"
#include "obs/log.h"

typedef struct {
    tx_app_t *app;
    tx_pgwake_t *w;
    void (*done)(tx_app_t *app);
} wake_ctx_t;

static void on_wake(void *ud, int resumed)
{
    wake_ctx_t *c = ud;
    tx_app_t *app = c->app;
    if (app->stopping || app->jobs == NULL) return;
    tx_pgwake_stats_t ws;
    tx__pgwake_stats(c->w, &ws);
    tx__store_health_note_wake(app, ws.listening);
    tx_jobs_t *e = app->jobs;
    if (resumed) {
        tx_jobs_stats_t st;
        tx__jobs_stats(e, &st);
        if (st.paused) {
            tx__log(TX_LOG_INFO, "jobs", "another node resumed job work");
            tx__jobs_resume(e); /* kicks too */
            return;
        }
    }
    tx__jobs_kick(e);
}

static void closed(void *ud)
{
    wake_ctx_t *c = ud;
    tx_app_t *app = c->app;
    void (*done)(tx_app_t *) = c->done;
    free(c);
    if (done) done(app);
}

static void on_stop(tx_app_t *app, void *ud, void (*done)(tx_app_t *app))
{
    (void)app;
    wake_ctx_t *c = ud;
    c->done = done;
    tx__pgwake_close(c->w, closed, c);
}

int tx__pgwake_start(struct tx_app *app, const char *store_url)
{
    if (app == NULL || store_url == NULL) return TX_EINVAL;
    wake_ctx_t *c = calloc(1, sizeof *c);
    if (c == NULL) return TX_ENOMEM;
    c->app = app;
    tx_error_t err = {0};
    int rc = tx__pgwake_open(app->loop, store_url, on_wake, c, &c->w, &err);
    if (rc == TX_EOK) rc = tx__app_on_stop(app, on_stop, c);
    if (rc != TX_EOK) {
        tx__log(TX_LOG_ERROR, "jobs", "wake-up listener: %s", err.msg ? err.msg : tx_strerror(rc));
        if (c->w) tx__pgwake_close(c->w, NULL, NULL);
        free(c);
    }
    return rc;
}
