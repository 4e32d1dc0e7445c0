/* Fuzzes the PostgreSQL store URL parser (src/store/pg_url.c): any bytes, never a crash; a
 * success always yields a postgres URI without `schema=` and a schema of [a-z0-9_] only. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "store/pg_url.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *url = malloc(size + 1);
    if (!url)
        return 0;
    memcpy(url, data, size);
    url[size] = '\0';
    static tx_pg_url_t u;
    tx_error_t err;
    if (tx__pg_url_parse(url, &u, &err) == TX_EOK) {
        const char *q = strchr(u.conninfo, '?');
        if (strncmp(u.conninfo, "postgres", 8) != 0 || (q && strstr(q, "?schema=")) ||
            (q && strstr(q, "&schema=")) || strlen(u.conninfo) > strlen(url) ||
            strspn(u.schema, "abcdefghijklmnopqrstuvwxyz0123456789_") != strlen(u.schema))
            abort();
    } else if (!err.msg || !err.msg[0]) {
        abort();
    }
    free(url);
    return 0;
}
