/* Shared option parsing for subcommands (see opts.h): getopt_long plus tenax's one-line
 * errors. */
#include "cli/opts.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void tx__opts_init(tx_opts_t *o, const char *cmd, int argc, char **argv)
{
    o->cmd = cmd;
    o->argc = argc;
    o->argv = argv;
    o->arg = NULL;
    o->first = argc;
    opterr = 0;
    optind = 0; /* 0 makes glibc re-initialise its state, so several parses in one process work */
}

int tx__opts_next(tx_opts_t *o, const struct option *longopts)
{
    int idx = -1;
    int c = getopt_long(o->argc, o->argv, ":h", longopts, &idx); /* -h: help everywhere */
    o->arg = optarg;
    if (c == -1) {
        o->first = optind;
        return -1;
    }
    if (c == ':') {
        fprintf(stderr, "tenax %s: option '%s' needs a value (see 'tenax %s --help')\n", o->cmd,
                o->argv[optind - 1], o->cmd);
        return TX_OPTS_BAD;
    }
    if (c == '?') {
        const char *bad = o->argv[optind - 1];
        /* "--json=x" on a flag without a value is reported by getopt as '?', too */
        if (strncmp(bad, "--", 2) == 0 && strchr(bad, '=') != NULL)
            fprintf(stderr, "tenax %s: option '%.*s' takes no value\n", o->cmd,
                    (int)(strchr(bad, '=') - bad), bad);
        else
            fprintf(stderr, "tenax %s: unknown option '%s' (see 'tenax %s --help')\n", o->cmd, bad,
                    o->cmd);
        return TX_OPTS_BAD;
    }
    return c;
}

int tx__opts_int(const tx_opts_t *o, const char *flag, int64_t lo, int64_t hi, int64_t *out)
{
    const char *s = o->arg != NULL ? o->arg : "";
    char *end = NULL;
    errno = 0;
    long long v = (s[0] == '-' || isdigit((unsigned char)s[0])) ? strtoll(s, &end, 10) : 0;
    if (end == NULL || end == s || *end != '\0' || errno != 0 || v < lo || v > hi) {
        fprintf(stderr, "tenax %s: --%s: '%s' is not an integer in %lld..%lld\n", o->cmd, flag, s,
                (long long)lo, (long long)hi);
        return -1;
    }
    *out = v;
    return 0;
}

int tx__opts_listen(const char *cmd, const char *listen)
{
    const char *l = listen != NULL ? listen : "";
    const char *colon = NULL;
    if (l[0] == '[') {
        const char *end = strchr(l, ']');
        colon = end != NULL && end > l + 1 && end[1] == ':' ? end + 1 : NULL;
    } else {
        colon = strrchr(l, ':');
        if (colon != NULL && memchr(l, ':', (size_t)(colon - l)) != NULL) colon = NULL; /* v6 */
    }
    long port = -1;
    if (colon != NULL && colon[1] != '\0' && strlen(colon + 1) <= 5) {
        port = 0;
        for (const char *d = colon + 1; *d != '\0' && port >= 0; d++)
            port = isdigit((unsigned char)*d) ? port * 10 + (*d - '0') : -1;
    }
    int ok = port >= 0 && port <= 65535;
    for (const char *c = l; ok && *c != '\0'; c++)
        ok = (unsigned char)*c > 0x20 && (unsigned char)*c < 0x7f;
    if (ok) return 0;
    fprintf(stderr,
            "tenax %s: --listen: '%.64s%s' is not HOST:PORT or [IPv6]:PORT (port 0..65535)\n", cmd,
            l, strlen(l) > 64 ? "…" : "");
    return -1;
}

int tx__opts_end(const tx_opts_t *o, const char *owner)
{
    if (o->first < o->argc) {
        fprintf(stderr, "tenax %s: unexpected argument '%s'\n", o->cmd, o->argv[o->first]);
        return -1;
    }
    if (owner != NULL && *owner == '\0') {
        fprintf(stderr, "tenax %s: --owner: empty owner\n", o->cmd);
        return -1;
    }
    return 0;
}

int tx__opts_exit(int c, void (*usage)(FILE *out))
{
    if (c != 'h') return 2;
    usage(stdout);
    return 0;
}
