/* A free-list (internal): a bounded stack of finished objects kept for reuse, so a hot path
 * spares malloc and free. The pointers live in the list, not in the objects, so a kept object
 * may be poisoned whole under ASan (core/poison.h) while it waits. Not thread-safe: one owner. */
#ifndef TX_CORE_FREELIST_H
#define TX_CORE_FREELIST_H

#include <stddef.h>

#define TX__FREELIST_CAP 128

typedef struct {
    void *v[TX__FREELIST_CAP];
    unsigned n;
    unsigned max;             /* how many it keeps; 0: TX__FREELIST_CAP */
    void (*destroy)(void *p); /* frees one kept object (tx__freelist_clear) */
} tx__freelist_t;

/* The object put last (the caller resets it), or NULL when f is NULL or empty. */
static inline void *tx__freelist_take(tx__freelist_t *f)
{
    return f != NULL && f->n > 0 ? f->v[--f->n] : NULL;
}

/* Keeps p: 1, or 0 when f is NULL, p is NULL or the list is full (then the caller frees p). */
static inline int tx__freelist_put(tx__freelist_t *f, void *p)
{
    unsigned max =
        f != NULL && f->max != 0 && f->max < TX__FREELIST_CAP ? f->max : TX__FREELIST_CAP;
    if (f == NULL || p == NULL || f->n >= max) return 0;
    f->v[f->n++] = p;
    return 1;
}

/* Frees every kept object with f->destroy. NULL: no-op. */
static inline void tx__freelist_clear(tx__freelist_t *f)
{
    if (f == NULL) return;
    while (f->n > 0)
        f->destroy(f->v[--f->n]);
}

#endif
