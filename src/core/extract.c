/* JSON extraction from LLM output and the tags/json/text parsers (docs/classifier.md). jansson does
 * all parsing; this file only finds candidate spans (fences, balanced brackets) and normalises. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/utf8.h"
#include "tenax/extract.h"

/* At most this many bracket candidates are tried, so garbage like "[[[[…" stays linear-ish. */
#define MAX_CANDIDATES 64

static void fail(tx_error_t *err, tx_err_t code, const char *msg)
{
    if (err == NULL) return;
    err->code = code;
    snprintf(err->detail, sizeof err->detail, "%s", msg);
    err->msg = err->detail;
}

static int ws(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v';
}

static void trim(const char **s, size_t *len)
{
    while (*len > 0 && ws(**s)) {
        (*s)++;
        (*len)--;
    }
    while (*len > 0 && ws((*s)[*len - 1]))
        (*len)--;
}

int tx_extract_parser_from_name(const char *name)
{
    if (name == NULL) return -1;
    if (strcmp(name, "tags") == 0) return TX_PARSER_TAGS;
    if (strcmp(name, "json") == 0) return TX_PARSER_JSON;
    if (strcmp(name, "text") == 0) return TX_PARSER_TEXT;
    return -1;
}

static json_t *load(const char *s, size_t len)
{
    trim(&s, &len);
    if (len == 0) return NULL;
    return json_loadb(s, len, JSON_DECODE_ANY, NULL);
}

/* End (exclusive) of the balanced object/array starting at s[0], or 0 when unbalanced. */
static size_t balanced(const char *s, size_t len, size_t *budget)
{
    char stack[256];
    size_t depth = 0;
    int in_str = 0;
    for (size_t i = 0; i < len; i++) {
        if (*budget == 0) return 0;
        (*budget)--;
        char c = s[i];
        if (in_str) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_str = 0;
            continue;
        }
        if (c == '"') {
            in_str = 1;
        } else if (c == '{' || c == '[') {
            if (depth == sizeof stack) return 0;
            stack[depth++] = c == '{' ? '}' : ']';
        } else if (c == '}' || c == ']') {
            if (depth == 0 || stack[depth - 1] != c) return 0;
            if (--depth == 0) return i + 1;
        }
    }
    return 0;
}

static json_t *first_balanced(const char *s, size_t len)
{
    int tries = 0;
    size_t budget = 4 * len + 4096; /* bytes scanned over all candidates */
    for (size_t i = 0; i < len && tries < MAX_CANDIDATES; i++) {
        if (s[i] != '{' && s[i] != '[') continue;
        tries++;
        size_t n = balanced(s + i, len - i, &budget);
        if (n == 0) continue;
        json_t *v = json_loadb(s + i, n, 0, NULL);
        if (v != NULL) return v;
    }
    return NULL;
}

static const char *find(const char *s, size_t len, const char *needle)
{
    size_t nl = strlen(needle);
    for (size_t i = 0; i + nl <= len; i++)
        if (memcmp(s + i, needle, nl) == 0) return s + i;
    return NULL;
}

/* The contents of fenced blocks, tried in order. */
static json_t *from_fences(const char *s, size_t len)
{
    const char *end = s + len, *p = s;
    while ((p = find(p, (size_t)(end - p), "```")) != NULL) {
        const char *body = p + 3;
        const char *nl = memchr(body, '\n', (size_t)(end - body));
        if (nl == NULL) return NULL;
        /* info string: "json", "JSON", "" … anything up to the newline */
        const char *close = find(nl + 1, (size_t)(end - nl - 1), "```");
        if (close == NULL) close = end; /* unterminated fence: take the rest */
        json_t *v = load(nl + 1, (size_t)(close - nl - 1));
        if (v == NULL) v = first_balanced(nl + 1, (size_t)(close - nl - 1));
        if (v != NULL) return v;
        if (close == end) return NULL;
        p = close + 3;
    }
    return NULL;
}

json_t *tx_extract_json(const char *text, size_t len, tx_error_t *err)
{
    if (text == NULL) {
        fail(err, TX_EINVAL, "no text");
        return NULL;
    }
    json_t *v = load(text, len);
    if (v == NULL) v = from_fences(text, len);
    if (v == NULL) v = first_balanced(text, len);
    if (v == NULL) fail(err, TX_EPARSE, "no JSON value found in the output");
    return v;
}

static int same_tag(const char *a, size_t an, const char *b, size_t bn)
{
    return an == bn && strncasecmp(a, b, an) == 0;
}

json_t *tx_extract_tags(const char *text, size_t len, tx_error_t *err)
{
    json_t *v = tx_extract_json(text, len, err);
    if (v == NULL) return NULL;
    json_t *arr = v;
    if (json_is_object(v)) arr = json_object_get(v, "tags");
    if (!json_is_array(arr)) {
        json_decref(v);
        fail(err, TX_EPARSE, "expected a JSON array of tags or {\"tags\":[...]}");
        return NULL;
    }
    json_t *out = json_array();
    if (out == NULL) {
        json_decref(v);
        fail(err, TX_ENOMEM, "out of memory");
        return NULL;
    }
    size_t i;
    json_t *el;
    json_array_foreach(arr, i, el)
    {
        if (json_array_size(out) >= TX_TAGS_MAX) break;
        if (!json_is_string(el)) continue;
        const char *s = json_string_value(el);
        size_t n = json_string_length(el);
        trim(&s, &n);
        if (n == 0 || !tx__utf8_valid(s, n) || memchr(s, '\0', n) != NULL) continue;
        if (n > TX_TAG_MAX_BYTES) {
            n = TX_TAG_MAX_BYTES;
            while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
                n--; /* char boundary */
            trim(&s, &n);
            if (n == 0) continue;
        }
        int dup = 0;
        size_t k;
        json_t *seen;
        json_array_foreach(out, k, seen)
        {
            if (same_tag(json_string_value(seen), json_string_length(seen), s, n)) dup = 1;
        }
        if (dup) continue;
        if (json_array_append_new(out, json_stringn(s, n)) != 0) {
            json_decref(out);
            json_decref(v);
            fail(err, TX_ENOMEM, "out of memory");
            return NULL;
        }
    }
    json_decref(v);
    if (json_array_size(out) == 0) {
        json_decref(out);
        fail(err, TX_EPARSE, "no tags in the output");
        return NULL;
    }
    return out;
}

char *tx_extract_text(const char *text, size_t len, tx_error_t *err)
{
    if (text == NULL) {
        fail(err, TX_EINVAL, "no text");
        return NULL;
    }
    trim(&text, &len);
    if (len == 0) {
        fail(err, TX_EPARSE, "empty output");
        return NULL;
    }
    if (!tx__utf8_valid(text, len) || memchr(text, '\0', len) != NULL) {
        fail(err, TX_EPARSE, "output is not valid UTF-8 text");
        return NULL;
    }
    char *s = malloc(len + 1);
    if (s == NULL) {
        fail(err, TX_ENOMEM, "out of memory");
        return NULL;
    }
    memcpy(s, text, len);
    s[len] = '\0';
    return s;
}

json_t *tx_extract_run(tx_parser_t parser, const char *text, size_t len, tx_error_t *err)
{
    switch (parser) {
    case TX_PARSER_TAGS:
        return tx_extract_tags(text, len, err);
    case TX_PARSER_JSON:
        return tx_extract_json(text, len, err);
    case TX_PARSER_TEXT: {
        char *s = tx_extract_text(text, len, err);
        if (s == NULL) return NULL;
        json_t *v = json_string(s);
        free(s);
        if (v == NULL) fail(err, TX_ENOMEM, "out of memory");
        return v;
    }
    }
    fail(err, TX_EINVAL, "unknown parser");
    return NULL;
}
