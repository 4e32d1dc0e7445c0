/* Decimal formatting of integers (decimal.h): digits written backwards into a small stack buffer,
 * then copied out once. */
#include "core/decimal.h"

size_t tx__decimal(char *buf, size_t cap, long long v)
{
    if (v >= 0 && v < 10 && cap >= 2) { /* an endpoint index, an attempt count */
        buf[0] = (char)('0' + v);
        buf[1] = '\0';
        return 1;
    }
    char tmp[TX_DECIMAL_MAX];
    size_t i = sizeof tmp;
    /* in unsigned arithmetic, so LLONG_MIN negates without overflow */
    unsigned long long u = v < 0 ? 0ull - (unsigned long long)v : (unsigned long long)v;
    tmp[--i] = '\0';
    do {
        tmp[--i] = (char)('0' + u % 10);
        u /= 10;
    } while (u != 0);
    if (v < 0) tmp[--i] = '-';
    size_t n = sizeof tmp - i; /* with the NUL */
    if (n > cap) {
        if (cap > 0) buf[0] = '\0';
        return 0;
    }
    for (size_t k = 0; k < n; k++) /* a few bytes: cheaper than a call to memcpy */
        buf[k] = tmp[i + k];
    return n - 1;
}
