/* Internal: the SQLite backend's versioned migrations (src/store/sqlite_schema.c). */
#ifndef TX_STORE_SQLITE_SCHEMA_H
#define TX_STORE_SQLITE_SCHEMA_H

#include <stddef.h>
#include <sqlite3.h>

/* Brings `db` to the newest schema, one transaction per step. *from = the version found. On
 * failure returns the SQLite code, fills `why`, and the steps done so far stay applied. */
int tx__sqlite_migrate(sqlite3 *db, int *from, char *why, size_t whylen);

#endif
