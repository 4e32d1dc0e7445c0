/* Internal: libpq's binary wire format for the PostgreSQL store (src/store/pg_wire.c): bound
 * parameters (int8, bytea, text, one-dimensional arrays) and readers for binary result columns.
 * Binary everywhere, so user bytes go through untouched (no escaping, no encoding checks). */
#ifndef TX_STORE_PG_WIRE_H
#define TX_STORE_PG_WIRE_H

#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

#define TX_PG_MAX_PARAMS 24

/* Type OIDs used in statement type strings: 'i' int8, 'b' bytea, 't' text, 'B' bytea[],
 * 'T' text[], 'I' int8[]. */
#define TX_PG_INT8 20
#define TX_PG_BYTEA 17
#define TX_PG_TEXT 25
#define TX_PG_BYTEA_ARRAY 1001
#define TX_PG_TEXT_ARRAY 1009
#define TX_PG_INT8_ARRAY 1016

/* Parameters for one PQexecPrepared call. Values are borrowed (strings) or held inside (ints);
 * arrays are malloc'd and released by tx__pg_params_free. */
typedef struct {
    int n;
    const char *val[TX_PG_MAX_PARAMS];
    int len[TX_PG_MAX_PARAMS];
    int fmt[TX_PG_MAX_PARAMS];
    char num[TX_PG_MAX_PARAMS][8];
    char *owned[TX_PG_MAX_PARAMS];
    int oom;
} tx_pg_params_t;

/* The OIDs for a type string ("iib…"); returns how many (≤ TX_PG_MAX_PARAMS), -1 if bad. */
int tx__pg_types(const char *spec, Oid *oids);

void tx__pg_int(tx_pg_params_t *p, int64_t v);
/* A string as bytes (NULL → SQL NULL); text and bytea travel the same way in binary. */
void tx__pg_str(tx_pg_params_t *p, const char *s);
/* A one-dimensional array of `n` strings (NULL entries → NULL elements) of element type
 * `elem` (TX_PG_BYTEA or TX_PG_TEXT). p->oom is set when the buffer cannot be allocated. */
void tx__pg_str_array(tx_pg_params_t *p, Oid elem, const char *const *v, size_t n);
/* A one-dimensional int8[] of `n` values; element k is NULL when null && null[k] (null may be
 * NULL: no nulls). p->oom is set when the buffer cannot be allocated. */
void tx__pg_int_array(tx_pg_params_t *p, const int64_t *v, const unsigned char *null, size_t n);
void tx__pg_params_free(tx_pg_params_t *p);

/* Readers for a binary result cell. int: int8/int4/int2/bool, 0 for NULL. str: a malloc'd,
 * NUL-terminated copy (NULL for SQL NULL; *oom set when the copy fails). */
int64_t tx__pg_get_int(const PGresult *r, int row, int col);
int tx__pg_is_null(const PGresult *r, int row, int col);
char *tx__pg_get_str(const PGresult *r, int row, int col, int *oom);

#endif
