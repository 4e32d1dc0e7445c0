/* libcurl multi-socket on libuv: curl tells us which sockets to watch (uv_poll) and when to
 * call it back (one uv_timer); each request has its own lazily re-armed timer for our attempt
 * timeout. Requests started or cancelled while curl is running (inside a callback) are queued
 * and applied once curl_multi_socket_action returns, since curl forbids re-entry. */
#include "upstream/client.h"

#include <curl/curl.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define HEADER_BYTES_MAX (64 * 1024)
#define URL_CACHE_MAX 32
#define SPARE_MAX 128 /* finished requests kept ready (easy handle configured, timer open) */
#define HEAD_STACK 32

/* One per open curl socket, from curl's first interest in it until curl closes it (our close-socket
 * callback). Between transfers curl says CURL_POLL_REMOVE; the watch is then kept ("parked") so
 * the next transfer on the kept-alive connection costs no epoll_ctl. An event on a parked socket
 * (the peer closed the idle connection) stops the watch; curl's own liveness check on reuse sees
 * the rest. */
typedef struct sock_ctx {
    uv_poll_t poll;
    curl_socket_t fd;
    tx_upstream_t *u;
    int events;          /* UV_READABLE|UV_WRITABLE the poll watches now; 0: stopped */
    unsigned kept : 1;   /* opened through our open-socket callback, so our close-socket callback
                            sees its end: it may stay watched between transfers */
    unsigned parked : 1; /* curl has no interest now, the socket is still open */
    struct sock_ctx *prev, *next;
} sock_ctx_t;

struct tx_upstream_req {
    /* per use: zeroed when a spare is taken again */
    tx_upstream_t *u;
    tx_upstream_cb_t cb;
    void *ud;
    tx_upstream_limits_t lim;
    tx_upstream_req_t *prev, *next; /* u->reqs, or u->spare (next only) */
    tx_upstream_req_t *deferred;    /* u->deferred */
    unsigned added : 1, cancelled : 1, finished : 1, in_done : 1, head_sent : 1, got_byte : 1,
        queued : 1, paused : 1;
    tx_upstream_err_t local_err; /* why we stopped the transfer from a callback */
    uint64_t start_ms, last_ms;  /* loop time */
    uint64_t start_ns;
    size_t received;
    size_t hlen, nh;
    /* kept across uses */
    uv_timer_t timer;
    CURL *easy;
    int configured; /* the easy handle has this client's fixed options and served a POST */
    struct curl_slist *hdrs; /* the request headers of the last use, kept for the next one */
    char *hbuf;     /* "name\0value\0" pairs of the current response */
    size_t hcap;
    char errbuf[CURL_ERROR_SIZE];
};

struct tx_upstream {
    uv_loop_t *loop;
    CURLM *multi;
    CURLSH *share;
    uv_timer_t timer;
    uv_check_t kick; /* curl's "call me now" (timeout 0), run right after this loop's I/O */
    char *proxy, *ca_file;
    tx_upstream_opts_t o;
    tx_upstream_req_t *reqs;
    tx_upstream_req_t *deferred;
    sock_ctx_t *socks;
    sock_ctx_t **byfd; /* socket → its context, for sockets curl forgot between transfers */
    size_t nbyfd;
    tx_upstream_req_t *spare; /* finished requests ready for reuse (linked by next) */
    struct {
        char *text;
        CURLU *h;
    } urls[URL_CACHE_MAX]; /* URLs sent, parsed (see set_url) */
    size_t nurls;
    size_t nspare;
    size_t active;
    size_t handles_open; /* libuv handles not yet closed (timers, polls) */
    int in_curl;
    int dispatching;   /* inside action() or a request timer: user callbacks may run */
    int close_pending; /* tx_upstream_close was called from a callback */
    int closing;
    void (*done)(void *);
    void *done_arg;
};

static const char *const err_names[] = {
#define TX_UPSTREAM_ERR_STR(name, str) str,
    TX_UPSTREAM_ERR_MAP(TX_UPSTREAM_ERR_STR)
#undef TX_UPSTREAM_ERR_STR
};

const char *tx_upstream_strerror(tx_upstream_err_t e)
{
    if ((unsigned)e >= TX_UPSTREAM_E__LAST) return "unknown transport error";
    return err_names[e];
}

static tx_upstream_err_t map_code(CURLcode c)
{
    switch (c) {
    case CURLE_OK: return TX_UPSTREAM_EOK;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY: return TX_UPSTREAM_EDNS;
    case CURLE_COULDNT_CONNECT: return TX_UPSTREAM_ECONNECT;
    case CURLE_OPERATION_TIMEDOUT: return TX_UPSTREAM_ETIMEOUT;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_SSL_SHUTDOWN_FAILED:
    case CURLE_USE_SSL_FAILED: return TX_UPSTREAM_ETLS;
    case CURLE_PARTIAL_FILE: return TX_UPSTREAM_EPARTIAL;
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_HTTP2_STREAM: return TX_UPSTREAM_ERESET;
    case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_HTTP2:
    case CURLE_BAD_CONTENT_ENCODING:
    case CURLE_HTTP3:
    case CURLE_QUIC_CONNECT_ERROR: return TX_UPSTREAM_EPROTOCOL;
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_BAD_FUNCTION_ARGUMENT: return TX_UPSTREAM_EINVALID;
    case CURLE_OUT_OF_MEMORY: return TX_UPSTREAM_ENOMEM;
    case CURLE_FILESIZE_EXCEEDED: return TX_UPSTREAM_ETOO_LARGE;
    case CURLE_ABORTED_BY_CALLBACK:
    case CURLE_WRITE_ERROR: return TX_UPSTREAM_EABORTED;
    default: return TX_UPSTREAM_EOTHER;
    }
}

static void do_close(tx_upstream_t *u);

/* ---- handle bookkeeping ---------------------------------------------------------------- */

static void maybe_finished_closing(tx_upstream_t *u)
{
    if (!u->closing || u->handles_open > 0 || u->multi != NULL) return;
    void (*done)(void *) = u->done;
    void *arg = u->done_arg;
    for (size_t i = 0; i < u->nurls; i++) {
        free(u->urls[i].text);
        curl_url_cleanup(u->urls[i].h);
    }
    free(u->proxy);
    free(u->ca_file);
    free(u->byfd);
    free(u);
    if (done) done(arg);
}

static void on_req_closed(uv_handle_t *h)
{
    tx_upstream_req_t *r = h->data;
    tx_upstream_t *u = r->u;
    free(r->hbuf);
    free(r);
    u->handles_open--;
    maybe_finished_closing(u);
}

static void on_sock_closed(uv_handle_t *h)
{
    sock_ctx_t *c = h->data;
    tx_upstream_t *u = c->u;
    free(c);
    u->handles_open--;
    maybe_finished_closing(u);
}

static void on_timer_closed(uv_handle_t *h)
{
    tx_upstream_t *u = h->data;
    u->handles_open--;
    maybe_finished_closing(u);
}

static void sock_close(tx_upstream_t *u, sock_ctx_t *c)
{
    if (c->fd >= 0 && (size_t)c->fd < u->nbyfd && u->byfd[c->fd] == c) u->byfd[c->fd] = NULL;
    if (c->prev) c->prev->next = c->next;
    else u->socks = c->next;
    if (c->next) c->next->prev = c->prev;
    uv_close((uv_handle_t *)&c->poll, on_sock_closed);
}

/* Destroys a request that is in no list: its easy handle now, its memory once its timer closes. */
static void req_destroy(tx_upstream_req_t *r)
{
    if (r->easy != NULL) curl_easy_cleanup(r->easy);
    r->easy = NULL;
    curl_slist_free_all(r->hdrs); /* after the easy handle, which may point at it */
    r->hdrs = NULL;
    uv_close((uv_handle_t *)&r->timer, on_req_closed);
}

/* Ends a request: out of curl and the active list, then kept ready for the next send (easy
 * handle, timer and header buffer reused: no allocation, no handle churn) or destroyed. Never
 * while curl is running. */
static void req_release(tx_upstream_req_t *r)
{
    tx_upstream_t *u = r->u;
    if (r->added) {
        curl_multi_remove_handle(u->multi, r->easy);
        r->added = 0;
    }
    if (r->prev) r->prev->next = r->next;
    else u->reqs = r->next;
    if (r->next) r->next->prev = r->prev;
    u->active--;
    uv_timer_stop(&r->timer);
    /* a handle released while paused may hold response bytes curl kept for later: not reused */
    if (u->nspare < SPARE_MAX && !u->closing && r->easy != NULL && !r->paused) {
        r->prev = NULL;
        r->next = u->spare;
        u->spare = r;
        u->nspare++;
    } else {
        req_destroy(r);
    }
}

/* ---- completion ------------------------------------------------------------------------- */

static void emit_head(tx_upstream_req_t *r, int status)
{
    r->head_sent = 1;
    if (r->cb.on_head == NULL) return;
    tx_header_t stack[HEAD_STACK];
    tx_header_t *h = r->nh <= HEAD_STACK ? stack : malloc(r->nh * sizeof *h);
    size_t nh = h != NULL ? r->nh : 0;
    if (h == NULL || nh == 0) {
        r->cb.on_head(r->ud, status, NULL, 0);
        return;
    }
    const char *p = r->hbuf;
    for (size_t i = 0; i < nh; i++) {
        h[i].name = p;
        p += strlen(p) + 1;
        h[i].value = p;
        p += strlen(p) + 1;
    }
    r->cb.on_head(r->ud, status, h, nh);
    if (h != stack) free(h);
}

/* Delivers on_done once and releases the request. `code` is curl's result; r->local_err, when
 * set, says why we stopped it ourselves. */
static void finish(tx_upstream_req_t *r, CURLcode code, tx_upstream_err_t err)
{
    tx_upstream_t *u = r->u;
    if (r->cancelled) {
        req_release(r);
        return;
    }
    uv_timer_stop(&r->timer);
    tx_upstream_result_t res;
    memset(&res, 0, sizeof res);
    res.err = err;
    res.curl_code = (long)code;
    long status = 0, connects = 0, ver = 0;
    curl_off_t t;
    curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(r->easy, CURLINFO_NUM_CONNECTS, &connects);
    curl_easy_getinfo(r->easy, CURLINFO_HTTP_VERSION, &ver);
    if (curl_easy_getinfo(r->easy, CURLINFO_CONNECT_TIME_T, &t) == CURLE_OK) res.connect_us = t;
    if (curl_easy_getinfo(r->easy, CURLINFO_STARTTRANSFER_TIME_T, &t) == CURLE_OK)
        res.first_byte_us = t;
    res.total_us = (int64_t)((uv_hrtime() - r->start_ns) / 1000);
    res.status = (int)status;
    res.body_bytes = r->received;
    res.reused = status > 0 && connects == 0;
    res.http_version = ver == CURL_HTTP_VERSION_2_0 ? 2 : 1;
    if (err == TX_UPSTREAM_EOK) res.message = "ok";
    else if (r->local_err != TX_UPSTREAM_EOK || r->errbuf[0] == '\0') res.message = tx_upstream_strerror(err);
    else res.message = r->errbuf;
    if (err == TX_UPSTREAM_EOK && !r->head_sent) emit_head(r, res.status);
    if (r->added) {
        curl_multi_remove_handle(u->multi, r->easy); /* frees the connection for reuse now */
        r->added = 0;
    }
    r->finished = 1;
    r->in_done = 1;
    r->cb.on_done(r->ud, &res);
    req_release(r);
}

static void check_done(tx_upstream_t *u)
{
    CURLMsg *m;
    int left;
    while (u->multi != NULL && (m = curl_multi_info_read(u->multi, &left)) != NULL) {
        if (m->msg != CURLMSG_DONE) continue;
        tx_upstream_req_t *r = NULL;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&r);
        if (r == NULL) continue;
        CURLcode c = m->data.result;
        tx_upstream_err_t e = r->local_err != TX_UPSTREAM_EOK ? r->local_err : map_code(c);
        finish(r, c, e);
    }
}

/* Applies what callbacks asked for while curl was running: cancellations and new requests. */
static void run_deferred(tx_upstream_t *u)
{
    while (u->deferred != NULL) {
        tx_upstream_req_t *r = u->deferred;
        u->deferred = r->deferred;
        r->queued = 0;
        if (r->cancelled) {
            req_release(r);
        } else if (!r->added) {
            if (curl_multi_add_handle(u->multi, r->easy) == CURLM_OK) r->added = 1;
            else finish(r, CURLE_FAILED_INIT, TX_UPSTREAM_EOTHER);
        }
    }
}

static void action(tx_upstream_t *u, curl_socket_t s, int flags)
{
    int running = 0;
    u->dispatching++;
    u->in_curl++;
    curl_multi_socket_action(u->multi, s, flags, &running);
    u->in_curl--;
    run_deferred(u);
    check_done(u);
    if (--u->dispatching == 0 && u->close_pending) do_close(u);
}

/* ---- libcurl → libuv ---------------------------------------------------------------------- */

static void on_poll(uv_poll_t *h, int status, int events)
{
    sock_ctx_t *c = h->data;
    if (c->parked) { /* the idle peer closed or spoke out of turn: curl will see on reuse */
        uv_poll_stop(&c->poll);
        c->events = 0;
        return;
    }
    int flags = 0;
    if (status < 0) flags = CURL_CSELECT_ERR;
    if (events & UV_READABLE) flags |= CURL_CSELECT_IN;
    if (events & UV_WRITABLE) flags |= CURL_CSELECT_OUT;
    action(c->u, c->fd, flags);
}

static sock_ctx_t *sock_find(tx_upstream_t *u, curl_socket_t s)
{
    return s >= 0 && (size_t)s < u->nbyfd ? u->byfd[s] : NULL;
}

static sock_ctx_t *sock_new(tx_upstream_t *u, curl_socket_t s, int kept)
{
    if (s < 0) return NULL;
    if ((size_t)s >= u->nbyfd) {
        size_t n = u->nbyfd ? u->nbyfd : 64;
        while (n <= (size_t)s) n *= 2;
        sock_ctx_t **t = realloc(u->byfd, n * sizeof *t);
        if (t == NULL) return NULL;
        memset(t + u->nbyfd, 0, (n - u->nbyfd) * sizeof *t);
        u->byfd = t;
        u->nbyfd = n;
    }
    sock_ctx_t *c = calloc(1, sizeof *c);
    if (c == NULL) return NULL;
    if (uv_poll_init_socket(u->loop, &c->poll, s) != 0) {
        free(c);
        return NULL;
    }
    c->fd = s;
    c->u = u;
    c->kept = kept != 0;
    c->poll.data = c;
    c->next = u->socks;
    if (u->socks) u->socks->prev = c;
    u->socks = c;
    u->byfd[s] = c;
    u->handles_open++;
    return c;
}

static int socket_cb(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
    (void)easy;
    tx_upstream_t *u = userp;
    sock_ctx_t *c = socketp != NULL ? socketp : sock_find(u, s);
    if (what == CURL_POLL_REMOVE) {
        if (c == NULL) return 0;
        if (!c->kept) { /* e.g. the resolver's wake-up pair: closed without telling us */
            curl_multi_assign(u->multi, s, NULL);
            sock_close(u, c);
            return 0;
        }
        c->parked = 1;
        if (c->events & UV_WRITABLE) { /* an idle socket is always writable: stop */
            uv_poll_stop(&c->poll);
            c->events = 0;
        }
        return 0;
    }
    if (c == NULL && (c = sock_new(u, s, 0)) == NULL) return -1;
    if (socketp == NULL) curl_multi_assign(u->multi, s, c);
    c->parked = 0;
    int ev = 0;
    if (what & CURL_POLL_IN) ev |= UV_READABLE;
    if (what & CURL_POLL_OUT) ev |= UV_WRITABLE;
    if (ev != c->events) { /* uv_poll_start always re-registers: only when it changes */
        uv_poll_start(&c->poll, ev, on_poll);
        c->events = ev;
    }
    return 0;
}

/* curl opens a connection's socket: its watch is created now and lives until close_socket_cb. */
static curl_socket_t open_socket_cb(void *clientp, curlsocktype purpose, struct curl_sockaddr *a)
{
    tx_upstream_t *u = clientp;
    if (purpose != CURLSOCKTYPE_IPCXN) return CURL_SOCKET_BAD;
    curl_socket_t s = socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
    if (s == CURL_SOCKET_BAD) return s;
    sock_ctx_t *stale = sock_find(u, s); /* a descriptor closed behind our back: never expected */
    if (stale != NULL) sock_close(u, stale);
    (void)sock_new(u, s, 1); /* on failure the socket is watched per transfer instead */
    return s;
}

/* curl closes a socket (end of a connection): drop its watch before the descriptor goes. */
static int close_socket_cb(void *clientp, curl_socket_t s)
{
    tx_upstream_t *u = clientp;
    sock_ctx_t *c = sock_find(u, s);
    if (c != NULL) sock_close(u, c); /* uv_close stops the poll now, while s is still open */
    return close(s);
}

static void on_multi_timer(uv_timer_t *t)
{
    tx_upstream_t *u = t->data;
    uv_check_stop(&u->kick);
    action(u, CURL_SOCKET_TIMEOUT, 0);
}

static void on_kick(uv_check_t *k)
{
    uv_check_stop(k);
    action(k->data, CURL_SOCKET_TIMEOUT, 0);
}

/* A timeout of 0 (a transfer was just added) also runs in this loop iteration's check phase,
 * so a request started from an I/O callback leaves without another trip through epoll. The
 * 0 ms timer stays as well: a request started from a timer callback runs before the loop
 * blocks (the check phase comes after the poll, which a check handle does not shorten). */
static int timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
    (void)multi;
    tx_upstream_t *u = userp;
    if (u->closing) return 0;
    if (timeout_ms < 0) {
        uv_timer_stop(&u->timer);
    } else if (timeout_ms == 0) {
        /* already due (several transfers added in one loop iteration): leave it where it is */
        if (!uv_is_active((uv_handle_t *)&u->timer) || uv_timer_get_due_in(&u->timer) > 0)
            uv_timer_start(&u->timer, on_multi_timer, 0, 0);
        uv_check_start(&u->kick, on_kick);
    } else {
        uv_timer_start(&u->timer, on_multi_timer, (uint64_t)timeout_ms, 0);
    }
    return 0;
}

/* ---- per-request callbacks -------------------------------------------------------------- */

static void on_req_timer(uv_timer_t *t)
{
    tx_upstream_req_t *r = t->data;
    if (r->paused) return; /* our reader is slow, not the upstream: no timeout while paused */
    uint64_t now = uv_now(r->u->loop);
    uint64_t deadline;
    if (!r->got_byte) deadline = r->start_ms + (uint64_t)r->lim.attempt_timeout_ms;
    else deadline = r->last_ms + (uint64_t)r->lim.gap_timeout_ms;
    if (now < deadline) {
        uv_timer_start(&r->timer, on_req_timer, deadline - now, 0);
        return;
    }
    tx_upstream_t *u = r->u;
    r->local_err = TX_UPSTREAM_ETIMEOUT;
    u->dispatching++;
    finish(r, CURLE_OK, TX_UPSTREAM_ETIMEOUT);
    if (--u->dispatching == 0 && u->close_pending) do_close(u);
}

/* Records activity. Bytes just move last_ms and the timer catches up when it fires. The first
 * byte re-arms it only when the gap timeout would end before the timer's attempt deadline (or no
 * timer runs); otherwise that deadline comes first and on_req_timer moves on to the gap's. */
static void touch(tx_upstream_req_t *r)
{
    r->last_ms = uv_now(r->u->loop);
    if (!r->got_byte) {
        r->got_byte = 1;
        long gap = r->lim.gap_timeout_ms, attempt = r->lim.attempt_timeout_ms;
        if (gap > 0 && (attempt <= 0 || gap < attempt))
            uv_timer_start(&r->timer, on_req_timer, (uint64_t)gap, 0);
    }
}

static size_t header_cb(char *buf, size_t size, size_t n, void *userp)
{
    tx_upstream_req_t *r = userp;
    size_t len = size * n;
    if (r->cancelled) return 0;
    touch(r);
    if (r->head_sent) return len; /* trailers */
    if (len >= 5 && memcmp(buf, "HTTP/", 5) == 0) {
        r->hlen = r->nh = 0; /* a new response (after 1xx) */
        return len;
    }
    size_t e = len;
    while (e > 0 && (buf[e - 1] == '\r' || buf[e - 1] == '\n')) e--;
    if (e == 0) {
        long status = 0;
        curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
        if (status >= 100 && status < 200) {
            r->hlen = r->nh = 0;
            return len;
        }
        emit_head(r, (int)status);
        return r->cancelled ? 0 : len;
    }
    const char *colon = memchr(buf, ':', e);
    if (colon == NULL || colon == buf) return len; /* folded or garbled line: ignored */
    size_t nlen = (size_t)(colon - buf);
    const char *v = colon + 1;
    size_t vlen = e - nlen - 1;
    while (vlen > 0 && (*v == ' ' || *v == '\t')) v++, vlen--;
    while (vlen > 0 && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t')) vlen--;
    size_t need = r->hlen + nlen + vlen + 2;
    if (need > HEADER_BYTES_MAX) {
        r->local_err = TX_UPSTREAM_EPROTOCOL;
        return 0;
    }
    if (need > r->hcap) {
        size_t cap = r->hcap ? r->hcap * 2 : 1024;
        while (cap < need) cap *= 2;
        char *nb = realloc(r->hbuf, cap);
        if (nb == NULL) {
            r->local_err = TX_UPSTREAM_ENOMEM;
            return 0;
        }
        r->hbuf = nb;
        r->hcap = cap;
    }
    memcpy(r->hbuf + r->hlen, buf, nlen);
    r->hbuf[r->hlen + nlen] = '\0';
    memcpy(r->hbuf + r->hlen + nlen + 1, v, vlen);
    r->hbuf[r->hlen + nlen + 1 + vlen] = '\0';
    r->hlen = need;
    r->nh++;
    return len;
}

static size_t write_cb(char *ptr, size_t size, size_t n, void *userp)
{
    tx_upstream_req_t *r = userp;
    size_t len = size * n;
    if (r->cancelled) return 0;
    touch(r);
    r->received += len;
    if (r->lim.max_response_bytes > 0 && r->received > r->lim.max_response_bytes) {
        r->local_err = TX_UPSTREAM_ETOO_LARGE;
        return 0;
    }
    if (!r->head_sent) {
        long status = 0;
        curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
        emit_head(r, (int)status);
        if (r->cancelled) return 0;
    }
    if (r->cb.on_body != NULL) r->cb.on_body(r->ud, ptr, len);
    return r->cancelled ? 0 : len;
}

/* ---- public ------------------------------------------------------------------------------ */

tx_upstream_t *tx_upstream_new(uv_loop_t *loop, const tx_upstream_opts_t *o)
{
    if (loop == NULL) return NULL;
    static int global_done;
    if (!global_done) {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) return NULL;
        global_done = 1;
    }
    tx_upstream_t *u = calloc(1, sizeof *u);
    if (u == NULL) return NULL;
    u->loop = loop;
    if (o != NULL) u->o = *o;
    if (u->o.max_total_conns == 0) u->o.max_total_conns = 64;
    if ((o && o->proxy && (u->proxy = strdup(o->proxy)) == NULL) ||
        (o && o->ca_file && (u->ca_file = strdup(o->ca_file)) == NULL))
        goto fail;
    u->multi = curl_multi_init();
    u->share = curl_share_init();
    if (u->multi == NULL || u->share == NULL) goto fail;
    curl_share_setopt(u->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
    curl_share_setopt(u->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
    curl_share_setopt(u->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
    curl_multi_setopt(u->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
    curl_multi_setopt(u->multi, CURLMOPT_SOCKETDATA, u);
    curl_multi_setopt(u->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
    curl_multi_setopt(u->multi, CURLMOPT_TIMERDATA, u);
    curl_multi_setopt(u->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long)u->o.max_total_conns);
    curl_multi_setopt(u->multi, CURLMOPT_MAXCONNECTS, (long)u->o.max_total_conns);
    if (u->o.max_host_conns > 0)
        curl_multi_setopt(u->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)u->o.max_host_conns);
    curl_multi_setopt(u->multi, CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX);
    uv_timer_init(loop, &u->timer);
    u->timer.data = u;
    uv_check_init(loop, &u->kick);
    u->kick.data = u;
    u->handles_open = 2;
    return u;
fail:
    if (u->multi) curl_multi_cleanup(u->multi);
    if (u->share) curl_share_cleanup(u->share);
    free(u->proxy);
    free(u->ca_file);
    free(u);
    return NULL;
}

size_t tx_upstream_active(const tx_upstream_t *u) { return u ? u->active : 0; }

static int header_ok(const char *s)
{
    return s != NULL && strpbrk(s, "\r\n") == NULL;
}

/* Options that are the same for every request of this client. */
static void setup_fixed(tx_upstream_req_t *r)
{
    tx_upstream_t *u = r->u;
    CURL *e = r->easy;
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_PRIVATE, (void *)r);
    curl_easy_setopt(e, CURLOPT_SHARE, u->share);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, open_socket_cb);
    curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, (void *)u);
    curl_easy_setopt(e, CURLOPT_CLOSESOCKETFUNCTION, close_socket_cb);
    curl_easy_setopt(e, CURLOPT_CLOSESOCKETDATA, (void *)u);
    curl_easy_setopt(e, CURLOPT_PROXY, u->proxy ? u->proxy : "");
    /* no proxy: an empty no-proxy list spares curl's per-transfer getenv of no_proxy/NO_PROXY */
    if (u->proxy == NULL) curl_easy_setopt(e, CURLOPT_NOPROXY, "");
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION,
                     u->o.http2 < 0 ? CURL_HTTP_VERSION_1_1 : CURL_HTTP_VERSION_2TLS);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->errbuf);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, header_cb);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, (void *)r);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, (void *)r);
    if (u->o.connect_timeout_ms > 0)
        curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, u->o.connect_timeout_ms);
    if (u->ca_file) curl_easy_setopt(e, CURLOPT_CAINFO, u->ca_file);
    if (u->o.insecure) {
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
    }
}

/* Points the easy handle at `url`. curl parses a URL string again for every transfer; a
 * parsed CURLU it only copies when the transfer starts. The handles are cached per client and
 * kept until it closes (a queued transfer may still read one), up to URL_CACHE_MAX URLs; past
 * that the string is passed. */
static int set_url(tx_upstream_req_t *r, const char *url)
{
    tx_upstream_t *u = r->u;
    CURLU *h = NULL;
    for (size_t i = 0; i < u->nurls && h == NULL; i++)
        if (strcmp(u->urls[i].text, url) == 0) h = u->urls[i].h;
    if (h == NULL && u->nurls < URL_CACHE_MAX) {
        char *t = strdup(url);
        h = curl_url();
        if (t == NULL || h == NULL || curl_url_set(h, CURLUPART_URL, url, 0) != CURLUE_OK) {
            free(t);
            curl_url_cleanup(h);
            h = NULL;
        } else {
            u->urls[u->nurls].text = t;
            u->urls[u->nurls++].h = h;
        }
    }
    if (h != NULL) return curl_easy_setopt(r->easy, CURLOPT_CURLU, h) == CURLE_OK ? 0 : -1;
    curl_easy_setopt(r->easy, CURLOPT_CURLU, NULL);
    return curl_easy_setopt(r->easy, CURLOPT_URL, url) == CURLE_OK ? 0 : -1;
}

/* 1 when `list` holds exactly the lines "name: value" of h[0..nh) followed by "Expect:" (what
 * build_headers makes of them), so a request with the headers of the last one reuses its list. */
static int same_headers(const struct curl_slist *list, const tx_header_t *h, size_t nh)
{
    for (size_t i = 0; i < nh; i++, list = list->next) {
        if (list == NULL || h[i].name == NULL || h[i].value == NULL) return 0;
        const char *d = list->data;
        size_t nl = strlen(h[i].name);
        /* a name with ':' would shift the split ({"a: b","c"} reads as {"a","b: c"}) */
        if (strncmp(d, h[i].name, nl) != 0 || d[nl] != ':' || d[nl + 1] != ' ' ||
            memchr(h[i].name, ':', nl) != NULL || strcmp(d + nl + 2, h[i].value) != 0)
            return 0;
    }
    return list != NULL && list->next == NULL && strcmp(list->data, "Expect:") == 0;
}

/* Replaces r->hdrs with the lines of h (checked: no CR/LF, a non-empty name without ':') and
 * "Expect:" (no 100-continue round trip). 0, or -1 with r->hdrs NULL. */
static int build_headers(tx_upstream_req_t *r, const tx_header_t *h, size_t nh)
{
    curl_slist_free_all(r->hdrs);
    r->hdrs = NULL;
    struct curl_slist *list = NULL, *n;
    char line[1024];
    for (size_t i = 0; i < nh; i++) {
        if (!header_ok(h[i].name) || !header_ok(h[i].value) || h[i].name[0] == '\0' ||
            strchr(h[i].name, ':') != NULL)
            goto fail;
        size_t nl = strlen(h[i].name), vl = strlen(h[i].value);
        size_t need = nl + vl + 3;
        char *buf = need <= sizeof line ? line : malloc(need);
        if (buf == NULL) goto fail;
        memcpy(buf, h[i].name, nl);
        memcpy(buf + nl, ": ", 2);
        memcpy(buf + nl + 2, h[i].value, vl + 1);
        n = curl_slist_append(list, buf);
        if (buf != line) free(buf);
        if (n == NULL) goto fail;
        list = n;
    }
    if ((n = curl_slist_append(list, "Expect:")) == NULL) goto fail;
    r->hdrs = n;
    return 0;
fail:
    curl_slist_free_all(list);
    return -1;
}

/* Configures the easy handle for one request. A handle that served a POST serves the next POST
 * with only the per-request options set; any other method starts from curl_easy_reset. */
static int setup(tx_upstream_req_t *r, const char *method, const char *url, const tx_header_t *h,
                 size_t nh, const char *body, size_t len)
{
    CURL *e = r->easy;
    int post = strcmp(method, "POST") == 0;
    if (!same_headers(r->hdrs, h, nh) && build_headers(r, h, nh) != 0) return -1;
    if (!(r->configured && post)) {
        curl_easy_reset(e);
        r->configured = 0;
        setup_fixed(r);
    }
    r->errbuf[0] = '\0';
    if (set_url(r, url) != 0) return -1;
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->hdrs);
    if (r->configured) { /* a POST before: only the body changes */
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, len > 0 ? body : "");
        return 0;
    }
    if (strcmp(method, "GET") == 0) {
        curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    } else if (strcmp(method, "HEAD") == 0) {
        curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
    } else {
        if (!post) curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, len > 0 ? body : "");
    }
    r->configured = post;
    return 0;
}

/* A request object from the spares (reset for a new use) or a new one; NULL when out of memory. */
static tx_upstream_req_t *req_get(tx_upstream_t *u)
{
    tx_upstream_req_t *r = u->spare;
    if (r != NULL) {
        u->spare = r->next;
        u->nspare--;
        memset(r, 0, offsetof(tx_upstream_req_t, timer));
        r->u = u;
        return r;
    }
    r = calloc(1, sizeof *r);
    if (r == NULL) return NULL;
    r->u = u;
    if ((r->easy = curl_easy_init()) == NULL) {
        free(r);
        return NULL;
    }
    uv_timer_init(u->loop, &r->timer);
    r->timer.data = r;
    u->handles_open++;
    return r;
}

tx_upstream_req_t *tx_upstream_send(tx_upstream_t *u, const char *method, const char *url,
                                    const tx_header_t *h, size_t nh, const char *body, size_t len,
                                    const tx_upstream_limits_t *lim, const tx_upstream_cb_t *cb,
                                    void *ud)
{
    if (u == NULL || u->closing || u->close_pending || method == NULL || method[0] == '\0' || !header_ok(method) ||
        url == NULL || (h == NULL && nh > 0) || (body == NULL && len > 0) || cb == NULL ||
        cb->on_done == NULL)
        return NULL;
    tx_upstream_req_t *r = req_get(u);
    if (r == NULL) return NULL;
    r->cb = *cb;
    r->ud = ud;
    if (lim != NULL) r->lim = *lim;
    if (r->lim.attempt_timeout_ms < 0) r->lim.attempt_timeout_ms = 0;
    if (r->lim.gap_timeout_ms <= 0) r->lim.gap_timeout_ms = r->lim.attempt_timeout_ms;
    if (setup(r, method, url, h, nh, body, len) != 0) {
        r->configured = 0;
        req_destroy(r);
        return NULL;
    }
    r->start_ms = uv_now(u->loop);
    r->start_ns = uv_hrtime();
    r->next = u->reqs;
    if (u->reqs) u->reqs->prev = r;
    u->reqs = r;
    u->active++;
    if (r->lim.attempt_timeout_ms > 0)
        uv_timer_start(&r->timer, on_req_timer, (uint64_t)r->lim.attempt_timeout_ms, 0);
    if (u->in_curl) {
        r->queued = 1;
        r->deferred = u->deferred;
        u->deferred = r;
    } else if (curl_multi_add_handle(u->multi, r->easy) == CURLM_OK) {
        r->added = 1;
    } else {
        r->cancelled = 1; /* no callback: the caller sees NULL */
        req_release(r);
        return NULL;
    }
    return r;
}

void tx_upstream_cancel(tx_upstream_req_t *r)
{
    if (r == NULL || r->cancelled || r->in_done || r->finished) return;
    tx_upstream_t *u = r->u;
    r->cancelled = 1;
    uv_timer_stop(&r->timer);
    if (u->in_curl) {
        if (!r->queued) {
            r->queued = 1;
            r->deferred = u->deferred;
            u->deferred = r;
        }
        return;
    }
    if (r->queued) return; /* run_deferred releases it */
    req_release(r);
}

tx_err_t tx_upstream_pause(tx_upstream_req_t *r, int pause)
{
    if (r == NULL || r->cancelled || r->finished || r->in_done || !r->added) return TX_EINVAL;
    pause = pause != 0;
    if ((int)r->paused == pause) return TX_EOK;
    /* from inside this request's write callback too: curl keeps what it has not delivered yet
     * and hands it over after the resume */
    if (curl_easy_pause(r->easy, pause ? CURLPAUSE_RECV : CURLPAUSE_CONT) != CURLE_OK)
        return TX_EIO;
    r->paused = (unsigned)pause;
    if (pause) {
        uv_timer_stop(&r->timer);
    } else {
        /* the gap timeout starts again from the resume; curl asks for a 0 ms timeout itself, so
         * the transfer goes on from the loop */
        r->last_ms = uv_now(r->u->loop);
        long gap = r->lim.gap_timeout_ms;
        if (gap > 0 && !r->cancelled && !r->finished)
            uv_timer_start(&r->timer, on_req_timer, (uint64_t)gap, 0);
    }
    return TX_EOK;
}

void tx_upstream_close(tx_upstream_t *u, void (*done)(void *), void *arg)
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
    run_deferred(u);
    u->closing = 1;
    while (u->reqs != NULL) {
        tx_upstream_req_t *r = u->reqs;
        if (r->cancelled) req_release(r);
        else finish(r, CURLE_OK, TX_UPSTREAM_EABORTED);
    }
    while (u->spare != NULL) {
        tx_upstream_req_t *r = u->spare;
        u->spare = r->next;
        req_destroy(r);
    }
    u->nspare = 0;
    curl_multi_cleanup(u->multi); /* closes cached connections (socket_cb REMOVE) */
    u->multi = NULL;
    curl_share_cleanup(u->share);
    u->share = NULL;
    while (u->socks != NULL) sock_close(u, u->socks);
    uv_timer_stop(&u->timer);
    uv_close((uv_handle_t *)&u->timer, on_timer_closed);
    uv_check_stop(&u->kick);
    uv_close((uv_handle_t *)&u->kick, on_timer_closed);
}
