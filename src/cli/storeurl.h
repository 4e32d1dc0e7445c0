/* Store URLs on the command line: a malformed one is a usage error (exit 2) with a readable
 * message, checked before anything is opened; a URL shown in a message never shows its
 * password. */
#ifndef TX_CLI_STOREURL_H
#define TX_CLI_STOREURL_H

#include <stddef.h>

#include "tenax/error.h"

/* 0 when `url` is a well-formed sqlite:PATH or postgres://… URL (nothing is opened or
 * connected); -1 after printing "tenax <cmd>: <where>: <reason> (…)" on stderr. `where` names
 * the source: "--store", "TENAX_STORE". */
int tx_cli_store_url_check(const char *cmd, const char *where, const char *url);

/* `url` for a message into buf: a PostgreSQL password becomes "***", a query string is cut. */
void tx_cli_store_url_show(const char *url, char *buf, size_t cap);

/* The store layer's error text without its "store: " prefix (the CLI says which store). */
const char *tx_cli_store_error(const tx_error_t *err, int rc);

#endif
