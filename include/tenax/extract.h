/* Output parsers of docs/classifier.md: find the JSON inside an LLM's content (code fences, prose
 * around it), and the built-in task parsers `tags`, `json` and `text`. Pure, no I/O, thread-safe.
 * Every function returns a new value the caller owns (json_decref / free); on failure it returns
 * NULL, fills err (when not NULL) and the caller maps that to invalid_output. */
#ifndef TENAX_EXTRACT_H
#define TENAX_EXTRACT_H

#include <stddef.h>

#include <jansson.h>

#include "tenax/error.h"

#define TX_TAGS_MAX 10      /* tags kept, the first ones win */
#define TX_TAG_MAX_BYTES 64 /* longer tags are cut on a UTF-8 character boundary */

typedef enum { TX_PARSER_TAGS, TX_PARSER_JSON, TX_PARSER_TEXT } tx_parser_t;

/* The parser named "tags", "json" or "text"; -1 for anything else (NULL included). */
int tx_extract_parser_from_name(const char *name);

/* The JSON value inside text: the whole trimmed text if it is JSON (any value); else the body
 * of the first ```json (or bare ```) fence that parses; else the first balanced {…} or […]
 * (brackets inside strings ignored) that parses. A new reference, or NULL with err set
 * (TX_EINVAL for NULL text, TX_EPARSE when nothing parses). */
json_t *tx_extract_json(const char *text, size_t len, tx_error_t *err);

/* The `tags` parser: a JSON array of strings or {"tags":[…]} found by tx_extract_json. Each tag
 * is trimmed; empty ones, non-strings and invalid UTF-8 are dropped; tags longer than 64 bytes
 * are cut on a character boundary; duplicates (ASCII case-insensitive, first spelling kept) are
 * dropped; at most 10 are kept. A new JSON array of strings, or NULL with err set when no tag
 * is left. */
json_t *tx_extract_tags(const char *text, size_t len, tx_error_t *err);

/* The `text` parser: the trimmed text as a malloc'ed NUL-terminated string (free() it). NULL
 * with err set when the text is NULL, empty after trimming, or not valid UTF-8. */
char *tx_extract_text(const char *text, size_t len, tx_error_t *err);

/* Runs a parser: tags gives an array, json any value, text a JSON string. New reference or NULL
 * with err set. */
json_t *tx_extract_run(tx_parser_t parser, const char *text, size_t len, tx_error_t *err);

#endif
