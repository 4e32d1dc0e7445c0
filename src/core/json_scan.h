/* The one strict JSON validator (internal, docs/classifier.md): RFC 8259 in one pass over the
 * bytes, UTF-8 checked, no raw control characters, no "\u0000" nor unpaired surrogates, numbers
 * in the grammar and within a double's range, nesting and number length bounded. It builds no tree
 * and allocates nothing: the caller pulls an object's members (key span, value span, value type) or
 * an array's elements, walks the paths it needs and skips (still validating) the rest. */
#ifndef TX_CORE_JSON_SCAN_H
#define TX_CORE_JSON_SCAN_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Containers nested deeper than this are refused (cJSON's own limit is 1000). */
#define TX_JSON_MAX_DEPTH 128

/* Numbers longer than this are refused (checking their range would need a copy); the callers
 * hand such a text to cJSON. */
#define TX_JSON_MAX_NUMBER 63

typedef enum {
    TX_JSON_NONE = 0, /* nothing read (an error) */
    TX_JSON_OBJECT,
    TX_JSON_ARRAY,
    TX_JSON_STRING,
    TX_JSON_NUMBER,
    TX_JSON_TRUE,
    TX_JSON_FALSE,
    TX_JSON_NULL
} tx_json_type_t;

/* A value (or a key) as read. Strings: p/n the bytes between the quotes, escapes left as they
 * are (esc is 1 when there is a backslash). Numbers and literals: their text. Objects and
 * arrays: p is the opening bracket and n is 1 (the scanner has entered them: walk them with
 * tx__json_member / tx__json_element, or leave them with tx__json_skip). */
typedef struct {
    tx_json_type_t type;
    const char *p;
    size_t n;
    int esc;
} tx_json_val_t;

/* The scanner's state; set up with tx__json_scan_init, no destroy. After a failure `err` says
 * what is wrong (a static string) and err_at its byte offset; every later call fails too. */
typedef struct {
    const unsigned char *s;
    size_t len, pos;
    unsigned depth;  /* open containers */
    int fresh;       /* 1 just after an opening bracket: no ',' before the first member */
    const char *err; /* NULL while the text is good so far */
    size_t err_at;
    uint8_t is_obj[TX_JSON_MAX_DEPTH / 8]; /* a bit per open container: 1 object, 0 array */
} tx_json_scan_t;

/* Starts scanning the `len` bytes at `p` (not NUL-terminated). */
void tx__json_scan_init(tx_json_scan_t *sc, const char *p, size_t len);

/* Reads the next value (at the top, once): 0 and *v, or -1 (sc->err). A container is entered. */
int tx__json_value(tx_json_scan_t *sc, tx_json_val_t *v);

/* The next member of the innermost open container, which must be an object: 1 with *key (a
 * string) and *v (its value, as tx__json_value reads it); 0 when the object ended (its '}' is
 * read and it is left); -1 on an error. */
int tx__json_member(tx_json_scan_t *sc, tx_json_val_t *key, tx_json_val_t *v);

/* The same for an array: 1 with *v, 0 at its end, -1 on an error. */
int tx__json_element(tx_json_scan_t *sc, tx_json_val_t *v);

/* Reads (validating) the rest of the innermost open container and leaves it: 0, or -1. */
int tx__json_skip_rest(tx_json_scan_t *sc);

/* Skips v: the rest of it when it is a container just entered (nothing for a scalar). 0 or -1. */
int tx__json_skip(tx_json_scan_t *sc, const tx_json_val_t *v);

/* After the top value: 0 when only white space is left and nothing is open, else -1. */
int tx__json_finish(tx_json_scan_t *sc);

/* Validates [p, p+len) as exactly one JSON text: NULL when it is one, else what is wrong and
 * *at its offset. */
const char *tx__json_validate(const char *p, size_t len, size_t *at);

/* The lexical half of the rules, over the whole text and blind to its structure: text that is
 * not UTF-8, raw control characters, "\u0000" or a \u without four hex digits, numbers outside
 * the grammar ("01", "+1", ".5", "1.") or beyond a double's range ("1e400"). NULL when none is
 * there, else the first and *at its offset. The gateway's request validation reports these
 * before cJSON judges the structure (the messages clients see). */
const char *tx__json_lex_check(const char *p, size_t len, size_t *at);

/* 1 when the number text [p, p+n) (validated) is a plain non-negative integer of at most 15
 * digits ("0", "1302"; not "-0", "1.0", "1e3"), its value in *out; else 0. */
int tx__json_uint(const char *p, size_t n, int64_t *out);

/* 1 when the key or string v is exactly the NUL-terminated `lit` (no escapes in v), else 0.
 * Inline: with a literal, the length is a constant and the compare a few instructions. */
static inline __attribute__((always_inline)) int tx__json_is(const tx_json_val_t *v,
                                                             const char *lit)
{
    size_t n = strlen(lit);
    return !v->esc && v->n == n && memcmp(v->p, lit, n) == 0;
}

#endif
