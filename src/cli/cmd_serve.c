/* tenax serve: loads the config, builds the app (app.h) with the gateway, jobs API,
 * scheduler and ops plugged in, listens, and runs the loop until SIGINT/SIGTERM stop it. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "app/app.h"
#include "ops/store_health.h"
#include "gateway/gateway.h"
#include "jobs/app_jobs.h"
#include "cli/commands.h"
#include "cli/opts.h"
#include "cli/storeurl.h"
#include "core/url.h"
#include "config/config.h"
#include "jobs/api.h"
#include "jobs/pgwake.h"
#include "obs/log.h"
#include "ops/ops.h"
#include "server/auth.h"

static void usage(FILE *out)
{
    fputs(
        "usage: tenax serve [--config F] [--listen HOST:PORT] [--store URL]\n"
        "\n"
        "The OpenAI-compatible gateway, the jobs API, the admin routes and the dashboard\n"
        "(http://HOST:PORT/dashboard) on one port. SIGHUP reloads the config file; SIGINT and\n"
        "SIGTERM stop gracefully.\n"
        "\n"
        "options:\n"
        "  --config F          live config file (JSON; default: $TENAX_CONFIG)\n"
        "  --listen HOST:PORT  where to listen (default $TENAX_LISTEN or 127.0.0.1:8010);\n"
        "                      a non-loopback address needs TENAX_ADMIN_TOKEN\n"
        "  --store URL         job store, sqlite:PATH or "
        "postgres://USER[:PASSWORD]@HOST[:PORT]/DB\n"
        "                      (default $TENAX_STORE, else sqlite:tenax.db)\n"
        "  -h, --help          print this help and exit\n"
        "\n"
        "Upstream keys come from AI_API_KEY (or OPENAI_API_KEY, or per endpoint api_key_env);\n"
        "without one the client's own Authorization is passed through. See docs/gateway.md.\n"
        "\n"
        "exit status:\n"
        "  0  stopped by SIGINT or SIGTERM\n"
        "  1  could not start (port in use, store unreachable)\n"
        "  2  usage or config error, malformed store URL, non-loopback --listen without a token\n",
        out);
}

static void on_stopped(tx_app_t *app, void *ud)
{
    (void)app;
    (void)ud;
}

int tx__cmd_serve(int argc, char **argv)
{
    static const struct option longopts[] = {{"config", required_argument, NULL, 'c'},
                                             {"listen", required_argument, NULL, 'l'},
                                             {"store", required_argument, NULL, 's'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    const char *config_path = NULL, *listen = NULL, *store = NULL;
    tx_opts_t o;
    tx__opts_init(&o, "serve", argc, argv);
    int c;
    while ((c = tx__opts_next(&o, longopts)) != -1) {
        switch (c) {
        case 'c':
            config_path = o.arg;
            break;
        case 'l':
            listen = o.arg;
            break;
        case 's':
            store = o.arg;
            break;
        default:
            return tx__opts_exit(c, usage);
        }
    }
    if (o.first < o.argc) {
        fprintf(stderr, "tenax serve: unexpected argument '%s' (see 'tenax serve --help')\n",
                o.argv[o.first]);
        return 2;
    }
    tx__log_init();
    tx_config_t *cfg = NULL;
    tx_error_t err = {0};
    if (tx__config_load(NULL, config_path, &cfg, &err) != TX_EOK) {
        fprintf(stderr, "tenax serve: config: %s\n", err.msg != NULL ? err.msg : "invalid");
        return 2;
    }
    if (listen != NULL && tx__opts_listen("serve", listen) != 0) {
        tx__config_unref(cfg);
        return 2;
    }
    if (listen == NULL) listen = cfg->listen;
    if (tx__cli_store_url_check("serve", store != NULL ? "--store" : "TENAX_STORE",
                                store != NULL ? store : cfg->store) != 0) {
        tx__config_unref(cfg);
        return 2;
    }
    if (store == NULL) store = cfg->store;
    tx_auth_t *auth = tx__auth_create(cfg->admin_token, NULL);
    if (auth == NULL || !tx__auth_listen_allowed(auth, listen)) {
        fprintf(stderr,
                "tenax serve: refusing to listen on %s (not loopback) without TENAX_ADMIN_TOKEN\n",
                listen);
        tx__auth_destroy(auth);
        tx__config_unref(cfg);
        return 2;
    }
    tx__auth_destroy(auth);
    signal(SIGPIPE, SIG_IGN);
    /* SIGHUP reloads the config file (config/watch.c takes it over when there is one); without
     * a file there is nothing to reload, and a `systemctl reload` must not kill the server. */
    signal(SIGHUP, SIG_IGN);

    uv_loop_t loop;
    if (uv_loop_init(&loop) != 0) {
        fprintf(stderr, "tenax serve: cannot start the event loop\n");
        tx__config_unref(cfg);
        return 1;
    }
    /* PostgreSQL: several connections, so claims, attempts and finishes overlap (round trips
     * are the limit); SQLite: one writer anyway. docs/postgres.md, "Running several nodes". */
    tx_app_opts_t ao = {.store_url = store,
                        .store_threads = store && strncmp(store, "sqlite:", 7) ? 4 : 1};
    tx_app_t *app = tx__app_new(&loop, cfg, &ao, &err);
    tx__config_unref(cfg); /* the app holds its own reference */
    int rc = 0;
    if (app == NULL) {
        if (err.msg != NULL && strncmp(err.msg, "store: ", 7) == 0) {
            char shown[512];
            tx__url_show(store, shown, sizeof shown);
            fprintf(stderr, "tenax serve: store %s: %s\n", shown, tx__cli_store_error(&err, 0));
        } else {
            fprintf(stderr, "tenax serve: %s\n", err.msg != NULL ? err.msg : "cannot start");
        }
        rc = 1;
        goto out;
    }
    /* --- plug-ins: one line each ------------------------------------------------------- */
    tx_err_t prc = tx__gateway_routes(app);
    if (prc == TX_EOK) prc = tx__jobsapi_routes(app);
    if (prc == TX_EOK) prc = tx__jobs_start(app);
    if (prc == TX_EOK) prc = tx__ops_start(app);
    if (prc == TX_EOK) prc = tx__store_health_start(app, store, 0); /* /readyz, diag */
    if (prc == TX_EOK) prc = tx__pgwake_start(app, store);          /* LISTEN/NOTIFY wake-ups */
    if (prc != TX_EOK) {
        fprintf(stderr, "tenax serve: cannot start: %s\n", tx_strerror(prc));
        rc = 1;
        goto stop;
    }
    if (tx__app_listen(app, listen, &err) != TX_EOK) {
        fprintf(stderr, "tenax serve: %s\n", err.msg != NULL ? err.msg : "cannot listen");
        rc = 1;
        goto stop;
    }
    fprintf(stderr, "tenax serve listening on http://%s\n", tx__http_server_address(app->server));
    tx__app_handle_signals(app);
    uv_run(&loop, UV_RUN_DEFAULT);
    goto out;
stop:
    tx__app_stop(app, on_stopped, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
out:
    tx__app_destroy(app);
    uv_run(&loop, UV_RUN_DEFAULT); /* handles released by destroy (never-started parts) */
    if (uv_loop_close(&loop) != 0)
        tx__log(TX_LOG_WARN, "serve", "event loop closed with handles open");
    return rc;
}
