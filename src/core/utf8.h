/* The one UTF-8 module (internal): validation, copying untrusted bytes into a bounded buffer as
 * valid, printable UTF-8 (the classifier, the extractor), and repairing text that leaves the
 * process (metrics, notifications, logs) without touching what is already valid. */
#ifndef TX_CORE_UTF8_H
#define TX_CORE_UTF8_H

#include <stddef.h>

/* Length of the valid UTF-8 sequence starting at s (1..4), or 0 when it is invalid or cut
 * short by `len`. */
size_t tx__utf8_seq(const unsigned char *s, size_t len);

/* 1 when the whole buffer is valid UTF-8 (no overlongs, no surrogates), else 0. */
int tx__utf8_valid(const char *s, size_t len);

/* Copies at most cap-1 bytes of src into dst as valid UTF-8, always NUL-terminated: invalid
 * bytes become '?', control characters become ' ', and the copy never ends inside a character.
 * src may be NULL (gives ""). Returns the bytes written, excluding the NUL. cap must be > 0. */
size_t tx__utf8_copy(char *dst, size_t cap, const char *src, size_t len);

/* 1 when the NUL-terminated `s` is NULL, empty, or only white space: ASCII (space, \t..\r) and
 * Unicode (U+0085, U+00A0, U+1680, U+2000-U+200B, U+2028/9, U+202F, U+205F, U+2060, U+3000,
 * U+FEFF). Used by every importer to decide that a text is blank, hence `skipped`. */
int tx__utf8_blank(const char *s);

/* Copies at most `len` bytes of `s` into `out` (capacity `cap`, NUL-terminated when cap > 0),
 * replacing each byte that is not part of valid UTF-8 with '?' and never cutting a sequence;
 * control characters are kept (unlike tx__utf8_copy). Returns the bytes written (without the
 * NUL). */
size_t tx__utf8_sanitize(char *out, size_t cap, const char *s, size_t len);

#endif
