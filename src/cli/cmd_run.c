/* tenax run: import items from JSONL (idempotent), then work them through with the job
 * engine on its own loop, no HTTP server; resumable; exit codes 0/1/2/3. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/commands.h"
#include "cli/opts.h"
#include "cli/runner.h"
#include "cli/storeurl.h"
#include "core/url.h"
#include "config/config.h"

static void usage(FILE *f)
{
    fputs("usage: tenax run --input F.jsonl [--task NAME] [--store URL] [--config F] [--out F]\n"
          "                 [--wait] [--progress]\n"
          "\n"
          "Imports items from JSONL ({\"id\",\"owner\",\"text\"} per line; id defaults to the line "
          "number,\n"
          "owner to \"default\"; the same (owner,id,task) twice is one item) and works them "
          "through.\n"
          "Running again continues where it stopped.\n"
          "\n"
          "options:\n"
          "  --input F       the JSONL file to import (required)\n"
          "  --task NAME     the task to run (default tags)\n"
          "  --store URL     sqlite:PATH or postgres://USER[:PASSWORD]@HOST[:PORT]/DB\n"
          "                  (default: $TENAX_STORE, else sqlite:tenax.db)\n"
          "  --config F      live config file (JSON; default: $TENAX_CONFIG)\n"
          "  --out F         write the items as JSONL to F at the end\n"
          "  --wait          wait for parked items (retry_after) instead of exiting 3\n"
          "  --progress      draw the progress bar even when stderr is not a terminal\n"
          "  -h, --help      print this help and exit\n"
          "\n"
          "exit status:\n"
          "  0  every item success or skipped\n"
          "  1  some item failed (and none is unfinished)\n"
          "  2  usage or config error, malformed store URL, or the store cannot be opened\n"
          "  3  some item unfinished: parked until its retry_after, or work paused on quota or "
          "auth\n",
          f);
}

int tx__cmd_run(int argc, char **argv)
{
    static const struct option longopts[] = {{"input", required_argument, NULL, 'i'},
                                             {"task", required_argument, NULL, 't'},
                                             {"store", required_argument, NULL, 's'},
                                             {"config", required_argument, NULL, 'c'},
                                             {"out", required_argument, NULL, 'o'},
                                             {"wait", no_argument, NULL, 'w'},
                                             {"progress", no_argument, NULL, 'p'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    const char *input = NULL, *task = "tags", *store = NULL, *config = NULL, *out = NULL;
    int wait = 0, progress = 0;
    tx_opts_t o;
    tx__opts_init(&o, "run", argc, argv);
    int c;
    while ((c = tx__opts_next(&o, longopts)) != -1) {
        switch (c) {
        case 'i':
            input = o.arg;
            break;
        case 't':
            task = o.arg;
            break;
        case 's':
            store = o.arg;
            break;
        case 'c':
            config = o.arg;
            break;
        case 'o':
            out = o.arg;
            break;
        case 'w':
            wait = 1;
            break;
        case 'p':
            progress = 1;
            break;
        default:
            return tx__opts_exit(c, usage);
        }
    }
    if (tx__opts_end(&o, NULL) != 0) return 2;
    if (input == NULL) {
        fprintf(stderr, "tenax run: --input F.jsonl is required\n");
        return 2;
    }
    if (task[0] == '\0') {
        fprintf(stderr, "tenax run: --task needs a name\n");
        return 2;
    }
    tx_config_t *cfg = NULL;
    tx_error_t err = {0};
    tx_err_t rc = tx__config_load(NULL, config, &cfg, &err);
    if (rc != TX_EOK) {
        fprintf(stderr, "tenax run: config: %s\n", err.msg ? err.msg : tx_strerror(rc));
        return 2;
    }
    const char *url = store ? store : cfg->store;
    if (tx__cli_store_url_check("run", store ? "--store" : "TENAX_STORE", url) != 0) {
        tx__config_unref(cfg);
        return 2;
    }
    tx_store_t *s = NULL;
    rc = tx__store_open(url, &s, &err);
    if (rc != TX_EOK) {
        char shown[512];
        tx__url_show(url, shown, sizeof shown);
        fprintf(stderr, "tenax run: store %s: %s\n", shown, tx__cli_store_error(&err, rc));
        tx__config_unref(cfg);
        return 2;
    }
    tx_task_t t = {0};
    rc = tx__store_task_get(s, task, 0, &t, &err);
    tx__task_clear(&t);
    if (rc != TX_EOK) {
        fprintf(stderr, "tenax run: task '%s': %s\n", task,
                rc == TX_ENOTFOUND ? "no such task" : (err.msg ? err.msg : tx_strerror(rc)));
        tx__store_close(s);
        tx__config_unref(cfg);
        return 2;
    }
    tx_runner_import_t im;
    int irc = tx__runner_import(s, "tenax run", input, task, &im);
    tx__store_close(s);
    if (irc != 0) {
        tx__config_unref(cfg);
        return 2;
    }
    fprintf(stderr,
            "tenax run: %s: %zu new (%zu skipped as empty), %zu already there, %zu "
            "malformed line(s)\n",
            input, im.imported, im.skipped, im.existing, im.malformed);
    tx_runner_opts_t ro = {.prog = "tenax run",
                           .store_url = url,
                           .cfg = cfg,
                           .wait = wait,
                           .progress = progress || isatty(2)};
    int code = tx__runner_work(&ro, NULL);
    if (code != 2 && out && tx__runner_export("tenax run", url, out) != 0) code = 2;
    tx__config_unref(cfg);
    return code;
}
