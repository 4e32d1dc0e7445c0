/* Parses SQLite store URLs: `sqlite:PATH` with optional `?busy_timeout_ms=N` (how long a call
 * waits for another process's write lock before TX_EBUSY). A path cannot contain '?'. */
#include "store/sqlite_url.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "store/store.h"

static int parse_option(const char *opt, size_t len, tx_sqlite_url_t *out, tx_error_t *err)
{
    static const char key[] = "busy_timeout_ms=";
    if (len > sizeof key - 1 && strncmp(opt, key, sizeof key - 1) == 0) {
        const char *num = opt + sizeof key - 1;
        size_t nlen = len - (sizeof key - 1);
        char buf[16];
        if (nlen >= sizeof buf)
            return tx__store_fail(err, TX_EINVAL, "store: busy_timeout_ms out of bounds");
        memcpy(buf, num, nlen);
        buf[nlen] = '\0';
        char *end = NULL;
        errno = 0;
        long v = strtol(buf, &end, 10);
        if (errno || end == buf || *end || v < 0 || v > 600000)
            return tx__store_fail(err, TX_EINVAL,
                                  "store: busy_timeout_ms must be an integer in 0..600000");
        out->busy_timeout_ms = (int)v;
        return TX_EOK;
    }
    return tx__store_fail(err, TX_EINVAL, "store: unknown sqlite URL option \"%.*s\"",
                          (int)(len > 40 ? 40 : len), opt);
}

int tx__sqlite_url_parse(const char *url, tx_sqlite_url_t *out, tx_error_t *err)
{
    if (!url || !out) return tx__store_fail(err, TX_EINVAL, "store: NULL URL");
    memset(out, 0, sizeof *out);
    out->busy_timeout_ms = TX_SQLITE_BUSY_DEFAULT_MS;
    if (strncmp(url, "sqlite:", 7) != 0)
        return tx__store_fail(err, TX_EINVAL, "store: not a sqlite: URL");
    const char *path = url + 7;
    const char *q = strchr(path, '?');
    size_t plen = q ? (size_t)(q - path) : strlen(path);
    if (plen == 0) return tx__store_fail(err, TX_EINVAL, "store: empty path in sqlite: URL");
    if (plen >= sizeof out->path)
        return tx__store_fail(err, TX_EINVAL, "store: sqlite path too long");
    memcpy(out->path, path, plen);
    out->path[plen] = '\0';
    while (q) {
        const char *opt = q + 1;
        q = strchr(opt, '&');
        size_t len = q ? (size_t)(q - opt) : strlen(opt);
        int rc = parse_option(opt, len, out, err);
        if (rc != TX_EOK) return rc;
    }
    return TX_EOK;
}
