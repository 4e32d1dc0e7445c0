/* Incremental Server-Sent Events parser (WHATWG "event stream" rules) for the stream relay:
 * bytes arrive in any chunking, complete events come out through a callback. No I/O. */
#ifndef TX_UPSTREAM_SSE_H
#define TX_UPSTREAM_SSE_H

#include <stddef.h>

#include "tenax/error.h"

typedef enum {
    TX_SSE_MESSAGE, /* an ordinary event (OpenAI chunk) */
    TX_SSE_DONE,    /* `data: [DONE]`: the end of an OpenAI stream */
    TX_SSE_ERROR,   /* `event: error`, or data that is a JSON object starting with "error" */
} tx_sse_kind_t;

/* One dispatched event. Strings point into the parser and are valid only during the callback;
 * both are NUL-terminated. `event` is "" when the stream named none ("message" by default). */
typedef struct {
    tx_sse_kind_t kind;
    const char *event;
    size_t event_len;
    const char *data; /* the data lines joined with '\n' */
    size_t data_len;
} tx_sse_event_t;

/* Called once per complete event; return 0 to go on, non-zero to stop feeding (tx__sse_feed then
 * returns TX_ESTOPPED and the rest of that chunk is not parsed). */
typedef int (*tx_sse_cb)(void *ud, const tx_sse_event_t *ev);

typedef struct tx_sse tx_sse_t;

/* A new parser; `max_event` bounds the bytes of one line and of one event's data (0: 1 MiB).
 * NULL when out of memory. Free with tx__sse_free. */
tx_sse_t *tx__sse_new(size_t max_event);
void tx__sse_free(tx_sse_t *p); /* NULL: no-op */

/* Makes p a new parser for another stream (same bound), keeping its buffers up to `keep` bytes
 * each (larger ones are freed): a parser kept for reuse costs no allocation per stream. */
void tx__sse_reset(tx_sse_t *p, size_t keep);

/* Feeds `len` bytes (any split, CRLF/LF/CR line ends, a leading UTF-8 BOM skipped). Returns
 * TX_EOK; TX_EINVAL for NULL arguments; TX_ERANGE when a line or an event exceeds max_event
 * (the parser is then failed: every later call returns TX_ERANGE); TX_ENOMEM; TX_ESTOPPED when
 * the callback asked to stop. Bytes are not required to be valid UTF-8. */
tx_err_t tx__sse_feed(tx_sse_t *p, const char *data, size_t len, tx_sse_cb cb, void *ud);

/* 1 when the chunk `data` can be passed over by a reader that only wants the events whose data
 * holds `needle` (no '\n' in it, nlen > 0): the parser is between events, the chunk ends with a
 * blank line (so the parser would end between events too), it is shorter than the parser's bound
 * (no line in it can fail) and `needle` occurs nowhere in it (so no event's data holds it). The
 * parser is not touched (its counters do not count what is passed over); 0: feed the chunk. */
int tx__sse_skippable(const tx_sse_t *p, const char *data, size_t len, const char *needle,
                      size_t nlen);

/* 1 when `needle` (nlen > 0) occurs in data[0..len) (memchr for its first byte, then a compare:
 * cheaper than memmem for the short needles of the relay). */
int tx__sse_contains(const char *data, size_t len, const char *needle, size_t nlen);

/* Counters for the relay: events dispatched, comment lines seen. */
size_t tx__sse_events(const tx_sse_t *p);
size_t tx__sse_comments(const tx_sse_t *p);

/* 1 when bytes of an unfinished event are pending (a stream that ends here was cut short). */
int tx__sse_pending(const tx_sse_t *p);

#endif
