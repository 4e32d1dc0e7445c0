/* UTF-8 validation and repair for text that leaves the process (metrics, notifications). */
#include "obs/utf8.h"

/* tx__utf8_seq is core's (src/core/utf8.c): one definition in libtenax. */

size_t tx__utf8_sanitize(char *out, size_t cap, const char *s, size_t len)
{
    if (cap == 0) return 0;
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0, o = 0;
    while (i < len) {
        size_t n = tx__utf8_seq(u + i, len - i);
        if (n == 0) {
            if (o + 1 >= cap) break;
            out[o++] = '?';
            i++;
            continue;
        }
        if (o + n >= cap) break;
        for (size_t k = 0; k < n; k++) out[o++] = (char)u[i + k];
        i += n;
    }
    out[o] = '\0';
    return o;
}
