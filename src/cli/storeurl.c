/* Store URLs on the command line (storeurl.h): the store layer's own URL parsers, and libpq's
 * conninfo parser for what libpq would reject, so a typo is caught without a connection. */
#include "cli/storeurl.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <string.h>

#include "store/pg_url.h"
#include "store/sqlite_url.h"

/* The ports of a postgres:// authority (user:pw@h1:p1,h2:p2): each must be 1..65535 — libpq
 * itself only says so when it connects. NULL when fine, else the bad port's text. */
static const char *bad_port(const char *url, size_t *len)
{
    const char *a = strstr(url, "://") + 3;
    size_t n = strcspn(a, "/?");
    const char *at = NULL;
    for (const char *c = a; c < a + n; c++)
        if (*c == '@') at = c;
    const char *h = at != NULL ? at + 1 : a, *end = a + n;
    while (h < end) {
        const char *comma = memchr(h, ',', (size_t)(end - h));
        const char *stop = comma != NULL ? comma : end;
        const char *p = h;
        if (*p == '[') { /* [ipv6]:port */
            const char *rb = memchr(p, ']', (size_t)(stop - p));
            p = rb != NULL ? rb + 1 : stop;
        }
        const char *colon = memchr(p, ':', (size_t)(stop - p));
        if (colon != NULL) {
            const char *d = colon + 1;
            long v = 0;
            int ok = d < stop;
            for (; d < stop && ok; d++) {
                ok = *d >= '0' && *d <= '9';
                v = v * 10 + (*d - '0');
                if (v > 65535) ok = 0;
            }
            if (!ok || v == 0) {
                *len = (size_t)(stop - colon - 1);
                return colon + 1;
            }
        }
        h = stop + (comma != NULL);
    }
    return NULL;
}

#define EXPECTED "expected sqlite:PATH or postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE"

const char *tx_cli_store_error(const tx_error_t *err, int rc)
{
    const char *m = err != NULL && err->msg != NULL ? err->msg : tx_strerror((tx_err_t)rc);
    while (strncmp(m, "store: ", 7) == 0) m += 7;
    return m;
}

int tx_cli_store_url_check(const char *cmd, const char *where, const char *url)
{
    tx_error_t err = {0};
    if (url == NULL || url[0] == '\0') {
        fprintf(stderr, "tenax %s: %s: empty store URL (%s)\n", cmd, where, EXPECTED);
        return -1;
    }
    if (strncmp(url, "sqlite:", 7) == 0) {
        static tx_sqlite_url_t su; /* 4 KiB path: not on the stack */
        if (tx__sqlite_url_parse(url, &su, &err) == 0) return 0;
        fprintf(stderr, "tenax %s: %s: %s (%s)\n", cmd, where, tx_cli_store_error(&err, TX_EINVAL),
                EXPECTED);
        return -1;
    }
    if (strncmp(url, "postgres://", 11) == 0 || strncmp(url, "postgresql://", 13) == 0) {
        static tx_pg_url_t pu;
        if (tx__pg_url_parse(url, &pu, &err) != 0) {
            fprintf(stderr, "tenax %s: %s: %s (%s)\n", cmd, where,
                    tx_cli_store_error(&err, TX_EINVAL), EXPECTED);
            return -1;
        }
        size_t plen = 0;
        const char *port = bad_port(url, &plen);
        if (port != NULL) {
            fprintf(stderr, "tenax %s: %s: '%.*s' is not a port (1..65535) (%s)\n", cmd, where,
                    (int)(plen > 16 ? 16 : plen), port, EXPECTED);
            return -1;
        }
        char *msg = NULL;
        PQconninfoOption *opts = PQconninfoParse(pu.conninfo, &msg);
        if (opts == NULL) {
            /* libpq's message names the option, never the password's value */
            size_t n = msg != NULL ? strcspn(msg, "\n") : 0;
            fprintf(stderr, "tenax %s: %s: not a valid PostgreSQL URL: %.*s (%s)\n", cmd, where,
                    (int)n, msg != NULL ? msg : "", EXPECTED);
            PQfreemem(msg);
            return -1;
        }
        PQconninfoFree(opts);
        return 0;
    }
    size_t scheme = strcspn(url, ":/@?");
    if (url[scheme] != ':')
        fprintf(stderr, "tenax %s: %s: '%.*s' is not a store URL (%s)\n", cmd, where,
                (int)(scheme > 64 ? 64 : scheme), url, EXPECTED);
    else
        fprintf(stderr, "tenax %s: %s: unsupported store URL scheme '%.*s' (%s)\n", cmd, where,
                (int)(scheme > 32 ? 32 : scheme), url, EXPECTED);
    return -1;
}

void tx_cli_store_url_show(const char *url, char *buf, size_t cap)
{
    if (cap == 0) return;
    if (url == NULL) url = "";
    const char *rest = strstr(url, "://");
    if (strncmp(url, "postgres", 8) != 0 || rest == NULL) {
        snprintf(buf, cap, "%s", url);
        return;
    }
    rest += 3;
    size_t auth = strcspn(rest, "@/?");
    const char *colon = memchr(rest, ':', auth);
    size_t q = strcspn(url, "?");
    if (rest[auth] == '@' && colon != NULL) /* user:password@ */
        snprintf(buf, cap, "%.*s***%.*s", (int)(colon + 1 - url), url,
                 (int)(q > (size_t)(rest + auth - url) ? q - (size_t)(rest + auth - url) : 0),
                 rest + auth);
    else
        snprintf(buf, cap, "%.*s", (int)q, url);
}
