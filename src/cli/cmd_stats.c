/* tenax stats [--owner ID] [--store URL] [--json]: the counts of GET /v1/owners/{owner}/stats
 * (docs/api.md) of a store, offline, as a table or as the JSON of GET /v1/owners/{owner}/stats.
 * Exit 0, 1 store error, 2 usage. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "cli/offline.h"
#include "cli/opts.h"
#include "jobs/item_json.h"

static void usage(FILE *out)
{
    fputs("usage: tenax stats [--owner ID] [--store URL] [--json]\n"
          "\n"
          "Item counts of a store by status, read without a server.\n"
          "\n"
          "options:\n"
          "  --owner ID      one owner's items (default: every owner)\n"
          "  --store URL     sqlite:PATH or postgres://USER[:PASSWORD]@HOST[:PORT]/DB\n"
          "                  (default: $TENAX_STORE, else sqlite:tenax.db)\n"
          "  --json          print the JSON of GET /v1/owners/{owner}/stats\n"
          "  -h, --help      print this help and exit\n"
          "\n"
          "exit status:\n"
          "  0  ok\n"
          "  1  the store cannot be read (missing file, server unreachable)\n"
          "  2  usage error: bad option, malformed store URL, bad config\n",
          out);
}

static void print_table(const char *owner, const tx_store_stats_t *st, const tx_pause_t *p,
                        int max_attempts)
{
    static const tx_item_status_t order[TX_ITEM__LAST] = {TX_ITEM_PENDING,  TX_ITEM_PROCESSING,
                                                          TX_ITEM_SUCCESS,  TX_ITEM_FAILED,
                                                          TX_ITEM_RETRYING, TX_ITEM_SKIPPED};
    printf("owner           %s\n", owner ? owner : "(all owners)");
    printf("total           %lld\n", (long long)st->total);
    printf("with result     %lld\n", (long long)st->with_result);
    printf("without result  %lld\n", (long long)st->without_result);
    printf("need retry      %lld\n", (long long)st->need_retry);
    printf("by status\n");
    for (int i = 0; i < TX_ITEM__LAST; i++)
        printf("  %-12s  %lld\n", tx__item_status_name(order[i]),
               (long long)st->by_status[order[i]]);
    if (p->paused)
        printf("enabled         no (paused: %s)\n", p->reason[0] ? p->reason : "no reason given");
    else
        printf("enabled         yes\n");
    printf("max attempts    %d\n", max_attempts);
}

int tx__cmd_stats(int argc, char **argv)
{
    static const struct option longopts[] = {{"owner", required_argument, NULL, 'o'},
                                             {"store", required_argument, NULL, 's'},
                                             {"json", no_argument, NULL, 'j'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    const char *owner = NULL, *store = NULL;
    int as_json = 0;
    tx_opts_t o;
    tx__opts_init(&o, "stats", argc, argv);
    int c;
    while ((c = tx__opts_next(&o, longopts)) != -1) {
        if (c == TX_OPTS_BAD) return 2;
        if (c == 'o') owner = o.arg;
        if (c == 's') store = o.arg;
        if (c == 'j') as_json = 1;
        if (c == 'h') return tx__opts_exit(c, usage);
    }
    if (tx__opts_end(&o, owner) != 0) return 2;
    int max_attempts = 5;
    tx_store_t *s = NULL;
    int orc = tx__cli_store_open("stats", store, &max_attempts, &s);
    if (orc != 0) return orc;
    tx_store_stats_t st = {0};
    tx_pause_t pause = {0};
    tx_error_t err = {0};
    int rc = tx__store_stats(s, owner, &st, &err);
    if (rc == TX_EOK) rc = tx__store_pause_get(s, &pause, &err);
    tx__store_close(s);
    if (rc != TX_EOK) {
        fprintf(stderr, "tenax stats: %s\n", err.msg ? err.msg : tx_strerror((tx_err_t)rc));
        return 1;
    }
    if (as_json) {
        json_t *doc = tx__stats_json(owner, &st, !pause.paused, max_attempts, TX_ITEM_JSON_TENAX);
        char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
        json_decref(doc);
        if (!text) {
            fprintf(stderr, "tenax stats: out of memory\n");
            return 1;
        }
        puts(text);
        free(text);
    } else {
        print_table(owner, &st, &pause, max_attempts);
    }
    return fflush(stdout) == 0 ? 0 : 1;
}
