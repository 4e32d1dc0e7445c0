/* tenax regenerate ID [--store URL] offline. The item is worked again whatever its
 * status: pending, due now, attempts reset, history kept. Exit 0, 1 no such item / store error,
 * 2 usage. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli/commands.h"
#include "cli/offline.h"
#include "cli/opts.h"
#include "core/clock.h"

static void usage(FILE *out)
{
    fputs(
        "usage: tenax regenerate ID [--store URL]\n"
        "\n"
        "Queues item ID (the id tenax gave it) to be worked again whatever its status: attempts\n"
        "reset, history kept. A running server or 'tenax run' on the same store works it through.\n"
        "\n"
        "options:\n"
        "  --store URL     sqlite:PATH or postgres://USER[:PASSWORD]@HOST[:PORT]/DB\n"
        "                  (default: $TENAX_STORE, else sqlite:tenax.db)\n"
        "  -h, --help      print this help and exit\n"
        "\n"
        "exit status:\n"
        "  0  queued\n"
        "  1  no such item, or the store cannot be read or written\n"
        "  2  usage error: bad option or ID, malformed store URL, bad config\n",
        out);
}

int tx__cmd_regenerate(int argc, char **argv)
{
    static const struct option longopts[] = {{"store", required_argument, NULL, 's'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    const char *store = NULL;
    tx_opts_t o;
    tx__opts_init(&o, "regenerate", argc, argv);
    int c;
    while ((c = tx__opts_next(&o, longopts)) != -1) {
        if (c == TX_OPTS_BAD) return 2;
        if (c == 's') store = o.arg;
        if (c == 'h') return tx__opts_exit(c, usage);
    }
    if (o.argc - o.first != 1) {
        fprintf(stderr, "tenax regenerate: expected one item ID (see --help)\n");
        return 2;
    }
    const char *arg = o.argv[o.first];
    char *end = NULL;
    errno = 0;
    long long id = strtoll(arg, &end, 10);
    if (errno != 0 || end == arg || *end != '\0' || id < 1 || arg[0] == '+' || arg[0] == ' ') {
        fprintf(stderr, "tenax regenerate: ID: '%s' is not an item id (a positive integer)\n", arg);
        return 2;
    }
    tx_store_t *s = NULL;
    int orc = tx__cli_store_open("regenerate", store, NULL, &s);
    if (orc != 0) return orc;
    tx_error_t err = {0};
    int rc = tx__store_regenerate(s, id, tx__clock_wall_ms(), &err);
    tx__store_close(s);
    if (rc == TX_ENOTFOUND) {
        fprintf(stderr, "tenax regenerate: no item with id %lld\n", id);
        return 1;
    }
    if (rc == TX_EINVAL) {
        fprintf(stderr, "tenax regenerate: item %lld was skipped (it has no text)\n", id);
        return 1;
    }
    if (rc != TX_EOK) {
        fprintf(stderr, "tenax regenerate: %s\n", err.msg ? err.msg : tx_strerror((tx_err_t)rc));
        return 1;
    }
    printf("item %lld queued: pending, due now, attempts reset\n", id);
    return fflush(stdout) == 0 ? 0 : 1;
}
