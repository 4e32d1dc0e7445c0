/* The upstream HTTP client: tenax's own HTTP/1.1 client on libuv (its own response parser,
 * OpenSSL for TLS), with a keep-alive pool per origin (scheme, host, port). Body bytes are handed
 * over as they arrive; the per-attempt timeout (first byte, then each gap between chunks) is ours.
 * A request that fails on a reused connection before any byte of its response arrived is sent
 * again, once, on a fresh connection (not a new attempt). Loop thread only. */
#ifndef TX_UPSTREAM_CLIENT_H
#define TX_UPSTREAM_CLIENT_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "tenax/error.h"
#include "tenax/types.h"

/* Transport outcome of one request. Append-only. The lead maps these onto the classifier's
 * transport kinds (network / timeout / aborted). */
#define TX_UPSTREAM_ERR_MAP(X)                                                                     \
    X(OK, "ok")                  /* an HTTP response arrived complete (any status) */              \
    X(CONNECT, "connect failed") /* refused, unreachable */                                        \
    X(RESET, "connection reset") /* reset/closed before a response, send/recv error */             \
    X(DNS, "name resolution failed")                                                               \
    X(TLS, "TLS failure")              /* handshake, certificate */                                \
    X(PARTIAL, "response cut short")   /* closed mid-body */                                       \
    X(TIMEOUT, "timed out")            /* our attempt timeout: first byte or a gap */              \
    X(ABORTED, "aborted")              /* the client was closed with the request in flight */      \
    X(TOO_LARGE, "response too large") /* more than max_response_bytes */                          \
    X(PROTOCOL, "bad HTTP response")   /* garbled reply, bad framing, headers too big */           \
    X(INVALID, "invalid request")      /* bad URL, unsupported scheme */                           \
    X(NOMEM, "out of memory")                                                                      \
    X(OTHER, "transport error")

typedef enum {
#define TX_UPSTREAM_ERR_ENUM(name, str) TX_UPSTREAM_E##name,
    TX_UPSTREAM_ERR_MAP(TX_UPSTREAM_ERR_ENUM)
#undef TX_UPSTREAM_ERR_ENUM
        TX_UPSTREAM_E__LAST
} tx_upstream_err_t;

const char *tx__upstream_strerror(tx_upstream_err_t e); /* static, never NULL */

typedef struct {
    unsigned max_total_conns; /* open connections (busy, connecting and idle); 0: 64. Requests
                                 beyond it wait for a connection, first come first served */
    unsigned max_host_conns;  /* per origin; 0: unlimited (bounded by max_total_conns) */
    unsigned max_idle_conns;  /* kept-alive idle connections; 0: max_total_conns */
    long connect_timeout_ms;  /* 0: bounded only by the attempt timeout */
    const char *proxy;        /* proxy for http origins ("http://host:port"; absolute-form
                                 requests); NULL: none, whatever the environment says. Copied */
    const char *https_proxy;  /* proxy for https origins (CONNECT tunnel); NULL: none. Copied */
    const char *no_proxy;     /* comma-separated hosts/domains reached directly ("*": all) */
    int proxy_loopback;       /* 1: localhost and loopback addresses go through the proxy too;
                                 0 (default): they are always reached directly */
    const char *ca_file;      /* PEM bundle of trusted CAs; NULL: the system's store. Copied. TLS
                                 verification (chain and host name) is never off */
} tx_upstream_opts_t;

typedef struct {
    long attempt_timeout_ms; /* until the first body byte (or the end of an empty reply); 0: none */
    long gap_timeout_ms;     /* longest silence between body chunks; 0: attempt_timeout_ms */
    size_t max_response_bytes; /* 0: unlimited */
} tx_upstream_limits_t;

typedef struct {
    tx_upstream_err_t err;
    int status;          /* HTTP status of the final response, 0 when none */
    const char *message; /* human text; valid during on_done */
    int64_t connect_us, first_byte_us, total_us; /* from the start of the request; 0 unknown */
    size_t body_bytes;
    int reused;      /* 1 when the response came on a kept-alive connection */
    int tls_resumed; /* 1 when its TLS connection resumed a session (abbreviated handshake) */
} tx_upstream_result_t;

typedef struct {
    /* Once, when the final response's headers are complete, before any body. May be NULL. */
    void (*on_head)(void *ud, int status, const tx_header_t *h, size_t nh);
    /* Each body chunk as it arrives (decoded from chunked transfer). May be NULL. */
    void (*on_body)(void *ud, const char *data, size_t len);
    /* Exactly once, unless the request was cancelled first. The request is gone afterwards. */
    void (*on_done)(void *ud, const tx_upstream_result_t *r);
} tx_upstream_cb_t;

typedef struct tx_upstream tx_upstream_t;
typedef struct tx_upstream_req tx_upstream_req_t;

/* A client on `loop` (NULL opts: defaults). NULL when out of memory or a proxy URL is not a
 * valid http:// URL. Options apply for the client's life (a configuration change needs a new
 * client, i.e. a restart). */
tx_upstream_t *tx__upstream_new(uv_loop_t *loop, const tx_upstream_opts_t *o);

/* Fills o's proxies: AI_PROXY (`ai_proxy`, for both schemes) when set, else HTTP_PROXY and
 * HTTPS_PROXY (or their lower-case forms); NO_PROXY/no_proxy either way. An environment proxy
 * that is not usable (credentials in it, https://, not a URL) is ignored and why[] (when not
 * NULL) says which variable and why, without its value; else why[0] is '\0'. The strings are
 * borrowed from the environment: create the client before it changes. */
void tx__upstream_proxy_env(tx_upstream_opts_t *o, const char *ai_proxy, char *why, size_t wn);

/* NULL when `proxy` (NULL or "" allowed) is usable as a proxy URL, else why not. */
const char *tx__upstream_proxy_check(const char *proxy);

/* Closes the client: every request still in flight gets on_done with TX_UPSTREAM_EABORTED
 * (cancelled ones get nothing), connections are closed, and `done(arg)` (may be NULL) runs once
 * every libuv handle is closed; the client's memory is freed by then. NULL: no-op. From inside
 * one of this client's callbacks the close happens as soon as that callback returns; sends after
 * tx__upstream_close return NULL. */
void tx__upstream_close(tx_upstream_t *u, void (*done)(void *), void *arg);

/* Starts a request. `method` "GET"/"POST"/…; headers and url are copied; `body` (may be NULL
 * when len is 0) is NOT copied and must stay valid until on_done or cancel. `lim` may be NULL
 * (no limits). `cb->on_done` is required. Returns the request handle, valid until on_done
 * returns or tx__upstream_cancel is called; NULL on bad arguments, out of memory or a closing
 * client, and then no callback is ever called. Safe from inside this client's callbacks. */
tx_upstream_req_t *tx__upstream_send(tx_upstream_t *u, const char *method, const char *url,
                                     const tx_header_t *h, size_t nh, const char *body, size_t len,
                                     const tx_upstream_limits_t *lim, const tx_upstream_cb_t *cb,
                                     void *ud);

/* Cancels a request: no callback of it runs after this returns, and its connection (if it has
 * one yet) is closed. Safe from inside any callback of this client (also the request's
 * own). NULL, or a request whose on_done is running: no-op. */
void tx__upstream_cancel(tx_upstream_req_t *r);

/* Stops (pause 1) or resumes (pause 0) reading the response of `r`, for a reader that cannot
 * keep up: no body callback runs while paused, what already arrived is kept and handed
 * over after the resume (from the loop, not inside this call), and no attempt or gap timeout runs
 * while paused (the gap restarts at the resume). Safe from inside r's own body callback. TX_EOK
 * (also when already in that state); TX_EINVAL (NULL, finished or cancelled). */
tx_err_t tx__upstream_pause(tx_upstream_req_t *r, int pause);

/* Requests started and not yet finished or cancelled. */
size_t tx__upstream_active(const tx_upstream_t *u);

#endif
