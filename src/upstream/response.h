/* An HTTP/1.1 response read from a byte stream, without I/O: http_parser in response mode plus
 * what the upstream client needs on top — header collection, 1xx responses skipped, no body
 * after HEAD / 204 / 304, Content-Length together with Transfer-Encoding refused, the response
 * ends at its framing (Content-Length, chunked with trailers, or the connection's end), and
 * whether the connection may carry another request. */
#ifndef TX_UPSTREAM_RESPONSE_H
#define TX_UPSTREAM_RESPONSE_H

#include <http_parser.h>
#include <stddef.h>
#include <sys/types.h>

#include "tenax/types.h"

#define TX_RESP_HEADER_BYTES_MAX (64 * 1024)

typedef enum {
    TX_RESP_OK = 0,
    TX_RESP_EPROTOCOL, /* not an HTTP/1.x response, bad framing, CL with TE, headers too big */
    TX_RESP_ENOMEM,
    TX_RESP_ESTOPPED,  /* a callback asked to stop */
} tx_resp_err_t;

typedef struct {
    /* The final response's head (never a 1xx). Nonzero: stop. */
    int (*on_head)(void *ud, int status, const tx_header_t *h, size_t nh);
    /* Body bytes, de-chunked. Nonzero: stop. */
    int (*on_body)(void *ud, const char *data, size_t len);
} tx_resp_cb_t;

typedef struct {
    http_parser p;
    const tx_resp_cb_t *cb;
    void *ud;
    char *hbuf; /* "name\0value\0" pairs; kept across tx_resp_reset */
    size_t hlen, hcap, nh;
    int hstate;              /* 0 none, 1 in a name, 2 in a value */
    int status;              /* of the final response, once its head is complete */
    long keepalive_s;        /* Keep-Alive: timeout=N, or -1 */
    tx_resp_err_t err;
    unsigned head_only : 1;  /* the request was HEAD: no body whatever the head says */
    unsigned head_done : 1;  /* the final response's head arrived */
    unsigned complete : 1;   /* the response ended (framing complete) */
    unsigned keep : 1;       /* the connection may serve another request (when complete) */
    unsigned in_head : 1;
} tx_resp_t;

/* Starts reading a new response (buffers kept). `cb` must outlive the response. */
void tx_resp_reset(tx_resp_t *r, int head_only, const tx_resp_cb_t *cb, void *ud);
void tx_resp_free(tx_resp_t *r); /* frees the buffers; r may be reset again afterwards */

/* Feeds bytes. Returns how many were consumed: less than len when the response ended before
 * them (r->complete; the rest belongs to no request) or on an error (r->err set, -1 returned).
 * Never called with len 0. */
ssize_t tx_resp_feed(tx_resp_t *r, const char *data, size_t len);

/* The connection ended. 0 when that completes the response (a close-delimited body), -1 when
 * the response is cut short (or was never started). */
int tx_resp_eof(tx_resp_t *r);

#endif
