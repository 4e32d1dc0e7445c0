/* An HTTP/1.1 response read from a byte stream, without I/O: the head found with memchr and
 * parsed line by line, then the body by its framing — Content-Length, chunked (extensions and
 * trailers read and dropped), or the connection's end. 1xx responses are skipped, no body after
 * HEAD / 204 / 304, Content-Length together with Transfer-Encoding is refused, and the reader
 * says whether the connection may carry another request. Any split of the input gives the same
 * result (fuzz/fuzz_http_response.c). */
#ifndef TX_UPSTREAM_RESPONSE_H
#define TX_UPSTREAM_RESPONSE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "tenax/types.h"

#define TX_RESP_HEADER_BYTES_MAX (64 * 1024)

typedef enum {
    TX_RESP_OK = 0,
    TX_RESP_EPROTOCOL, /* not an HTTP/1.x response, bad framing, CL with TE, head too big */
    TX_RESP_ENOMEM,
    TX_RESP_ESTOPPED, /* a callback asked to stop */
} tx_resp_err_t;

typedef struct {
    /* The final response's head (never a 1xx). Nonzero: stop. */
    int (*on_head)(void *ud, int status, const tx_header_t *h, size_t nh);
    /* Body bytes, de-chunked. Nonzero: stop. */
    int (*on_body)(void *ud, const char *data, size_t len);
} tx_resp_cb_t;

typedef struct {
    const tx_resp_cb_t *cb;
    void *ud;
    char *raw; /* the head as it arrives; kept across tx__resp_reset */
    size_t rlen, rcap;
    char *hbuf; /* "name\0value\0" pairs of the final head; kept across tx__resp_reset */
    size_t hlen, hcap, nh;
    size_t line; /* bytes of the current line (head, chunk size or trailer line) */
    int state;
    uint64_t left;    /* body bytes (Content-Length) or chunk bytes still to come */
    int status;       /* of the final response, once its head is complete */
    long keepalive_s; /* Keep-Alive: timeout=N, or -1 */
    tx_resp_err_t err;
    unsigned digits;        /* hex digits of the chunk size read */
    unsigned head_only : 1; /* the request was HEAD: no body whatever the head says */
    unsigned head_done : 1; /* the final response's head arrived */
    unsigned complete : 1;  /* the response ended (framing complete) */
    unsigned keep : 1;      /* the connection may serve another request (when complete) */
    unsigned cr : 1;        /* the byte before was CR (chunk lines) */
    unsigned ext : 1;       /* inside a chunk extension */
} tx_resp_t;

/* Starts reading a new response (buffers kept). `cb` must outlive the response. */
void tx__resp_reset(tx_resp_t *r, int head_only, const tx_resp_cb_t *cb, void *ud);
void tx__resp_free(tx_resp_t *r); /* frees the buffers; r may be reset again afterwards */

/* Feeds bytes. Returns how many were consumed: less than len when the response ended before
 * them (r->complete; the rest belongs to no request) or on an error (r->err set, -1 returned).
 * Never called with len 0. */
ssize_t tx__resp_feed(tx_resp_t *r, const char *data, size_t len);

/* The connection ended. 0 when that completes the response (a close-delimited body), -1 when
 * the response is cut short (or was never started). */
int tx__resp_eof(tx_resp_t *r);

#endif
