/* Fuzzes the SQLite store URL parser (src/store/sqlite_url.c): any bytes, never a crash; a
 * success always yields a non-empty path without '?' and a bounded busy timeout. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "store/sqlite_url.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *url = malloc(size + 1);
    if (!url) return 0;
    memcpy(url, data, size);
    url[size] = '\0';
    static tx_sqlite_url_t u;
    tx_error_t err;
    if (tx__sqlite_url_parse(url, &u, &err) == TX_EOK) {
        if (!u.path[0] || strchr(u.path, '?') || u.busy_timeout_ms < 0 ||
            u.busy_timeout_ms > 600000)
            abort();
    } else if (!err.msg || !err.msg[0]) {
        abort();
    }
    free(url);
    return 0;
}
