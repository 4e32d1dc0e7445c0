/* tenax retry [--owner ID] [--force] [--limit N] [--store URL] offline. Makes up to N
 * retrying/pending items (with --force failed ones too, attempts reset) due now and says how many
 * were selected. Exit 0, 1 store error, 2 usage. */
#include <stdio.h>

#include "cli/commands.h"
#include "cli/offline.h"
#include "cli/opts.h"
#include "core/clock.h"

static void usage(FILE *out)
{
    fputs("usage: tenax retry [--owner ID] [--force] [--limit N] [--store URL]\n"
          "\n"
          "Makes up to N retrying and pending items due now; with --force failed items too, their\n"
          "attempt count reset (history kept). A running server or 'tenax run' on the same store\n"
          "works them through.\n"
          "\n"
          "options:\n"
          "  --owner ID      one owner's items (default: every owner)\n"
          "  --force         also failed items\n"
          "  --limit N       at most N items (1..1000000, default 50)\n"
          "  --store URL     sqlite:PATH or postgres://USER[:PASSWORD]@HOST[:PORT]/DB\n"
          "                  (default: $TENAX_STORE, else sqlite:tenax.db)\n"
          "  -h, --help      print this help and exit\n"
          "\n"
          "exit status:\n"
          "  0  ok\n"
          "  1  the store cannot be read or written\n"
          "  2  usage error: bad option, malformed store URL, bad config\n",
          out);
}

int tx__cmd_retry(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"owner", required_argument, NULL, 'o'}, {"force", no_argument, NULL, 'f'},
        {"limit", required_argument, NULL, 'l'}, {"store", required_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},        {NULL, 0, NULL, 0}};
    const char *owner = NULL, *store = NULL;
    int force = 0;
    int64_t limit = 50;
    tx_opts_t o;
    tx__opts_init(&o, "retry", argc, argv);
    int c;
    while ((c = tx__opts_next(&o, longopts)) != -1) {
        if (c == TX_OPTS_BAD) return 2;
        if (c == 'o') owner = o.arg;
        if (c == 'f') force = 1;
        if (c == 's') store = o.arg;
        if (c == 'l' && tx__opts_int(&o, "limit", 1, 1000000, &limit) != 0) return 2;
        if (c == 'h') return tx__opts_exit(c, usage);
    }
    if (tx__opts_end(&o, owner) != 0) return 2;
    tx_store_t *s = NULL;
    int orc = tx__cli_store_open("retry", store, NULL, &s);
    if (orc != 0) return orc;
    tx_error_t err = {0};
    int64_t selected = 0;
    int rc = tx__store_retry(s, owner, force, (size_t)limit, tx__clock_wall_ms(), &selected, &err);
    tx__store_close(s);
    if (rc != TX_EOK) {
        fprintf(stderr, "tenax retry: %s\n", err.msg ? err.msg : tx_strerror((tx_err_t)rc));
        return 1;
    }
    printf("selected %lld item%s (owner %s, %s, limit %lld): due now\n", (long long)selected,
           selected == 1 ? "" : "s", owner ? owner : "all",
           force ? "failed included (--force)" : "retrying and pending", (long long)limit);
    return fflush(stdout) == 0 ? 0 : 1;
}
