/* The HTTP/1.1 server on libuv: listener, connections, keep-alive, in-order pipelining, fixed
 * and streamed (chunked) responses, limits and timeouts, graceful stop. Framing is parse.h.
 *
 * Ownership of a request (tx_http_req_t), the one rule to remember:
 *   The server hands each request to the handler, and the handler must finish it exactly once,
 *   with tx__http_respond() or tx__http_stream_end() (or tx__http_reset()). Until then the pointer
 *   stays valid, whatever the client does. If the client goes away first, the server calls the
 *   request's abort callback (tx__http_req_on_abort) once; the request is still valid and must
 *   still be finished, and that finish just frees it (nothing is sent). After the finishing
 *   call the pointer is gone. Streaming writes on an aborted request return TX_ESTOPPED. */
#ifndef TX_SERVER_HTTP_H
#define TX_SERVER_HTTP_H

#include <stddef.h>
#include <uv.h>

#include "server/parse.h"
#include "tenax/error.h"
#include "tenax/types.h"

typedef struct tx_http_server tx_http_server_t;
typedef struct tx_http_req tx_http_req_t;

typedef void (*tx_http_handler_fn)(tx_http_req_t *req, void *ud);
typedef void (*tx_http_abort_fn)(tx_http_req_t *req, void *ud);
typedef void (*tx_http_stopped_fn)(tx_http_server_t *srv, void *ud);

typedef struct {
    tx_http_limits_t limits;    /* 16 KiB headers, 4 MiB body by default */
    unsigned header_timeout_ms; /* a request's line + headers must arrive within this; 10000 */
    unsigned idle_timeout_ms;   /* an idle keep-alive connection (and a body gap) ends; 30000 */
    unsigned max_connections;   /* beyond it, new connections are accepted and closed; 1024 */
    unsigned max_pipeline;      /* requests queued on one connection before reading pauses; 32 */
    /* Lingering close: after an answer that ends the connection the server shuts its write side
     * and reads and discards what the client still sends, so a client that sends its whole body
     * before reading reads the answer instead of a reset. It closes at the client's EOF, after
     * linger_idle_ms of silence, linger_ms in all, or linger_max_bytes discarded. */
    unsigned linger_ms;         /* 5000 (0 here and below: the default) */
    unsigned linger_idle_ms;    /* 2000 */
    size_t linger_max_bytes;    /* 16 MiB */
    tx_http_handler_fn handler; /* required */
    void *handler_ud;
} tx_http_config_t;

/* Fills `cfg` with the defaults above (handler NULL). */
void tx__http_config_defaults(tx_http_config_t *cfg);

/* A server on `loop` listening on `listen` ("HOST:PORT", "[IPv6]:PORT"; HOST may be a name
 * like localhost). NULL on failure with `err` filled (code TX_EBUSY and "cannot listen on
 * 127.0.0.1:8020: the address is already in use ..." when the port is taken, TX_EINVAL for a
 * bad address); then the only thing left is a closing handle that frees itself the next time
 * the loop runs (run it once before uv_loop_close). `cfg` is copied. */
tx_http_server_t *tx__http_server_start(uv_loop_t *loop, const char *listen,
                                        const tx_http_config_t *cfg, tx_error_t *err);

/* The bound address as "HOST:PORT" (the real port when 0 was asked). Static inside srv. */
const char *tx__http_server_address(const tx_http_server_t *srv);

/* Graceful stop: stops accepting, closes idle connections, lets requests in flight finish for up
 * to `grace_ms`, then closes the rest (their requests are aborted). `done` (may be NULL) is
 * called once every handle is closed; then tx__http_server_destroy may be called. */
void tx__http_server_stop(tx_http_server_t *srv, unsigned grace_ms, tx_http_stopped_fn done,
                          void *ud);

/* Frees a stopped server (after `done`). Requests never finished by their handler are freed
 * too: the handler must not touch them after this. NULL is a no-op. */
void tx__http_server_destroy(tx_http_server_t *srv);

/* Number of open client connections. */
size_t tx__http_server_connections(const tx_http_server_t *srv);

/* --- the request ------------------------------------------------------------------------ */
const char *tx__http_req_method(const tx_http_req_t *req);
const char *tx__http_req_path(const tx_http_req_t *req);  /* not decoded, without the query */
const char *tx__http_req_query(const tx_http_req_t *req); /* not decoded, "" when none */
/* Header value by name, case-insensitive; NULL when absent. */
const char *tx__http_req_header(const tx_http_req_t *req, const char *name);
/* The body (NUL-terminated; `len` may be NULL). Never NULL for a live request. */
const char *tx__http_req_body(const tx_http_req_t *req, size_t *len);
/* The client's address, "1.2.3.4:5678" or "[::1]:5678" ("" once detached). The text is the
 * server's, made on each call: valid until the next call for any request of the server. */
const char *tx__http_req_peer(const tx_http_req_t *req);
/* 1 once the client has gone away (the answer will be discarded). */
int tx__http_req_aborted(const tx_http_req_t *req);

/* Route parameters, set by the router (router.h); the request owns copies. */
int tx__http_req_set_param(tx_http_req_t *req, const char *name, const char *value);
const char *tx__http_req_param(const tx_http_req_t *req, const char *name);

/* Called once if the client goes away before the request is finished. Replaces any earlier. */
void tx__http_req_on_abort(tx_http_req_t *req, tx_http_abort_fn fn, void *ud);

/* A deadline on a request: fn(req, ud) runs once, `ms` from now (at least 1), unless the request
 * is finished or detached (its client gone: the abort callback runs instead) first. Setting it
 * again replaces it; fn NULL clears it. It costs no timer of the handler's own: the server keeps
 * its requests' deadlines on the timer of its connections' timeouts. */
void tx__http_req_set_deadline(tx_http_req_t *req, uint64_t ms, tx_http_abort_fn fn, void *ud);

/* --- answering (each finishes or continues the request; see the ownership rule above) ---- */

/* Finishes `req` with a fixed response. `headers` (may be NULL, n entries) must not include
 * Content-Length, Transfer-Encoding or Connection: the server writes those. Copies everything.
 * Returns TX_EOK; TX_ESTOPPED when the client had gone away (req is freed, nothing sent);
 * TX_EINVAL when req is streaming (nothing happens). */
tx_err_t tx__http_respond(tx_http_req_t *req, int status, const tx_header_t *headers, size_t n,
                          const char *body, size_t len);

/* Finishes `req` with an OpenAI-style error {"error":{"message","type","code"}}; `code` NULL
 * gives "code":null. `extra` headers as for tx__http_respond (e.g. Retry-After). */
tx_err_t tx__http_respond_error(tx_http_req_t *req, int status, const char *type, const char *code,
                                const char *message, const tx_header_t *extra, size_t n);

/* Starts a chunked response (for HTTP/1.0 clients: no chunking, the connection closes at the
 * end). TX_EINVAL when already answered. */
tx_err_t tx__http_stream_begin(tx_http_req_t *req, int status, const tx_header_t *headers,
                               size_t n);
/* Sends `len` bytes as one chunk (copied). TX_ESTOPPED when the client has gone away (keep
 * going is harmless; finish with tx__http_stream_end), TX_EINVAL when not streaming. */
tx_err_t tx__http_stream_write(tx_http_req_t *req, const char *data, size_t len);
/* Bytes this request has queued but the kernel has not taken yet (for back-pressure). */
size_t tx__http_stream_pending(const tx_http_req_t *req);
/* Ends the stream and finishes `req`. */
tx_err_t tx__http_stream_end(tx_http_req_t *req);
/* Finishes a stream without its end: what was written is delivered, then the connection is
 * closed (FIN) with the chunked body unterminated, so the client reads every chunk and then a
 * cut. For fault injection (the mock's `midstream`). TX_EINVAL when not streaming. */
tx_err_t tx__http_stream_cut(tx_http_req_t *req);

/* Finishes `req` by sending `raw` bytes as they are (may be NULL/0) and then closing the
 * connection with a TCP RST. For fault injection (the mock's `reset`). */
tx_err_t tx__http_reset(tx_http_req_t *req, const char *raw, size_t len);

/* The reason phrase of a status ("Not Found"); "Unknown" when unknown. */
const char *tx__http_status_text(int status);

#endif
