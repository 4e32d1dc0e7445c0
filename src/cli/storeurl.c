/* Store URLs on the command line (storeurl.h): the store layer's own URL parsers, a port check,
 * and libpq's conninfo parser for what libpq would reject, so a typo is caught without a
 * connection. The user info of a postgres:// URL is taken to end at its last '@' before the
 * query: a password with an unescaped '@' or '/' is still never shown. */
#include "cli/storeurl.h"

#include <libpq-fe.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/url.h"
#include "store/pg_url.h"
#include "store/sqlite_url.h"

const char *tx__cli_store_error(const tx_error_t *err, int rc)
{
    const char *m = err != NULL && err->msg != NULL ? err->msg : tx_strerror((tx_err_t)rc);
    while (strncmp(m, "store: ", 7) == 0)
        m += 7;
    return m;
}

static int problem(char *why, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (cap > 0) vsnprintf(why, cap, fmt, ap);
    va_end(ap);
    return -1;
}

/* The host list of a postgres:// URL: after the last '@' before the query (or after "://"),
 * up to the path or the query. */
static void host_part(const char *url, const char **h, const char **end)
{
    const char *rest = strstr(url, "://") + 3;
    const char *q = rest + strcspn(rest, "?");
    const char *at = NULL;
    for (const char *c = rest; c < q; c++)
        if (*c == '@') at = c;
    *h = at != NULL ? at + 1 : rest;
    const char *slash = memchr(*h, '/', (size_t)(q - *h));
    *end = slash != NULL ? slash : q;
}

/* Each host's port (h1:p1,h2:p2, [v6]:p) must be 1..65535 — libpq only says so when it
 * connects. NULL when fine, else the bad port's text and length. */
static const char *bad_port(const char *url, size_t *len)
{
    const char *h, *end;
    host_part(url, &h, &end);
    while (h < end) {
        const char *comma = memchr(h, ',', (size_t)(end - h));
        const char *stop = comma != NULL ? comma : end;
        const char *p = h;
        if (*p == '[') {
            const char *rb = memchr(p, ']', (size_t)(stop - p));
            p = rb != NULL ? rb + 1 : stop;
        }
        const char *colon = memchr(p, ':', (size_t)(stop - p));
        if (colon != NULL) {
            long v = 0;
            int ok = colon + 1 < stop;
            for (const char *d = colon + 1; d < stop && ok; d++) {
                ok = *d >= '0' && *d <= '9' && (v = v * 10 + (*d - '0')) <= 65535;
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

/* A printable, short excerpt of s (for messages about what is not a URL). */
static void excerpt(const char *s, size_t n, char *out, size_t cap)
{
    size_t k = 0;
    for (size_t i = 0; i < n && s[i] != '\0' && k + 1 < cap && k < 32; i++)
        out[k++] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
    out[k] = '\0';
}

int tx__cli_store_url_problem(const char *url, char *why, size_t cap)
{
    tx_error_t err = {0};
    char ex[40];
    if (url == NULL || url[0] == '\0') return problem(why, cap, "empty store URL");
    if (strncmp(url, "sqlite:", 7) == 0) {
        static tx_sqlite_url_t su; /* a 4 KiB path: not on the stack; one thread (the CLI) */
        if (tx__sqlite_url_parse(url, &su, &err) == 0) return 0;
        return problem(why, cap, "%s", tx__cli_store_error(&err, TX_EINVAL));
    }
    if (strncmp(url, "postgres://", 11) == 0 || strncmp(url, "postgresql://", 13) == 0) {
        static tx_pg_url_t pu;
        if (tx__pg_url_parse(url, &pu, &err) != 0)
            return problem(why, cap, "%s", tx__cli_store_error(&err, TX_EINVAL));
        /* libpq ends the user info at the first '@' or '/': one of those inside a password
         * would make it read part of the password as the host (and print it) */
        const char *rest = strstr(url, "://") + 3, *q = rest + strcspn(rest, "?");
        const char *at = NULL;
        int ats = 0;
        for (const char *c = rest; c < q; c++)
            if (*c == '@') at = c, ats++;
        if (ats > 1 || (at != NULL && memchr(rest, '/', (size_t)(at - rest)) != NULL))
            return problem(why, cap,
                           "the user name or password holds '@' or '/' (write them "
                           "as %%40 and %%2F)");
        size_t plen = 0;
        const char *port = bad_port(url, &plen);
        if (port != NULL) {
            excerpt(port, plen, ex, sizeof ex);
            return problem(why, cap, "'%s' is not a port (1..65535)", ex);
        }
        char *msg = NULL;
        PQconninfoOption *opts = PQconninfoParse(pu.conninfo, &msg);
        if (opts == NULL) {
            /* libpq's reason, without the URI it quotes ("… in URI: \"postgres://…\""); and
             * none at all should the password still be in it */
            const char *m = msg != NULL ? msg : "";
            size_t n = strcspn(m, "\n");
            const char *in_uri = strstr(m, " in URI");
            if (in_uri != NULL && (size_t)(in_uri - m) < n) n = (size_t)(in_uri - m);
            const char *pw = NULL;
            size_t pwl = tx__url_password(url, &pw);
            int leaks = pwl > 0 && memmem(m, n, pw, pwl) != NULL;
            if (n == 0 || leaks)
                problem(why, cap, "not a valid PostgreSQL URL");
            else
                problem(why, cap, "not a valid PostgreSQL URL: %.*s", (int)n, m);
            PQfreemem(msg);
            return -1;
        }
        PQconninfoFree(opts);
        return 0;
    }
    size_t scheme = strcspn(url, ":/@?");
    excerpt(url, scheme, ex, sizeof ex);
    if (url[scheme] != ':') return problem(why, cap, "'%s' is not a store URL", ex);
    return problem(why, cap, "unsupported store URL scheme '%s'", ex);
}

int tx__cli_store_url_check(const char *cmd, const char *where, const char *url)
{
    char why[256];
    if (tx__cli_store_url_problem(url, why, sizeof why) == 0) return 0;
    fprintf(stderr, "tenax %s: %s: %s (%s)\n", cmd, where, why, TX_CLI_STORE_EXPECTED);
    return -1;
}
