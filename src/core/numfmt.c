/* Integers as text without printf (see numfmt.h): the digits are produced from the right into a
 * small scratch buffer, then copied to the front of `out`. */
#include "core/numfmt.h"

#include <string.h>

static size_t emit(char *out, const char *scratch_end, const char *first)
{
    size_t n = (size_t)(scratch_end - first);
    memcpy(out, first, n);
    out[n] = '\0';
    return n;
}

size_t tx__fmt_u64(char *out, uint64_t v)
{
    char tmp[TX_NUMFMT_MAX];
    char *end = tmp + sizeof tmp, *p = end;
    do {
        *--p = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    return emit(out, end, p);
}

size_t tx__fmt_i64(char *out, int64_t v)
{
    if (v >= 0) return tx__fmt_u64(out, (uint64_t)v);
    out[0] = '-';
    /* negate in unsigned arithmetic: -INT64_MIN does not fit an int64_t */
    return 1 + tx__fmt_u64(out + 1, 0u - (uint64_t)v);
}

size_t tx__fmt_hex(char *out, uint64_t v)
{
    static const char digits[] = "0123456789abcdef";
    char tmp[TX_NUMFMT_MAX];
    char *end = tmp + sizeof tmp, *p = end;
    do {
        *--p = digits[v & 0xf];
        v >>= 4;
    } while (v != 0);
    return emit(out, end, p);
}
