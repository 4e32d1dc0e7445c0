/* The strict JSON scanner (json_scan.h): one pass, no tree, no allocation. The rules live here
 * once: the scanner applies them with the structure, tx__json_lex_check without it (the order
 * in which the gateway's request validation reports them). */
#include "core/json_scan.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "core/utf8.h"

static int is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static int is_hex(unsigned char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static int is_ws(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* The end of a JSON number starting at s[i] (RFC 8259 grammar), or 0 when it is malformed; *exp
 * is set when it has an exponent. */
static size_t number_end(const unsigned char *s, size_t len, size_t i, int *exp)
{
    *exp = 0;
    if (i < len && s[i] == '-') i++;
    if (i < len && s[i] == '0')
        i++;
    else if (i < len && s[i] >= '1' && s[i] <= '9')
        while (i < len && is_digit(s[i]))
            i++;
    else
        return 0;
    if (i < len && s[i] == '.') {
        if (++i >= len || !is_digit(s[i])) return 0;
        while (i < len && is_digit(s[i]))
            i++;
    }
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        *exp = 1;
        i++;
        if (i < len && (s[i] == '+' || s[i] == '-')) i++;
        if (i >= len || !is_digit(s[i])) return 0;
        while (i < len && is_digit(s[i]))
            i++;
    }
    if (i < len &&
        (is_digit(s[i]) || s[i] == '.' || s[i] == 'e' || s[i] == 'E' || s[i] == '+' || s[i] == '-'))
        return 0; /* "01", "1.2.3", "1e5e5" */
    return i;
}

/* 1 when the number s[0..n) is beyond a double's range (1e400): cJSON reads it as infinity and
 * jansson refuses it, so no JSON library could carry the body on. Only numbers with
 * an exponent or 300 characters and more can be; the others are not converted. */
static int number_overflows(const unsigned char *s, size_t n)
{
    if (n < 300 && memchr(s, 'e', n) == NULL && memchr(s, 'E', n) == NULL) return 0;
    char small[64];
    char *t = n < sizeof small ? small : malloc(n + 1);
    if (t == NULL) return 1; /* out of memory: refused rather than let through unchecked */
    memcpy(t, s, n);
    t[n] = '\0';
    double v = strtod(t, NULL);
    if (t != small) free(t);
    return isinf(v);
}

/* 1 for the bytes a JSON string may hold with nothing to check: printable ASCII but '"' and
 * '\\' (0x80 and up start UTF-8 sequences, which are checked). */
static const unsigned char string_plain[256] = {
    /* 0x00-0x1f: control characters */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    /* 0x20-0x3f: '"' is 0x22 */
    1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    /* 0x40-0x5f: '\\' is 0x5c */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1,
    /* 0x60-0x7f */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    /* 0x80-0xff: 0 */
};

const char *tx__json_lex_check(const char *body, size_t len, size_t *at)
{
    const unsigned char *s = (const unsigned char *)body;
    int in_string = 0;
    for (size_t i = 0; i < len;) {
        if (in_string) {
            while (i < len && string_plain[s[i]]) /* the bulk of a string */
                i++;
            if (i == len) break;
        }
        unsigned char c = s[i];
        *at = i;
        if (c >= 0x80) {
            size_t n = tx__utf8_seq(s + i, len - i);
            if (n == 0) return "not UTF-8";
            i += n;
            continue;
        }
        if (c < 0x20 && (in_string || (c != '\t' && c != '\n' && c != '\r')))
            return "a raw control character";
        if (in_string) {
            if (c == '"') {
                in_string = 0;
            } else if (c == '\\') {
                if (i + 1 < len && s[i + 1] == 'u') { /* cJSON reads a bad \\uXXXX as U+0000 */
                    if (i + 5 >= len || !is_hex(s[i + 2]) || !is_hex(s[i + 3]) ||
                        !is_hex(s[i + 4]) || !is_hex(s[i + 5]))
                        return "a malformed \\u escape";
                    if (memcmp(s + i + 2, "0000", 4) == 0) return "\\u0000 in a string";
                }
                i++; /* the escaped byte: the structure's judge checks the other escapes */
            }
            i++;
            continue;
        }
        if (c == '"') {
            in_string = 1;
            i++;
        } else if (c == '-' || is_digit(c)) {
            int exp;
            size_t e = number_end(s, len, i, &exp);
            if (e == 0) return "a malformed number";
            if (number_overflows(s + i, e - i)) return "a number beyond a double's range";
            i = e;
        } else if (c == '+' || c == '.') {
            return "a malformed number";
        } else {
            i++;
        }
    }
    return NULL;
}

/* ---- the scanner ------------------------------------------------------------------------ */

static int fail(tx_json_scan_t *sc, size_t at, const char *why)
{
    if (sc->err == NULL) {
        sc->err = why;
        sc->err_at = at;
    }
    return -1;
}

static void skip_ws_run(tx_json_scan_t *sc)
{
    while (sc->pos < sc->len && is_ws(sc->s[sc->pos]))
        sc->pos++;
}

/* Most texts are compact: one compare when there is no white space. */
static inline void skip_ws(tx_json_scan_t *sc)
{
    if (sc->pos < sc->len && sc->s[sc->pos] <= ' ') skip_ws_run(sc);
}

void tx__json_scan_init(tx_json_scan_t *sc, const char *p, size_t len)
{
    memset(sc, 0, sizeof *sc);
    sc->s = (const unsigned char *)p;
    sc->len = p != NULL ? len : 0;
}

/* The value of four hex digits at s (with `avail` bytes there), or -1. */
static long hex4(const unsigned char *s, size_t avail)
{
    if (avail < 4) return -1;
    long v = 0;
    for (int k = 0; k < 4; k++) {
        unsigned char c = s[k];
        int d = is_digit(c)                              ? c - '0'
                : (c | 0x20) >= 'a' && (c | 0x20) <= 'f' ? (c | 0x20) - 'a' + 10
                                                         : -1;
        if (d < 0) return -1;
        v = v * 16 + d;
    }
    return v;
}

/* Past the run of bytes from s[i] that need no look ('"', '\\', control characters and bytes
 * from 0x80 do), 16 or 8 at a time; the byte loop after it finishes the run. */
#ifdef __SSE2__
static size_t plain_run(const unsigned char *s, size_t len, size_t i)
{
    const __m128i quote = _mm_set1_epi8('"'), bs = _mm_set1_epi8('\\'), sp = _mm_set1_epi8(0x20);
    while (i + 16 <= len) {
        __m128i x = _mm_loadu_si128((const __m128i *)(const void *)(s + i));
        /* signed: bytes from 0x80 are negative, so one compare finds them and the controls */
        __m128i m = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, quote), _mm_cmpeq_epi8(x, bs)),
                                 _mm_cmplt_epi8(x, sp));
        int bits = _mm_movemask_epi8(m);
        if (bits != 0) return i + (size_t)__builtin_ctz((unsigned)bits);
        i += 16;
    }
    return i;
}
#else
static size_t plain_run(const unsigned char *s, size_t len, size_t i)
{
    /* each test is exact for "some byte is": (v - 0x01..) & ~v & 0x80.. finds a zero byte */
    const uint64_t ones = 0x0101010101010101ULL, high = 0x8080808080808080ULL;
    while (i + 8 <= len) {
        uint64_t x, q, b;
        memcpy(&x, s + i, 8);
        q = x ^ (ones * '"');
        b = x ^ (ones * '\\');
        if (((((x - ones * 0x20) & ~x) | ((q - ones) & ~q) | ((b - ones) & ~b) | x) & high) != 0)
            return i;
        i += 8;
    }
    return i;
}
#endif

static inline __attribute__((always_inline)) int scan_string(tx_json_scan_t *sc, tx_json_val_t *v)
{
    const unsigned char *s = sc->s;
    size_t len = sc->len, start = sc->pos + 1, i = start;
    v->type = TX_JSON_STRING;
    v->esc = 0;
    for (;;) {
        i = plain_run(s, len, i);
        while (i < len && string_plain[s[i]])
            i++;
        if (i >= len) return fail(sc, i, "the text ends inside a string");
        unsigned char c = s[i];
        if (c == '"') break;
        if (c >= 0x80) {
            size_t n = tx__utf8_seq(s + i, len - i);
            if (n == 0) return fail(sc, i, "not UTF-8");
            i += n;
            continue;
        }
        if (c < 0x20) return fail(sc, i, "a raw control character");
        v->esc = 1; /* c is '\\' */
        if (i + 1 >= len) return fail(sc, i, "the text ends inside a string");
        c = s[i + 1];
        if (c == 'u') {
            long u = hex4(s + i + 2, len - (i + 2));
            if (u < 0) return fail(sc, i, "a malformed \\u escape");
            if (u == 0) return fail(sc, i, "\\u0000 in a string");
            if (u >= 0xDC00 && u <= 0xDFFF) return fail(sc, i, "an unpaired surrogate escape");
            if (u >= 0xD800 && u <= 0xDBFF) {
                long lo = i + 7 < len && s[i + 6] == '\\' && s[i + 7] == 'u'
                              ? hex4(s + i + 8, len - (i + 8))
                              : -1;
                if (lo < 0xDC00 || lo > 0xDFFF) return fail(sc, i, "an unpaired surrogate escape");
                i += 12;
            } else {
                i += 6;
            }
            continue;
        }
        if (c != '"' && c != '\\' && c != '/' && c != 'b' && c != 'f' && c != 'n' && c != 'r' &&
            c != 't')
            return fail(sc, i, "an invalid escape");
        i += 2;
    }
    v->p = (const char *)s + start;
    v->n = i - start;
    sc->pos = i + 1;
    return 0;
}

static int scan_number(tx_json_scan_t *sc, tx_json_val_t *v)
{
    int exp;
    size_t at = sc->pos, e = number_end(sc->s, sc->len, at, &exp);
    if (e == 0) return fail(sc, at, "a malformed number");
    if (e - at > TX_JSON_MAX_NUMBER) return fail(sc, at, "a number longer than 63 characters");
    if (exp && number_overflows(sc->s + at, e - at)) /* short, no exponent: within range */
        return fail(sc, at, "a number beyond a double's range");
    v->type = TX_JSON_NUMBER;
    v->p = (const char *)sc->s + at;
    v->n = e - at;
    v->esc = 0;
    sc->pos = e;
    return 0;
}

static int scan_literal(tx_json_scan_t *sc, tx_json_val_t *v, const char *lit, size_t n,
                        tx_json_type_t type)
{
    if (sc->len - sc->pos < n || memcmp(sc->s + sc->pos, lit, n) != 0)
        return fail(sc, sc->pos, "not a JSON value");
    v->type = type;
    v->p = (const char *)sc->s + sc->pos;
    v->n = n;
    v->esc = 0;
    sc->pos += n;
    return 0;
}

static inline __attribute__((always_inline)) int value(tx_json_scan_t *sc, tx_json_val_t *v)
{
    v->type = TX_JSON_NONE;
    if (sc->err != NULL) return -1;
    skip_ws(sc);
    if (sc->pos >= sc->len) return fail(sc, sc->pos, "the text ends too early");
    unsigned char c = sc->s[sc->pos];
    if (c == '{' || c == '[') {
        if (sc->depth >= TX_JSON_MAX_DEPTH) return fail(sc, sc->pos, "nesting too deep");
        unsigned d = sc->depth++;
        if (c == '{')
            sc->is_obj[d / 8] |= (uint8_t)(1u << (d % 8));
        else
            sc->is_obj[d / 8] &= (uint8_t) ~(1u << (d % 8));
        v->type = c == '{' ? TX_JSON_OBJECT : TX_JSON_ARRAY;
        v->p = (const char *)sc->s + sc->pos;
        v->n = 1;
        v->esc = 0;
        sc->pos++;
        sc->fresh = 1;
        return 0;
    }
    if (c == '"') return scan_string(sc, v);
    if (c == '-' || is_digit(c)) return scan_number(sc, v);
    if (c == 't') return scan_literal(sc, v, "true", 4, TX_JSON_TRUE);
    if (c == 'f') return scan_literal(sc, v, "false", 5, TX_JSON_FALSE);
    if (c == 'n') return scan_literal(sc, v, "null", 4, TX_JSON_NULL);
    return fail(sc, sc->pos, "not a JSON value");
}

int tx__json_value(tx_json_scan_t *sc, tx_json_val_t *v)
{
    return value(sc, v);
}

static int top_is_obj(const tx_json_scan_t *sc)
{
    unsigned d = sc->depth - 1;
    return (sc->is_obj[d / 8] >> (d % 8)) & 1;
}

/* Before the next member or element: 1 when there is one (the ',' read), 0 when the container
 * closed with `close` (read, the container left), -1 on an error. */
static inline __attribute__((always_inline)) int next_item(tx_json_scan_t *sc, unsigned char close)
{
    skip_ws(sc);
    if (sc->pos >= sc->len) return fail(sc, sc->pos, "the text ends too early");
    unsigned char c = sc->s[sc->pos];
    if (c == close) {
        sc->pos++;
        sc->depth--;
        sc->fresh = 0;
        return 0;
    }
    if (sc->fresh) {
        sc->fresh = 0;
        return 1;
    }
    if (c != ',')
        return fail(sc, sc->pos, close == '}' ? "expected ',' or '}'" : "expected ',' or ']'");
    sc->pos++;
    return 1;
}

int tx__json_member(tx_json_scan_t *sc, tx_json_val_t *key, tx_json_val_t *v)
{
    if (sc->err != NULL) return -1;
    if (sc->depth == 0 || !top_is_obj(sc)) return fail(sc, sc->pos, "not inside an object");
    int r = next_item(sc, '}');
    if (r <= 0) return r;
    skip_ws(sc);
    if (sc->pos >= sc->len) return fail(sc, sc->pos, "the text ends too early");
    if (sc->s[sc->pos] != '"') return fail(sc, sc->pos, "expected a string key");
    if (scan_string(sc, key) != 0) return -1;
    skip_ws(sc);
    if (sc->pos >= sc->len || sc->s[sc->pos] != ':') return fail(sc, sc->pos, "expected ':'");
    sc->pos++;
    return value(sc, v) == 0 ? 1 : -1;
}

int tx__json_element(tx_json_scan_t *sc, tx_json_val_t *v)
{
    if (sc->err != NULL) return -1;
    if (sc->depth == 0 || top_is_obj(sc)) return fail(sc, sc->pos, "not inside an array");
    int r = next_item(sc, ']');
    if (r <= 0) return r;
    return value(sc, v) == 0 ? 1 : -1;
}

int tx__json_skip_rest(tx_json_scan_t *sc)
{
    if (sc->err != NULL) return -1;
    unsigned d = sc->depth;
    tx_json_val_t k, v;
    while (sc->depth >= d && d > 0) {
        int r = top_is_obj(sc) ? tx__json_member(sc, &k, &v) : tx__json_element(sc, &v);
        if (r < 0) return -1;
    }
    return 0;
}

int tx__json_skip(tx_json_scan_t *sc, const tx_json_val_t *v)
{
    if (sc->err != NULL) return -1;
    if (v->type == TX_JSON_OBJECT || v->type == TX_JSON_ARRAY) return tx__json_skip_rest(sc);
    return 0;
}

int tx__json_finish(tx_json_scan_t *sc)
{
    if (sc->err != NULL) return -1;
    if (sc->depth != 0) return fail(sc, sc->pos, "a container left open");
    skip_ws(sc);
    if (sc->pos != sc->len) return fail(sc, sc->pos, "more data after the JSON value");
    return 0;
}

const char *tx__json_validate(const char *p, size_t len, size_t *at)
{
    tx_json_scan_t sc;
    tx_json_val_t v;
    tx__json_scan_init(&sc, p, len);
    if (tx__json_value(&sc, &v) == 0 && tx__json_skip(&sc, &v) == 0 && tx__json_finish(&sc) == 0)
        return NULL;
    if (at != NULL) *at = sc.err_at;
    return sc.err;
}

int tx__json_uint(const char *p, size_t n, int64_t *out)
{
    if (n == 0 || n > 15) return 0;
    int64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (!is_digit((unsigned char)p[i])) return 0;
        v = v * 10 + (p[i] - '0');
    }
    *out = v;
    return 1;
}
