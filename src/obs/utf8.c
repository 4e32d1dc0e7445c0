/* UTF-8 validation and repair for text that leaves the process (metrics, notifications). */
#include "obs/utf8.h"

size_t tx__utf8_seq(const unsigned char *s, size_t len)
{
    if (len == 0) return 0;
    unsigned char c = s[0];
    if (c < 0x80) return 1;
    size_t n;
    unsigned int cp;
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
        cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (len < n) return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10FFFF ||
        (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return n;
}

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
