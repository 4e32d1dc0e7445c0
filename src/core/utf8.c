/* UTF-8 validation and sanitising copy (RFC 3629): used wherever provider text or model output
 * is stored in a bounded buffer or must be valid before it is kept. */
#include "core/utf8.h"

size_t tx__utf8_seq(const unsigned char *s, size_t len)
{
    if (len == 0) return 0;
    unsigned char c = s[0];
    if (c < 0x80) return 1;
    size_t n;
    unsigned lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        if (c == 0xE0) lo = 0xA0; /* overlong */
        if (c == 0xED) hi = 0x9F; /* surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        if (c == 0xF0) lo = 0x90; /* overlong */
        if (c == 0xF4) hi = 0x8F; /* above U+10FFFF */
    } else {
        return 0;
    }
    if (len < n) return 0;
    if (s[1] < lo || s[1] > hi) return 0;
    for (size_t i = 2; i < n; i++)
        if ((s[i] & 0xC0) != 0x80) return 0;
    return n;
}

int tx__utf8_valid(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        if (p[i] < 0x80) {
            i++;
            continue;
        }
        size_t n = tx__utf8_seq(p + i, len - i);
        if (n == 0) return 0;
        i += n;
    }
    return 1;
}

size_t tx__utf8_copy(char *dst, size_t cap, const char *src, size_t len)
{
    size_t o = 0;
    const unsigned char *p = (const unsigned char *)src;
    if (src == NULL) len = 0;
    size_t i = 0;
    while (i < len) {
        if (p[i] >= 0x20 && p[i] < 0x7F) { /* printable ASCII, the common case: as is */
            if (o + 1 >= cap) break;
            dst[o++] = (char)p[i++];
            continue;
        }
        size_t n = tx__utf8_seq(p + i, len - i);
        if (n == 0) {
            if (o + 1 >= cap) break;
            dst[o++] = '?';
            i++;
            continue;
        }
        if (o + n >= cap) break;
        if (n == 1) {
            dst[o++] = (p[i] < 0x20 || p[i] == 0x7F) ? ' ' : (char)p[i];
        } else {
            for (size_t k = 0; k < n; k++)
                dst[o++] = (char)p[i + k];
        }
        i += n;
    }
    dst[o] = '\0';
    return o;
}

int tx__utf8_blank(const char *s)
{
    if (!s) return 1;
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        if (*p == ' ' || (*p >= '\t' && *p <= '\r'))
            p++;
        else if (p[0] == 0xC2 && (p[1] == 0xA0 || p[1] == 0x85))
            p += 2;
        else if (p[0] == 0xE2 && p[1] == 0x80 &&
                 ((p[2] >= 0x80 && p[2] <= 0x8B) || p[2] == 0xA8 || p[2] == 0xA9 || p[2] == 0xAF))
            p += 3;
        else if (p[0] == 0xE2 && p[1] == 0x81 && (p[2] == 0x9F || p[2] == 0xA0))
            p += 3;
        else if (p[0] == 0xE3 && p[1] == 0x80 && p[2] == 0x80)
            p += 3;
        else if (p[0] == 0xEF && p[1] == 0xBB && p[2] == 0xBF)
            p += 3;
        else if (p[0] == 0xE1 && p[1] == 0x9A && p[2] == 0x80)
            p += 3;
        else
            return 0;
    }
    return 1;
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
        for (size_t k = 0; k < n; k++)
            out[o++] = (char)u[i + k];
        i += n;
    }
    out[o] = '\0';
    return o;
}
