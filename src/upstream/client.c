/* tenax's own HTTP/1.1 client on libuv (client.h). One connection carries one request at a time;
 * finished connections wait in a keep-alive pool per origin, most recently used first, read-armed
 * so a server's close is seen at once. Responses are read by upstream/response.c.
 *
 * A request's states: WAITING (no connection yet: queued for a slot, resolving or connecting),
 * SENDING (head and body written in one uv_write), READING, DONE. A request that fails on a
 * reused connection before any byte of its response arrived goes back to WAITING once, on a fresh
 * connection (the server closed a kept-alive connection as we sent). */
#include "upstream/client.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/freelist.h"
#include "core/url.h"
#include "upstream/response.h"
#include "upstream/tls.h"

#define READ_BUF_BYTES (64 * 1024)
#define PLAIN_BUF_BYTES (16 * 1024) /* one TLS record's plaintext */
#define SPARE_MAX 128               /* finished requests kept ready (timer open) */
#define DNS_CACHE_MAX 16
#define URL_CACHE_MAX 32 /* parsed URLs kept per client */
#define DNS_TTL_MS 10000 /* a name's addresses are reused this long */
#define DNS_ADDRS_MAX 4
#define IDLE_DEFAULT_MS 30000 /* a kept-alive connection's life when the server names none */
#define IDLE_MIN_MS 500

typedef enum { C_RESOLVING, C_CONNECTING, C_TUNNEL, C_BUSY, C_IDLE, C_CLOSING } cstate_t;

typedef struct conn conn_t;

typedef struct {
    uv_write_t w;
    size_t cap;
    char data[];
} wbuf_t;

#define WBUF_MIN 4096 /* a kept TLS write buffer serves the next request's records */

typedef struct origin origin_t;

struct origin {
    origin_t *next;
    int tls;
    uint16_t port;
    char host[TX_URL_HOST_MAX + 1];
    int proxied;    /* reached through the proxy (absolute-form or CONNECT) */
    uint16_t cport; /* where the socket goes: the proxy's or the origin's */
    char chost[TX_URL_HOST_MAX + 1];
    conn_t *idle; /* MRU first (linked by inext/iprev) */
    size_t nconns;
};

typedef struct {
    char host[TX_URL_HOST_MAX + 1];
    struct sockaddr_storage a[DNS_ADDRS_MAX];
    int n;
    uint64_t expires;
} dns_entry_t;

struct conn {
    uv_tcp_t tcp;
    uv_timer_t timer; /* connect timeout, then idle timeout */
    uv_connect_t creq;
    uv_getaddrinfo_t gai;
    uv_write_t wreq;
    tx_upstream_t *u;
    origin_t *o;
    cstate_t state;
    tx_upstream_req_t *req;
    conn_t *prev, *next;   /* u->conns */
    conn_t *iprev, *inext; /* o->idle */
    conn_t *gprev, *gnext; /* u->idle (all origins, MRU first) */
    tx_resp_t resp;
    struct sockaddr_storage addrs[DNS_ADDRS_MAX];
    int naddrs, ai;
    int refs;      /* tcp + timer open, getaddrinfo pending: freed at 0 */
    long idle_ms;  /* how long it may wait in the pool */
    int writes;    /* uv_writes in flight */
    wbuf_t *spare; /* a finished TLS write's buffer, kept for the next one */
    char *tunnel;  /* the proxy's answer to CONNECT, while it arrives */
    size_t tlen;
    tx_tls_t *tls; /* https: the TLS engine between the socket and HTTP */
    unsigned served : 1, in_feed : 1, reading : 1, tcp_closing : 1, tls_resumed : 1, shaken : 1;
};

struct tx_upstream_req {
    /* per use: zeroed when a spare is taken again */
    tx_upstream_t *u;
    origin_t *o;
    conn_t *c;
    tx_upstream_cb_t cb;
    void *ud;
    tx_upstream_limits_t lim;
    tx_upstream_req_t *prev, *next;   /* u->reqs */
    tx_upstream_req_t *qprev, *qnext; /* u->waitq */
    tx_upstream_req_t *knext;         /* u->kickq */
    char *wbuf;                       /* the request head */
    size_t wlen, wcap;
    const char *body;
    size_t blen;
    char *held; /* body bytes that arrived while paused */
    size_t hlen, hcap;
    unsigned cancelled : 1, finished : 1, in_done : 1, head_sent : 1, got_byte : 1, paused : 1,
        waiting : 1, retried : 1, fresh_only : 1, kicked : 1, head_only : 1, complete : 1,
        leftover : 1, tls_resumed : 1;
    int holds; /* a feed or the kick queue still points at it */
    int status;
    tx_upstream_err_t err; /* set when it is to fail from the loop */
    const char *why;
    char whybuf[192]; /* why, copied: its source (a TLS engine, a buffer) may be gone by then */
    uint64_t start_ms, last_ms;
    uint64_t start_ns, connect_ns, first_ns;
    size_t received;
    /* kept across uses */
    uv_timer_t timer;
};

struct tx_upstream {
    uv_loop_t *loop;
    tx_upstream_opts_t o;
    char *proxy, *https_proxy, *no_proxy, *ca_file;
    tx_url_t px[2]; /* [0] for http origins, [1] for https; port 0: none */
    struct {
        char *text;
        tx_url_t parsed;
    } urls[URL_CACHE_MAX];
    size_t nurls;
    origin_t *origins;
    conn_t *conns;
    conn_t *idle, *idle_tail; /* all idle connections, MRU first */
    size_t nconns, nidle;
    tx_upstream_req_t *reqs;
    tx_upstream_req_t *waitq, *waitq_tail;
    tx_upstream_req_t *kickq;
    tx__freelist_t spare; /* finished requests kept ready (SPARE_MAX) */
    size_t active;
    uv_idle_t kick; /* work to do from the loop: late failures, resumes */
    dns_entry_t dns[DNS_CACHE_MAX];
    tx_tls_ctx_t *tls; /* made at the first https request */
    int tls_failed;
    char tls_err[256];
    char pbuf[PLAIN_BUF_BYTES];
    size_t handles_open;
    int dispatching, close_pending, closing, draining;
    void (*done)(void *);
    void *done_arg;
    char rbuf[READ_BUF_BYTES];
};

static const char *const err_names[] = {
#define TX_UPSTREAM_ERR_STR(name, str) str,
    TX_UPSTREAM_ERR_MAP(TX_UPSTREAM_ERR_STR)
#undef TX_UPSTREAM_ERR_STR
};

const char *tx__upstream_strerror(tx_upstream_err_t e)
{
    if ((unsigned)e >= TX_UPSTREAM_E__LAST) return "unknown transport error";
    return err_names[e];
}

static void do_close(tx_upstream_t *u);
static void conn_close(conn_t *c);
static void req_start(tx_upstream_req_t *r);
static void drain_waitq(tx_upstream_t *u);
static void feed(conn_t *c, const char *data, size_t n);
static void on_kick(uv_idle_t *k);
static void tunnel_in(conn_t *c, const char *data, size_t n);
static void on_read_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b);
static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b);

/* ---- bookkeeping --------------------------------------------------------------------------- */

static void maybe_finished_closing(tx_upstream_t *u)
{
    if (!u->closing || u->handles_open > 0) return;
    void (*done)(void *) = u->done;
    void *arg = u->done_arg;
    for (size_t i = 0; i < u->nurls; i++)
        free(u->urls[i].text);
    while (u->origins != NULL) {
        origin_t *o = u->origins;
        u->origins = o->next;
        free(o);
    }
    tx__tls_ctx_free(u->tls);
    free(u->https_proxy);
    free(u->no_proxy);
    free(u->proxy);
    free(u->ca_file);
    free(u);
    if (done) done(arg);
}

static void enter(tx_upstream_t *u)
{
    u->dispatching++;
}

static void leave(tx_upstream_t *u)
{
    if (--u->dispatching == 0 && u->close_pending) do_close(u);
}

static void on_req_closed(uv_handle_t *h)
{
    tx_upstream_req_t *r = h->data;
    tx_upstream_t *u = r->u;
    free(r->wbuf);
    free(r->held);
    free(r);
    u->handles_open--;
    maybe_finished_closing(u);
}

/* Closes a kept request's timer; on_req_closed frees it (the free-list's destroy). */
static void spare_close(void *p)
{
    tx_upstream_req_t *r = p;
    uv_close((uv_handle_t *)&r->timer, on_req_closed);
}

static void on_kick_closed(uv_handle_t *h)
{
    tx_upstream_t *u = h->data;
    u->handles_open--;
    maybe_finished_closing(u);
}

static void kick(tx_upstream_req_t *r)
{
    tx_upstream_t *u = r->u;
    if (r->kicked) return;
    r->kicked = 1;
    r->holds++;
    r->knext = u->kickq;
    u->kickq = r;
    uv_idle_start(&u->kick, on_kick);
}

/* Back to the spares (wbuf, held and timer kept) or closed; only once nothing points at it. */
static void req_recycle(tx_upstream_req_t *r)
{
    tx_upstream_t *u = r->u;
    if (r->holds > 0) return;
    uv_timer_stop(&r->timer);
    if (u->closing || !tx__freelist_put(&u->spare, r)) {
        uv_close((uv_handle_t *)&r->timer, on_req_closed);
    }
}

static void waitq_remove(tx_upstream_req_t *r)
{
    tx_upstream_t *u = r->u;
    if (!r->waiting) return;
    if (r->qprev)
        r->qprev->qnext = r->qnext;
    else
        u->waitq = r->qnext;
    if (r->qnext)
        r->qnext->qprev = r->qprev;
    else
        u->waitq_tail = r->qprev;
    r->qprev = r->qnext = NULL;
    r->waiting = 0;
}

/* Takes a request out of the active list (it is finished or cancelled). */
static void req_unlink(tx_upstream_req_t *r)
{
    tx_upstream_t *u = r->u;
    waitq_remove(r);
    if (r->prev)
        r->prev->next = r->next;
    else
        u->reqs = r->next;
    if (r->next) r->next->prev = r->prev;
    r->prev = r->next = NULL;
    u->active--;
    uv_timer_stop(&r->timer);
}

/* ---- completion ------------------------------------------------------------------------------ */

/* Delivers on_done once; the request is unlinked and detached from its connection by then. */
static void finish(tx_upstream_req_t *r, tx_upstream_err_t err, const char *why)
{
    tx_upstream_t *u = r->u;
    if (r->cancelled || r->finished) return;
    req_unlink(r);
    r->finished = 1;
    tx_upstream_result_t res;
    memset(&res, 0, sizeof res);
    res.err = err;
    res.status = r->status;
    res.message = err == TX_UPSTREAM_EOK ? "ok" : (why != NULL ? why : tx__upstream_strerror(err));
    uint64_t now = uv_hrtime();
    res.total_us = (int64_t)((now - r->start_ns) / 1000);
    if (r->connect_ns) res.connect_us = (int64_t)((r->connect_ns - r->start_ns) / 1000);
    if (r->first_ns) res.first_byte_us = (int64_t)((r->first_ns - r->start_ns) / 1000);
    res.body_bytes = r->received;
    res.reused = r->o != NULL && r->status > 0 && r->connect_ns == 0;
    res.tls_resumed = r->tls_resumed;
    enter(u);
    r->in_done = 1;
    r->cb.on_done(r->ud, &res);
    r->in_done = 0;
    req_recycle(r);
    leave(u);
}

/* Fails a request from the loop, never inside tx__upstream_send. */
static void fail_later(tx_upstream_req_t *r, tx_upstream_err_t err, const char *why)
{
    if (r->err == TX_UPSTREAM_EOK) {
        r->err = err;
        r->why = NULL;
        if (why != NULL) {
            snprintf(r->whybuf, sizeof r->whybuf, "%s", why);
            r->why = r->whybuf;
        }
    }
    kick(r);
}

/* ---- connections ------------------------------------------------------------------------------
 */

static void conn_unref(conn_t *c)
{
    if (--c->refs > 0) return;
    tx_upstream_t *u = c->u;
    tx__resp_free(&c->resp);
    tx__tls_free(c->tls);
    free(c->tunnel);
    free(c->spare);
    free(c);
    u->handles_open--;
    maybe_finished_closing(u);
}

static void on_conn_handle_closed(uv_handle_t *h)
{
    conn_unref(h->data);
}

static void idle_remove(conn_t *c)
{
    tx_upstream_t *u = c->u;
    origin_t *o = c->o;
    if (c->iprev)
        c->iprev->inext = c->inext;
    else
        o->idle = c->inext;
    if (c->inext) c->inext->iprev = c->iprev;
    if (c->gprev)
        c->gprev->gnext = c->gnext;
    else
        u->idle = c->gnext;
    if (c->gnext)
        c->gnext->gprev = c->gprev;
    else
        u->idle_tail = c->gprev;
    c->iprev = c->inext = c->gprev = c->gnext = NULL;
    u->nidle--;
}

/* Closes a connection; its request (if any) must have been detached before. */
static void conn_close(conn_t *c)
{
    tx_upstream_t *u = c->u;
    if (c->state == C_CLOSING) return;
    if (c->state == C_IDLE) idle_remove(c);
    c->state = C_CLOSING;
    c->req = NULL;
    if (c->prev)
        c->prev->next = c->next;
    else
        u->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    c->prev = c->next = NULL;
    u->nconns--;
    c->o->nconns--;
    if (!c->tcp_closing) {
        c->tcp_closing = 1;
        uv_close((uv_handle_t *)&c->tcp, on_conn_handle_closed);
    }
    uv_close((uv_handle_t *)&c->timer, on_conn_handle_closed);
    if (!u->closing && !u->draining) drain_waitq(u);
}

static void detach(tx_upstream_req_t *r)
{
    if (r->c != NULL && r->c->req == r) r->c->req = NULL;
    r->c = NULL;
}

static void on_idle_timeout(uv_timer_t *t)
{
    conn_t *c = t->data;
    if (c->state == C_IDLE) conn_close(c);
}

/* The request is on the wire: every write done (and, for TLS, the handshake that carried it). */
static int sent(conn_t *c)
{
    return c->writes == 0 && (c->tls == NULL || tx__tls_handshake_done(c->tls));
}

/* The response was read to its end, the request fully sent and nobody said close: pooled. */
static void conn_pool(conn_t *c, long keepalive_s)
{
    tx_upstream_t *u = c->u;
    origin_t *o = c->o;
    c->state = C_IDLE;
    c->req = NULL;
    c->served = 1;
    long ms = IDLE_DEFAULT_MS;
    if (keepalive_s >= 0) { /* leave before the server does */
        long theirs = keepalive_s * 1000 - 1000;
        if (theirs < ms) ms = theirs < IDLE_MIN_MS ? IDLE_MIN_MS : theirs;
    }
    c->idle_ms = ms;
    c->inext = o->idle;
    if (o->idle) o->idle->iprev = c;
    o->idle = c;
    c->gnext = u->idle;
    if (u->idle)
        u->idle->gprev = c;
    else
        u->idle_tail = c;
    u->idle = c;
    u->nidle++;
    uv_timer_start(&c->timer, on_idle_timeout, (uint64_t)ms, 0);
    if (!c->reading) { /* read-armed: a server's close is seen at once */
        uv_read_start((uv_stream_t *)&c->tcp, on_read_alloc, on_read);
        c->reading = 1;
    }
    unsigned cap = u->o.max_idle_conns ? u->o.max_idle_conns : u->o.max_total_conns;
    while (u->nidle > cap && u->idle_tail != NULL)
        conn_close(u->idle_tail);
    if (u->waitq != NULL) drain_waitq(u);
}

/* ---- request on the wire ------------------------------------------------------------------- */

static void touch(tx_upstream_req_t *r);
static void on_req_timer(uv_timer_t *t);

static int resp_on_head(void *ud, int status, const tx_header_t *h, size_t nh)
{
    tx_upstream_req_t *r = ud;
    r->status = status;
    r->head_sent = 1;
    if (r->cb.on_head != NULL) r->cb.on_head(r->ud, status, h, nh);
    return r->cancelled ? 1 : 0;
}

static int hold(tx_upstream_req_t *r, const char *d, size_t n)
{
    if (r->hlen + n > r->hcap) {
        size_t cap = r->hcap ? r->hcap : 4096;
        while (cap < r->hlen + n)
            cap *= 2;
        char *nb = realloc(r->held, cap);
        if (nb == NULL) return -1;
        r->held = nb;
        r->hcap = cap;
    }
    memcpy(r->held + r->hlen, d, n);
    r->hlen += n;
    return 0;
}

static int resp_on_body(void *ud, const char *d, size_t n)
{
    tx_upstream_req_t *r = ud;
    r->received += n;
    if (r->lim.max_response_bytes > 0 && r->received > r->lim.max_response_bytes) {
        r->err = TX_UPSTREAM_ETOO_LARGE;
        return 1;
    }
    if (r->paused || r->hlen > 0) { /* kept for the resume */
        if (hold(r, d, n) != 0) {
            r->err = TX_UPSTREAM_ENOMEM;
            return 1;
        }
        return 0;
    }
    if (r->cb.on_body != NULL) r->cb.on_body(r->ud, d, n);
    return r->cancelled ? 1 : 0;
}

static const tx_resp_cb_t resp_cb = {resp_on_head, resp_on_body};

/* The request's response ended: the connection is pooled or closed, then on_done. */
static void complete(tx_upstream_req_t *r)
{
    conn_t *c = r->c;
    detach(r);
    if (c != NULL && c->tls != NULL && !r->leftover && tx__tls_has_input(c->tls)) {
        /* records after the response's last one: a session ticket is taken in here; any
         * plaintext (or a failure) means the connection is not clean for the next request */
        char scratch[256];
        if (tx__tls_read(c->tls, scratch, sizeof scratch) != 0) r->leftover = 1;
    }
    if (c != NULL) {
        if (c->resp.keep && sent(c) && !r->leftover && !r->u->closing)
            conn_pool(c, c->resp.keepalive_s);
        else
            conn_close(c);
    }
    finish(r, TX_UPSTREAM_EOK, NULL);
}

/* The connection failed under r (reset, EOF, write error). Re-sent once on a fresh connection
 * when it was a reused one and nothing of the response arrived; else it fails. */
static void conn_failed(conn_t *c, tx_upstream_err_t err, const char *why)
{
    tx_upstream_req_t *r = c->req;
    int stale = c->served && r != NULL && !r->got_byte && !r->retried;
    if (r != NULL) detach(r);
    conn_close(c);
    if (r == NULL) return;
    if (stale) {
        r->retried = 1;
        r->fresh_only = 1;
        req_start(r);
        return;
    }
    fail_later(r, err, why); /* from the loop: never inside a call of the user's */
}

static void on_read_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
    (void)hint;
    conn_t *c = h->data;
    *b = uv_buf_init(c->u->rbuf, sizeof c->u->rbuf);
}

/* The socket ended (n: UV_EOF or an error) under c. */
static void got_eof(conn_t *c, ssize_t n, const char *why)
{
    if (c->state != C_BUSY || c->req == NULL) { /* an idle peer closed */
        conn_close(c);
        return;
    }
    tx_upstream_req_t *r = c->req;
    if (n == UV_EOF && tx__resp_eof(&c->resp) == 0) {
        r->leftover = 1; /* close-delimited: the connection ends with it */
        r->complete = 1;
        if (r->paused || r->hlen > 0) {
            uv_read_stop((uv_stream_t *)&c->tcp);
            c->reading = 0;
        } else {
            complete(r);
        }
    } else if (r->head_sent) {
        detach(r);
        conn_close(c);
        finish(r, TX_UPSTREAM_EPARTIAL,
               why != NULL   ? why
               : n == UV_EOF ? "the connection closed mid-body"
                             : "the connection was reset mid-body");
    } else {
        conn_failed(c, TX_UPSTREAM_ERESET,
                    why != NULL   ? why
                    : n == UV_EOF ? "the server closed the connection"
                                  : uv_strerror((int)n));
    }
}

static void got_bytes(conn_t *c, const char *data, size_t n)
{
    if (c->state != C_BUSY || c->req == NULL) { /* an idle peer spoke out of turn */
        conn_close(c);
        return;
    }
    feed(c, data, n);
}

static void flush(conn_t *c);

/* The TLS engine failed under c. */
static void tls_failed(conn_t *c)
{
    const char *why = tx__tls_error(c->tls);
    tx_upstream_req_t *r = c->req;
    if (c->state != C_BUSY || r == NULL) {
        conn_close(c);
    } else if (r->head_sent) {
        detach(r);
        conn_close(c);
        finish(r, TX_UPSTREAM_EPARTIAL, why);
    } else {
        conn_failed(c, TX_UPSTREAM_ETLS, why);
    }
}

/* Ciphertext from the socket (NULL: its end): decrypted and read as HTTP, record by record. */
static void tls_in(conn_t *c, const char *data, size_t n)
{
    if (data != NULL) {
        if (tx__tls_feed(c->tls, data, n) < 0) {
            tls_failed(c);
            return;
        }
    } else {
        tx__tls_eof(c->tls);
    }
    tx_upstream_t *u = c->u;
    for (;;) {
        tx_upstream_req_t *r = c->req;
        ssize_t k = tx__tls_read(c->tls, u->pbuf, sizeof u->pbuf);
        if (!c->shaken && tx__tls_handshake_done(c->tls)) { /* the connect timeout ends here */
            c->shaken = 1;
            c->tls_resumed = tx__tls_reused(c->tls) != 0;
            uv_timer_stop(&c->timer);
        }
        if (r != NULL && c->shaken) r->tls_resumed = c->tls_resumed;
        if (k == 0) break;
        if (k == TX_TLS_EOF) {
            got_eof(c, UV_EOF, NULL);
            return;
        }
        if (k == TX_TLS_ETRUNC) {
            got_eof(c, UV_ECONNRESET, "the TLS connection ended without close_notify");
            return;
        }
        if (k < 0) {
            tls_failed(c);
            return;
        }
        got_bytes(c, u->pbuf, (size_t)k);
        if (c->state != C_BUSY || c->req != r) return; /* ended, pooled or closed */
    }
    if (data == NULL) { /* the end, and nothing more to read: as for plain TCP */
        got_eof(c, UV_EOF, NULL);
        return;
    }
    flush(c);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    conn_t *c = s->data;
    tx_upstream_t *u = c->u;
    if (n == 0) return;
    enter(u);
    if (c->state == C_TUNNEL) {
        if (n > 0)
            tunnel_in(c, b->base, (size_t)n);
        else
            conn_failed(c, TX_UPSTREAM_ECONNECT, "the proxy closed the connection");
    } else if (c->tls != NULL && (n > 0 || n == UV_EOF))
        tls_in(c, n > 0 ? b->base : NULL, (size_t)(n > 0 ? n : 0));
    else if (n < 0)
        got_eof(c, n, NULL);
    else
        got_bytes(c, b->base, (size_t)n);
    leave(u);
}

/* Response bytes for c's request. */
static void feed(conn_t *c, const char *data, size_t n)
{
    tx_upstream_req_t *r = c->req;
    touch(r);
    r->holds++;
    c->in_feed = 1;
    ssize_t k = tx__resp_feed(&c->resp, data, n);
    c->in_feed = 0;
    r->holds--;
    if (r->cancelled) {
        detach(r);
        conn_close(c);
        req_recycle(r);
        return;
    }
    if (k < 0) {
        tx_upstream_err_t e = r->err != TX_UPSTREAM_EOK       ? r->err
                              : c->resp.err == TX_RESP_ENOMEM ? TX_UPSTREAM_ENOMEM
                                                              : TX_UPSTREAM_EPROTOCOL;
        detach(r);
        conn_close(c);
        finish(r, e, e == TX_UPSTREAM_EPROTOCOL ? "bad HTTP response" : NULL);
        return;
    }
    if (!c->resp.complete) {
        if (r->paused && c->reading) {
            uv_read_stop((uv_stream_t *)&c->tcp);
            c->reading = 0;
        }
        return;
    }
    r->complete = 1;
    if ((size_t)k < n) r->leftover = 1; /* bytes after the response: no pipelining here */
    if (r->paused || r->hlen > 0) {     /* finished once the held bytes are handed over */
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->reading = 0;
        return;
    }
    complete(r);
}

static void write_done(conn_t *c, int status)
{
    c->writes--;
    if ((c->state != C_BUSY && c->state != C_TUNNEL) || c->req == NULL) return;
    if (status < 0 && !c->req->got_byte) { /* else the read side tells how it ended */
        tx_upstream_t *u = c->u;
        enter(u);
        conn_failed(c, TX_UPSTREAM_ERESET, uv_strerror(status));
        leave(u);
    }
}

static void on_written(uv_write_t *w, int status)
{
    write_done(w->data, status);
}

static void on_tls_written(uv_write_t *w, int status)
{
    conn_t *c = w->data;
    wbuf_t *b = (wbuf_t *)w;
    if (c->spare == NULL && b->cap > 0)
        c->spare = b; /* freed with the connection */
    else
        free(b);
    write_done(c, status);
}

/* Sends what the TLS engine has for the socket: what the socket takes now straight from the
 * engine's buffer (as the plain path does: no write request, no epoll_ctl on the next turn), the
 * rest copied into a write request. Only when no write is in flight, so the bytes keep their
 * order; a failure is left to uv_write, which reports it from the loop (the stale-connection
 * re-send rule then applies as for any write error). */
static void flush(conn_t *c)
{
    size_t n;
    const char *p = tx__tls_output(c->tls, &n);
    if (n == 0 || c->state == C_CLOSING) return;
    if (c->writes == 0) {
        uv_buf_t b = uv_buf_init((char *)p, (unsigned)(n > UINT_MAX ? UINT_MAX : n));
        int k = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
        if (k > 0) {
            tx__tls_consume(c->tls, (size_t)k);
            if ((size_t)k == n) return;
            n -= (size_t)k;
        }
    }
    wbuf_t *w = c->spare;
    if (w != NULL && w->cap >= n) {
        c->spare = NULL;
    } else {
        size_t cap = n < WBUF_MIN ? WBUF_MIN : n;
        if ((w = malloc(sizeof *w + cap)) == NULL) {
            conn_failed(c, TX_UPSTREAM_ENOMEM, NULL);
            return;
        }
        w->cap = cap;
    }
    n = tx__tls_take(c->tls, w->data, n);
    uv_buf_t b = uv_buf_init(w->data, (unsigned)n);
    w->w.data = c;
    c->writes++;
    int rc = uv_write(&w->w, (uv_stream_t *)&c->tcp, &b, 1, on_tls_written);
    if (rc != 0) {
        c->writes--;
        free(w);
        conn_failed(c, TX_UPSTREAM_ERESET, uv_strerror(rc));
    }
}

/* Head and body in one write (for TLS: encrypted together, sent once the handshake allows); the
 * response is read from now on. */
static void conn_send(conn_t *c)
{
    tx_upstream_req_t *r = c->req;
    c->state = C_BUSY;
    tx__resp_reset(&c->resp, r->head_only, &resp_cb, r);
    if (c->tls != NULL) {
        struct iovec v[2] = {{r->wbuf, r->wlen}, {(void *)r->body, r->blen}};
        if (tx__tls_writev(c->tls, v, r->blen > 0 ? 2 : 1) < 0) { /* one record when it fits */
            tls_failed(c);
            return;
        }
        flush(c);
        if (c->state != C_BUSY) return;
    } else {
        uv_buf_t b[2] = {uv_buf_init(r->wbuf, (unsigned)r->wlen),
                         uv_buf_init((char *)(r->body ? r->body : ""), (unsigned)r->blen)};
        unsigned nb = r->blen > 0 ? 2 : 1;
        /* what the socket takes now goes without a write request: a completed uv_write costs
         * an epoll_ctl on the next loop turn (libuv drops POLLOUT then), once per request. A
         * failure is left to uv_write, which reports it from the loop (a stale pooled
         * connection is then re-sent as before) */
        uv_buf_t *bp = b;
        int k = c->writes == 0 ? uv_try_write((uv_stream_t *)&c->tcp, b, nb) : 0;
        if (k > 0) {
            size_t done = (size_t)k;
            while (nb > 0 && done >= bp->len) {
                done -= bp->len;
                bp++, nb--;
            }
            if (nb == 0) goto sent_all;
            bp->base += done;
            bp->len -= done;
        }
        c->wreq.data = c;
        c->writes++;
        int rc = uv_write(&c->wreq, (uv_stream_t *)&c->tcp, bp, nb, on_written);
        if (rc != 0) {
            c->writes--;
            conn_failed(c, TX_UPSTREAM_ERESET, uv_strerror(rc));
            return;
        }
    }
sent_all:
    if (!c->reading && !r->paused) {
        uv_read_start((uv_stream_t *)&c->tcp, on_read_alloc, on_read);
        c->reading = 1;
    }
}

static void try_addr(conn_t *c);

/* The connection is up (through the tunnel, for https via a proxy): TLS starts, the request goes.
 */
static void start(conn_t *c)
{
    if (c->o->tls) {
        char key[TX_URL_HOST_MAX + 16];
        snprintf(key, sizeof key, "%s:%u", c->o->host, (unsigned)c->o->port);
        if ((c->tls = tx__tls_new(c->u->tls, c->o->host, key)) == NULL) {
            conn_failed(c, TX_UPSTREAM_ENOMEM, NULL);
            return;
        }
    }
    conn_send(c);
}

/* https through a proxy: "CONNECT host:port" first; start() once the proxy answers 2xx. */
static void tunnel_open(conn_t *c)
{
    char line[2 * TX_URL_HOST_MAX + 96];
    const char *l = c->o->host[0] != '\0' && strchr(c->o->host, ':') ? "[" : "";
    const char *rb = l[0] ? "]" : "";
    int n = snprintf(line, sizeof line, "CONNECT %s%s%s:%u HTTP/1.1\r\nHost: %s%s%s:%u\r\n\r\n", l,
                     c->o->host, rb, (unsigned)c->o->port, l, c->o->host, rb, (unsigned)c->o->port);
    wbuf_t *w = malloc(sizeof *w + (size_t)n);
    if (w == NULL) {
        conn_failed(c, TX_UPSTREAM_ENOMEM, NULL);
        return;
    }
    w->cap = 0; /* not kept */
    memcpy(w->data, line, (size_t)n);
    uv_buf_t b = uv_buf_init(w->data, (unsigned)n);
    w->w.data = c;
    c->writes++;
    c->state = C_TUNNEL;
    if (uv_write(&w->w, (uv_stream_t *)&c->tcp, &b, 1, on_tls_written) != 0) {
        c->writes--;
        free(w);
        conn_failed(c, TX_UPSTREAM_ECONNECT, "cannot write to the proxy");
        return;
    }
    uv_read_start((uv_stream_t *)&c->tcp, on_read_alloc, on_read);
    c->reading = 1;
}

/* The proxy's answer to CONNECT: its head, then the tunnel. */
static void tunnel_in(conn_t *c, const char *data, size_t n)
{
    if (c->tlen + n > 16384) {
        conn_failed(c, TX_UPSTREAM_ECONNECT, "the proxy's answer to CONNECT is too long");
        return;
    }
    char *nb = realloc(c->tunnel, c->tlen + n + 1);
    if (nb == NULL) {
        conn_failed(c, TX_UPSTREAM_ENOMEM, NULL);
        return;
    }
    c->tunnel = nb;
    memcpy(c->tunnel + c->tlen, data, n);
    c->tlen += n;
    c->tunnel[c->tlen] = '\0';
    char *end = strstr(c->tunnel, "\r\n\r\n");
    if (end == NULL) return;
    int status = 0;
    if (sscanf(c->tunnel, "HTTP/1.%*1[01] %3d", &status) != 1 || status < 200 || status > 299) {
        static char why[96]; /* loop thread only */
        snprintf(why, sizeof why, "the proxy refused CONNECT (status %d)", status);
        conn_failed(c, TX_UPSTREAM_ECONNECT, why);
        return;
    }
    if (end + 4 != c->tunnel + c->tlen) { /* the server spoke before our ClientHello */
        conn_failed(c, TX_UPSTREAM_EPROTOCOL, "bytes after the proxy's answer to CONNECT");
        return;
    }
    free(c->tunnel);
    c->tunnel = NULL;
    c->tlen = 0;
    start(c);
}
static void on_tcp_reopened_fwd(uv_handle_t *h);

/* The address failed: the next one on a new socket, or the connection fails. */
static void next_addr(conn_t *c, int status)
{
    if (c->ai + 1 < c->naddrs) {
        c->ai++;
        c->tcp_closing = 1;
        uv_close((uv_handle_t *)&c->tcp, on_tcp_reopened_fwd);
        return;
    }
    conn_failed(c, TX_UPSTREAM_ECONNECT, uv_strerror(status));
}

/* The connect timeout bounds everything before the request can go: the name, the TCP connect, the
 * proxy's CONNECT and the TLS handshake. */
static void on_connect_timeout(uv_timer_t *t)
{
    conn_t *c = t->data;
    const char *why;
    if (c->state == C_CONNECTING || c->state == C_RESOLVING)
        why = "connect timed out";
    else if (c->state == C_TUNNEL)
        why = "connect timed out waiting for the proxy's answer to CONNECT";
    else if (c->state == C_BUSY && c->tls != NULL && !tx__tls_handshake_done(c->tls))
        why = "connect timed out in the TLS handshake";
    else
        return;
    tx_upstream_t *u = c->u;
    enter(u);
    conn_failed(c, TX_UPSTREAM_ECONNECT, why);
    leave(u);
}

static void on_connected(uv_connect_t *cr, int status)
{
    conn_t *c = cr->data;
    if (c->state != C_CONNECTING || c->tcp_closing) return; /* closed meanwhile */
    tx_upstream_t *u = c->u;
    enter(u);
    if (status < 0) {
        next_addr(c, status);
        leave(u);
        return;
    }
    if (!c->o->tls) uv_timer_stop(&c->timer); /* TLS: it runs on until the handshake is done */
    uv_tcp_nodelay(&c->tcp, 1);
    tx_upstream_req_t *r = c->req;
    if (r == NULL) {
        conn_close(c);
    } else {
        r->connect_ns = uv_hrtime();
        if (c->o->proxied && c->o->tls)
            tunnel_open(c);
        else
            start(c);
    }
    leave(u);
}

static void on_tcp_reopened(uv_handle_t *h)
{
    conn_t *c = h->data;
    c->tcp_closing = 0;
    if (c->state == C_CLOSING) {
        conn_unref(c);
        return;
    }
    uv_tcp_init(c->u->loop, &c->tcp);
    c->tcp.data = c;
    try_addr(c);
}

static void on_tcp_reopened_fwd(uv_handle_t *h)
{
    on_tcp_reopened(h);
}

/* Connects to c->addrs[c->ai]. */
static void try_addr(conn_t *c)
{
    c->state = C_CONNECTING;
    c->creq.data = c;
    int rc = uv_tcp_connect(&c->creq, &c->tcp, (struct sockaddr *)&c->addrs[c->ai], on_connected);
    if (rc != 0) next_addr(c, rc);
}

static dns_entry_t *dns_find(tx_upstream_t *u, const char *host)
{
    uint64_t now = uv_now(u->loop);
    for (size_t i = 0; i < DNS_CACHE_MAX; i++)
        if (u->dns[i].n > 0 && u->dns[i].expires > now && strcmp(u->dns[i].host, host) == 0)
            return &u->dns[i];
    return NULL;
}

static void dns_put(tx_upstream_t *u, const char *host, const struct addrinfo *ai)
{
    size_t slot = 0;
    for (size_t i = 1; i < DNS_CACHE_MAX; i++)
        if (u->dns[i].expires < u->dns[slot].expires) slot = i;
    dns_entry_t *e = &u->dns[slot];
    e->n = 0;
    for (; ai != NULL && e->n < DNS_ADDRS_MAX; ai = ai->ai_next)
        if (ai->ai_addrlen <= sizeof e->a[0]) memcpy(&e->a[e->n++], ai->ai_addr, ai->ai_addrlen);
    snprintf(e->host, sizeof e->host, "%s", host);
    e->expires = uv_now(u->loop) + DNS_TTL_MS;
}

static void set_port(struct sockaddr_storage *a, uint16_t port)
{
    if (a->ss_family == AF_INET)
        ((struct sockaddr_in *)a)->sin_port = htons(port);
    else
        ((struct sockaddr_in6 *)a)->sin6_port = htons(port);
}

static void use_addrs(conn_t *c, const struct sockaddr_storage *a, int n)
{
    c->naddrs = n;
    c->ai = 0;
    for (int i = 0; i < n; i++) {
        c->addrs[i] = a[i];
        set_port(&c->addrs[i], c->o->cport);
    }
}

static void on_resolved(uv_getaddrinfo_t *g, int status, struct addrinfo *res)
{
    conn_t *c = g->data;
    tx_upstream_t *u = c->u;
    if (c->state == C_CLOSING) {
        uv_freeaddrinfo(res);
        conn_unref(c);
        return;
    }
    c->refs--; /* the lookup's; the handles still hold it */
    enter(u);
    if (status < 0 || res == NULL) {
        uv_freeaddrinfo(res);
        conn_failed(c, TX_UPSTREAM_EDNS, status < 0 ? uv_strerror(status) : "no address");
        leave(u);
        return;
    }
    dns_put(u, c->o->chost, res);
    uv_freeaddrinfo(res);
    dns_entry_t *e = dns_find(u, c->o->chost);
    if (e == NULL || e->n == 0) {
        conn_failed(c, TX_UPSTREAM_EDNS, "no usable address");
    } else {
        use_addrs(c, e->a, e->n);
        try_addr(c);
    }
    leave(u);
}

/* A new connection for r's origin: resolved (cache, literal or lookup), then connected. */
static void conn_open(tx_upstream_req_t *r)
{
    tx_upstream_t *u = r->u;
    origin_t *o = r->o;
    conn_t *c = calloc(1, sizeof *c);
    if (c == NULL) {
        fail_later(r, TX_UPSTREAM_ENOMEM, NULL);
        return;
    }
    c->u = u;
    c->o = o;
    uv_tcp_init(u->loop, &c->tcp);
    uv_timer_init(u->loop, &c->timer);
    c->tcp.data = c->timer.data = c;
    c->refs = 2;
    u->handles_open++;
    c->next = u->conns;
    if (u->conns) u->conns->prev = c;
    u->conns = c;
    u->nconns++;
    o->nconns++;
    c->req = r;
    r->c = c;
    if (u->o.connect_timeout_ms > 0)
        uv_timer_start(&c->timer, on_connect_timeout, (uint64_t)u->o.connect_timeout_ms, 0);
    struct sockaddr_storage lit;
    memset(&lit, 0, sizeof lit);
    if (uv_ip4_addr(o->chost, 0, (struct sockaddr_in *)&lit) == 0 ||
        uv_ip6_addr(o->chost, 0, (struct sockaddr_in6 *)&lit) == 0) {
        use_addrs(c, &lit, 1);
        try_addr(c);
        return;
    }
    dns_entry_t *e = dns_find(u, o->chost);
    if (e != NULL) {
        use_addrs(c, e->a, e->n);
        try_addr(c);
        return;
    }
    c->state = C_RESOLVING;
    c->gai.data = c;
    c->refs++;
    struct addrinfo hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int rc = uv_getaddrinfo(u->loop, &c->gai, on_resolved, o->chost, NULL, &hints);
    if (rc != 0) {
        c->refs--;
        detach(r);
        conn_close(c);
        fail_later(r, TX_UPSTREAM_EDNS, uv_strerror(rc));
    }
}

static int may_open(tx_upstream_t *u, origin_t *o)
{
    if (u->o.max_host_conns > 0 && o->nconns >= u->o.max_host_conns) return 0;
    if (u->nconns < u->o.max_total_conns) return 1;
    /* at the cap: an idle connection of another origin makes room */
    for (conn_t *c = u->idle_tail; c != NULL; c = c->gprev)
        if (c->o != o) {
            int was = u->draining;
            u->draining = 1; /* the room is for this request */
            conn_close(c);
            u->draining = was;
            return 1;
        }
    return 0;
}

/* Gives r a connection: the origin's most recently used idle one, a new one, or a place in the
 * queue. */
static void req_start(tx_upstream_req_t *r)
{
    tx_upstream_t *u = r->u;
    origin_t *o = r->o;
    if (!r->fresh_only && o->idle != NULL) {
        conn_t *c = o->idle;
        idle_remove(c);
        uv_timer_stop(&c->timer);
        c->req = r;
        r->c = c;
        conn_send(c);
        return;
    }
    if (!may_open(u, o)) {
        r->waiting = 1;
        r->qnext = NULL;
        r->qprev = u->waitq_tail;
        if (u->waitq_tail)
            u->waitq_tail->qnext = r;
        else
            u->waitq = r;
        u->waitq_tail = r;
        return;
    }
    conn_open(r);
}

static void drain_waitq(tx_upstream_t *u)
{
    if (u->draining) return;
    u->draining = 1;
    tx_upstream_req_t *r = u->waitq;
    while (r != NULL) {
        tx_upstream_req_t *next = r->qnext;
        int idle = !r->fresh_only && r->o->idle != NULL;
        if (idle || may_open(u, r->o)) {
            waitq_remove(r);
            if (idle)
                req_start(r);
            else
                conn_open(r);
            next = u->waitq; /* starting may have changed the queue */
            if (next == r) break;
        }
        r = next;
    }
    u->draining = 0;
}

/* ---- timeouts ------------------------------------------------------------------------------ */

static void on_req_timer(uv_timer_t *t)
{
    tx_upstream_req_t *r = t->data;
    if (r->paused || r->finished || r->cancelled) return;
    uint64_t now = uv_now(r->u->loop);
    uint64_t deadline;
    if (!r->got_byte)
        deadline = r->start_ms + (uint64_t)r->lim.attempt_timeout_ms;
    else
        deadline = r->last_ms + (uint64_t)r->lim.gap_timeout_ms;
    if (now < deadline) {
        uv_timer_start(&r->timer, on_req_timer, deadline - now, 0);
        return;
    }
    tx_upstream_t *u = r->u;
    enter(u);
    conn_t *c = r->c;
    detach(r);
    if (c != NULL) conn_close(c);
    finish(r, TX_UPSTREAM_ETIMEOUT, NULL);
    leave(u);
}

/* Records activity; see on_req_timer for how the deadline follows. */
static void touch(tx_upstream_req_t *r)
{
    r->last_ms = uv_now(r->u->loop);
    if (!r->got_byte) {
        r->got_byte = 1;
        r->first_ns = uv_hrtime();
        long gap = r->lim.gap_timeout_ms, attempt = r->lim.attempt_timeout_ms;
        if (gap > 0 && (attempt <= 0 || gap < attempt))
            uv_timer_start(&r->timer, on_req_timer, (uint64_t)gap, 0);
    }
}

/* ---- the loop's own work: late failures, resumed requests ---------------------------------- */

static void on_kick(uv_idle_t *k)
{
    tx_upstream_t *u = k->data;
    tx_upstream_req_t *q = u->kickq;
    u->kickq = NULL;
    uv_idle_stop(k);
    enter(u);
    while (q != NULL) {
        tx_upstream_req_t *r = q;
        q = r->knext;
        r->kicked = 0;
        r->holds--;
        if (r->cancelled || r->finished) {
            req_recycle(r);
            continue;
        }
        if (r->err != TX_UPSTREAM_EOK) {
            conn_t *c = r->c;
            detach(r);
            if (c != NULL) conn_close(c);
            finish(r, r->err, r->why);
            continue;
        }
        if (r->paused) continue;
        /* resumed: what arrived meanwhile first, then the end or more reading */
        if (r->hlen > 0) {
            size_t n = r->hlen;
            r->hlen = 0;
            r->holds++;
            if (r->cb.on_body != NULL) r->cb.on_body(r->ud, r->held, n);
            r->holds--;
            if (r->cancelled) {
                req_recycle(r);
                continue;
            }
            if (r->finished) continue;
        }
        if (r->paused) continue;
        conn_t *c = r->c;
        if (r->complete) {
            complete(r);
        } else if (c != NULL && c->state == C_BUSY && !c->reading) {
            uv_read_start((uv_stream_t *)&c->tcp, on_read_alloc, on_read);
            c->reading = 1;
        }
    }
    leave(u);
}

/* ---- public -------------------------------------------------------------------------------- */

/* A proxy URL: http only ("host:port" alone is read as http://host:port). 0 or -1. */
static int proxy_parse(const char *s, tx_url_t *px)
{
    char buf[2100];
    if (strstr(s, "://") == NULL) {
        snprintf(buf, sizeof buf, "http://%s", s);
        s = buf;
    }
    if (tx__url_parse(s, px) != NULL || px->tls) return -1;
    if (!px->port_given) px->port = 80;
    return 0;
}

const char *tx__upstream_proxy_check(const char *proxy)
{
    tx_url_t px;
    if (proxy == NULL || proxy[0] == '\0') return NULL;
    char buf[2100];
    if (strstr(proxy, "://") == NULL) {
        snprintf(buf, sizeof buf, "http://%s", proxy);
        proxy = buf;
    }
    const char *why = tx__url_parse(proxy, &px);
    if (why != NULL) return why;
    return px.tls ? "the proxy must be an http:// URL (https is tunnelled through it)" : NULL;
}

/* The variable's value when it is a usable proxy URL; else NULL, and the first such refusal is
 * described in why[] (the variable's name and the reason, never the value: it may hold a
 * password). */
static const char *env_proxy(const char *upper, const char *lower, char *why, size_t wn)
{
    const char *name = upper, *v = getenv(upper);
    if (v == NULL || v[0] == '\0') v = getenv(name = lower);
    if (v == NULL || v[0] == '\0') return NULL;
    const char *bad = tx__upstream_proxy_check(v);
    if (bad == NULL) return v;
    if (why != NULL && wn > 0 && why[0] == '\0') snprintf(why, wn, "%s is ignored: %s", name, bad);
    return NULL;
}

void tx__upstream_proxy_env(tx_upstream_opts_t *o, const char *ai_proxy, char *why, size_t wn)
{
    if (why != NULL && wn > 0) why[0] = '\0';
    if (ai_proxy != NULL && ai_proxy[0] != '\0') {
        o->proxy = o->https_proxy = ai_proxy;
    } else {
        o->proxy = env_proxy("HTTP_PROXY", "http_proxy", why, wn);
        o->https_proxy = env_proxy("HTTPS_PROXY", "https_proxy", why, wn);
    }
    const char *n = getenv("NO_PROXY");
    if (n == NULL || n[0] == '\0') n = getenv("no_proxy");
    o->no_proxy = n;
}

tx_upstream_t *tx__upstream_new(uv_loop_t *loop, const tx_upstream_opts_t *o)
{
    if (loop == NULL) return NULL;
    tx_upstream_t *u = calloc(1, sizeof *u);
    if (u == NULL) return NULL;
    u->loop = loop;
    u->spare.max = SPARE_MAX;
    u->spare.destroy = spare_close;
    if (o != NULL) u->o = *o;
    if (u->o.max_total_conns == 0) u->o.max_total_conns = 64;
    if ((o && o->proxy && o->proxy[0] && (u->proxy = strdup(o->proxy)) == NULL) ||
        (o && o->https_proxy && o->https_proxy[0] &&
         (u->https_proxy = strdup(o->https_proxy)) == NULL) ||
        (o && o->no_proxy && o->no_proxy[0] && (u->no_proxy = strdup(o->no_proxy)) == NULL) ||
        (o && o->ca_file && o->ca_file[0] && (u->ca_file = strdup(o->ca_file)) == NULL) ||
        (u->proxy && proxy_parse(u->proxy, &u->px[0]) != 0) ||
        (u->https_proxy && proxy_parse(u->https_proxy, &u->px[1]) != 0)) {
        free(u->proxy);
        free(u->https_proxy);
        free(u->no_proxy);
        free(u->ca_file);
        free(u);
        return NULL;
    }
    u->o.proxy = u->proxy;
    u->o.https_proxy = u->https_proxy;
    u->o.no_proxy = u->no_proxy;
    u->o.ca_file = u->ca_file;
    uv_idle_init(loop, &u->kick);
    u->kick.data = u;
    u->handles_open = 1;
    return u;
}

size_t tx__upstream_active(const tx_upstream_t *u)
{
    return u ? u->active : 0;
}

/* 1 when NO_PROXY's list names host: "*", the host itself, or a domain it is in ("example.com"
 * and ".example.com" both cover "api.example.com"). Ports in entries are ignored. */
static int no_proxy_for(const char *list, const char *host)
{
    if (list == NULL) return 0;
    size_t hl = strlen(host);
    const char *p = list;
    while (*p) {
        size_t n = strcspn(p, ",");
        const char *e = p;
        size_t el = n;
        while (el > 0 && (*e == ' ' || *e == '.'))
            e++, el--;
        while (el > 0 && e[el - 1] == ' ')
            el--;
        const char *colon = memchr(e, ':', el);
        if (colon != NULL && memchr(colon + 1, ':', el - (size_t)(colon - e) - 1) == NULL)
            el = (size_t)(colon - e); /* "host:port", not an IPv6 literal */
        if (el == 1 && e[0] == '*') return 1;
        if (el > 0 && el <= hl && strncasecmp(host + hl - el, e, el) == 0 &&
            (el == hl || host[hl - el - 1] == '.'))
            return 1;
        p += n;
        if (*p == ',') p++;
    }
    return 0;
}

/* localhost and loopback addresses never go through a proxy (as Go's ProxyFromEnvironment). */
static int loopback(const char *host)
{
    return strcmp(host, "localhost") == 0 || strncmp(host, "127.", 4) == 0 ||
           strcmp(host, "::1") == 0;
}

static origin_t *origin_get(tx_upstream_t *u, const tx_url_t *url)
{
    const tx_url_t *px = &u->px[url->tls ? 1 : 0];
    int proxied = px->port != 0 && (u->o.proxy_loopback || !loopback(url->host)) &&
                  !no_proxy_for(u->no_proxy, url->host);
    for (origin_t *o = u->origins; o != NULL; o = o->next)
        if (o->port == url->port && o->tls == url->tls && o->proxied == proxied &&
            strcmp(o->host, url->host) == 0)
            return o;
    origin_t *o = calloc(1, sizeof *o);
    if (o == NULL) return NULL;
    o->tls = url->tls;
    o->port = url->port;
    memcpy(o->host, url->host, sizeof o->host);
    o->proxied = proxied;
    o->cport = proxied ? px->port : url->port;
    memcpy(o->chost, proxied ? px->host : url->host, sizeof o->chost);
    o->next = u->origins;
    u->origins = o;
    return o;
}

/* Length of a header name (name 1) or value (name 0), or -1 when it may not be sent: CR or LF
 * anywhere, and in a name also ':', a blank, or nothing at all. One pass. */
static long hdr_len(const char *s, int name)
{
    size_t n = strcspn(s, name ? "\r\n: \t" : "\r\n"); /* vectorised in libc */
    if (s[n] != '\0' || (name && n == 0)) return -1;
    return (long)n;
}

/* The client's own: "host" (the caller's wins), and framing it writes itself (the caller's copy
 * is dropped): 1 host, 2 ours, 0 the caller's. */
static int special(const char *name, size_t n)
{
    switch (n) {
    case 4:
        return strcasecmp(name, "host") == 0 ? 1 : 0;
    case 6:
        return strcasecmp(name, "expect") == 0 ? 2 : 0;
    case 10:
        return strcasecmp(name, "connection") == 0 ? 2 : 0;
    case 14:
        return strcasecmp(name, "content-length") == 0 ? 2 : 0;
    case 17:
        return strcasecmp(name, "transfer-encoding") == 0 ? 2 : 0;
    default:
        return 0;
    }
}

/* Decimal digits of v into the end of buf[24]; returns where they start. */
static char *utoa_end(char *end, uint64_t v)
{
    do {
        *--end = (char)('0' + v % 10);
        v /= 10;
    } while (v > 0);
    return end;
}

/* "METHOD target HTTP/1.1", Host, the caller's headers, Content-Length, sized first and written
 * with memcpy. `hl` holds the checked name and value lengths. -1 when out of memory. */
static int build_head(tx_upstream_req_t *r, const char *method, const tx_url_t *url,
                      const tx_header_t *h, size_t nh, const long *hl, size_t len, int absolute)
{
    char port[8], clen[24];
    char *pe = port + sizeof port, *ps = utoa_end(pe, url->port);
    *--ps = ':';
    size_t portn = (size_t)(pe - ps);
    char *ce = clen + sizeof clen, *cs = utoa_end(ce, len);
    size_t ml = strlen(method), hostl = strlen(url->host);
    int has_host = 0;
    size_t need = ml + 1 + 1 + url->target_len + 11 + 2 + 20 + (size_t)(ce - cs) + 2;
    if (absolute) need += 7 + 2 + hostl + portn;
    for (size_t i = 0; i < nh; i++) {
        int sp = special(h[i].name, (size_t)hl[2 * i]);
        if (sp == 1) has_host = 1;
        if (sp != 2) need += (size_t)hl[2 * i] + 2 + (size_t)hl[2 * i + 1] + 2;
    }
    int show_port = url->port_given && url->port != (url->tls ? 443 : 80);
    if (!has_host) need += 6 + 2 + hostl + (show_port ? portn : 0) + 2;
    if (need > r->wcap) {
        size_t cap = r->wcap ? r->wcap : 512;
        while (cap < need)
            cap *= 2;
        char *nb = realloc(r->wbuf, cap);
        if (nb == NULL) return -1;
        r->wbuf = nb;
        r->wcap = cap;
    }
    char *w = r->wbuf;
#define PUT(p, n) (memcpy(w, (p), (n)), w += (n))
    PUT(method, ml);
    *w++ = ' ';
    if (absolute) { /* through a proxy: "http://host:port/path" */
        PUT("http://", 7);
        if (url->ipv6) *w++ = '[';
        PUT(url->host, hostl);
        if (url->ipv6) *w++ = ']';
        PUT(ps, portn);
    }
    if (url->target_len == 0 || url->target_slash) *w++ = '/';
    PUT(url->target, url->target_len);
    PUT(" HTTP/1.1\r\n", 11);
    if (!has_host) {
        PUT("Host: ", 6);
        if (url->ipv6) *w++ = '[';
        PUT(url->host, hostl);
        if (url->ipv6) *w++ = ']';
        if (show_port) PUT(ps, portn);
        PUT("\r\n", 2);
    }
    for (size_t i = 0; i < nh; i++) {
        if (special(h[i].name, (size_t)hl[2 * i]) == 2) continue;
        PUT(h[i].name, (size_t)hl[2 * i]);
        PUT(": ", 2);
        PUT(h[i].value, (size_t)hl[2 * i + 1]);
        PUT("\r\n", 2);
    }
    int bodyless = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0 ||
                   strcmp(method, "DELETE") == 0 || strcmp(method, "OPTIONS") == 0;
    if (len > 0 || !bodyless) {
        PUT("Content-Length: ", 16);
        PUT(cs, (size_t)(ce - cs));
        PUT("\r\n", 2);
    }
    PUT("\r\n", 2);
#undef PUT
    r->wlen = (size_t)(w - r->wbuf);
    return 0;
}

/* The parsed form of url: from the client's small cache of URLs sent (the gateway sends to a
 * handful), else parsed now and kept when there is room. NULL and *u filled, or the reason. */
static const char *url_get(tx_upstream_t *u, const char *url, tx_url_t *out)
{
    for (size_t i = 0; i < u->nurls; i++)
        if (strcmp(u->urls[i].text, url) == 0) {
            *out = u->urls[i].parsed;
            return NULL;
        }
    if (u->nurls >= URL_CACHE_MAX) return tx__url_parse(url, out);
    char *copy = strdup(url);
    if (copy == NULL) return tx__url_parse(url, out);
    const char *bad = tx__url_parse(copy, &u->urls[u->nurls].parsed);
    if (bad != NULL) {
        free(copy);
        return bad;
    }
    u->urls[u->nurls].text = copy; /* the parsed target points into the copy */
    *out = u->urls[u->nurls++].parsed;
    return NULL;
}

static tx_upstream_req_t *req_get(tx_upstream_t *u)
{
    tx_upstream_req_t *r = tx__freelist_take(&u->spare);
    if (r != NULL) {
        char *wbuf = r->wbuf, *held = r->held;
        size_t wcap = r->wcap, hcap = r->hcap;
        memset(r, 0, offsetof(tx_upstream_req_t, timer));
        r->wbuf = wbuf;
        r->wcap = wcap;
        r->held = held;
        r->hcap = hcap;
        r->u = u;
        return r;
    }
    r = calloc(1, sizeof *r);
    if (r == NULL) return NULL;
    r->u = u;
    uv_timer_init(u->loop, &r->timer);
    r->timer.data = r;
    u->handles_open++;
    return r;
}

tx_upstream_req_t *tx__upstream_send(tx_upstream_t *u, const char *method, const char *url,
                                     const tx_header_t *h, size_t nh, const char *body, size_t len,
                                     const tx_upstream_limits_t *lim, const tx_upstream_cb_t *cb,
                                     void *ud)
{
    if (u == NULL || u->closing || u->close_pending || method == NULL || method[0] == '\0' ||
        strpbrk(method, " \t\r\n") != NULL || url == NULL || (h == NULL && nh > 0) ||
        (body == NULL && len > 0) || cb == NULL || cb->on_done == NULL)
        return NULL;
    long stack_hl[32], *hl = nh <= 16 ? stack_hl : malloc(2 * nh * sizeof *hl);
    if (hl == NULL) return NULL;
    for (size_t i = 0; i < nh; i++)
        if (h[i].name == NULL || h[i].value == NULL || (hl[2 * i] = hdr_len(h[i].name, 1)) < 0 ||
            (hl[2 * i + 1] = hdr_len(h[i].value, 0)) < 0) {
            if (hl != stack_hl) free(hl);
            return NULL;
        }
    tx_upstream_req_t *r = req_get(u);
    if (r == NULL) {
        if (hl != stack_hl) free(hl);
        return NULL;
    }
    r->cb = *cb;
    r->ud = ud;
    if (lim != NULL) r->lim = *lim;
    if (r->lim.attempt_timeout_ms < 0) r->lim.attempt_timeout_ms = 0;
    if (r->lim.gap_timeout_ms <= 0) r->lim.gap_timeout_ms = r->lim.attempt_timeout_ms;
    r->body = body;
    r->blen = len;
    r->head_only = strcmp(method, "HEAD") == 0;
    r->start_ms = uv_now(u->loop);
    r->start_ns = uv_hrtime();
    tx_url_t pu;
    const char *bad = url_get(u, url, &pu);
    if (bad == NULL &&
        ((r->o = origin_get(u, &pu)) == NULL ||
         build_head(r, method, &pu, h, nh, hl, len, r->o->proxied && !pu.tls) != 0)) {
        if (hl != stack_hl) free(hl);
        req_recycle(r);
        return NULL;
    }
    if (hl != stack_hl) free(hl);
    r->next = u->reqs;
    if (u->reqs) u->reqs->prev = r;
    u->reqs = r;
    u->active++;
    if (r->lim.attempt_timeout_ms > 0)
        uv_timer_start(&r->timer, on_req_timer, (uint64_t)r->lim.attempt_timeout_ms, 0);
    if (bad != NULL) {
        fail_later(r, TX_UPSTREAM_EINVALID, bad);
        return r;
    }
    if (pu.tls && u->tls == NULL && !u->tls_failed &&
        (u->tls = tx__tls_ctx_new(u->ca_file, u->tls_err, sizeof u->tls_err)) == NULL)
        u->tls_failed = 1;
    if (pu.tls && u->tls == NULL) {
        fail_later(r, TX_UPSTREAM_ETLS, u->tls_err[0] ? u->tls_err : "TLS could not start");
        return r;
    }
    req_start(r);
    return r;
}

void tx__upstream_cancel(tx_upstream_req_t *r)
{
    if (r == NULL || r->cancelled || r->in_done || r->finished) return;
    r->cancelled = 1;
    req_unlink(r);
    conn_t *c = r->c;
    if (c != NULL && c->in_feed) return; /* feed() closes the connection and recycles r */
    detach(r);
    if (c != NULL) conn_close(c);
    req_recycle(r);
}

tx_err_t tx__upstream_pause(tx_upstream_req_t *r, int pause)
{
    if (r == NULL || r->cancelled || r->finished || r->in_done) return TX_EINVAL;
    pause = pause != 0;
    if ((int)r->paused == pause) return TX_EOK;
    r->paused = (unsigned)pause;
    conn_t *c = r->c;
    if (pause) {
        uv_timer_stop(&r->timer);
        if (c != NULL && c->reading && !c->in_feed) { /* in a feed: stopped when it returns */
            uv_read_stop((uv_stream_t *)&c->tcp);
            c->reading = 0;
        }
    } else {
        r->last_ms = uv_now(r->u->loop);
        uint64_t due = (uint64_t)(r->got_byte ? r->lim.gap_timeout_ms : r->lim.attempt_timeout_ms);
        if (!r->got_byte) r->start_ms = r->last_ms; /* paused before a byte: a fresh wait */
        if (due > 0) uv_timer_start(&r->timer, on_req_timer, due, 0);
        kick(r); /* the held bytes and the reading go on from the loop */
    }
    return TX_EOK;
}

void tx__upstream_close(tx_upstream_t *u, void (*done)(void *), void *arg)
{
    if (u == NULL || u->closing || u->close_pending) return;
    u->done = done;
    u->done_arg = arg;
    if (u->dispatching > 0) {
        u->close_pending = 1; /* from a callback: done once the callback's caller unwinds */
        return;
    }
    do_close(u);
}

static void do_close(tx_upstream_t *u)
{
    u->close_pending = 0;
    u->closing = 1;
    u->dispatching++; /* nothing below closes twice */
    while (u->reqs != NULL) {
        tx_upstream_req_t *r = u->reqs;
        conn_t *c = r->c;
        detach(r);
        if (c != NULL) conn_close(c);
        finish(r, TX_UPSTREAM_EABORTED, NULL);
    }
    while (u->conns != NULL)
        conn_close(u->conns);
    u->dispatching--;
    while (u->kickq != NULL) { /* cancelled or finished requests waiting for the loop */
        tx_upstream_req_t *r = u->kickq;
        u->kickq = r->knext;
        r->kicked = 0;
        r->holds--;
        req_recycle(r);
    }
    tx__freelist_clear(&u->spare);
    uv_idle_stop(&u->kick);
    uv_close((uv_handle_t *)&u->kick, on_kick_closed);
}
