/* Internal: the PostgreSQL backend's versioned migrations (src/store/pg_schema.c). */
#ifndef TX_STORE_PG_SCHEMA_H
#define TX_STORE_PG_SCHEMA_H

#include <libpq-fe.h>
#include <stddef.h>

/* Brings the schema `schema` ("" = current_schema()) to the newest version in ONE transaction
 * under pg_advisory_xact_lock, so nodes starting together migrate once; the connection's
 * search_path must already name the schema. *from = the version found. Returns 0, or -1 with
 * `why` filled and nothing changed; *newer = 1 when the database is newer than this build. */
int tx__pg_migrate(PGconn *c, const char *schema, int *from, int *newer, char *why, size_t whylen);
/* The newest schema version this build knows. */
int tx__pg_schema_version(void);

#endif
