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
    if (!url) return 0;
    memcpy(url, data, size);
    url[size] = '\0';
    static tx_pg_url_t u;
    tx_error_t err;
    if (tx__pg_url_parse(url, &u, &err) == TX_EOK) {
        /* No option of the query (after the first '?', split on '&') is schema= any more. */
        for (const char *q = strchr(u.conninfo, '?'); q; q = strchr(q + 1, '&'))
            if (strncmp(q + 1, "schema=", 7) == 0) abort();
        if (strncmp(u.conninfo, "postgres", 8) != 0 || strlen(u.conninfo) > strlen(url) ||
            strspn(u.schema, "abcdefghijklmnopqrstuvwxyz0123456789_") != strlen(u.schema))
            abort();
    } else if (!err.msg || !err.msg[0]) {
        abort();
    }
    free(url);
    return 0;
}
