/* Sans-I/O HTTP/1.1 request framing over Node's http_parser: feed bytes, get complete requests
 * (in order) or a framing error with the status to answer. No sockets, no clock: the libuv glue
 * (server.c) and the fuzz target drive it the same way. */
#ifndef TX_SERVER_PARSE_H
#define TX_SERVER_PARSE_H

#include <stddef.h>

#include "tenax/types.h"

#define TX_HTTP_MAX_HEADER_BYTES_DEFAULT (16u * 1024u)
#define TX_HTTP_MAX_BODY_BYTES_DEFAULT (4u * 1024u * 1024u)
#define TX_HTTP_MAX_HEADERS_DEFAULT 100u

typedef struct {
    size_t max_header_bytes; /* request line + headers; beyond it: 431. 0 = default 16 KiB */
    size_t max_body_bytes;   /* beyond it: 413. 0 = default 4 MiB */
    size_t max_headers;      /* header fields per request; beyond it: 431. 0 = default 100 */
} tx_http_limits_t;

/* One complete request. Owned by whoever popped it; free with tx__http_msg_free. Every string is
 * NUL-terminated; `body` too (body_len excludes the NUL). The struct, its header array and its
 * strings are one allocation: do not free or reallocate a member on its own. */
typedef struct tx_http_msg {
    const char *method; /* "GET" (a static string) */
    char *target;       /* raw request target: "/v1/items?x=1" */
    char *path;         /* target up to '?', not decoded (the target itself when it has no '?') */
    char *query;        /* after '?', not decoded; "" when none */
    tx_header_t *headers;
    size_t nheaders;
    char *body;
    size_t body_len;
    int http_major, http_minor;
    int keep_alive;           /* 1 when the connection may carry another request after this one */
    char *body_alloc;         /* internal: `body` when it has an allocation of its own, else NULL */
    struct tx_http_msg *next; /* internal queue link */
} tx_http_msg_t;

typedef enum {
    TX_HTTP_PARSE_IDLE,    /* between requests: no byte of a next request seen */
    TX_HTTP_PARSE_HEADERS, /* inside a request line or headers */
    TX_HTTP_PARSE_BODY,    /* headers complete, reading the body */
    TX_HTTP_PARSE_DONE,    /* the last request (no keep-alive) is complete: bytes are ignored */
    TX_HTTP_PARSE_ERROR    /* framing error: see tx__http_parser_error */
} tx_http_parse_state_t;

typedef struct tx_http_parser tx_http_parser_t;

/* Working memory several parsers may share (one server's connections): the buffer a request line
 * and headers collect in, lent to a parser only for the length of one feed. NULL on out of memory.
 * Free it after every parser using it. Not thread-safe: one owner thread. */
typedef struct tx_http_scratch tx_http_scratch_t;
tx_http_scratch_t *tx__http_scratch_new(void);
void tx__http_scratch_free(tx_http_scratch_t *ws); /* NULL: no-op */

/* A new parser; `limits` may be NULL (defaults). NULL on out of memory. It keeps its own working
 * buffer (as large as the largest head it read) for its whole life. */
tx_http_parser_t *tx__http_parser_new(const tx_http_limits_t *limits);
/* The same, working in `shared` (NULL: its own): between feeds it holds no working buffer, or
 * only the bytes and fields of a head that is still arriving. */
tx_http_parser_t *tx__http_parser_new_shared(const tx_http_limits_t *limits,
                                             tx_http_scratch_t *shared);
/* The same in caller memory: `mem` of tx__http_parser_size() bytes, aligned as malloc's (e.g.
 * right after a struct in its allocation); never NULL. Release with tx__http_parser_fini, which
 * frees what the parser holds but not `mem`. */
size_t tx__http_parser_size(void);
tx_http_parser_t *tx__http_parser_init(void *mem, const tx_http_limits_t *limits,
                                       tx_http_scratch_t *shared);
void tx__http_parser_fini(tx_http_parser_t *p); /* NULL: no-op */
/* Bytes of working memory the parser holds between feeds (not counting a request being built or
 * completed ones): for tests of the sharing above. */
size_t tx__http_parser_held(const tx_http_parser_t *p);
/* Frees the parser and every request still queued in it. NULL is a no-op. */
void tx__http_parser_destroy(tx_http_parser_t *p);

/* Feeds `len` bytes. Complete requests are queued (tx__http_parser_pop). Returns 0, or -1 when
 * the stream has a framing error (then or earlier): requests completed before the error stay
 * queued and must be answered first, then the error (tx__http_parser_error), then close. Bytes
 * fed after a DONE or ERROR state are ignored. */
int tx__http_parser_feed(tx_http_parser_t *p, const char *data, size_t len);

/* The next complete request, in arrival order; the caller owns it. NULL when none. */
tx_http_msg_t *tx__http_parser_pop(tx_http_parser_t *p);

tx_http_parse_state_t tx__http_parser_state(const tx_http_parser_t *p);

/* After an error: the HTTP status to send (400, 413, 431, 501, 505), an OpenAI error `code`
 * string and a message (static strings). Returns 0 when there is no error. */
int tx__http_parser_error(const tx_http_parser_t *p, const char **code, const char **message);

/* The value of header `name` (case-insensitive), the first one; NULL when absent or msg NULL. */
const char *tx__http_msg_header(const tx_http_msg_t *m, const char *name);

void tx__http_msg_free(tx_http_msg_t *m);

#endif
