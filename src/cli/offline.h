/* What the offline commands (stats, retry, regenerate, export) share: the store URL they use
 * (--store, else TENAX_STORE, else sqlite:tenax.db), opening it without creating a missing
 * SQLite file, and JOB_MAX_ATTEMPTS from the layered config. */
#ifndef TX_CLI_OFFLINE_H
#define TX_CLI_OFFLINE_H

#include "store/store.h"

/* Opens the store for command `cmd` (for messages): `flag` (--store) or the configured one.
 * A malformed URL is a usage error; a `sqlite:` file that does not exist is refused (an offline
 * command never creates a store). Returns the exit code: 0 with *out set, else 2 (bad URL or
 * config) or 1 (no such store, cannot open it) after printing one line "tenax <cmd>: …" on
 * stderr, *out NULL. *max_attempts (may be NULL) gets JOB_MAX_ATTEMPTS. */
int tx__cli_store_open(const char *cmd, const char *flag, int *max_attempts, tx_store_t **out);

#endif
