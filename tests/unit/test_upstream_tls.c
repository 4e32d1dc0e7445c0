/* The upstream client over TLS against a server thread written here with blocking OpenSSL, with
 * a CA and certificates made by tests/tls/mkcerts.sh (the `openssl` command): a good
 * certificate (by name and by IP address), an untrusted one, a wrong host name, a CA file that
 * does not exist, the session resumed on the second connection, keep-alive over TLS, and a
 * close-delimited body ended with and without close_notify, and https through a CONNECT proxy
 * (a tiny one written here), accepting and refusing; the connect timeout bounding the handshake and
 * the CONNECT. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <limits.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include "upstream/client.h"

#include "tls_certs.h"

/* A socket listening on 127.0.0.1 (a free port, in *port); rcvbuf > 0 sets SO_RCVBUF, which the
 * accepted sockets inherit. */
static int loopback_listener(int rcvbuf, int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (rcvbuf > 0)
        assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf), 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(fd, 16), 0);
    socklen_t al = sizeof a;
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &al), 0);
    *port = ntohs(a.sin_port);
    return fd;
}

/* ---- the server thread --------------------------------------------------------------------- */

typedef struct {
    SSL_CTX *ctx;
    int lfd, port;
    pthread_t th;
    atomic_int stop, accepted, handshakes, resumed, failed;
    atomic_int first_read; /* bytes of the first SSL_read of the last request */
    atomic_int req_len;    /* and the length of its head and body */
} tsrv_t;

static uint64_t fnv(uint64_t h, const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)p[i]) * 1099511628211u;
    return h;
}

#define FNV_START 14695981039346656037u

static void serve_conn(tsrv_t *t, SSL *s)
{
    char buf[4096];
    size_t len = 0;
    for (;;) {
        int n = SSL_read(s, buf + len, (int)(sizeof buf - len - 1));
        if (n <= 0) return;
        if (len == 0) atomic_store(&t->first_read, n); /* one SSL_read: one record */
        len += (size_t)n;
        buf[len] = '\0';
        char *end = strstr(buf, "\r\n\r\n");
        if (end == NULL) continue;
        char path[64] = "";
        sscanf(buf, "%*s %63s", path);
        /* the body (Content-Length; this server's clients never pipeline): summed */
        size_t hl = (size_t)(end + 4 - buf), cl = 0, got = len - hl;
        const char *h = strcasestr(buf, "\r\ncontent-length:");
        if (h != NULL && h < end) cl = strtoul(h + 17, NULL, 10);
        atomic_store(&t->req_len, (int)(hl + cl));
        uint64_t sum = fnv(FNV_START, buf + hl, got);
        while (got < cl) {
            n = SSL_read(s, buf, (int)(cl - got < sizeof buf ? cl - got : sizeof buf));
            if (n <= 0) return;
            sum = fnv(sum, buf, (size_t)n);
            got += (size_t)n;
        }
        len = 0;
        const char *ans = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
        char sumans[128];
        int last = 0, notify = 1;
        if (strcmp(path, "/sum") == 0) {
            char b[64];
            int bl = snprintf(b, sizeof b, "%zu %016llx", got, (unsigned long long)sum);
            snprintf(sumans, sizeof sumans, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", bl,
                     b);
            ans = sumans;
        } else if (strcmp(path, "/close") == 0) {
            ans = "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 5\r\n\r\nhello";
            last = 1;
        } else if (strcmp(path, "/eof-notify") == 0) {
            ans = "HTTP/1.1 200 OK\r\n\r\nuntil close";
            last = 1;
        } else if (strcmp(path, "/eof-trunc") == 0) {
            ans = "HTTP/1.1 200 OK\r\n\r\nuntil close";
            last = 1;
            notify = 0;
        }
        SSL_write(s, ans, (int)strlen(ans));
        if (last) {
            if (notify) SSL_shutdown(s);
            return;
        }
    }
}

static void *serve(void *arg)
{
    tsrv_t *t = arg;
    while (!atomic_load(&t->stop)) {
        struct pollfd p = {.fd = t->lfd, .events = POLLIN};
        if (poll(&p, 1, 50) <= 0) continue;
        int fd = accept(t->lfd, NULL, NULL);
        if (fd < 0) continue;
        atomic_fetch_add(&t->accepted, 1);
        SSL *s = SSL_new(t->ctx);
        SSL_set_fd(s, fd);
        if (SSL_accept(s) == 1) {
            atomic_fetch_add(&t->handshakes, 1);
            if (SSL_session_reused(s)) atomic_fetch_add(&t->resumed, 1);
            serve_conn(t, s);
        } else {
            atomic_fetch_add(&t->failed, 1);
        }
        SSL_free(s);
        close(fd);
    }
    return NULL;
}

/* The server's sockets take at most this much (the kernel doubles it) in flight. */
#define SERVER_RCVBUF 65536

static void tsrv_start(tsrv_t *t, const char *name)
{
    memset(t, 0, sizeof *t);
    char crt[64], key[64];
    snprintf(crt, sizeof crt, "%s.pem", name);
    snprintf(key, sizeof key, "%s.key", name);
    t->ctx = SSL_CTX_new(TLS_server_method());
    assert_non_null(t->ctx);
    assert_int_equal(SSL_CTX_use_certificate_chain_file(t->ctx, cert(crt)), 1);
    assert_int_equal(SSL_CTX_use_PrivateKey_file(t->ctx, cert(key), SSL_FILETYPE_PEM), 1);
    t->lfd = loopback_listener(SERVER_RCVBUF, &t->port);
    assert_int_equal(pthread_create(&t->th, NULL, serve, t), 0);
}

static void tsrv_stop(tsrv_t *t)
{
    atomic_store(&t->stop, 1);
    pthread_join(t->th, NULL);
    close(t->lfd);
    SSL_CTX_free(t->ctx);
}

/* ---- a CONNECT proxy thread: one tunnel at a time, relayed with poll() ----------------------- */

typedef struct {
    int lfd, port, refuse;
    pthread_t th;
    atomic_int stop, tunnels;
    char target[128]; /* the last CONNECT's authority, read after the join */
} proxy_t;

static void relay(int a, int b, atomic_int *stop)
{
    char buf[16384];
    while (!atomic_load(stop)) {
        struct pollfd p[2] = {{.fd = a, .events = POLLIN}, {.fd = b, .events = POLLIN}};
        if (poll(p, 2, 50) <= 0) continue;
        for (int i = 0; i < 2; i++) {
            if (!(p[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
            ssize_t n = read(p[i].fd, buf, sizeof buf);
            if (n <= 0) return;
            if (write(i == 0 ? b : a, buf, (size_t)n) != n) return;
        }
    }
}

static void *proxy_run(void *arg)
{
    proxy_t *x = arg;
    while (!atomic_load(&x->stop)) {
        struct pollfd p = {.fd = x->lfd, .events = POLLIN};
        if (poll(&p, 1, 50) <= 0) continue;
        int fd = accept(x->lfd, NULL, NULL);
        if (fd < 0) continue;
        char head[1024] = "";
        size_t len = 0;
        while (len < sizeof head - 1 && strstr(head, "\r\n\r\n") == NULL) {
            ssize_t n = read(fd, head + len, sizeof head - 1 - len);
            if (n <= 0) break;
            len += (size_t)n;
            head[len] = '\0';
        }
        char host[100] = "";
        int port = 0;
        if (len > 0 && sscanf(head, "CONNECT %99[^:]:%d HTTP/1.1", host, &port) == 2) {
            snprintf(x->target, sizeof x->target, "%s:%d", host, port);
            int up = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
            struct sockaddr_in a = {.sin_family = AF_INET,
                                    .sin_port = htons((uint16_t)port),
                                    .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
            if (!x->refuse && up >= 0 && connect(up, (struct sockaddr *)&a, sizeof a) == 0) {
                const char *ok = "HTTP/1.1 200 Connection established\r\n\r\n";
                if (write(fd, ok, strlen(ok)) == (ssize_t)strlen(ok)) {
                    atomic_fetch_add(&x->tunnels, 1);
                    relay(fd, up, &x->stop);
                }
            } else {
                const char *no =
                    "HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n";
                if (write(fd, no, strlen(no)) < 0) {
                }
            }
            if (up >= 0) close(up);
        }
        close(fd);
    }
    return NULL;
}

static void proxy_start(proxy_t *x, int refuse)
{
    memset(x, 0, sizeof *x);
    x->refuse = refuse;
    x->lfd = loopback_listener(0, &x->port);
    assert_int_equal(pthread_create(&x->th, NULL, proxy_run, x), 0);
}

static void proxy_stop(proxy_t *x)
{
    atomic_store(&x->stop, 1);
    pthread_join(x->th, NULL);
    close(x->lfd);
}

/* ---- the client side ----------------------------------------------------------------------- */

typedef struct {
    int dones;
    tx_upstream_result_t res;
    char msg[256];
    char body[256];
    size_t blen;
} rec_t;

static void on_body(void *ud, const char *d, size_t n)
{
    rec_t *r = ud;
    if (r->blen + n <= sizeof r->body) memcpy(r->body + r->blen, d, n);
    r->blen += n;
}

static void on_done(void *ud, const tx_upstream_result_t *res)
{
    rec_t *r = ud;
    r->res = *res;
    snprintf(r->msg, sizeof r->msg, "%s", res->message);
    r->res.message = r->msg;
    r->dones++;
}

static void on_closed(void *arg)
{
    *(int *)arg = 1;
}

typedef struct {
    uv_loop_t loop;
    uv_timer_t wake;
    tx_upstream_t *u;
} env_t;

static void on_wake(uv_timer_t *t)
{
    (void)t;
}

static void env_init_timeout(env_t *e, const char *ca_file, const char *https_proxy,
                             long connect_timeout_ms)
{
    assert_int_equal(uv_loop_init(&e->loop), 0);
    tx_upstream_opts_t o = {.ca_file = ca_file,
                            .connect_timeout_ms = connect_timeout_ms,
                            .https_proxy = https_proxy,
                            .proxy_loopback = 1}; /* the test's servers are all on loopback */
    e->u = tx__upstream_new(&e->loop, &o);
    assert_non_null(e->u);
    uv_timer_init(&e->loop, &e->wake);
    uv_timer_start(&e->wake, on_wake, 50, 50);
}

static void env_init_proxy(env_t *e, const char *ca_file, const char *https_proxy)
{
    env_init_timeout(e, ca_file, https_proxy, 5000);
}

static void env_init(env_t *e, const char *ca_file)
{
    env_init_proxy(e, ca_file, NULL);
}

static void env_done(env_t *e)
{
    int closed = 0;
    tx__upstream_close(e->u, on_closed, &closed);
    uv_close((uv_handle_t *)&e->wake, NULL);
    uv_run(&e->loop, UV_RUN_DEFAULT);
    assert_int_equal(closed, 1);
    assert_int_equal(uv_loop_close(&e->loop), 0);
}

static void fetch(env_t *e, const char *host, int port, const char *path, rec_t *r)
{
    static const tx_upstream_cb_t cb = {NULL, on_body, on_done};
    char url[256];
    snprintf(url, sizeof url, "https://%s:%d%s", host, port, path);
    memset(r, 0, sizeof *r);
    tx_upstream_limits_t lim = {.attempt_timeout_ms = 10000};
    assert_non_null(tx__upstream_send(e->u, "GET", url, NULL, 0, NULL, 0, &lim, &cb, r));
    uint64_t deadline = uv_now(&e->loop) + 15000;
    while (r->dones == 0 && uv_now(&e->loop) < deadline)
        uv_run(&e->loop, UV_RUN_ONCE);
    assert_int_equal(r->dones, 1);
}

/* POSTs `len` bytes to /sum; checks the server read exactly them. */
static void post_sum(env_t *e, int port, const char *body, size_t len, rec_t *r)
{
    static const tx_upstream_cb_t cb = {NULL, on_body, on_done};
    char url[128];
    snprintf(url, sizeof url, "https://localhost:%d/sum", port);
    memset(r, 0, sizeof *r);
    tx_upstream_limits_t lim = {.attempt_timeout_ms = 60000};
    assert_non_null(tx__upstream_send(e->u, "POST", url, NULL, 0, body, len, &lim, &cb, r));
    uint64_t deadline = uv_now(&e->loop) + 90000;
    while (r->dones == 0 && uv_now(&e->loop) < deadline)
        uv_run(&e->loop, UV_RUN_ONCE);
    assert_int_equal(r->dones, 1);
    assert_int_equal(r->res.err, TX_UPSTREAM_EOK);
    assert_int_equal(r->res.status, 200);
    char want[64];
    int wl = snprintf(want, sizeof want, "%zu %016llx", len,
                      (unsigned long long)fnv(FNV_START, body, len));
    assert_int_equal(r->blen, (size_t)wl);
    assert_memory_equal(r->body, want, (size_t)wl);
}

/* The most a client socket can have in flight to the server: its largest send buffer and the
 * server's receive buffer (fixed by SERVER_RCVBUF, doubled by the kernel). */
static size_t socket_room(void)
{
    size_t room = 8u << 20;
    FILE *f = fopen("/proc/sys/net/ipv4/tcp_wmem", "r");
    unsigned long lo, def, hi;
    if (f != NULL && fscanf(f, "%lu %lu %lu", &lo, &def, &hi) == 3) room = hi;
    if (f != NULL) fclose(f);
    return room + 2 * SERVER_RCVBUF;
}

/* A small request's head and body leave in one TLS record (the server's first SSL_read, which
 * returns one record, holds both); a body larger than the socket can take at once goes out in
 * part from the engine's buffer and in part through a write request, in order, on a fresh and on
 * a kept-alive connection. */
static void request_records_and_large_bodies(void **state)
{
    (void)state;
    tsrv_t t;
    tsrv_start(&t, "server");
    env_t e;
    env_init(&e, cert("ca.pem"));
    rec_t r;
    static const char small[] =
        "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
    post_sum(&e, t.port, small, sizeof small - 1, &r); /* fresh: queued through the handshake */
    post_sum(&e, t.port, small, sizeof small - 1, &r); /* kept alive: sealed at once */
    assert_int_equal(r.res.reused, 1);
    /* the head came with the body: the first read was the whole request */
    assert_int_equal(atomic_load(&t.first_read), atomic_load(&t.req_len));

    size_t big = socket_room() + (1u << 20);
    if (big > (64u << 20)) big = 64u << 20;
    char *body = malloc(big);
    assert_non_null(body);
    uint32_t x = 7;
    for (size_t i = 0; i < big; i++) {
        x = x * 1664525u + 1013904223u;
        body[i] = (char)(x >> 24);
    }
    post_sum(&e, t.port, body, big, &r); /* kept alive */
    assert_int_equal(r.res.reused, 1);
    post_sum(&e, t.port, small, sizeof small - 1, &r); /* and the connection is still good */
    assert_int_equal(r.res.reused, 1);
    env_done(&e);
    env_init(&e, cert("ca.pem"));
    post_sum(&e, t.port, body, big, &r); /* fresh: the whole request behind the handshake */
    assert_int_equal(r.res.reused, 0);
    free(body);
    env_done(&e);
    tsrv_stop(&t);
    assert_int_equal(atomic_load(&t.failed), 0);
}

static void good_certificate(void **state)
{
    (void)state;
    tsrv_t t;
    tsrv_start(&t, "server");
    env_t e;
    env_init(&e, cert("ca.pem"));
    rec_t r;
    fetch(&e, "localhost", t.port, "/ok", &r);
    assert_int_equal(r.res.err, TX_UPSTREAM_EOK);
    assert_int_equal(r.res.status, 200);
    assert_memory_equal(r.body, "hello", 5);
    fetch(&e, "localhost", t.port, "/close", &r); /* kept alive over TLS; closed after this one
                                                      (the server serves one connection at once) */
    assert_int_equal(r.res.err, TX_UPSTREAM_EOK);
    assert_int_equal(r.res.reused, 1);
    assert_int_equal(atomic_load(&t.accepted), 1);
    fetch(&e, "127.0.0.1", t.port, "/ok", &r); /* another origin: its IP address entry */
    assert_int_equal(r.res.err, TX_UPSTREAM_EOK);
    assert_int_equal(r.res.reused, 0);
    env_done(&e);
    tsrv_stop(&t);
}

static void expect_refused(const char *server, const char *host, const char *ca)
{
    tsrv_t t;
    tsrv_start(&t, server);
    env_t e;
    env_init(&e, ca);
    rec_t r;
    fetch(&e, host, t.port, "/ok", &r);
    assert_int_equal(r.res.err, TX_UPSTREAM_ETLS);
    assert_int_equal(r.res.status, 0);
    assert_int_equal(r.blen, 0);
    assert_true(r.msg[0] != '\0');
    env_done(&e);
    tsrv_stop(&t);
    assert_int_equal(atomic_load(&t.handshakes), 0);
}

static void untrusted_certificate(void **state)
{
    (void)state;
    expect_refused("untrusted", "localhost", cert("ca.pem"));
    expect_refused("server", "localhost", NULL); /* the system store does not know our CA */
}

static void wrong_host_name(void **state)
{
    (void)state;
    expect_refused("wronghost", "localhost", cert("ca.pem"));
}

static void missing_ca_file(void **state)
{
    (void)state;
    env_t e;
    env_init(&e, "/nonexistent/ca.pem");
    rec_t r;
    fetch(&e, "localhost", 9, "/ok", &r);
    assert_int_equal(r.res.err, TX_UPSTREAM_ETLS);
    assert_non_null(strstr(r.msg, "/nonexistent/ca.pem"));
    env_done(&e);
}

static void session_resumed_on_second_connection(void **state)
{
    (void)state;
    tsrv_t t;
    tsrv_start(&t, "server");
    env_t e;
    env_init(&e, cert("ca.pem"));
    rec_t r;
    fetch(&e, "localhost", t.port, "/close", &r);
    assert_int_equal(r.res.err, TX_UPSTREAM_EOK);
    assert_int_equal(r.res.tls_resumed, 0);
    fetch(&e, "localhost", t.port, "/ok", &r); /* a new connection: the session resumed */
    assert_int_equal(r.res.err, TX_UPSTREAM_EOK);
    assert_int_equal(r.res.reused, 0);
    assert_int_equal(r.res.tls_resumed, 1);
    env_done(&e);
    tsrv_stop(&t);
    assert_int_equal(atomic_load(&t.handshakes), 2);
    assert_int_equal(atomic_load(&t.resumed), 1);
}

static void close_delimited_needs_close_notify(void **state)
{
    (void)state;
    tsrv_t t;
    tsrv_start(&t, "server");
    env_t e;
    env_init(&e, cert("ca.pem"));
    rec_t r;
    fetch(&e, "localhost", t.port, "/eof-notify", &r);
    assert_int_equal(r.res.err, TX_UPSTREAM_EOK);
    assert_int_equal(r.blen, 11);
    assert_memory_equal(r.body, "until close", 11);
    fetch(&e, "localhost", t.port, "/eof-trunc", &r); /* a cut we cannot tell from the end */
    assert_int_equal(r.res.err, TX_UPSTREAM_EPARTIAL);
    env_done(&e);
    tsrv_stop(&t);
}

static void through_connect_proxy(void **state)
{
    (void)state;
    tsrv_t t;
    tsrv_start(&t, "server");
    proxy_t x;
    proxy_start(&x, 0);
    char purl[64];
    snprintf(purl, sizeof purl, "http://127.0.0.1:%d", x.port);
    env_t e;
    env_init_proxy(&e, cert("ca.pem"), purl);
    rec_t r;
    fetch(&e, "localhost", t.port, "/ok", &r); /* verified against "localhost" through the tunnel */
    assert_int_equal(r.res.err, TX_UPSTREAM_EOK);
    assert_memory_equal(r.body, "hello", 5);
    fetch(&e, "localhost", t.port, "/ok", &r); /* the tunnelled connection is kept alive too */
    assert_int_equal(r.res.err, TX_UPSTREAM_EOK);
    assert_int_equal(r.res.reused, 1);
    env_done(&e);
    proxy_stop(&x);
    tsrv_stop(&t);
    assert_int_equal(atomic_load(&x.tunnels), 1);
    char want[64];
    snprintf(want, sizeof want, "localhost:%d", t.port);
    assert_string_equal(x.target, want);

    proxy_start(&x, 1); /* a proxy that says no */
    snprintf(purl, sizeof purl, "http://127.0.0.1:%d", x.port);
    env_init_proxy(&e, cert("ca.pem"), purl);
    fetch(&e, "localhost", 9, "/ok", &r);
    assert_int_equal(r.res.err, TX_UPSTREAM_ECONNECT);
    assert_non_null(strstr(r.msg, "407"));
    env_done(&e);
    proxy_stop(&x);
}

/* The connect timeout bounds the TLS handshake and the proxy's CONNECT too, not only the TCP
 * connect: a server (or proxy) that accepts and then says nothing fails the request as a connect
 * failure, long before the attempt's own timeout (10 s in fetch). */
static void connect_timeout_covers_handshake_and_connect(void **state)
{
    (void)state;
    int port; /* nobody accepts: the kernel completes the TCP handshake, then nothing is said */
    int fd = loopback_listener(0, &port);
    env_t e;
    env_init_timeout(&e, cert("ca.pem"), NULL, 200);
    rec_t r;
    fetch(&e, "127.0.0.1", port, "/ok", &r);
    assert_int_equal(r.res.err, TX_UPSTREAM_ECONNECT);
    assert_non_null(strstr(r.msg, "TLS handshake"));
    env_done(&e);

    char purl[64];
    snprintf(purl, sizeof purl, "http://127.0.0.1:%d", port); /* a proxy that never answers */
    env_init_timeout(&e, cert("ca.pem"), purl, 200);
    fetch(&e, "localhost", 9, "/ok", &r);
    assert_int_equal(r.res.err, TX_UPSTREAM_ECONNECT);
    assert_non_null(strstr(r.msg, "CONNECT"));
    env_done(&e);
    close(fd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(good_certificate),
        cmocka_unit_test(untrusted_certificate),
        cmocka_unit_test(wrong_host_name),
        cmocka_unit_test(missing_ca_file),
        cmocka_unit_test(session_resumed_on_second_connection),
        cmocka_unit_test(close_delimited_needs_close_notify),
        cmocka_unit_test(through_connect_proxy),
        cmocka_unit_test(connect_timeout_covers_handshake_and_connect),
        cmocka_unit_test(request_records_and_large_bodies),
    };
    return cmocka_run_group_tests(tests, tls_certs_make, tls_certs_remove);
}
