/* Internal: parsing of `postgres://…` / `postgresql://…` store URLs (src/store/pg_url.c): the
 * libpq URI is kept as is except for tenax's own option `schema=NAME`, which is taken out. */
#ifndef TX_STORE_PG_URL_H
#define TX_STORE_PG_URL_H

#include <stddef.h>

#include "tenax/error.h"

#define TX_PG_URL_MAX 4096
#define TX_PG_SCHEMA_MAX 48

typedef struct {
    char conninfo[TX_PG_URL_MAX];      /* the URI for libpq, `schema=` removed */
    char schema[TX_PG_SCHEMA_MAX + 1]; /* "" = the server's search_path decides */
} tx_pg_url_t;

/* Parses `url` (NUL-terminated, any bytes) into *out. TX_EINVAL with err filled when the scheme
 * is not postgres:// or postgresql://, the URL is too long (≥ 4096 bytes) or holds a control
 * character, or `schema` is repeated, empty, longer than 48 bytes or not [a-z_][a-z0-9_]*.
 * Other query options are left for libpq to judge. Nothing is allocated. */
int tx__pg_url_parse(const char *url, tx_pg_url_t *out, tx_error_t *err);

#endif
