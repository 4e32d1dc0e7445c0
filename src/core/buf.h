/* Growable memory (internal): tx__grow for any array whose capacity doubles, and tx__buf_t, a
 * byte buffer kept NUL-terminated. Inline, so the common case (it fits) costs a compare; the
 * JSON string writer is in buf.c. */
#ifndef TX_CORE_BUF_H
#define TX_CORE_BUF_H

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* Makes room for `need` elements of `size` bytes in *p (capacity *cap elements), doubling from
 * `first` (or the current capacity). 0, or -1 on overflow or out of memory: *p and *cap are left
 * as they were. */
static inline int tx__grow(void *p, size_t *cap, size_t need, size_t size, size_t first)
{
    if (need <= *cap) return 0;
    size_t c = *cap ? *cap : first;
    while (c < need) {
        if (c > (size_t)-1 / 2) return -1;
        c *= 2;
    }
    if (size != 0 && c > (size_t)-1 / size) return -1;
    void *np = realloc(*(void **)p, c * size);
    if (np == NULL) return -1;
    *(void **)p = np;
    *cap = c;
    return 0;
}

/* A byte buffer: `p[len]` is always '\0' once anything was added; {0} is an empty one. */
typedef struct {
    char *p;
    size_t len, cap;
} tx__buf_t;

/* Room for `extra` more bytes and the NUL. 0, or -1 out of memory (the buffer is unchanged). */
static inline int tx__buf_reserve(tx__buf_t *b, size_t extra, size_t first)
{
    if (extra > (size_t)-1 - b->len - 1) return -1;
    return tx__grow(&b->p, &b->cap, b->len + extra + 1, 1, first);
}

/* Appends n bytes of s (s may be anything when n is 0) and keeps the NUL. 0, or -1 out of memory
 * (the buffer is unchanged). */
static inline int tx__buf_add(tx__buf_t *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap && tx__buf_reserve(b, n, 256) != 0) return -1;
    if (n > 0) memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
    return 0;
}

/* Appends the NUL-terminated UTF-8 `s` as a JSON string literal: quotes, `\"` and `\\`, the
 * short escapes \b \t \n \f \r, other control characters as \u00XX, everything else as is
 * (what jansson's compact dump writes). 0, or -1 out of memory (a part may have been added). */
int tx__buf_add_json_string(tx__buf_t *b, const char *s);

/* Frees the memory and leaves an empty buffer. */
static inline void tx__buf_free(tx__buf_t *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

#endif
