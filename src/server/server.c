/* The libuv side of the HTTP server (http.h): accept, read into the sans-I/O parser, keep the
 * per-connection queue of requests so answers leave strictly in order, write, time out, stop.
 * Requests live in two places at once: the connection's queue (until their bytes are handed to
 * the socket) and the handler's hands (until it finishes them); a request is freed when both
 * let go. A connection that closes detaches its unfinished requests and aborts them. */
#include "server/http.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "core/freelist.h"
#include "core/numfmt.h"
#include "core/poison.h"
#include "obs/log.h"
#include "server/tlist.h"

typedef struct conn conn_t;

typedef enum { R_PENDING, R_STREAMING, R_FINISHED } req_state_t;

typedef struct {
    char *name, *value;
} param_t;

struct tx_http_req {
    tx_http_server_t *srv;
    conn_t *c;          /* NULL once detached (client gone or connection closed) */
    tx_http_msg_t *msg; /* NULL for the server's own error answers */
    req_state_t state;
    unsigned handed : 1; /* given to the handler, which must finish it */
    unsigned aborted : 1;
    unsigned close_after : 1; /* the connection ends after this response */
    unsigned reset_after : 1; /* ... with an RST */
    unsigned chunked : 1;     /* stream uses chunked transfer coding */
    unsigned head : 1;        /* HEAD: no body bytes */
    char *out;                /* bytes composed while not at the head of the queue */
    size_t out_len, out_cap;
    tx_http_abort_fn abort_fn;
    void *abort_ud;
    tx_tnode_t dl; /* in srv->deadlines while dl_fn is set (tx__http_req_set_deadline) */
    tx_http_abort_fn dl_fn;
    void *dl_ud;
    void *data;
    param_t *params;
    size_t nparams;
    tx_http_req_t *qnext;         /* connection queue */
    tx_http_req_t *lprev, *lnext; /* server's list of live requests */
    tx_http_req_t *fprev, *fnext; /* server's list of streams with output to flush */
    int flush_queued;             /* on that list */
};

/* What a connection's timeout is for; each kind (but none) has its own list on the server. T_DRAIN:
 * the last answers are being written out before lingering (conn_drain); T_LINGER: a stretch of
 * silence while lingering, cut at the overall end (linger_arm). */
typedef enum { T_NONE, T_HEADER, T_IDLE, T_DRAIN, T_LINGER, T__COUNT } timer_mode_t;

/* The client's address as accepted (text made on demand, peer_text): family 0 when unknown. */
typedef struct {
    uint16_t family, port;
    unsigned char addr[16];
} peer_t;

/* What only a connection that is ending needs (conn_drain): the shutdown request and the
 * lingering bounds. */
typedef struct {
    uv_shutdown_t req;
    size_t linger_bytes; /* discarded while lingering */
    uint64_t linger_end; /* uv_now() at which lingering stops */
} drain_t;

/* One client connection. What every open connection holds is kept small (10,000 of them idle or
 * queued behind the upstream slots is the case to size for): no read buffer (reads land in the
 * server's), no working buffer for heads (the server's scratch), no timer (its timeout is a node
 * of the server's lists), the parser in the same allocation, its address in binary, what ending
 * needs only while it ends. */
struct conn {
    uv_tcp_t tcp;
    tx_tnode_t tn;  /* in srv->timeouts[tmode] while tmode is not T_NONE */
    drain_t *drain; /* while ending (conn_drain) */
    tx_http_server_t *srv;
    tx_http_parser_t *parser; /* right after the struct, in its allocation */
    tx_http_req_t *qhead, *qtail;
    unsigned nq, writes;
    unsigned reading : 1, closing : 1, draining : 1, reset_when_drained : 1;
    unsigned lingering : 1, shut_done : 1, peer_eof : 1; /* lingering close (conn_drain) */
    unsigned had_request : 1; /* a request was read: idle now means keep-alive */
    unsigned tmode : 3;       /* timer_mode_t */
    peer_t peer;
    conn_t *prev, *next;
};

struct tx_http_server {
    uv_loop_t *loop;
    uv_tcp_t listener;
    uv_timer_t grace;
    uv_timer_t tick;               /* the connections' timeouts: set for the earliest */
    uint64_t tick_due;             /* when tick fires (0: not set) */
    tx_tlist_t timeouts[T__COUNT]; /* connections by timeout kind, each in order of due time */
    tx_tlist_t deadlines;          /* requests' deadlines, in order of due time */
    char peerbuf[64];              /* tx__http_req_peer's answer */
    tx_http_config_t cfg;
    char addr[96];
    conn_t *conns;
    size_t nconns;
    tx_http_req_t *reqs;
    tx__freelist_t spare;       /* freed requests kept for reuse (SPARE_MAX), with their out */
    tx_http_scratch_t *scratch; /* the parsers' shared working buffer */
    uv_check_t flusher;         /* writes the streams' output after the turn's I/O callbacks */
    uv_prepare_t preflusher;    /* … and before the poll, for output from timers and idlers */
    tx_http_req_t *to_flush;    /* streams with output composed this turn */
    int flushers_open;          /* of those two handles */
    int stopping, listener_open, grace_open, tick_open, done_called;
    tx_http_stopped_fn done;
    void *done_ud;
    char readbuf[65536];
};

typedef struct {
    uv_write_t w;
    conn_t *c;
    size_t len;
    char data[];
} wreq_t;

/* At most this many freed requests are kept for reuse, each with an out buffer of at most
 * SPARE_OUT_MAX bytes (a bigger one, from a large answer, is given back). */
#define SPARE_MAX 64
#define SPARE_OUT_MAX (16u * 1024u)

static void conn_close(conn_t *c, int reset);
static void peer_text(const peer_t *p, char *out, size_t cap);
static void conn_advance(conn_t *c);
static void conn_arm_timer(conn_t *c);
static void maybe_stopped(tx_http_server_t *srv);

void tx__http_config_defaults(tx_http_config_t *cfg)
{
    if (cfg == NULL) return;
    memset(cfg, 0, sizeof *cfg);
    cfg->limits.max_header_bytes = TX_HTTP_MAX_HEADER_BYTES_DEFAULT;
    cfg->limits.max_body_bytes = TX_HTTP_MAX_BODY_BYTES_DEFAULT;
    cfg->limits.max_headers = TX_HTTP_MAX_HEADERS_DEFAULT;
    cfg->header_timeout_ms = 10000;
    cfg->idle_timeout_ms = 30000;
    cfg->max_connections = 1024;
    cfg->max_pipeline = 32;
    cfg->linger_ms = 5000;
    cfg->linger_idle_ms = 2000;
    cfg->linger_max_bytes = 16u * 1024u * 1024u;
}

/* Known statuses: the reason phrase and the whole status line, so answering formats nothing. */
typedef struct {
    int status;
    const char *text, *line;
} status_t;

static const status_t statuses[] = {
    {200, "OK", "HTTP/1.1 200 OK\r\n"},
    {201, "Created", "HTTP/1.1 201 Created\r\n"},
    {202, "Accepted", "HTTP/1.1 202 Accepted\r\n"},
    {204, "No Content", "HTTP/1.1 204 No Content\r\n"},
    {400, "Bad Request", "HTTP/1.1 400 Bad Request\r\n"},
    {401, "Unauthorized", "HTTP/1.1 401 Unauthorized\r\n"},
    {402, "Payment Required", "HTTP/1.1 402 Payment Required\r\n"},
    {403, "Forbidden", "HTTP/1.1 403 Forbidden\r\n"},
    {404, "Not Found", "HTTP/1.1 404 Not Found\r\n"},
    {405, "Method Not Allowed", "HTTP/1.1 405 Method Not Allowed\r\n"},
    {408, "Request Timeout", "HTTP/1.1 408 Request Timeout\r\n"},
    {409, "Conflict", "HTTP/1.1 409 Conflict\r\n"},
    {413, "Payload Too Large", "HTTP/1.1 413 Payload Too Large\r\n"},
    {422, "Unprocessable Entity", "HTTP/1.1 422 Unprocessable Entity\r\n"},
    {429, "Too Many Requests", "HTTP/1.1 429 Too Many Requests\r\n"},
    {431, "Request Header Fields Too Large", "HTTP/1.1 431 Request Header Fields Too Large\r\n"},
    {500, "Internal Server Error", "HTTP/1.1 500 Internal Server Error\r\n"},
    {501, "Not Implemented", "HTTP/1.1 501 Not Implemented\r\n"},
    {502, "Bad Gateway", "HTTP/1.1 502 Bad Gateway\r\n"},
    {503, "Service Unavailable", "HTTP/1.1 503 Service Unavailable\r\n"},
    {504, "Gateway Timeout", "HTTP/1.1 504 Gateway Timeout\r\n"},
    {505, "HTTP Version Not Supported", "HTTP/1.1 505 HTTP Version Not Supported\r\n"},
};

static const status_t *status_find(int status)
{
    for (size_t i = 0; i < sizeof statuses / sizeof statuses[0]; i++)
        if (statuses[i].status == status) return &statuses[i];
    return NULL;
}

const char *tx__http_status_text(int status)
{
    const status_t *st = status_find(status);
    return st ? st->text : "Unknown";
}

/* ---- requests ---------------------------------------------------------------------------- */

/* Frees a kept request (the free-list's destroy). */
static void spare_destroy(void *p)
{
    tx_http_req_t *r = p;
    tx_unpoison(r, sizeof *r);
    tx_unpoison(r->out, r->out_cap);
    free(r->out);
    free(r);
}

static tx_http_req_t *req_new(tx_http_server_t *srv, conn_t *c, tx_http_msg_t *msg)
{
    tx_http_req_t *r = tx__freelist_take(&srv->spare);
    if (r != NULL) { /* a clean request, keeping only its out buffer */
        tx_unpoison(r, sizeof *r);
        tx_unpoison(r->out, r->out_cap);
        char *out = r->out;
        size_t out_cap = r->out_cap;
        memset(r, 0, sizeof *r);
        r->out = out;
        r->out_cap = out_cap;
    } else {
        r = calloc(1, sizeof *r);
        if (r == NULL) return NULL;
    }
    r->srv = srv;
    r->c = c;
    r->msg = msg;
    r->head = msg && strcmp(msg->method, "HEAD") == 0;
    r->lnext = srv->reqs;
    if (srv->reqs) srv->reqs->lprev = r;
    srv->reqs = r;
    return r;
}

static void flush_unlink(tx_http_req_t *r);
static void req_deadline_clear(tx_http_req_t *r);

static void req_free(tx_http_req_t *r)
{
    flush_unlink(r);
    req_deadline_clear(r);
    if (r->lprev)
        r->lprev->lnext = r->lnext;
    else
        r->srv->reqs = r->lnext;
    if (r->lnext) r->lnext->lprev = r->lprev;
    tx__http_msg_free(r->msg);
    for (size_t i = 0; i < r->nparams; i++) {
        free(r->params[i].name);
        free(r->params[i].value);
    }
    free(r->params);
    tx_http_server_t *srv = r->srv;
    if (r->out_cap <= SPARE_OUT_MAX && tx__freelist_put(&srv->spare, r)) {
        tx_poison(r->out, r->out_cap);
        tx_poison(r, sizeof *r);
        return;
    }
    free(r->out);
    free(r);
}

/* Makes room for `n` more bytes at the end of r->out and counts them as used: the caller fills
 * them. NULL (and nothing changed) on out of memory. */
static char *out_reserve(tx_http_req_t *r, size_t n)
{
    if (r->out_len + n > r->out_cap) {
        size_t cap = r->out_cap ? r->out_cap : 512;
        while (cap < r->out_len + n)
            cap *= 2;
        char *p = realloc(r->out, cap);
        if (p == NULL) return NULL;
        r->out = p;
        r->out_cap = cap;
    }
    char *at = r->out + r->out_len;
    r->out_len += n;
    return at;
}

static int out_add(tx_http_req_t *r, const char *s, size_t n)
{
    char *at = out_reserve(r, n);
    if (at == NULL) return -1;
    memcpy(at, s, n);
    return 0;
}

static void on_write(uv_write_t *w, int status)
{
    wreq_t *wr = (wreq_t *)w;
    conn_t *c = wr->c;
    c->writes--;
    free(wr);
    if (status < 0 && !c->closing) {
        conn_close(c, 0);
        return;
    }
    if (c->reset_when_drained && c->writes == 0) conn_close(c, 1);
}

/* Writes what the socket takes now without a write request (no copy, and no epoll change:
 * libuv re-arms the watcher after every queued write); only a remainder (or an error) is queued.
 * uv_try_write refuses while earlier writes are queued, so the byte order is kept. */
static int conn_write(conn_t *c, const char *data, size_t len)
{
    if (c->closing || c->draining || len == 0) return 0; /* draining: the answers are all out */
    if (c->writes == 0) {
        uv_buf_t tb = uv_buf_init((char *)data, (unsigned)len);
        int n = uv_try_write((uv_stream_t *)&c->tcp, &tb, 1);
        if (n > 0) {
            data += n;
            len -= (size_t)n;
            if (len == 0) return 0;
        } /* an error: uv_write below reports it through on_write, outside the caller */
    }
    wreq_t *wr = malloc(sizeof *wr + len);
    if (wr == NULL) return -1;
    wr->c = c;
    wr->len = len;
    memcpy(wr->data, data, len);
    uv_buf_t b = uv_buf_init(wr->data, (unsigned)len);
    if (uv_write(&wr->w, (uv_stream_t *)&c->tcp, &b, 1, on_write) != 0) {
        free(wr);
        conn_close(c, 0);
        return -1;
    }
    c->writes++;
    return 0;
}

/* Appends "name: value\r\n"; a header whose name or value could split the head (CR, LF, or a
 * ':' in the name) is skipped. Returns -1 on out of memory. */
static int emit_header(tx_http_req_t *r, const char *name, const char *value)
{
    size_t nl = strcspn(name, "\r\n:"), vl = strcspn(value, "\r\n");
    if (name[nl] != '\0' || value[vl] != '\0') return 0; /* no splitting */
    char *o = out_reserve(r, nl + vl + 4);
    if (o == NULL) return -1;
    memcpy(o, name, nl);
    o += nl;
    memcpy(o, ": ", 2);
    memcpy(o + 2, value, vl);
    memcpy(o + 2 + vl, "\r\n", 2);
    return 0;
}

/* The head of a response: status line, `h`, the `framing` header line(s) (flen bytes, may be
 * 0), Connection as needed, blank line. */
static int emit_head(tx_http_req_t *r, int status, const tx_header_t *h, size_t n,
                     const char *framing, size_t flen)
{
    static const char close_end[] = "Connection: close\r\n\r\n";
    static const char keep_end[] = "Connection: keep-alive\r\n\r\n";
    int keep = r->msg && r->msg->keep_alive && !r->close_after && !r->srv->stopping;
    if (!keep) r->close_after = 1;
    const status_t *st = status_find(status);
    if (st != NULL) {
        if (out_add(r, st->line, strlen(st->line)) != 0) return -1;
    } else { /* "HTTP/1.1 %d Unknown\r\n" */
        char num[TX_NUMFMT_MAX];
        size_t nl = tx__fmt_i64(num, status);
        char *o = out_reserve(r, 9 + nl + 10);
        if (o == NULL) return -1;
        memcpy(o, "HTTP/1.1 ", 9);
        memcpy(o + 9, num, nl);
        memcpy(o + 9 + nl, " Unknown\r\n", 10);
    }
    for (size_t i = 0; h && i < n; i++) {
        if (h[i].name == NULL || h[i].value == NULL) continue;
        if (emit_header(r, h[i].name, h[i].value) != 0) return -1;
    }
    if (flen && out_add(r, framing, flen)) return -1;
    if (!keep) return out_add(r, close_end, sizeof close_end - 1);
    if (r->msg->http_minor == 0) return out_add(r, keep_end, sizeof keep_end - 1);
    return out_add(r, "\r\n", 2);
}

/* Moves what was composed in r->out to the socket (or keeps it buffered if not at the head). */
static int flush_out(tx_http_req_t *r)
{
    if (r->c == NULL || r->c->qhead != r || r->out_len == 0) return 0;
    int rc = conn_write(r->c, r->out, r->out_len);
    r->out_len = 0;
    return rc;
}

/* ---- streamed output: one write per stream per loop turn ----------------------------------- */

/* A stream's chunks (and its head) are composed in r->out and written when the loop turn's I/O
 * callbacks are done (a uv_check), so what one turn produces for a stream leaves in one write:
 * the head with the first chunk, the last chunk with the chunked end, several events read at
 * once from the upstream. Output composed outside I/O callbacks (timers, idle handles) is
 * written before the loop polls (a uv_prepare): nothing waits for the next poll. */
#define FLUSH_NOW_BYTES (64u * 1024u)

static void flush_unlink(tx_http_req_t *r)
{
    if (!r->flush_queued) return;
    r->flush_queued = 0;
    if (r->fprev)
        r->fprev->fnext = r->fnext;
    else
        r->srv->to_flush = r->fnext;
    if (r->fnext) r->fnext->fprev = r->fprev;
    r->fprev = r->fnext = NULL;
}

static void flush_all(tx_http_server_t *srv)
{
    tx_http_req_t *r;
    while ((r = srv->to_flush) != NULL) { /* a flush may close connections: take one at a time */
        flush_unlink(r);
        flush_out(r);
    }
    uv_check_stop(&srv->flusher);
    uv_prepare_stop(&srv->preflusher);
}

static void on_flush(uv_check_t *h)
{
    flush_all(h->data);
}

static void on_preflush(uv_prepare_t *h)
{
    flush_all(h->data);
}

/* Writes r's composed output at the end of this loop turn (at once when the server cannot
 * defer). */
static void flush_later(tx_http_req_t *r)
{
    tx_http_server_t *srv = r->srv;
    /* a large output goes at once, as before: what the socket does not take then shows in
     * tx__http_stream_pending (the relay's back-pressure), not bytes merely waiting for the turn */
    if (srv->flushers_open < 2 || srv->stopping || r->out_len >= FLUSH_NOW_BYTES) {
        flush_out(r);
        return;
    }
    if (r->flush_queued) return;
    r->flush_queued = 1;
    r->fprev = NULL;
    r->fnext = srv->to_flush;
    if (srv->to_flush == NULL) {
        uv_check_start(&srv->flusher, on_flush);
        uv_prepare_start(&srv->preflusher, on_preflush);
    } else {
        srv->to_flush->fprev = r;
    }
    srv->to_flush = r;
}

/* The handler is done with `r`: free it if the connection has already let go of it; otherwise
 * let the queue move on when it is at the head. */
static void req_finish(tx_http_req_t *r)
{
    r->state = R_FINISHED;
    req_deadline_clear(r);
    if (r->c == NULL) {
        req_free(r);
        return;
    }
    if (r->c->qhead == r) conn_advance(r->c);
}

static tx_err_t finish_detached(tx_http_req_t *r)
{
    r->state = R_FINISHED;
    req_free(r);
    return TX_ESTOPPED;
}

tx_err_t tx__http_respond(tx_http_req_t *r, int status, const tx_header_t *headers, size_t n,
                          const char *body, size_t len)
{
    if (r == NULL || r->state != R_PENDING || status < 100 || status > 999) return TX_EINVAL;
    if (body == NULL) len = 0;
    if (r->c == NULL) return finish_detached(r);
    char cl[16 + TX_NUMFMT_MAX + 2] = "Content-Length: "; /* "Content-Length: %zu\r\n" */
    size_t cll = 16 + tx__fmt_u64(cl + 16, len);
    memcpy(cl + cll, "\r\n", 2);
    /* composed in r->out, then one write when at the head of the queue */
    int bad =
        emit_head(r, status, headers, n, cl, cll + 2) || (!r->head && len && out_add(r, body, len));
    if (!bad) flush_out(r);
    if (bad) {
        r->close_after = 1; /* out of memory mid-answer: the connection cannot be trusted */
        r->out_len = 0;
    }
    req_finish(r);
    return bad ? TX_ENOMEM : TX_EOK;
}

tx_err_t tx__http_respond_error(tx_http_req_t *r, int status, const char *type, const char *code,
                                const char *message, const tx_header_t *extra, size_t n)
{
    if (r == NULL) return TX_EINVAL;
    json_t *doc = json_pack("{s:{s:s,s:s,s:o}}", "error", "message", message ? message : "", "type",
                            type ? type : "error", "code", code ? json_string(code) : json_null());
    char *body = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    tx_header_t h[17];
    size_t k = 0;
    h[k++] = (tx_header_t){"Content-Type", "application/json"};
    for (size_t i = 0; extra && i < n && k < 17; i++)
        h[k++] = extra[i];
    tx_err_t rc = tx__http_respond(r, status, h, k, body, body ? strlen(body) : 0);
    free(body);
    return rc;
}

tx_err_t tx__http_stream_begin(tx_http_req_t *r, int status, const tx_header_t *headers, size_t n)
{
    if (r == NULL || r->state != R_PENDING) return TX_EINVAL;
    r->state = R_STREAMING;
    if (r->c == NULL) {
        r->aborted = 1;
        return TX_ESTOPPED;
    }
    r->chunked = r->msg && r->msg->http_minor >= 1;
    if (!r->chunked) r->close_after = 1; /* HTTP/1.0: the end of the body is the close */
    static const char te[] = "Transfer-Encoding: chunked\r\n";
    if (emit_head(r, status, headers, n, te, r->chunked ? sizeof te - 1 : 0)) {
        r->close_after = 1;
        return TX_ENOMEM;
    }
    flush_later(r); /* with the first chunk, when it comes in this loop turn */
    return TX_EOK;
}

tx_err_t tx__http_stream_write(tx_http_req_t *r, const char *data, size_t len)
{
    if (r == NULL || r->state != R_STREAMING) return TX_EINVAL;
    if (r->c == NULL || r->aborted) return TX_ESTOPPED;
    if (len == 0 || r->head) return TX_EOK;
    if (data == NULL) return TX_EINVAL;
    if (r->chunked) {
        char sz[TX_NUMFMT_MAX + 2]; /* "%zx\r\n" */
        size_t k = tx__fmt_hex(sz, len);
        memcpy(sz + k, "\r\n", 2);
        char *o = out_reserve(r, k + 2 + len + 2); /* the chunk's framing and data together */
        if (o == NULL) return TX_ENOMEM;
        memcpy(o, sz, k + 2);
        memcpy(o + k + 2, data, len);
        memcpy(o + k + 2 + len, "\r\n", 2);
    } else if (out_add(r, data, len)) {
        return TX_ENOMEM;
    }
    flush_later(r);
    return TX_EOK;
}

size_t tx__http_stream_pending(const tx_http_req_t *r)
{
    if (r == NULL || r->c == NULL) return 0;
    return r->out_len +
           (r->c->qhead == r ? uv_stream_get_write_queue_size((uv_stream_t *)&r->c->tcp) : 0);
}

tx_err_t tx__http_stream_end(tx_http_req_t *r)
{
    if (r == NULL || r->state != R_STREAMING) return TX_EINVAL;
    if (r->c == NULL) return finish_detached(r);
    if (r->chunked && !r->head && out_add(r, "0\r\n\r\n", 5)) r->close_after = 1;
    flush_out(r);
    req_finish(r);
    return TX_EOK;
}

tx_err_t tx__http_stream_cut(tx_http_req_t *r)
{
    if (r == NULL || r->state != R_STREAMING) return TX_EINVAL;
    if (r->c == NULL) return finish_detached(r);
    r->close_after = 1; /* no "0\r\n\r\n": the body stays unterminated */
    flush_out(r);
    req_finish(r);
    return TX_EOK;
}

tx_err_t tx__http_reset(tx_http_req_t *r, const char *raw, size_t len)
{
    if (r == NULL || r->state == R_FINISHED) return TX_EINVAL;
    if (r->c == NULL) return finish_detached(r);
    if (raw && len && out_add(r, raw, len)) r->out_len = 0;
    r->close_after = 1;
    r->reset_after = 1;
    flush_out(r);
    req_finish(r);
    return TX_EOK;
}

/* ---- request accessors ------------------------------------------------------------------- */

const char *tx__http_req_method(const tx_http_req_t *r)
{
    return r && r->msg ? r->msg->method : "";
}
const char *tx__http_req_path(const tx_http_req_t *r)
{
    return r && r->msg ? r->msg->path : "";
}
const char *tx__http_req_query(const tx_http_req_t *r)
{
    return r && r->msg ? r->msg->query : "";
}
const char *tx__http_req_peer(const tx_http_req_t *r)
{
    if (r == NULL || r->c == NULL) return ""; /* the connection's, while it is attached */
    peer_text(&r->c->peer, r->srv->peerbuf, sizeof r->srv->peerbuf);
    return r->srv->peerbuf;
}
int tx__http_req_aborted(const tx_http_req_t *r)
{
    return r == NULL || r->aborted;
}

const char *tx__http_req_header(const tx_http_req_t *r, const char *name)
{
    return r ? tx__http_msg_header(r->msg, name) : NULL;
}

const char *tx__http_req_body(const tx_http_req_t *r, size_t *len)
{
    if (len) *len = r && r->msg ? r->msg->body_len : 0;
    return r && r->msg ? r->msg->body : "";
}

void tx__http_req_on_abort(tx_http_req_t *r, tx_http_abort_fn fn, void *ud)
{
    if (r == NULL) return;
    r->abort_fn = fn;
    r->abort_ud = ud;
}

int tx__http_req_set_param(tx_http_req_t *r, const char *name, const char *value)
{
    if (r == NULL || name == NULL || value == NULL) return -1;
    param_t *p = realloc(r->params, (r->nparams + 1) * sizeof *p);
    if (p == NULL) return -1;
    r->params = p;
    p[r->nparams].name = strdup(name);
    p[r->nparams].value = strdup(value);
    if (p[r->nparams].name == NULL || p[r->nparams].value == NULL) {
        free(p[r->nparams].name);
        free(p[r->nparams].value);
        return -1;
    }
    r->nparams++;
    return 0;
}

const char *tx__http_req_param(const tx_http_req_t *r, const char *name)
{
    for (size_t i = 0; r && name && i < r->nparams; i++)
        if (strcmp(r->params[i].name, name) == 0) return r->params[i].value;
    return NULL;
}

/* ---- connections ------------------------------------------------------------------------- */

/* The connections' timeouts: each connection with one is in the server's list for its kind, and
 * one timer (tick) is set for the earliest due time of them all. It is set again only when a
 * timeout due sooner arrives; a timeout that goes away leaves it as it is (the tick then finds
 * nothing due and sets itself for what is). */
static void on_tick(uv_timer_t *t);
static void conn_timed_out(conn_t *c, timer_mode_t mode);

static void tick_arm(tx_http_server_t *srv, uint64_t due)
{
    /* (requests detached at the stop have no deadline: nothing is set after the tick closes) */
    if (!srv->tick_open || (srv->tick_due != 0 && srv->tick_due <= due)) return;
    uint64_t now = uv_now(srv->loop);
    srv->tick_due = due;
    uv_timer_start(&srv->tick, on_tick, due > now ? due - now : 0, 0);
}

static void conn_timer_stop(conn_t *c)
{
    if (c->tmode != T_NONE) tx__tlist_remove(&c->srv->timeouts[c->tmode], &c->tn);
    c->tmode = T_NONE;
}

/* (Re)starts c's timeout: kind `mode`, `ms` from now. */
static void conn_timer_start(conn_t *c, timer_mode_t mode, uint64_t ms)
{
    tx_http_server_t *srv = c->srv;
    conn_timer_stop(c);
    /* at least 1 ms: a timeout set while the tick runs is never due in that same run */
    uint64_t due = uv_now(srv->loop) + (ms > 0 ? ms : 1);
    tx__tlist_insert(&srv->timeouts[mode], &c->tn, due);
    c->tmode = mode;
    tick_arm(srv, due);
}

static void on_tick(uv_timer_t *t)
{
    tx_http_server_t *srv = t->data;
    uint64_t now = uv_now(srv->loop);
    srv->tick_due = 0;
    for (int mode = T_NONE + 1; mode < T__COUNT; mode++) {
        tx_tnode_t *n;
        while ((n = tx__tlist_pop_due(&srv->timeouts[mode], now)) != NULL) {
            conn_t *c = (conn_t *)((char *)n - offsetof(conn_t, tn));
            c->tmode = T_NONE;
            conn_timed_out(c, (timer_mode_t)mode); /* may start or stop other timeouts */
        }
    }
    tx_tnode_t *n;
    while ((n = tx__tlist_pop_due(&srv->deadlines, now)) != NULL) {
        tx_http_req_t *r = (tx_http_req_t *)((char *)n - offsetof(tx_http_req_t, dl));
        tx_http_abort_fn fn = r->dl_fn;
        r->dl_fn = NULL;
        fn(r, r->dl_ud); /* may finish (free) r */
    }
    for (int mode = T_NONE + 1; mode < T__COUNT; mode++)
        if (srv->timeouts[mode].head != NULL) tick_arm(srv, srv->timeouts[mode].head->due);
    if (srv->deadlines.head != NULL) tick_arm(srv, srv->deadlines.head->due);
}

static void req_deadline_clear(tx_http_req_t *r)
{
    if (r->dl_fn != NULL) tx__tlist_remove(&r->srv->deadlines, &r->dl);
    r->dl_fn = NULL;
}

void tx__http_req_set_deadline(tx_http_req_t *r, uint64_t ms, tx_http_abort_fn fn, void *ud)
{
    if (r == NULL) return;
    req_deadline_clear(r);
    if (fn == NULL || r->c == NULL || r->state == R_FINISHED) return;
    tx_http_server_t *srv = r->srv;
    uint64_t due = uv_now(srv->loop) + (ms > 0 ? ms : 1);
    tx__tlist_insert(&srv->deadlines, &r->dl, due);
    r->dl_fn = fn;
    r->dl_ud = ud;
    tick_arm(srv, due);
}

static void on_handle_closed(uv_handle_t *h)
{
    conn_t *c = h->data;
    tx_http_server_t *srv = c->srv;
    conn_timer_stop(c); /* (stopped at conn_close already) */
    if (c->prev)
        c->prev->next = c->next;
    else
        srv->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    srv->nconns--;
    tx__http_parser_fini(c->parser);
    free(c->drain);
    free(c);
    maybe_stopped(srv);
}

/* Empties the queue: requests not yet answered are detached and aborted (their answers will not
 * be sent), the others freed. */
static void conn_detach_all(conn_t *c)
{
    tx_http_req_t *r;
    while ((r = c->qhead) != NULL) {
        c->qhead = r->qnext;
        r->qnext = NULL;
        r->c = NULL;
        req_deadline_clear(r); /* the abort callback tells the handler instead */
        c->nq--;
        if (!r->handed || r->state == R_FINISHED) {
            req_free(r);
        } else {
            r->aborted = 1;
            if (r->abort_fn) r->abort_fn(r, r->abort_ud); /* may finish (free) r */
        }
    }
    c->qtail = NULL;
}

/* Closes the connection now; unfinished requests are detached and aborted. */
static void conn_close(conn_t *c, int reset)
{
    if (c->closing) return;
    c->closing = 1;
    uv_read_stop((uv_stream_t *)&c->tcp);
    conn_timer_stop(c);
    conn_detach_all(c);
    if (!reset || uv_tcp_close_reset(&c->tcp, on_handle_closed) != 0)
        uv_close((uv_handle_t *)&c->tcp, on_handle_closed);
}

/* The lingering timer, once the answer is out: the next stretch of silence, cut at the overall
 * end. Closes the connection when that end has passed. */
static void linger_arm(conn_t *c)
{
    uint64_t now = uv_now(c->srv->loop);
    if (now >= c->drain->linger_end) {
        conn_close(c, 0);
        return;
    }
    uint64_t wait = c->srv->cfg.linger_idle_ms;
    if (wait > c->drain->linger_end - now) wait = c->drain->linger_end - now;
    conn_timer_start(c, T_LINGER, wait);
}

/* Lingering: what the client still sends is read and dropped (it lands in the shared read
 * buffer, nothing is kept per connection) until its EOF or a bound. */
static void on_linger_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    (void)buf;
    conn_t *c = s->data;
    if (nread == 0) return;
    if (nread < 0) {
        uv_read_stop(s);
        c->peer_eof = 1;
        /* at EOF the answer may still be on its way out: on_shutdown closes once it is */
        if (c->shut_done || nread != UV_EOF) conn_close(c, 0);
        return;
    }
    c->drain->linger_bytes += (size_t)nread;
    if (c->drain->linger_bytes > c->srv->cfg.linger_max_bytes)
        conn_close(c, 0);
    else if (c->shut_done)
        linger_arm(c);
}

static void on_shutdown(uv_shutdown_t *s, int status)
{
    conn_t *c = s->data;
    c->shut_done = 1;
    if (c->closing) return;
    if (status < 0 || !c->lingering || c->peer_eof) {
        conn_close(c, 0);
        return;
    }
    conn_detach_all(c); /* requests queued behind the last answer get none: abort them now */
    /* the answer is out: the bounds run from now, not while a slow reader takes a big answer */
    c->drain->linger_end = uv_now(c->srv->loop) + c->srv->cfg.linger_ms;
    linger_arm(c);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);

/* Ends the connection after every queued byte is written: stops reading requests, shuts the
 * write side down once the answers are out (requests queued behind are aborted then), and
 * closes. With `linger` (after an answer: the client may still be sending) it reads and
 * discards until the client's EOF or a bound (linger_*) before closing, so that unread bytes do
 * not make the kernel reset the connection before the client has read the answer. */
static void conn_drain(conn_t *c, int linger)
{
    if (c->closing || c->draining) return;
    c->draining = 1;
    uv_read_stop((uv_stream_t *)&c->tcp);
    c->reading = 0;
    /* writing the last answers out is bounded too (idle_timeout_ms): a client that reads nothing
     * cannot hold the connection; on_shutdown starts the lingering bounds once they are out */
    c->drain = calloc(1, sizeof *c->drain);
    if (c->drain == NULL) {
        conn_close(c, 0);
        return;
    }
    c->drain->linger_end = uv_now(c->srv->loop) + c->srv->cfg.idle_timeout_ms;
    conn_timer_start(c, T_DRAIN, c->srv->cfg.idle_timeout_ms);
    c->drain->req.data = c;
    if (uv_shutdown(&c->drain->req, (uv_stream_t *)&c->tcp, on_shutdown) != 0) {
        conn_close(c, 0);
        return;
    }
    if (!linger) return;
    /* discarding starts now, so a client still sending is not blocked while the answer is
     * written; the time bounds start when it is out (on_shutdown) */
    c->lingering = 1;
    if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_linger_read) != 0)
        c->lingering = 0; /* on_shutdown closes as without lingering */
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    conn_t *c = h->data;
    *buf = uv_buf_init(c->srv->readbuf, sizeof c->srv->readbuf);
}

static void conn_resume_reading(conn_t *c)
{
    tx_http_parse_state_t st = tx__http_parser_state(c->parser);
    if (c->reading || c->closing || c->draining || st == TX_HTTP_PARSE_DONE ||
        st == TX_HTTP_PARSE_ERROR || c->nq >= c->srv->cfg.max_pipeline)
        return;
    if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) == 0) c->reading = 1;
}

/* The head of the queue is finished: let it go and bring the next one forward. */
static void conn_advance(conn_t *c)
{
    while (!c->closing && c->qhead && c->qhead->state == R_FINISHED) {
        tx_http_req_t *r = c->qhead;
        flush_out(r);
        c->qhead = r->qnext;
        if (c->qhead == NULL) c->qtail = NULL;
        c->nq--;
        int close_after = r->close_after, reset = r->reset_after;
        req_free(r);
        if (reset) {
            c->reset_when_drained = 1;
            if (c->writes == 0) conn_close(c, 1);
            return;
        }
        if (close_after) {
            conn_drain(c, 1);
            return;
        }
        if (c->qhead) flush_out(c->qhead);
    }
    if (c->closing || c->draining) return;
    if (c->qhead == NULL && c->srv->stopping &&
        tx__http_parser_state(c->parser) == TX_HTTP_PARSE_IDLE) {
        conn_drain(c, 0);
        return;
    }
    conn_resume_reading(c);
    conn_arm_timer(c);
}

static void conn_enqueue(conn_t *c, tx_http_req_t *r)
{
    if (c->qtail)
        c->qtail->qnext = r;
    else
        c->qhead = r;
    c->qtail = r;
    c->nq++;
}

/* Queues the server's own error answer (framing error, timeout) and ends the connection after
 * it; requests before it are answered first. */
static void conn_fail(conn_t *c, int status, const char *code, const char *message)
{
    uv_read_stop((uv_stream_t *)&c->tcp);
    c->reading = 0;
    tx_http_req_t *r = req_new(c->srv, c, NULL);
    if (r == NULL) {
        conn_close(c, 0);
        return;
    }
    r->handed = 1; /* so respond_error accepts it; we finish it right here */
    conn_enqueue(c, r);
    if (tx__log_enabled(TX_LOG_DEBUG)) {
        char peer[64];
        peer_text(&c->peer, peer, sizeof peer);
        tx__log(TX_LOG_DEBUG, "http", "%s: %d %s", peer, status, code);
    }
    tx__http_respond_error(r, status, "invalid_request_error", code, message, NULL, 0);
}

/* c's timeout (of kind `mode`) passed; it is out of its list already. */
static void conn_timed_out(conn_t *c, timer_mode_t mode)
{
    if (mode == T_LINGER || mode == T_DRAIN) { /* silence, or the overall bound */
        conn_close(c, 0);
        return;
    }
    tx_http_parse_state_t st = tx__http_parser_state(c->parser);
    if (mode == T_HEADER && st == TX_HTTP_PARSE_IDLE)
        conn_drain(c, 0); /* a new connection that sent nothing: no answer, just close */
    else if (mode == T_HEADER || st == TX_HTTP_PARSE_BODY)
        conn_fail(c, 408, "request_timeout", "The request did not arrive in time.");
    else
        conn_drain(c, 0);
}

static void conn_arm_timer(conn_t *c)
{
    if (c->closing || c->draining) return;
    tx_http_parse_state_t st = tx__http_parser_state(c->parser);
    const tx_http_config_t *cfg = &c->srv->cfg;
    /* a new connection gets the header timeout from its accept (as nginx's client_header_timeout),
     * so connections that never send a byte do not hold their slot for the idle timeout */
    if (st == TX_HTTP_PARSE_HEADERS || (st == TX_HTTP_PARSE_IDLE && !c->had_request)) {
        if (c->tmode != T_HEADER) /* not restarted by more bytes: that is the point */
            conn_timer_start(c, T_HEADER, cfg->header_timeout_ms);
    } else if (st == TX_HTTP_PARSE_BODY || (st == TX_HTTP_PARSE_IDLE && c->qhead == NULL)) {
        conn_timer_start(c, T_IDLE, cfg->idle_timeout_ms);
    } else {
        conn_timer_stop(c);
    }
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    conn_t *c = s->data;
    if (nread < 0) {
        conn_close(c, 0); /* EOF or error: the client is gone; abort what it asked */
        return;
    }
    if (nread == 0) return;
    tx__http_parser_feed(c->parser, buf->base, (size_t)nread);
    tx_http_msg_t *m;
    int popped = 0;
    while (!c->closing && (m = tx__http_parser_pop(c->parser)) != NULL) {
        popped = 1;
        c->had_request = 1;
        tx_http_req_t *r = req_new(c->srv, c, m);
        if (r == NULL) {
            tx__http_msg_free(m);
            conn_close(c, 0);
            return;
        }
        r->handed = 1;
        conn_enqueue(c, r);
        c->srv->cfg.handler(r, c->srv->cfg.handler_ud); /* may answer (and even close) now */
    }
    if (c->closing || c->draining) return;
    tx_http_parse_state_t st = tx__http_parser_state(c->parser);
    if (st == TX_HTTP_PARSE_ERROR) {
        const char *code = NULL, *msg = NULL;
        int status = tx__http_parser_error(c->parser, &code, &msg);
        conn_fail(c, status, code, msg);
        return;
    }
    if (st == TX_HTTP_PARSE_DONE || c->nq >= c->srv->cfg.max_pipeline) {
        uv_read_stop(s);
        c->reading = 0;
    }
    if (popped && c->tmode == T_HEADER) conn_timer_stop(c); /* a new request: a new deadline */
    conn_arm_timer(c);
}

static void format_peer(const struct sockaddr_storage *ss, char *out, size_t cap)
{
    char ip[64] = "?";
    int port = 0;
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
        uv_ip4_name(a, ip, sizeof ip);
        port = ntohs(a->sin_port);
        snprintf(out, cap, "%s:%d", ip, port);
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
        uv_ip6_name(a, ip, sizeof ip);
        port = ntohs(a->sin6_port);
        snprintf(out, cap, "[%s]:%d", ip, port);
    } else {
        snprintf(out, cap, "unknown");
    }
}

static void peer_keep(peer_t *p, const struct sockaddr_storage *ss)
{
    memset(p, 0, sizeof *p);
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
        p->port = a->sin_port;
        memcpy(p->addr, &a->sin_addr, sizeof a->sin_addr);
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
        p->port = a->sin6_port;
        memcpy(p->addr, &a->sin6_addr, sizeof a->sin6_addr);
    }
    p->family = ss->ss_family == AF_INET || ss->ss_family == AF_INET6 ? ss->ss_family : 0xffff;
}

/* "1.2.3.4:5678", "[::1]:5678", "unknown" (another family) or "" (no address). */
static void peer_text(const peer_t *p, char *out, size_t cap)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    if (p->family == 0) {
        out[0] = '\0';
        return;
    }
    if (p->family == AF_INET) {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        a->sin_family = AF_INET;
        a->sin_port = p->port;
        memcpy(&a->sin_addr, p->addr, sizeof a->sin_addr);
    } else if (p->family == AF_INET6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        a->sin6_family = AF_INET6;
        a->sin6_port = p->port;
        memcpy(&a->sin6_addr, p->addr, sizeof a->sin6_addr);
    } else {
        ss.ss_family = AF_UNSPEC;
    }
    format_peer(&ss, out, cap);
}

static void on_reject_closed(uv_handle_t *h)
{
    free(h);
}

static void on_connection(uv_stream_t *listener, int status)
{
    tx_http_server_t *srv = listener->data;
    if (status < 0) return;
    if (srv->stopping || srv->nconns >= srv->cfg.max_connections) {
        /* accepted and closed at once, so the backlog does not fill with the excess */
        uv_tcp_t *t = malloc(sizeof *t);
        if (t == NULL) return;
        uv_tcp_init(srv->loop, t);
        if (uv_accept(listener, (uv_stream_t *)t) == 0)
            tx__log(TX_LOG_WARN, "http", "connection limit %u reached: closing a new connection",
                    srv->cfg.max_connections);
        uv_close((uv_handle_t *)t, on_reject_closed);
        return;
    }
    conn_t *c = calloc(1, sizeof *c + tx__http_parser_size());
    if (c == NULL) return;
    c->srv = srv;
    c->parser = tx__http_parser_init(c + 1, &srv->cfg.limits, srv->scratch);
    uv_tcp_init(srv->loop, &c->tcp);
    c->tcp.data = c;
    c->next = srv->conns;
    if (srv->conns) srv->conns->prev = c;
    srv->conns = c;
    srv->nconns++;
    if (uv_accept(listener, (uv_stream_t *)&c->tcp) != 0) {
        conn_close(c, 0);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    struct sockaddr_storage ss;
    int len = sizeof ss;
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) == 0) peer_keep(&c->peer, &ss);
    conn_resume_reading(c);
    conn_arm_timer(c);
}

/* ---- listener and lifecycle -------------------------------------------------------------- */

static int resolve(const char *listen, struct sockaddr_storage *ss, tx_error_t *err)
{
    char host[256];
    const char *colon;
    if (listen[0] == '[') {
        const char *end = strchr(listen, ']');
        if (end == NULL || end[1] != ':') goto bad;
        snprintf(host, sizeof host, "%.*s", (int)(end - listen - 1), listen + 1);
        colon = end + 1;
    } else {
        colon = strrchr(listen, ':');
        if (colon == NULL || (size_t)(colon - listen) >= sizeof host) goto bad;
        snprintf(host, sizeof host, "%.*s", (int)(colon - listen), listen);
    }
    char *endp;
    long port = strtol(colon + 1, &endp, 10);
    if (colon[1] == '\0' || *endp != '\0' || port < 0 || port > 65535) goto bad;
    if (host[0] == '\0') snprintf(host, sizeof host, "0.0.0.0");
    if (uv_ip4_addr(host, (int)port, (struct sockaddr_in *)ss) == 0) return 0;
    if (uv_ip6_addr(host, (int)port, (struct sockaddr_in6 *)ss) == 0) return 0;
    uv_getaddrinfo_t gai;
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    uv_loop_t tmp;
    if (uv_loop_init(&tmp) != 0) goto bad;
    int rc = uv_getaddrinfo(&tmp, &gai, NULL, host, NULL, &hints);
    if (rc == 0 && gai.addrinfo) {
        memcpy(ss, gai.addrinfo->ai_addr, gai.addrinfo->ai_addrlen);
        ((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)port); /* same offset in v6 */
        uv_freeaddrinfo(gai.addrinfo);
        uv_loop_close(&tmp);
        return 0;
    }
    uv_loop_close(&tmp);
    err->code = TX_EINVAL;
    snprintf(err->detail, sizeof err->detail, "cannot resolve host '%.100s' in '%.100s'", host,
             listen);
    err->msg = err->detail;
    return -1;
bad:
    err->code = TX_EINVAL;
    snprintf(err->detail, sizeof err->detail,
             "bad listen address '%.120s' (expected HOST:PORT or [IPv6]:PORT)", listen);
    err->msg = err->detail;
    return -1;
}

static void on_listener_closed_free(uv_handle_t *h)
{
    tx_http_server_t *srv = h->data;
    tx__http_scratch_free(srv->scratch);
    free(srv);
}

tx_http_server_t *tx__http_server_start(uv_loop_t *loop, const char *listen,
                                        const tx_http_config_t *cfg, tx_error_t *err)
{
    tx_error_t dummy;
    if (err == NULL) err = &dummy;
    memset(err, 0, sizeof *err);
    if (loop == NULL || listen == NULL || cfg == NULL || cfg->handler == NULL) {
        err->code = TX_EINVAL;
        err->msg = "loop, listen address and handler are required";
        return NULL;
    }
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    if (resolve(listen, &ss, err) != 0) return NULL;
    tx_http_server_t *srv = calloc(1, sizeof *srv);
    if (srv == NULL) {
        err->code = TX_ENOMEM;
        err->msg = "out of memory";
        return NULL;
    }
    srv->loop = loop;
    srv->scratch = tx__http_scratch_new();
    if (srv->scratch == NULL) {
        free(srv);
        err->code = TX_ENOMEM;
        err->msg = "out of memory";
        return NULL;
    }
    srv->spare.max = SPARE_MAX;
    srv->spare.destroy = spare_destroy;
    srv->cfg = *cfg;
    tx_http_config_t d;
    tx__http_config_defaults(&d);
    if (!srv->cfg.limits.max_header_bytes)
        srv->cfg.limits.max_header_bytes = d.limits.max_header_bytes;
    if (!srv->cfg.limits.max_body_bytes) srv->cfg.limits.max_body_bytes = d.limits.max_body_bytes;
    if (!srv->cfg.header_timeout_ms) srv->cfg.header_timeout_ms = d.header_timeout_ms;
    if (!srv->cfg.idle_timeout_ms) srv->cfg.idle_timeout_ms = d.idle_timeout_ms;
    if (!srv->cfg.max_connections) srv->cfg.max_connections = d.max_connections;
    if (!srv->cfg.max_pipeline) srv->cfg.max_pipeline = d.max_pipeline;
    if (!srv->cfg.linger_ms) srv->cfg.linger_ms = d.linger_ms;
    if (!srv->cfg.linger_idle_ms) srv->cfg.linger_idle_ms = d.linger_idle_ms;
    if (!srv->cfg.linger_max_bytes) srv->cfg.linger_max_bytes = d.linger_max_bytes;
    uv_tcp_init(loop, &srv->listener);
    srv->listener.data = srv;
    int rc = uv_tcp_bind(&srv->listener, (struct sockaddr *)&ss, 0);
    if (rc == 0) rc = uv_listen((uv_stream_t *)&srv->listener, 511, on_connection);
    if (rc != 0) {
        err->code = rc == UV_EADDRINUSE ? TX_EBUSY : TX_EIO;
        if (rc == UV_EADDRINUSE)
            snprintf(err->detail, sizeof err->detail,
                     "cannot listen on %.120s: the address is already in use (is another "
                     "server running on that port?)",
                     listen);
        else
            snprintf(err->detail, sizeof err->detail, "cannot listen on %.120s: %s", listen,
                     uv_strerror(rc));
        err->msg = err->detail;
        /* the handle must be closed before the server memory goes */
        srv->listener.data = srv;
        uv_close((uv_handle_t *)&srv->listener, on_listener_closed_free);
        return NULL;
    }
    srv->listener_open = 1;
    struct sockaddr_storage bound;
    int blen = sizeof bound;
    if (uv_tcp_getsockname(&srv->listener, (struct sockaddr *)&bound, &blen) == 0)
        format_peer(&bound, srv->addr, sizeof srv->addr);
    uv_timer_init(loop, &srv->grace);
    srv->grace.data = srv;
    srv->grace_open = 1;
    uv_unref((uv_handle_t *)&srv->grace);
    uv_check_init(loop, &srv->flusher);
    uv_prepare_init(loop, &srv->preflusher);
    srv->flusher.data = srv->preflusher.data = srv;
    srv->flushers_open = 2;
    uv_unref((uv_handle_t *)&srv->flusher);
    uv_unref((uv_handle_t *)&srv->preflusher);
    uv_timer_init(loop, &srv->tick);
    srv->tick.data = srv;
    srv->tick_open = 1;
    uv_unref((uv_handle_t *)&srv->tick); /* the connections keep the loop alive, not this */
    return srv;
}

const char *tx__http_server_address(const tx_http_server_t *srv)
{
    return srv ? srv->addr : "";
}
size_t tx__http_server_connections(const tx_http_server_t *srv)
{
    return srv ? srv->nconns : 0;
}

static void on_server_handle_closed(uv_handle_t *h)
{
    tx_http_server_t *srv = h->data;
    if (h == (uv_handle_t *)&srv->listener)
        srv->listener_open = 0;
    else if (h == (uv_handle_t *)&srv->flusher || h == (uv_handle_t *)&srv->preflusher)
        srv->flushers_open--;
    else if (h == (uv_handle_t *)&srv->tick)
        srv->tick_open = 0;
    else
        srv->grace_open = 0;
    maybe_stopped(srv);
}

static void maybe_stopped(tx_http_server_t *srv)
{
    if (!srv->stopping || srv->done_called) return;
    if (srv->nconns == 0 && srv->grace_open && !uv_is_closing((uv_handle_t *)&srv->grace)) {
        uv_timer_stop(&srv->grace);
        uv_close((uv_handle_t *)&srv->grace, on_server_handle_closed);
    }
    if (srv->nconns == 0 && srv->flushers_open == 2 &&
        !uv_is_closing((uv_handle_t *)&srv->flusher)) {
        while (srv->to_flush != NULL) /* no connection left: nothing to write */
            flush_unlink(srv->to_flush);
        uv_close((uv_handle_t *)&srv->flusher, on_server_handle_closed);
        uv_close((uv_handle_t *)&srv->preflusher, on_server_handle_closed);
    }
    if (srv->nconns == 0 && srv->tick_open && !uv_is_closing((uv_handle_t *)&srv->tick)) {
        uv_timer_stop(&srv->tick);
        uv_close((uv_handle_t *)&srv->tick, on_server_handle_closed);
    }
    if (srv->nconns == 0 && !srv->listener_open && !srv->grace_open && !srv->tick_open &&
        srv->flushers_open == 0) {
        srv->done_called = 1;
        if (srv->done) srv->done(srv, srv->done_ud);
    }
}

static void on_grace(uv_timer_t *t)
{
    tx_http_server_t *srv = t->data;
    conn_t *c = srv->conns;
    while (c) {
        conn_t *next = c->next; /* c stays linked until its handles close */
        conn_close(c, 0);
        c = next;
    }
}

void tx__http_server_stop(tx_http_server_t *srv, unsigned grace_ms, tx_http_stopped_fn done,
                          void *ud)
{
    if (srv == NULL || srv->stopping) return;
    srv->stopping = 1;
    srv->done = done;
    srv->done_ud = ud;
    uv_close((uv_handle_t *)&srv->listener, on_server_handle_closed);
    for (conn_t *c = srv->conns; c; c = c->next)
        if (c->qhead == NULL && !c->closing) {
            if (tx__http_parser_state(c->parser) == TX_HTTP_PARSE_IDLE) conn_drain(c, 0);
        }
    uv_ref((uv_handle_t *)&srv->grace);
    uv_timer_start(&srv->grace, on_grace, grace_ms, 0);
    maybe_stopped(srv);
}

void tx__http_server_destroy(tx_http_server_t *srv)
{
    if (srv == NULL) return;
    while (srv->reqs)
        req_free(srv->reqs);
    tx__freelist_clear(&srv->spare);
    tx__http_scratch_free(srv->scratch);
    free(srv);
}
