/* The upstream client against a tiny HTTP responder written here with raw libuv TCP: bodies,
 * chunked (trailers), close-delimited, 1xx, 204, HEAD, Content-Length with Transfer-Encoding,
 * a response trickled one byte per write, our timeouts, reset (before and mid-body), refused,
 * partial, size limit, cancel from callbacks and timers, concurrency, keep-alive reuse (counted
 * by accepted connections), `Connection: close`, the server's Keep-Alive timeout, a stale pooled
 * connection re-sent once (and only then), a server that answers before the body is sent,
 * pause/resume, close with work in flight, and the request headers of reused requests. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "upstream/client.h"

/* ---- the responder --------------------------------------------------------------------- */

typedef struct conn {
    uv_tcp_t tcp;
    char buf[8192];
    size_t len;
    struct srv *s;
    struct conn *next;
    int closed;
    int served; /* responses started on this connection */
    int deaf;   /* stopped reading (answered early) */
} conn_t;

typedef struct srv {
    uv_tcp_t listener;
    int port;
    int accepted;
    int peer_closed; /* connections the client ended */
    int writes_done;
    conn_t *conns;
} srv_t;

static void on_conn_closed(uv_handle_t *h)
{
    (void)h;
}

static void conn_close(conn_t *c)
{
    if (c->closed) return;
    c->closed = 1;
    uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
}

typedef struct {
    uv_write_t w;
    char data[];
} wreq_t;

static void on_written(uv_write_t *w, int status)
{
    (void)status;
    conn_t *c = w->handle->data;
    c->s->writes_done++;
    free(w);
}

static void on_shut(uv_shutdown_t *sr, int status)
{
    (void)status;
    conn_t *c = sr->handle->data;
    free(sr);
    conn_close(c);
}

/* Ends the connection after what was written (FIN, then close). */
static void finish_conn(conn_t *c)
{
    uv_shutdown_t *sr = malloc(sizeof *sr);
    assert_non_null(sr);
    if (uv_shutdown(sr, (uv_stream_t *)&c->tcp, on_shut) != 0) {
        free(sr);
        conn_close(c);
    }
}

static void say(conn_t *c, const char *data, size_t len)
{
    wreq_t *w = malloc(sizeof *w + len);
    assert_non_null(w);
    memcpy(w->data, data, len);
    uv_buf_t b = uv_buf_init(w->data, (unsigned)len);
    if (uv_write(&w->w, (uv_stream_t *)&c->tcp, &b, 1, on_written) != 0) free(w);
}

static void says(conn_t *c, const char *s)
{
    say(c, s, strlen(s));
}

static void respond(conn_t *c, const char *path, const char *req_head, size_t req_hlen,
                    const char *body, size_t blen)
{
    char head[256];
    if (strcmp(path, "/head") == 0) { /* the request's head as the body */
        int n =
            snprintf(head, sizeof head, "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n", req_hlen);
        say(c, head, (size_t)n);
        say(c, req_head, req_hlen);
    } else if (strcmp(path, "/ok") == 0) {
        says(c, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Test:  yes \r\n"
                "Content-Length: 5\r\n\r\nhello");
    } else if (strcmp(path, "/echo") == 0) {
        int n = snprintf(head, sizeof head, "HTTP/1.1 201 Created\r\nContent-Length: %zu\r\n\r\n",
                         blen);
        say(c, head, (size_t)n);
        say(c, body, blen);
    } else if (strcmp(path, "/chunked") == 0) {
        says(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n "
                "world\r\n0\r\n\r\n");
    } else if (strcmp(path, "/slow") == 0) {
        says(c, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: "
                "chunked\r\n\r\n"
                "9\r\ndata: 1\n\n\r\n");
    } else if (strcmp(path, "/reset") == 0) {
        c->closed = 1;
        uv_tcp_close_reset(&c->tcp, on_conn_closed);
    } else if (strcmp(path, "/partial") == 0) {
        says(c, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc");
        conn_close(c);
    } else if (strcmp(path, "/big") == 0) {
        static char big[10000];
        memset(big, 'x', sizeof big);
        says(c, "HTTP/1.1 200 OK\r\nContent-Length: 10000\r\n\r\n");
        say(c, big, sizeof big);
    } else if (strcmp(path, "/big2") == 0) {
        static char big[200000];
        memset(big, 'y', sizeof big);
        says(c, "HTTP/1.1 200 OK\r\nContent-Length: 200000\r\n\r\n");
        say(c, big, sizeof big);
    } else if (strcmp(path, "/hang") == 0) {
        /* never answers */
    } else if (strcmp(path, "/close") == 0) { /* says close, keeps the connection open */
        says(c, "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok");
    } else if (strcmp(path, "/eof") == 0) {
        says(c, "HTTP/1.1 200 OK\r\n\r\nuntil close");
        finish_conn(c);
    } else if (strcmp(path, "/resetmid") == 0) {
        says(c, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc");
        c->closed = 1;
        uv_tcp_close_reset(&c->tcp, on_conn_closed);
    } else if (strcmp(path, "/clte") == 0) {
        says(c, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"
                "3\r\nabc\r\n0\r\n\r\n");
    } else if (strcmp(path, "/headok") == 0) { /* the head a GET would get, as for HEAD */
        says(c, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n");
    } else if (strcmp(path, "/204") == 0) {
        says(c, "HTTP/1.1 204 No Content\r\n\r\n");
    } else if (strcmp(path, "/100") == 0) {
        says(c, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nX-Test: after\r\nContent-Length: "
                "2\r\n\r\nok");
    } else if (strcmp(path, "/trailers") == 0) {
        says(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-T\r\n\r\n"
                "2\r\nab\r\n1;x=y\r\nc\r\n0\r\nX-T: 1\r\n\r\n");
    } else if (strcmp(path, "/trickle") == 0) { /* one byte per write */
        const char *t =
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
        for (const char *p = t; *p; p++)
            say(c, p, 1);
    } else if (strcmp(path, "/ka1") == 0) {
        says(c, "HTTP/1.1 200 OK\r\nKeep-Alive: timeout=1\r\nContent-Length: 2\r\n\r\nok");
    } else if (strcmp(path, "/drop") == 0) {
        conn_close(c);
    } else if (strcmp(path, "/drop-if-reused") == 0) {
        if (c->served > 1)
            conn_close(c);
        else
            says(c, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello");
    } else if (strcmp(path, "/half-if-reused") == 0) {
        if (c->served > 1) {
            says(c, "HTTP/1.1 200 OK\r\nContent-Le");
            finish_conn(c);
        } else {
            says(c, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello");
        }
    } else {
        says(c, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
    }
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
    (void)hint;
    conn_t *c = h->data;
    *b = uv_buf_init(c->buf + c->len, (unsigned)(sizeof c->buf - c->len));
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b)
{
    (void)b;
    conn_t *c = st->data;
    if (n < 0) {
        if (!c->closed) c->s->peer_closed++;
        conn_close(c);
        return;
    }
    c->len += (size_t)n;
    for (;;) {
        c->buf[c->len < sizeof c->buf ? c->len : sizeof c->buf - 1] = '\0';
        char *end = strstr(c->buf, "\r\n\r\n");
        if (end == NULL) return;
        size_t hlen = (size_t)(end - c->buf) + 4, blen = 0;
        char *cl = strcasestr(c->buf, "\r\nContent-Length:");
        if (cl != NULL && cl < end) blen = strtoul(cl + 17, NULL, 10);
        char path[64] = "";
        const char *sp = strchr(c->buf, ' ');
        if (sp != NULL && strncmp(sp + 1, "http://", 7) == 0) /* absolute-form: we are a proxy */
            sp = strchr(sp + 8, '/') - 1;
        if (sp != NULL) {
            size_t k = 0;
            for (sp++; *sp != ' ' && *sp && k < sizeof path - 1; sp++)
                path[k++] = *sp;
            path[k] = '\0';
        }
        if (strcmp(path, "/early") == 0) { /* answers on the head and reads no more */
            says(c, "HTTP/1.1 413 Payload Too Large\r\nContent-Length: 0\r\n\r\n");
            uv_read_stop(st);
            c->deaf = 1;
            return;
        }
        if (c->len < hlen + blen) return;
        c->served++;
        respond(c, path, c->buf, hlen, c->buf + hlen, blen);
        if (c->closed) return;
        memmove(c->buf, c->buf + hlen + blen, c->len - hlen - blen);
        c->len -= hlen + blen;
    }
}

static void on_accept(uv_stream_t *l, int status)
{
    srv_t *s = l->data;
    assert_int_equal(status, 0);
    conn_t *c = calloc(1, sizeof *c);
    assert_non_null(c);
    c->s = s;
    uv_tcp_init(l->loop, &c->tcp);
    c->tcp.data = c;
    c->next = s->conns;
    s->conns = c;
    assert_int_equal(uv_accept(l, (uv_stream_t *)&c->tcp), 0);
    s->accepted++;
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

static void srv_start(uv_loop_t *loop, srv_t *s)
{
    memset(s, 0, sizeof *s);
    struct sockaddr_in a;
    uv_ip4_addr("127.0.0.1", 0, &a);
    uv_tcp_init(loop, &s->listener);
    s->listener.data = s;
    assert_int_equal(uv_tcp_bind(&s->listener, (struct sockaddr *)&a, 0), 0);
    assert_int_equal(uv_listen((uv_stream_t *)&s->listener, 128, on_accept), 0);
    struct sockaddr_storage ss;
    int len = sizeof ss;
    uv_tcp_getsockname(&s->listener, (struct sockaddr *)&ss, &len);
    s->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

static void srv_stop(srv_t *s)
{
    uv_close((uv_handle_t *)&s->listener, NULL);
    for (conn_t *c = s->conns; c != NULL; c = c->next)
        conn_close(c);
}

static void srv_free(srv_t *s)
{
    while (s->conns) {
        conn_t *c = s->conns;
        s->conns = c->next;
        free(c);
    }
}

/* ---- harness ------------------------------------------------------------------------------- */

typedef struct {
    uv_loop_t loop;
    srv_t srv;
    tx_upstream_t *u;
    uv_timer_t wake;
    int closed;
} env_t;

typedef struct rec {
    env_t *env;
    int heads, dones, order_ok, status;
    char body[16384];
    size_t blen;
    char xtest[32];
    tx_upstream_result_t res;
    char msg[256];
    tx_upstream_req_t *req;
    int cancel_in_body;
    int bodies;
    tx_upstream_req_t **cancel_other; /* cancelled from this request's on_body */
    struct rec *spawn;                /* started from this request's on_body (the client running) */
    int chain;                        /* send another /ok from on_done while > 0 */
    int reused_count;
    int close_in_done;
    int pause_in_body;
} rec_t;

static tx_upstream_req_t *get(env_t *e, const char *path, const tx_upstream_limits_t *lim,
                              rec_t *r);
static void on_closed(void *arg);

static void on_head(void *ud, int status, const tx_header_t *h, size_t nh)
{
    rec_t *r = ud;
    r->heads++;
    r->status = status;
    r->order_ok = r->blen == 0;
    for (size_t i = 0; i < nh; i++)
        if (strcasecmp(h[i].name, "x-test") == 0)
            snprintf(r->xtest, sizeof r->xtest, "%s", h[i].value);
}

static void on_body(void *ud, const char *d, size_t n)
{
    rec_t *r = ud;
    assert_int_equal(r->heads, 1);
    if (r->blen + n <= sizeof r->body) memcpy(r->body + r->blen, d, n);
    r->blen += n;
    r->bodies++;
    if (r->cancel_other != NULL) tx__upstream_cancel(*r->cancel_other);
    if (r->spawn != NULL && r->spawn->req == NULL)
        assert_non_null(get(r->env, "/chunked", NULL, r->spawn));
    if (r->pause_in_body && r->bodies == 1) assert_int_equal(tx__upstream_pause(r->req, 1), TX_EOK);
    if (r->cancel_in_body) {
        tx__upstream_cancel(r->req);
        tx__upstream_cancel(r->req); /* twice is harmless */
    }
}

static void on_done(void *ud, const tx_upstream_result_t *res)
{
    rec_t *r = ud;
    r->dones++;
    r->res = *res;
    snprintf(r->msg, sizeof r->msg, "%s", res->message);
    r->res.message = r->msg;
    tx__upstream_cancel(r->req); /* no-op inside on_done */
    if (res->reused) r->reused_count++;
    if (r->close_in_done) {
        tx__upstream_close(r->env->u, on_closed, &r->env->closed);
        assert_null(get(r->env, "/ok", NULL, r)); /* closing: refused, no callback */
        return;
    }
    if (r->chain-- > 0) {
        r->blen = 0;
        r->heads = 0;
        r->req = get(r->env, "/ok", NULL, r);
        assert_non_null(r->req);
    }
}

static const tx_upstream_cb_t CB = {on_head, on_body, on_done};

static tx_upstream_req_t *get(env_t *e, const char *path, const tx_upstream_limits_t *lim, rec_t *r)
{
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", e->srv.port, path);
    r->env = e;
    return r->req = tx__upstream_send(e->u, "GET", url, NULL, 0, NULL, 0, lim, &CB, r);
}

static void on_wake(uv_timer_t *t)
{
    (void)t;
}
static void on_closed(void *arg)
{
    *(int *)arg = 1;
}

static void env_init(env_t *e, const tx_upstream_opts_t *o)
{
    memset(e, 0, sizeof *e);
    assert_int_equal(uv_loop_init(&e->loop), 0);
    srv_start(&e->loop, &e->srv);
    e->u = tx__upstream_new(&e->loop, o);
    assert_non_null(e->u);
    uv_timer_init(&e->loop, &e->wake);
    uv_timer_start(&e->wake, on_wake, 50, 50); /* keeps run_until's loop turning */
}

/* Runs the loop until *counter >= want or 10 s of loop time pass; returns *counter. */
static int run_until(env_t *e, const int *counter, int want)
{
    uint64_t deadline = uv_now(&e->loop) + 10000;
    while (*counter < want && uv_now(&e->loop) < deadline)
        uv_run(&e->loop, UV_RUN_ONCE);
    return *counter;
}

static void env_done(env_t *e)
{
    tx__upstream_close(e->u, on_closed, &e->closed);
    srv_stop(&e->srv);
    uv_close((uv_handle_t *)&e->wake, NULL);
    uv_run(&e->loop, UV_RUN_DEFAULT);
    assert_int_equal(e->closed, 1);
    assert_int_equal(uv_loop_close(&e->loop), 0);
    srv_free(&e->srv);
}

/* ---- tests ----------------------------------------------------------------------------------- */

static void ok_body_and_headers(void **state)
{
    (void)state;
    env_t e;
    env_init(&e, NULL);
    rec_t r = {0};
    assert_non_null(get(&e, "/ok", NULL, &r));
    assert_int_equal(tx__upstream_active(e.u), 1);
    assert_int_equal(run_until(&e, &r.dones, 1), 1);
    assert_int_equal(r.res.err, TX_UPSTREAM_EOK);
    assert_int_equal(r.res.status, 200);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.heads, 1);
    assert_true(r.order_ok);
    assert_int_equal(r.blen, 5);
    assert_memory_equal(r.body, "hello", 5);
    assert_string_equal(r.xtest, "yes");
    assert_int_equal(r.res.body_bytes, 5);
    assert_true(r.res.total_us > 0);
    assert_true(r.res.first_byte_us >= r.res.connect_us);
    assert_int_equal(tx__upstream_active(e.u), 0);
    env_done(&e);
}

static void post_body_and_chunked(void **state)
{
    (void)state;
    env_t e;
    env_init(&e, NULL);
    rec_t r = {0}, c = {0};
    static const char body[] = "{\"model\":\"m\",\"messages\":[]}";
    const tx_header_t h[] = {{"Content-Type", "application/json"}, {"Authorization", "Bearer k"}};
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/echo", e.srv.port);
    r.req = tx__upstream_send(e.u, "POST", url, h, 2, body, sizeof body - 1, NULL, &CB, &r);
    assert_non_null(r.req);
    assert_non_null(get(&e, "/chunked", NULL, &c));
    run_until(&e, &r.dones, 1);
    run_until(&e, &c.dones, 1);
    assert_int_equal(r.res.err, TX_UPSTREAM_EOK);
    assert_int_equal(r.res.status, 201);
    assert_int_equal(r.blen, sizeof body - 1);
    assert_memory_equal(r.body, body, sizeof body - 1);
    assert_int_equal(c.res.err, TX_UPSTREAM_EOK);
    assert_int_equal(c.blen, 11);
    assert_memory_equal(c.body, "hello world", 11);
    env_done(&e);
}

static void timeouts_are_ours(void **state)
{
    (void)state;
    env_t e;
    env_init(&e, NULL);
    rec_t gap = {0}, first = {0};
    /* generous time to the first byte, short gaps: the stalled stream hits the gap limit */
    tx_upstream_limits_t lg = {.attempt_timeout_ms = 60000, .gap_timeout_ms = 100};
    tx_upstream_limits_t lf = {.attempt_timeout_ms = 100};
    assert_non_null(get(&e, "/slow", &lg, &gap));
    assert_non_null(get(&e, "/hang", &lf, &first));
    run_until(&e, &gap.dones, 1);
    run_until(&e, &first.dones, 1);
    assert_int_equal(gap.res.err, TX_UPSTREAM_ETIMEOUT);
    assert_int_equal(gap.heads, 1);
    assert_int_equal(gap.res.status, 200);
    assert_memory_equal(gap.body, "data: 1\n\n", 9);
    assert_int_equal(first.res.err, TX_UPSTREAM_ETIMEOUT);
    assert_int_equal(first.heads, 0);
    assert_int_equal(first.res.status, 0);
    assert_string_equal(first.msg, "timed out");
    env_done(&e);
}

static void transport_failures(void **state)
{
    (void)state;
    env_t e;
    env_init(&e, NULL);
    /* a port that was just free: connection refused */
    uv_tcp_t tmp;
    struct sockaddr_in a;
    uv_ip4_addr("127.0.0.1", 0, &a);
    uv_tcp_init(&e.loop, &tmp);
    assert_int_equal(uv_tcp_bind(&tmp, (struct sockaddr *)&a, 0), 0);
    struct sockaddr_storage ss;
    int len = sizeof ss;
    uv_tcp_getsockname(&tmp, (struct sockaddr *)&ss, &len);
    int closed_port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    uv_close((uv_handle_t *)&tmp, NULL);

    rec_t reset = {0}, partial = {0}, big = {0}, refused = {0}, bad = {0};
    tx_upstream_limits_t lb = {.max_response_bytes = 1000};
    assert_non_null(get(&e, "/reset", NULL, &reset));
    assert_non_null(get(&e, "/partial", NULL, &partial));
    assert_non_null(get(&e, "/big", &lb, &big));
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/x", closed_port);
    refused.req = tx__upstream_send(e.u, "GET", url, NULL, 0, NULL, 0, NULL, &CB, &refused);
    assert_non_null(refused.req);
    bad.req = tx__upstream_send(e.u, "GET", "ftp://127.0.0.1/x", NULL, 0, NULL, 0, NULL, &CB, &bad);
    assert_non_null(bad.req);
    run_until(&e, &reset.dones, 1);
    run_until(&e, &partial.dones, 1);
    run_until(&e, &big.dones, 1);
    run_until(&e, &refused.dones, 1);
    run_until(&e, &bad.dones, 1);
    assert_int_equal(reset.res.err, TX_UPSTREAM_ERESET);
    assert_int_equal(partial.res.err, TX_UPSTREAM_EPARTIAL);
    assert_int_equal(partial.heads, 1);
    assert_int_equal(partial.blen, 3);
    assert_int_equal(big.res.err, TX_UPSTREAM_ETOO_LARGE);
    assert_true(big.blen <= 1000);
    assert_int_equal(refused.res.err, TX_UPSTREAM_ECONNECT);
    assert_true(refused.msg[0] != '\0');
    assert_int_equal(bad.res.err, TX_UPSTREAM_EINVALID);
    env_done(&e);
}

static void cancel_anywhere(void **state)
{
    (void)state;
    env_t e;
    env_init(&e, NULL);
    rec_t in_body = {.cancel_in_body = 1}, hang = {0}, after = {0}, other = {0}, victim = {0};
    assert_non_null(get(&e, "/slow", NULL, &in_body));
    assert_non_null(get(&e, "/hang", NULL, &hang));
    run_until(&e, &in_body.bodies, 1);
    assert_int_equal(in_body.blen, 9);
    /* one request's callback cancels another request (the client is running at that moment) */
    assert_non_null(get(&e, "/hang", NULL, &victim));
    run_until(&e, &e.srv.accepted, 3);
    rec_t spawned = {0};
    other.cancel_other = &victim.req;
    other.spawn = &spawned;
    assert_non_null(get(&e, "/ok", NULL, &other));
    run_until(&e, &other.dones, 1);
    assert_int_equal(other.res.err, TX_UPSTREAM_EOK);
    run_until(&e, &spawned.dones, 1);
    assert_int_equal(spawned.res.err, TX_UPSTREAM_EOK);
    assert_memory_equal(spawned.body, "hello world", 11);
    assert_int_equal(victim.dones, 0);
    /* the hanging one, from outside any callback, once it is certainly on the wire */
    tx__upstream_cancel(hang.req);
    assert_int_equal(tx__upstream_active(e.u), 0);
    /* the client still works, and no late callback arrives for the cancelled ones */
    assert_non_null(get(&e, "/ok", NULL, &after));
    run_until(&e, &after.dones, 1);
    assert_int_equal(after.res.err, TX_UPSTREAM_EOK);
    assert_int_equal(in_body.dones, 0);
    assert_int_equal(hang.dones, 0);
    assert_int_equal(hang.heads, 0);
    env_done(&e);
    assert_int_equal(in_body.dones + hang.dones, 0);
}

#define MANY 40
static void many_concurrent_bounded_conns(void **state)
{
    (void)state;
    env_t e;
    tx_upstream_opts_t o = {.max_total_conns = 4};
    env_init(&e, &o);
    static rec_t r[MANY];
    memset(r, 0, sizeof r);
    int total = 0;
    for (int i = 0; i < MANY; i++)
        assert_non_null(get(&e, "/ok", NULL, &r[i]));
    uint64_t deadline = uv_now(&e.loop) + 10000;
    while (uv_now(&e.loop) < deadline) {
        total = 0;
        for (int i = 0; i < MANY; i++)
            total += r[i].dones;
        if (total == MANY) break;
        uv_run(&e.loop, UV_RUN_ONCE);
    }
    assert_int_equal(total, MANY);
    for (int i = 0; i < MANY; i++) {
        assert_int_equal(r[i].res.err, TX_UPSTREAM_EOK);
        assert_int_equal(r[i].blen, 5);
    }
    assert_true(e.srv.accepted >= 1);
    assert_true(e.srv.accepted <= 4);
    env_done(&e);
}

static void keepalive_reuses_one_connection(void **state)
{
    (void)state;
    env_t e;
    env_init(&e, NULL);
    rec_t r = {.chain = 4}; /* 5 requests, each started from the previous one's on_done */
    assert_non_null(get(&e, "/ok", NULL, &r));
    run_until(&e, &r.dones, 5);
    assert_int_equal(r.dones, 5);
    assert_int_equal(r.res.err, TX_UPSTREAM_EOK);
    assert_int_equal(r.reused_count, 4);
    assert_int_equal(e.srv.accepted, 1);
    env_done(&e);
}

static void close_with_requests_in_flight(void **state)
{
    (void)state;
    env_t e;
    env_init(&e, NULL);
    rec_t a = {0}, b = {0}, c = {0};
    assert_non_null(get(&e, "/hang", NULL, &a));
    assert_non_null(get(&e, "/hang", NULL, &b));
    assert_non_null(get(&e, "/hang", NULL, &c));
    run_until(&e, &e.srv.accepted, 3);
    tx__upstream_cancel(b.req);
    env_done(&e); /* closes the client: a and c get ABORTED, b nothing; no leak */
    assert_int_equal(a.dones, 1);
    assert_int_equal(a.res.err, TX_UPSTREAM_EABORTED);
    assert_int_equal(c.dones, 1);
    assert_int_equal(b.dones, 0);
}

static void close_from_inside_on_done(void **state)
{
    (void)state;
    env_t e;
    env_init(&e, NULL);
    rec_t a = {.close_in_done = 1}, b = {0};
    assert_non_null(get(&e, "/ok", NULL, &a));
    assert_non_null(get(&e, "/hang", NULL, &b));
    run_until(&e, &e.closed, 1);
    assert_int_equal(e.closed, 1);
    assert_int_equal(a.dones, 1);
    assert_int_equal(a.res.err, TX_UPSTREAM_EOK);
    assert_int_equal(b.dones, 1);
    assert_int_equal(b.res.err, TX_UPSTREAM_EABORTED);
    srv_stop(&e.srv);
    uv_close((uv_handle_t *)&e.wake, NULL);
    uv_run(&e.loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&e.loop), 0);
    srv_free(&e.srv);
}

/* Sends `h` to /head (POST, or GET when nh is 0) and waits: the head the responder saw. */
static const char *sent_head(env_t *e, rec_t *r, const tx_header_t *h, size_t nh)
{
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/head", e->srv.port);
    memset(r, 0, sizeof *r);
    r->env = e;
    r->req = tx__upstream_send(e->u, nh > 0 ? "POST" : "GET", url, h, nh, nh > 0 ? "{}" : NULL,
                               nh > 0 ? 2 : 0, NULL, &CB, r);
    assert_non_null(r->req);
    assert_int_equal(run_until(e, &r->dones, 1), 1);
    assert_int_equal(r->res.status, 200);
    r->body[r->blen < sizeof r->body ? r->blen : sizeof r->body - 1] = '\0';
    return r->body;
}

/* A finished request's header list serves the next request only when its headers are the same:
 * each request carries exactly its own headers, whatever the one before sent. */
static void request_headers_follow_each_send(void **state)
{
    (void)state;
    env_t e;
    env_init(&e, NULL);
    rec_t r;
    const tx_header_t ab[] = {{"X-A", "1"}, {"X-B", "2"}}, a3[] = {{"X-A", "3"}};
    const tx_header_t split[] = {{"X", "a: b"}}, shifted[] = {{"X: a", "b"}};
    for (int round = 0; round < 2; round++) { /* the second round reuses the first's list */
        const char *got = sent_head(&e, &r, ab, 2);
        assert_non_null(strstr(got, "\r\nX-A: 1\r\n"));
        assert_non_null(strstr(got, "\r\nX-B: 2\r\n"));
        assert_null(strstr(got, "Expect"));
    }
    const char *got = sent_head(&e, &r, ab, 1); /* a prefix of the list before */
    assert_non_null(strstr(got, "\r\nX-A: 1\r\n"));
    assert_null(strstr(got, "X-B"));
    got = sent_head(&e, &r, a3, 1);
    assert_non_null(strstr(got, "\r\nX-A: 3\r\n"));
    assert_null(strstr(got, "X-B"));
    got = sent_head(&e, &r, split, 1);
    assert_non_null(strstr(got, "\r\nX: a: b\r\n"));
    /* the same line split elsewhere is a name with ':': refused, not matched to the kept list */
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/head", e.srv.port);
    memset(&r, 0, sizeof r);
    assert_null(tx__upstream_send(e.u, "POST", url, shifted, 1, "{}", 2, NULL, &CB, &r));
    got = sent_head(&e, &r, NULL, 0);
    assert_null(strstr(got, "X-A"));
    assert_null(strstr(got, "X: a"));
    env_done(&e);
}

/* Sends `method path` (body: len bytes of 'b' when len > 0) and waits for its end. */
static void fetch(env_t *e, const char *method, const char *path, size_t len, rec_t *r)
{
    static char *body;
    static size_t cap;
    if (len > cap) {
        free(body);
        body = malloc(len);
        assert_non_null(body);
        memset(body, 'b', len);
        cap = len;
    }
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", e->srv.port, path);
    memset(r, 0, sizeof *r);
    r->env = e;
    r->req = tx__upstream_send(e->u, method, url, NULL, 0, len ? body : NULL, len, NULL, &CB, r);
    assert_non_null(r->req);
    assert_int_equal(run_until(e, &r->dones, 1), 1);
}

static void framings_on_one_connection(void **state)
{
    (void)state;
    env_t e;
    env_init(&e, NULL);
    rec_t r;
    fetch(&e, "GET", "/100", 0, &r); /* the interim response is skipped */
    assert_int_equal(r.res.err, TX_UPSTREAM_EOK);
    assert_int_equal(r.heads, 1);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.xtest, "after");
    assert_memory_equal(r.body, "ok", 2);
    fetch(&e, "GET", "/204", 0, &r);
    assert_int_equal(r.res.err, TX_UPSTREAM_EOK);
    assert_int_equal(r.res.status, 204);
    assert_int_equal(r.blen, 0);
    assert_int_equal(r.res.reused, 1);
    fetch(&e, "GET", "/trailers", 0, &r);
    assert_int_equal(r.blen, 3);
    assert_memory_equal(r.body, "abc", 3);
    fetch(&e, "HEAD", "/headok", 0, &r); /* Content-Length: 5 and no body */
    assert_int_equal(r.res.err, TX_UPSTREAM_EOK);
    assert_int_equal(r.blen, 0);
    fetch(&e, "GET", "/trickle", 0, &r);
    assert_int_equal(r.res.err, TX_UPSTREAM_EOK);
    assert_int_equal(r.blen, 5);
    assert_memory_equal(r.body, "abcde", 5);
    fetch(&e, "POST", "/echo", 3000, &r);
    assert_int_equal(r.res.status, 201);
    assert_int_equal(r.blen, 3000);
    assert_int_equal(r.res.reused, 1);
    assert_int_equal(e.srv.accepted, 1); /* all of them on one connection */
    fetch(&e, "GET", "/eof", 0, &r);     /* close-delimited: complete, and the connection ends */
    assert_int_equal(r.res.err, TX_UPSTREAM_EOK);
    assert_int_equal(r.blen, 11);
    assert_memory_equal(r.body, "until close", 11);
    fetch(&e, "GET", "/ok", 0, &r);
    assert_int_equal(r.res.err, TX_UPSTREAM_EOK);
    assert_int_equal(r.res.reused, 0);
    assert_int_equal(e.srv.accepted, 2);
    env_done(&e);
}

static void framing_errors_and_close(void **state)
{
    (void)state;
    env_t e;
    env_init(&e, NULL);
    rec_t r;
    fetch(&e, "GET", "/clte", 0, &r);
    assert_int_equal(r.res.err, TX_UPSTREAM_EPROTOCOL);
    assert_int_equal(r.heads, 0);
    fetch(&e, "GET", "/resetmid", 0, &r);
    assert_int_equal(r.res.err, TX_UPSTREAM_EPARTIAL);
    assert_int_equal(r.heads, 1);
    int before = e.srv.accepted;
    fetch(&e, "GET", "/close", 0, &r); /* the server said close: never pooled */
    assert_int_equal(r.res.err, TX_UPSTREAM_EOK);
    assert_memory_equal(r.body, "ok", 2);
    fetch(&e, "GET", "/ok", 0, &r);
    assert_int_equal(r.res.err, TX_UPSTREAM_EOK);
    assert_int_equal(e.srv.accepted, before + 2);
    env_done(&e);
}

static void server_keepalive_timeout_is_honoured(void **state)
{
    (void)state;
    env_t e;
    env_init(&e, NULL);
    rec_t r;
    fetch(&e, "GET", "/ka1", 0, &r); /* Keep-Alive: timeout=1: we leave before the server does */
    assert_int_equal(r.res.err, TX_UPSTREAM_EOK);
    assert_int_equal(run_until(&e, &e.srv.peer_closed, 1), 1);
    fetch(&e, "GET", "/ok", 0, &r);
    assert_int_equal(r.res.reused, 0);
    assert_int_equal(e.srv.accepted, 2);
    env_done(&e);
}

static void stale_connection_resent_once(void **state)
{
    (void)state;
    env_t e;
    env_init(&e, NULL);
    rec_t r;
    fetch(&e, "GET", "/ok", 0, &r);
    /* the kept connection is closed by the server as our request arrives: sent again, fresh */
    fetch(&e, "GET", "/drop-if-reused", 0, &r);
    assert_int_equal(r.res.err, TX_UPSTREAM_EOK);
    assert_memory_equal(r.body, "hello", 5);
    assert_int_equal(r.res.reused, 0);
    assert_int_equal(e.srv.accepted, 2);
    /* never after a byte of the response arrived */
    fetch(&e, "GET", "/half-if-reused", 0, &r);
    assert_int_equal(r.res.err, TX_UPSTREAM_ERESET);
    assert_int_equal(e.srv.accepted, 2);
    /* never on a fresh connection */
    fetch(&e, "GET", "/drop", 0, &r);
    assert_int_equal(r.res.err, TX_UPSTREAM_ERESET);
    assert_int_equal(e.srv.accepted, 3);
    env_done(&e);
}

static void answer_before_body_sent(void **state)
{
    (void)state;
    env_t e;
    env_init(&e, NULL);
    rec_t r;
    /* more than any socket buffer holds: the server answers on the head and stops reading */
    fetch(&e, "POST", "/early", 32u << 20, &r);
    assert_int_equal(r.res.err, TX_UPSTREAM_EOK);
    assert_int_equal(r.res.status, 413);
    fetch(&e, "GET", "/ok", 0, &r); /* the half-sent connection was not pooled */
    assert_int_equal(r.res.err, TX_UPSTREAM_EOK);
    assert_int_equal(e.srv.accepted, 2);
    env_done(&e);
}

static void pause_holds_body_until_resume(void **state)
{
    (void)state;
    env_t e;
    env_init(&e, NULL);
    rec_t r = {.pause_in_body = 1};
    tx_upstream_limits_t lim = {.attempt_timeout_ms = 5000, .gap_timeout_ms = 50};
    assert_non_null(get(&e, "/big2", &lim, &r));
    assert_int_equal(run_until(&e, &r.bodies, 1), 1);
    /* the server's writes end (or 10 s pass): nothing more is handed over, no gap timeout */
    run_until(&e, &e.srv.writes_done, 2);
    uint64_t until = uv_now(&e.loop) + 200;
    while (uv_now(&e.loop) < until)
        uv_run(&e.loop, UV_RUN_ONCE); /* past the gap timeout */
    assert_int_equal(r.bodies, 1);
    assert_int_equal(r.dones, 0);
    assert_int_equal(tx__upstream_active(e.u), 1);
    assert_int_equal(tx__upstream_pause(r.req, 0), TX_EOK);
    assert_int_equal(run_until(&e, &r.dones, 1), 1);
    assert_int_equal(r.res.err, TX_UPSTREAM_EOK);
    assert_int_equal(r.res.body_bytes, 200000);
    assert_true(r.bodies >= 2);
    env_done(&e);
}

static void through_http_proxy(void **state)
{
    (void)state;
    env_t e;
    memset(&e, 0, sizeof e);
    assert_int_equal(uv_loop_init(&e.loop), 0);
    srv_start(&e.loop, &e.srv);
    char purl[64];
    snprintf(purl, sizeof purl, "127.0.0.1:%d", e.srv.port); /* no scheme: http */
    tx_upstream_opts_t o = {.proxy = purl, .no_proxy = "localhost, .direct.invalid"};
    e.u = tx__upstream_new(&e.loop, &o);
    assert_non_null(e.u);
    uv_timer_init(&e.loop, &e.wake);
    uv_timer_start(&e.wake, on_wake, 50, 50);
    rec_t r = {0};
    r.env = &e;
    r.req = tx__upstream_send(e.u, "GET", "http://upstream.invalid:8081/head", NULL, 0, NULL, 0,
                              NULL, &CB, &r);
    assert_non_null(r.req);
    assert_int_equal(run_until(&e, &r.dones, 1), 1);
    assert_int_equal(r.res.err, TX_UPSTREAM_EOK);
    r.body[r.blen < sizeof r.body ? r.blen : sizeof r.body - 1] = '\0';
    assert_non_null(strstr(r.body, "GET http://upstream.invalid:8081/head HTTP/1.1\r\n"));
    assert_non_null(strstr(r.body, "\r\nHost: upstream.invalid:8081\r\n"));
    /* loopback is reached directly (the responder sees an origin-form request line) */
    rec_t lo = {0};
    lo.env = &e;
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/head", e.srv.port);
    lo.req = tx__upstream_send(e.u, "GET", url, NULL, 0, NULL, 0, NULL, &CB, &lo);
    assert_non_null(lo.req);
    assert_int_equal(run_until(&e, &lo.dones, 1), 1);
    lo.body[lo.blen < sizeof lo.body ? lo.blen : sizeof lo.body - 1] = '\0';
    assert_non_null(strstr(lo.body, "GET /head HTTP/1.1\r\n"));
    /* NO_PROXY's hosts are reached directly: this one has no address */
    rec_t d = {0};
    d.env = &e;
    d.req = tx__upstream_send(e.u, "GET", "http://api.direct.invalid/x", NULL, 0, NULL, 0, NULL,
                              &CB, &d);
    assert_non_null(d.req);
    assert_int_equal(run_until(&e, &d.dones, 1), 1);
    assert_int_equal(d.res.err, TX_UPSTREAM_EDNS);
    env_done(&e);
    tx_upstream_opts_t bad = {.proxy = "https://p.example:1"};
    assert_null(tx__upstream_new(&e.loop, &bad)); /* a proxy is spoken to in plain http */
    assert_null(tx__upstream_proxy_check("http://p.example:3128"));
    assert_non_null(tx__upstream_proxy_check("https://p.example"));
    assert_non_null(tx__upstream_proxy_check("http://u:p@p.example"));
}

/* Proxies from the environment: a usable one is taken; one that is not (credentials in it) is
 * not taken silently: why[] names the variable and the reason, never the value. AI_PROXY wins. */
static void proxy_from_the_environment(void **state)
{
    (void)state;
    const char *names[] = {"HTTP_PROXY",  "http_proxy", "HTTPS_PROXY",
                           "https_proxy", "NO_PROXY",   "no_proxy"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        unsetenv(names[i]);
    setenv("HTTP_PROXY", "http://p.example:3128", 1);
    setenv("https_proxy", "http://user:s3cret@p.example:3128", 1);
    setenv("NO_PROXY", ".internal", 1);
    tx_upstream_opts_t o = {0};
    char why[160];
    tx__upstream_proxy_env(&o, NULL, why, sizeof why);
    assert_string_equal(o.proxy, "http://p.example:3128");
    assert_null(o.https_proxy);
    assert_string_equal(o.no_proxy, ".internal");
    assert_non_null(strstr(why, "https_proxy is ignored"));
    assert_non_null(strstr(why, "credentials"));
    assert_null(strstr(why, "s3cret"));
    tx__upstream_proxy_env(&o, "http://ai.example:8080", why, sizeof why);
    assert_string_equal(o.proxy, "http://ai.example:8080");
    assert_string_equal(o.https_proxy, "http://ai.example:8080");
    assert_string_equal(why, "");
    unsetenv("https_proxy");
    tx__upstream_proxy_env(&o, "", why, sizeof why);
    assert_null(o.https_proxy);
    assert_string_equal(why, "");
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        unsetenv(names[i]);
}

/* At the connection cap, an idle connection of another origin is closed to make room; the
 * address list is walked (localhost may name ::1 first, where nothing listens). */
static void cap_takes_room_from_another_origins_idle(void **state)
{
    (void)state;
    env_t e;
    tx_upstream_opts_t o = {.max_total_conns = 1};
    env_init(&e, &o);
    rec_t r;
    fetch(&e, "GET", "/ok", 0, &r); /* 127.0.0.1: now idle, holding the only slot */
    assert_int_equal(r.res.err, TX_UPSTREAM_EOK);
    char url[128];
    snprintf(url, sizeof url, "http://localhost:%d/ok", e.srv.port);
    memset(&r, 0, sizeof r);
    r.env = &e;
    r.req = tx__upstream_send(e.u, "GET", url, NULL, 0, NULL, 0, NULL, &CB, &r);
    assert_non_null(r.req);
    assert_int_equal(run_until(&e, &r.dones, 1), 1);
    assert_int_equal(r.res.err, TX_UPSTREAM_EOK);
    assert_int_equal(r.res.reused, 0);
    assert_int_equal(run_until(&e, &e.srv.peer_closed, 1), 1); /* the first one was closed */
    assert_int_equal(e.srv.accepted, 2);
    env_done(&e);
}

static void bad_arguments(void **state)
{
    (void)state;
    env_t e;
    env_init(&e, NULL);
    rec_t r = {0};
    const tx_header_t inj[] = {{"X-A", "v\r\nX-Evil: 1"}};
    const tx_header_t colon[] = {{"X:A", "v"}};
    tx_upstream_cb_t nodone = {on_head, on_body, NULL};
    assert_null(tx__upstream_send(NULL, "GET", "http://x/", NULL, 0, NULL, 0, NULL, &CB, &r));
    assert_null(tx__upstream_send(e.u, NULL, "http://x/", NULL, 0, NULL, 0, NULL, &CB, &r));
    assert_null(tx__upstream_send(e.u, "GET", NULL, NULL, 0, NULL, 0, NULL, &CB, &r));
    assert_null(tx__upstream_send(e.u, "GET", "http://x/", inj, 1, NULL, 0, NULL, &CB, &r));
    assert_null(tx__upstream_send(e.u, "GET", "http://x/", colon, 1, NULL, 0, NULL, &CB, &r));
    assert_null(tx__upstream_send(e.u, "GET", "http://x/", NULL, 1, NULL, 0, NULL, &CB, &r));
    assert_null(tx__upstream_send(e.u, "POST", "http://x/", NULL, 0, NULL, 5, NULL, &CB, &r));
    assert_null(tx__upstream_send(e.u, "GET", "http://x/", NULL, 0, NULL, 0, NULL, &nodone, &r));
    assert_null(tx__upstream_send(e.u, "GET", "http://x/", NULL, 0, NULL, 0, NULL, NULL, &r));
    assert_null(tx__upstream_new(NULL, NULL));
    tx__upstream_cancel(NULL);
    assert_int_equal(tx__upstream_pause(NULL, 1), TX_EINVAL);
    tx__upstream_close(NULL, NULL, NULL);
    assert_int_equal(tx__upstream_active(e.u), 0);
    assert_string_equal(tx__upstream_strerror(TX_UPSTREAM_ERESET), "connection reset");
    assert_string_equal(tx__upstream_strerror((tx_upstream_err_t)999), "unknown transport error");
    env_done(&e);
    assert_int_equal(r.dones, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ok_body_and_headers),
        cmocka_unit_test(post_body_and_chunked),
        cmocka_unit_test(timeouts_are_ours),
        cmocka_unit_test(transport_failures),
        cmocka_unit_test(cancel_anywhere),
        cmocka_unit_test(many_concurrent_bounded_conns),
        cmocka_unit_test(keepalive_reuses_one_connection),
        cmocka_unit_test(close_with_requests_in_flight),
        cmocka_unit_test(close_from_inside_on_done),
        cmocka_unit_test(request_headers_follow_each_send),
        cmocka_unit_test(bad_arguments),
        cmocka_unit_test(framings_on_one_connection),
        cmocka_unit_test(framing_errors_and_close),
        cmocka_unit_test(server_keepalive_timeout_is_honoured),
        cmocka_unit_test(stale_connection_resent_once),
        cmocka_unit_test(answer_before_body_sent),
        cmocka_unit_test(pause_holds_body_until_resume),
        cmocka_unit_test(through_http_proxy),
        cmocka_unit_test(proxy_from_the_environment),
        cmocka_unit_test(cap_takes_room_from_another_origins_idle),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
