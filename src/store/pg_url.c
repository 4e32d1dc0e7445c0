/* Parses PostgreSQL store URLs: a libpq connection URI plus tenax's option `schema=NAME` (the
 * schema that holds tenax's tables, created on first open; several deployments or test runs can
 * share one database). Everything else is libpq's business (connect_timeout, sslmode, …). */
#include "store/pg_url.h"

#include <string.h>

#include "store/store.h"

static int schema_ok(const char *s, size_t len)
{
    if (len == 0 || len > TX_PG_SCHEMA_MAX) return 0;
    if (!((s[0] >= 'a' && s[0] <= 'z') || s[0] == '_')) return 0;
    for (size_t i = 1; i < len; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
            return 0;
    return 1;
}

int tx__pg_url_parse(const char *url, tx_pg_url_t *out, tx_error_t *err)
{
    if (!url || !out) return tx__store_fail(err, TX_EINVAL, "store: NULL URL");
    memset(out, 0, sizeof *out);
    size_t len = strlen(url);
    if (strncmp(url, "postgres://", 11) != 0 && strncmp(url, "postgresql://", 13) != 0)
        return tx__store_fail(err, TX_EINVAL, "store: not a postgres:// or postgresql:// URL");
    if (len >= TX_PG_URL_MAX)
        return tx__store_fail(err, TX_EINVAL, "store: postgres URL too long (%zu bytes)", len);
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)url[i] < 0x20 || url[i] == 0x7f)
            return tx__store_fail(err, TX_EINVAL, "store: control character in postgres URL");
    const char *q = strchr(url, '?');
    size_t base = q ? (size_t)(q - url) : len;
    memcpy(out->conninfo, url, base);
    size_t o = base;
    int kept = 0, have_schema = 0;
    while (q) {
        const char *opt = q + 1;
        q = strchr(opt, '&');
        size_t olen = q ? (size_t)(q - opt) : strlen(opt);
        if (olen >= 7 && strncmp(opt, "schema=", 7) == 0) {
            if (have_schema)
                return tx__store_fail(err, TX_EINVAL, "store: schema given twice in URL");
            if (!schema_ok(opt + 7, olen - 7))
                return tx__store_fail(err, TX_EINVAL,
                                      "store: schema must be 1-%d characters "
                                      "of a-z, 0-9 and _ (not starting with a digit)",
                                      TX_PG_SCHEMA_MAX);
            memcpy(out->schema, opt + 7, olen - 7);
            out->schema[olen - 7] = '\0';
            have_schema = 1;
            continue;
        }
        if (olen == 0) continue;
        out->conninfo[o++] = kept++ ? '&' : '?'; /* fits: the output is never longer */
        memcpy(out->conninfo + o, opt, olen);
        o += olen;
    }
    out->conninfo[o] = '\0';
    return TX_EOK;
}
