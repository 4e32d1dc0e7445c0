/* tenax export [--owner ID] [--status S] [--store URL]: every matching item as one JSON object
 * per line (every field of an item, history included) on stdout, id order. Exit 0, 1 store/output
 * error, 2 usage. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli/commands.h"
#include "cli/offline.h"
#include "cli/opts.h"
#include "jobs/item_json.h"

static void usage(FILE *out)
{
    fputs(
        "usage: tenax export [--owner ID] [--status S] [--store URL]\n"
        "\n"
        "Writes items as JSONL on stdout, in id order: every field of GET /v1/items/{id}, attempt\n"
        "history included.\n"
        "\n"
        "options:\n"
        "  --owner ID      one owner's items (default: every owner)\n"
        "  --status S      pending, processing, success, retrying, failed or skipped\n"
        "  --store URL     sqlite:PATH or postgres://USER[:PASSWORD]@HOST[:PORT]/DB\n"
        "                  (default: $TENAX_STORE, else sqlite:tenax.db)\n"
        "  -h, --help      print this help and exit\n"
        "\n"
        "exit status:\n"
        "  0  ok\n"
        "  1  the store cannot be read, or the output cannot be written\n"
        "  2  usage error: bad option, malformed store URL, bad config\n",
        out);
}

typedef struct {
    tx_store_t *detail; /* a second handle: the history of each item */
    int failed;
    long long written;
} export_t;

static int write_item(const tx_item_t *item, void *ud)
{
    export_t *x = ud;
    tx_item_t full = {0};
    tx_error_t err = {0};
    /* The export callback hands items without history; read it on the second handle. */
    const tx_item_t *it = item;
    if (tx__store_get(x->detail, item->id, &full, &err) == TX_EOK) it = &full;
    json_t *doc = tx__item_json(it, TX_ITEM_JSON_TENAX, 1);
    char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    tx__item_clear(&full);
    if (!text || puts(text) == EOF) {
        free(text);
        x->failed = 1;
        return 1;
    }
    free(text);
    x->written++;
    return 0;
}

int tx__cmd_export(int argc, char **argv)
{
    static const struct option longopts[] = {{"owner", required_argument, NULL, 'o'},
                                             {"status", required_argument, NULL, 'S'},
                                             {"store", required_argument, NULL, 's'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    const char *owner = NULL, *store = NULL;
    int status = -1;
    tx_opts_t o;
    tx__opts_init(&o, "export", argc, argv);
    int c;
    while ((c = tx__opts_next(&o, longopts)) != -1) {
        if (c == TX_OPTS_BAD) return 2;
        if (c == 'o') owner = o.arg;
        if (c == 's') store = o.arg;
        if (c == 'S' && (status = tx__item_status_from_name(o.arg)) < 0) {
            fprintf(stderr,
                    "tenax export: --status: '%s' is not one of pending, processing, "
                    "success, retrying, failed, skipped\n",
                    o.arg);
            return 2;
        }
        if (c == 'h') return tx__opts_exit(c, usage);
    }
    if (tx__opts_end(&o, owner) != 0) return 2;
    tx_store_t *s = NULL;
    int orc = tx__cli_store_open("export", store, NULL, &s);
    if (orc != 0) return orc;
    export_t x = {0};
    orc = tx__cli_store_open("export", store, NULL, &x.detail);
    if (orc != 0) {
        tx__store_close(s);
        return orc;
    }
    tx_error_t err = {0};
    int rc = tx__store_export(s, owner, status, write_item, &x, &err);
    tx__store_close(x.detail);
    tx__store_close(s);
    if (rc != TX_EOK) {
        fprintf(stderr, "tenax export: %s\n", err.msg ? err.msg : tx_strerror((tx_err_t)rc));
        return 1;
    }
    if (x.failed || fflush(stdout) != 0) {
        fprintf(stderr, "tenax export: could not write the output\n");
        return 1;
    }
    return 0;
}
