/* Internal: parsing of `sqlite:PATH[?busy_timeout_ms=N]` store URLs (src/store/sqlite_url.c). */
#ifndef TX_STORE_SQLITE_URL_H
#define TX_STORE_SQLITE_URL_H

#include <stddef.h>

#include "tenax/error.h"

#define TX_SQLITE_BUSY_DEFAULT_MS 5000

typedef struct {
    char path[4096];
    int busy_timeout_ms;
} tx_sqlite_url_t;

/* Parses `url` (NUL-terminated, any bytes) into *out. TX_EINVAL with err filled when the scheme
 * is not "sqlite:", the path is empty or too long, or an option is unknown or out of bounds
 * (busy_timeout_ms: 0–600000). Nothing is allocated. */
int tx__sqlite_url_parse(const char *url, tx_sqlite_url_t *out, tx_error_t *err);

#endif
