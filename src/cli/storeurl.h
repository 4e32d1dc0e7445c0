/* Store URLs on the command line: a malformed one is a usage error (exit 2) with a readable
 * message, checked before anything is opened; a URL shown in a message never shows its
 * password. */
#ifndef TX_CLI_STOREURL_H
#define TX_CLI_STOREURL_H

#include <stddef.h>

#include "tenax/error.h"

/* What every "malformed store URL" message ends with. */
#define TX_CLI_STORE_EXPECTED                                                                      \
    "expected sqlite:PATH or postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE"

/* 0 when `url` is a well-formed sqlite:PATH or postgres://… URL (nothing is opened or
 * connected); -1 with the reason in why[cap] (never a part of the password) otherwise. Pure. */
int tx__cli_store_url_problem(const char *url, char *why, size_t cap);

/* tx__cli_store_url_problem, and on a problem one line "tenax <cmd>: <where>: <why> (expected
 * …)" on stderr. `where` names the source: "--store", "TENAX_STORE". 0 or -1. */
int tx__cli_store_url_check(const char *cmd, const char *where, const char *url);

/* The store layer's error text without its "store: " prefix (the CLI says which store). */
const char *tx__cli_store_error(const tx_error_t *err, int rc);

#endif
