/* libpq's binary format for the PostgreSQL store: network-order integers, raw bytes for bytea
 * and text, and the one-dimensional array layout (ndim, flags, element type, size, lower bound,
 * then length-prefixed elements). */
#include "store/pg_wire.h"

#include <endian.h>
#include <stdlib.h>
#include <string.h>

int tx__pg_types(const char *spec, Oid *oids)
{
    int n = 0;
    for (const char *c = spec; *c; c++) {
        if (n >= TX_PG_MAX_PARAMS) return -1;
        switch (*c) {
        case 'i':
            oids[n++] = TX_PG_INT8;
            break;
        case 'b':
            oids[n++] = TX_PG_BYTEA;
            break;
        case 't':
            oids[n++] = TX_PG_TEXT;
            break;
        case 'B':
            oids[n++] = TX_PG_BYTEA_ARRAY;
            break;
        case 'T':
            oids[n++] = TX_PG_TEXT_ARRAY;
            break;
        case 'I':
            oids[n++] = TX_PG_INT8_ARRAY;
            break;
        default:
            return -1;
        }
    }
    return n;
}

static int slot(tx_pg_params_t *p)
{
    if (p->n >= TX_PG_MAX_PARAMS) {
        p->oom = 1; /* a programming error; reported like a failed allocation */
        return -1;
    }
    return p->n++;
}

void tx__pg_int(tx_pg_params_t *p, int64_t v)
{
    int i = slot(p);
    if (i < 0) return;
    uint64_t be = htobe64((uint64_t)v);
    memcpy(p->num[i], &be, 8);
    p->val[i] = p->num[i];
    p->len[i] = 8;
    p->fmt[i] = 1;
}

void tx__pg_str(tx_pg_params_t *p, const char *s)
{
    int i = slot(p);
    if (i < 0) return;
    size_t len = s ? strlen(s) : 0;
    if (len > 0x7fffffff) {
        p->oom = 1;
        return;
    }
    p->val[i] = s;
    p->len[i] = (int)len;
    p->fmt[i] = 1;
}

static void put32(char **w, uint32_t v)
{
    uint32_t be = htobe32(v);
    memcpy(*w, &be, 4);
    *w += 4;
}

void tx__pg_str_array(tx_pg_params_t *p, Oid elem, const char *const *v, size_t n)
{
    int i = slot(p);
    if (i < 0) return;
    size_t total = 20, nulls = 0;
    for (size_t k = 0; k < n; k++) {
        total += 4 + (v[k] ? strlen(v[k]) : 0);
        nulls += v[k] == NULL;
    }
    if (total > 0x7fffffff || n > 0x7fffffff) {
        p->oom = 1;
        return;
    }
    char *buf = malloc(total), *w = buf;
    if (!buf) {
        p->oom = 1;
        return;
    }
    put32(&w, n ? 1 : 0); /* ndim: an empty array has none */
    put32(&w, nulls ? 1 : 0);
    put32(&w, elem);
    if (n) {
        put32(&w, (uint32_t)n);
        put32(&w, 1);
    }
    for (size_t k = 0; k < n; k++) {
        if (!v[k]) {
            put32(&w, 0xffffffffu);
            continue;
        }
        size_t len = strlen(v[k]);
        put32(&w, (uint32_t)len);
        memcpy(w, v[k], len);
        w += len;
    }
    p->owned[i] = buf;
    p->val[i] = buf;
    p->len[i] = (int)(w - buf);
    p->fmt[i] = 1;
}

void tx__pg_int_array(tx_pg_params_t *p, const int64_t *v, const unsigned char *null, size_t n)
{
    int i = slot(p);
    if (i < 0) return;
    if (n > 0x7fffffff / 12 - 20) {
        p->oom = 1;
        return;
    }
    size_t nulls = 0;
    for (size_t k = 0; null && k < n; k++)
        nulls += null[k] != 0;
    char *buf = malloc(20 + 12 * n), *w = buf;
    if (!buf) {
        p->oom = 1;
        return;
    }
    put32(&w, n ? 1 : 0); /* ndim: an empty array has none */
    put32(&w, nulls ? 1 : 0);
    put32(&w, TX_PG_INT8);
    if (n) {
        put32(&w, (uint32_t)n);
        put32(&w, 1);
    }
    for (size_t k = 0; k < n; k++) {
        if (null && null[k]) {
            put32(&w, 0xffffffffu);
            continue;
        }
        put32(&w, 8);
        uint64_t be = htobe64((uint64_t)v[k]);
        memcpy(w, &be, 8);
        w += 8;
    }
    p->owned[i] = buf;
    p->val[i] = buf;
    p->len[i] = (int)(w - buf);
    p->fmt[i] = 1;
}

void tx__pg_params_free(tx_pg_params_t *p)
{
    if (!p) return;
    for (int i = 0; i < TX_PG_MAX_PARAMS; i++)
        free(p->owned[i]);
    memset(p, 0, sizeof *p);
}

int tx__pg_is_null(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col);
}

int64_t tx__pg_get_int(const PGresult *r, int row, int col)
{
    if (PQgetisnull(r, row, col)) return 0;
    const char *v = PQgetvalue(r, row, col);
    switch (PQgetlength(r, row, col)) {
    case 8: {
        uint64_t x;
        memcpy(&x, v, 8);
        return (int64_t)be64toh(x);
    }
    case 4: {
        uint32_t x;
        memcpy(&x, v, 4);
        return (int32_t)be32toh(x);
    }
    case 2: {
        uint16_t x;
        memcpy(&x, v, 2);
        return (int16_t)be16toh(x);
    }
    case 1:
        return (unsigned char)v[0];
    default:
        return 0;
    }
}

char *tx__pg_get_str(const PGresult *r, int row, int col, int *oom)
{
    if (PQgetisnull(r, row, col)) return NULL;
    int len = PQgetlength(r, row, col);
    char *copy = malloc((size_t)len + 1);
    if (!copy) {
        *oom = 1;
        return NULL;
    }
    memcpy(copy, PQgetvalue(r, row, col), (size_t)len);
    copy[len] = '\0';
    return copy;
}
