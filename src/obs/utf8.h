/* UTF-8 validation shared by obs/ and server/ modules: anything shown to a Prometheus scraper,
 * a webhook or a log must be valid UTF-8, whatever bytes a client sent. */
#ifndef TX_OBS_UTF8_H
#define TX_OBS_UTF8_H

#include <stddef.h>

/* Length in bytes of the valid UTF-8 sequence at s[0..len), or 0 when s[0] does not start one
 * (overlongs, surrogates and code points above U+10FFFF are invalid). */
size_t tx__utf8_seq(const unsigned char *s, size_t len);

/* Copies at most `len` bytes of `s` into `out` (capacity `cap`, NUL-terminated when cap > 0),
 * replacing each byte that is not part of valid UTF-8 with '?' and never cutting a sequence.
 * Returns the bytes written (without the NUL). */
size_t tx__utf8_sanitize(char *out, size_t cap, const char *s, size_t len);

#endif
