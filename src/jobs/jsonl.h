/* One line of a job input file (docs/cli.md `tenax run`): {"id":…,"owner":…,"text":…}. `id` and
 * `owner` may be strings or integers; `id` defaults to the line number, `owner` to "default";
 * `text` a string (missing or null counts as empty → skipped at import; white space only,
 * Unicode spaces such as U+00A0 included, is given as "" so it is skipped too). Pure, no I/O. */
#ifndef TX_JOBS_JSONL_H
#define TX_JOBS_JSONL_H

#include <jansson.h>
#include <stddef.h>

typedef struct {
    json_t *doc; /* owns the strings below (or they point into the buffers) */
    const char *id;
    const char *owner;
    const char *text; /* NULL: none */
    char idbuf[24];
    char ownerbuf[24];
} tx_jobs_line_t;

/* Parses `len` bytes of `line` (number `lineno`, 1-based). Returns 1 and fills `out` (release
 * with tx__jobs_line_clear; do not copy the struct: it points into itself), 0 for a blank line
 * (nothing to release), or -1 with `why` (cap bytes, may be NULL) saying what is wrong. */
int tx__jobs_parse_line(const char *line, size_t len, size_t lineno, tx_jobs_line_t *out, char *why,
                        size_t cap);

/* Releases what a parsed line holds and zeroes it. NULL: no-op. */
void tx__jobs_line_clear(tx_jobs_line_t *l);

#endif
