/* The libuv server (server/http.h) in-process, with a blocking client thread: answers leave in
 * request order even when the handler answers out of order; a client that goes away triggers the
 * abort callback and the late answer is discarded safely (ASan checks the ownership); graceful
 * stop calls its callback. Waits are loop runs bounded by a deadline timer, never sleeps. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <limits.h>
#include <stdint.h>
#include <arpa/inet.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "server/http.h"

typedef struct {
    uv_loop_t loop;
    tx_http_server_t *srv;
    int port;
    tx_http_req_t *held;
    atomic_int got_hold;
    atomic_int client_finished;
    int aborts;
    tx_err_t late_rc, write_rc;
    int stopped;
    int stream;
    int deadlines; /* request deadlines that fired */
    char client_buf[4096];
    size_t client_len;
    /* streamed output written from a timer */
    uv_timer_t tick;
    uv_async_t wake;
    atomic_int client_saw_tick; /* 1: the chunk arrived; -1: the client gave up waiting */
    /* lingering close */
    int client_fd;
    atomic_int client_sent_all; /* the flooding client sent everything without an error */
} fixture_t;

#define HUGE_LEN (16u * 1024u * 1024u)

typedef int (*pred_fn)(fixture_t *f);
typedef struct {
    fixture_t *f;
    pred_fn pred;
    int met;
} waiter_t;

static void on_check(uv_timer_t *t)
{
    waiter_t *w = t->data;
    if (w->pred(w->f)) {
        w->met = 1;
        uv_stop(t->loop);
    }
}

static void on_deadline(uv_timer_t *t)
{
    uv_stop(t->loop);
}

/* Runs the loop until pred(f) holds (checked every millisecond) or 5 s pass; returns whether
 * it holds. */
static int run_until(fixture_t *f, pred_fn pred)
{
    waiter_t w = {f, pred, 0};
    uv_timer_t check, deadline;
    uv_timer_init(&f->loop, &check);
    uv_timer_init(&f->loop, &deadline);
    check.data = &w;
    uv_timer_start(&check, on_check, 1, 1);
    uv_timer_start(&deadline, on_deadline, 5000, 0);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    uv_close((uv_handle_t *)&check, NULL);
    uv_close((uv_handle_t *)&deadline, NULL);
    uv_run(&f->loop, UV_RUN_NOWAIT);
    return w.met || pred(f);
}

static int is_stopped(fixture_t *f)
{
    return f->stopped;
}
static int was_aborted(fixture_t *f)
{
    return f->aborts > 0;
}
static int client_done(fixture_t *f)
{
    return atomic_load(&f->client_finished);
}

static void on_abort(tx_http_req_t *req, void *ud)
{
    fixture_t *f = ud;
    assert_ptr_equal(req, f->held);
    assert_true(tx__http_req_aborted(req));
    f->aborts++;
    if (f->stream) {
        f->write_rc = tx__http_stream_write(req, "late", 4);
        f->late_rc = tx__http_stream_end(req);
    } else {
        f->late_rc = tx__http_respond(req, 200, NULL, 0, "late", 4);
    }
    f->held = NULL;
}

/* /tick: the head and a chunk written from a timer callback, then nothing more until the test
 * ends the stream */
static void on_tick(uv_timer_t *t)
{
    fixture_t *f = t->data;
    tx_header_t ct = {"Content-Type", "text/event-stream"};
    assert_int_equal(tx__http_stream_begin(f->held, 200, &ct, 1), TX_EOK);
    assert_int_equal(tx__http_stream_write(f->held, "data: tick\n\n", 12), TX_EOK);
}

static void on_req_deadline(tx_http_req_t *req, void *ud)
{
    fixture_t *f = ud;
    f->deadlines++;
    assert_int_equal(tx__http_respond(req, 504, NULL, 0, "deadline", 8), TX_EOK);
}

static void handler(tx_http_req_t *req, void *ud)
{
    fixture_t *f = ud;
    const char *path = tx__http_req_path(req);
    tx_header_t ct = {"Content-Type", "text/plain"};
    if (strcmp(path, "/a") == 0) {
        f->held = req; /* answered later, after /b */
    } else if (strcmp(path, "/b") == 0) {
        assert_int_equal(tx__http_respond(req, 200, &ct, 1, "B-body", 6), TX_EOK);
        assert_non_null(f->held);
        assert_int_equal(tx__http_respond(f->held, 200, &ct, 1, "A-body", 6), TX_EOK);
        f->held = NULL;
    } else if (strcmp(path, "/hold") == 0) {
        f->held = req;
        tx__http_req_on_abort(req, on_abort, f);
        if (f->stream) {
            assert_int_equal(tx__http_stream_begin(req, 200, &ct, 1), TX_EOK);
            assert_int_equal(tx__http_stream_write(req, "first", 5), TX_EOK);
            /* a second finish-type call while streaming is refused, not acted on */
            assert_int_equal(tx__http_respond(req, 200, NULL, 0, "x", 1), TX_EINVAL);
        }
        atomic_store(&f->got_hold, 1);
    } else if (strcmp(path, "/exact") == 0) {
        /* header lines that could split the head are dropped, the rest kept in order */
        tx_header_t h[] = {{"Content-Type", "text/plain"},
                           {"X-Bad", "a\r\nb"},
                           {"Bad:Name", "v"},
                           {NULL, "v"},
                           {"X-Null", NULL},
                           {"X-Ok", ""}};
        assert_int_equal(tx__http_respond(req, 200, h, 6, "hello", 5), TX_EOK);
    } else if (strncmp(path, "/status/", 8) == 0) {
        int status = (int)strtol(path + 8, NULL, 10);
        if (status >= 100 && status <= 999) {
            assert_int_equal(tx__http_respond(req, status, NULL, 0, NULL, 0), TX_EOK);
        } else { /* only a stream takes any status */
            assert_int_equal(tx__http_stream_begin(req, status, NULL, 0), TX_EOK);
            assert_int_equal(tx__http_stream_end(req), TX_EOK);
        }
    } else if (strcmp(path, "/dl") == 0) { /* answered by its deadline */
        tx__http_req_set_deadline(req, 20, on_req_deadline, f);
    } else if (strcmp(path, "/dlnow") == 0) { /* finished first: its deadline must never run */
        tx__http_req_set_deadline(req, 1, on_req_deadline, f);
        assert_int_equal(tx__http_respond(req, 200, &ct, 1, "now", 3), TX_EOK);
    } else if (strcmp(path, "/odd") == 0) {
        assert_int_equal(tx__http_respond(req, 599, NULL, 0, NULL, 0), TX_EOK);
    } else if (strcmp(path, "/big") == 0) {
        static char big[20000];
        memset(big, 'z', sizeof big);
        assert_int_equal(tx__http_respond(req, 200, NULL, 0, big, sizeof big), TX_EOK);
    } else if (strcmp(path, "/huge") == 0) { /* more than the socket buffers hold */
        char *huge = malloc(HUGE_LEN);
        assert_non_null(huge);
        memset(huge, 'h', HUGE_LEN);
        assert_int_equal(tx__http_respond(req, 200, NULL, 0, huge, HUGE_LEN), TX_EOK);
        free(huge);
    } else if (strcmp(path, "/tick") == 0) {
        f->held = req;
        uv_timer_start(&f->tick, on_tick, 0, 0);
    } else if (strcmp(path, "/chunks") == 0) {
        assert_int_equal(tx__http_stream_begin(req, 201, &ct, 1), TX_EOK);
        assert_int_equal(tx__http_stream_write(req, "abcdefghijklmnopqrstuvwxyz", 26), TX_EOK);
        assert_int_equal(tx__http_stream_write(req, "!", 1), TX_EOK);
        assert_int_equal(tx__http_stream_end(req), TX_EOK);
    } else {
        tx__http_respond_error(req, 404, "invalid_request_error", "unknown_url", "no", NULL, 0);
    }
}

static int client_connect(int port);

/* A request and the exact bytes of its answer. */
typedef struct {
    const char *request, *answer;
    size_t body_z; /* the answer ends with this many 'z' (the /big body) */
} exchange_t;

static const exchange_t exchanges[] = {
    {"GET /exact HTTP/1.1\r\n\r\n",
     "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Ok: \r\nContent-Length: 5\r\n\r\nhello", 0},
    {"HEAD /exact HTTP/1.1\r\n\r\n",
     "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Ok: \r\nContent-Length: 5\r\n\r\n", 0},
    {"GET /odd HTTP/1.1\r\n\r\n", "HTTP/1.1 599 Unknown\r\nContent-Length: 0\r\n\r\n", 0},
    {"GET /odd HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
     "HTTP/1.1 599 Unknown\r\nContent-Length: 0\r\nConnection: keep-alive\r\n\r\n", 0},
    {"GET /big HTTP/1.1\r\n\r\n", "HTTP/1.1 200 OK\r\nContent-Length: 20000\r\n\r\n", 20000},
    {"POST /chunks HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc",
     "HTTP/1.1 201 Created\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n"
     "1a\r\nabcdefghijklmnopqrstuvwxyz\r\n1\r\n!\r\n0\r\n\r\n",
     0},
    {"GET /nope HTTP/1.1\r\n\r\n",
     "HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: 78\r\n\r\n"
     "{\"error\":{\"message\":\"no\",\"type\":\"invalid_request_error\",\"code\":\"unknown_url\"}}",
     0},
};
#define N_EXCHANGES (sizeof exchanges / sizeof exchanges[0])
#define EXACT_ROUNDS 12 /* more requests than the server keeps for reuse */

static int recv_exact(int s, char *buf, size_t len)
{
    size_t have = 0;
    while (have < len) {
        ssize_t n = recv(s, buf + have, len - have, 0);
        if (n <= 0) return -1;
        have += (size_t)n;
    }
    return 0;
}

/* Plays every exchange EXACT_ROUNDS times on one keep-alive connection, then every status, then
 * one that closes; records the first answer that differs (its number + 1) in client_len, 0 when
 * all match. */
static void *client_exact(void *ud)
{
    fixture_t *f = ud;
    int s = client_connect(f->port);
    static char got[21000];
    size_t k = 0;
    for (int round = 0; round < EXACT_ROUNDS && f->client_len == 0; round++) {
        for (size_t i = 0; i < N_EXCHANGES && f->client_len == 0; i++, k++) {
            const exchange_t *x = &exchanges[i];
            size_t alen = strlen(x->answer);
            send(s, x->request, strlen(x->request), 0);
            int bad = recv_exact(s, got, alen + x->body_z) != 0 || memcmp(got, x->answer, alen);
            for (size_t z = 0; !bad && z < x->body_z; z++)
                bad = got[alen + z] != 'z';
            if (bad) f->client_len = k + 1;
        }
    }
    /* every status line, as "HTTP/1.1 %d %s\r\n" with tx__http_status_text */
    static const int odd[] = {-5, 0, 99, 1000, INT_MAX, INT_MIN};
    for (int st = 100, i = 0; st <= 999 + 6 && f->client_len == 0; st++, k++) {
        int status = st <= 999 ? st : odd[i++];
        char req[64], want[160];
        snprintf(req, sizeof req, "GET /status/%d HTTP/1.1\r\n\r\n", status);
        int n = snprintf(want, sizeof want, "HTTP/1.1 %d %s\r\n%s", status,
                         tx__http_status_text(status),
                         st <= 999 ? "Content-Length: 0\r\n\r\n"
                                   : "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
        send(s, req, strlen(req), 0);
        if (recv_exact(s, got, (size_t)n) != 0 || memcmp(got, want, (size_t)n) != 0)
            f->client_len = k + 1;
    }
    const char last[] = "GET /odd HTTP/1.1\r\nConnection: close\r\n\r\n";
    const char want[] = "HTTP/1.1 599 Unknown\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    send(s, last, sizeof last - 1, 0);
    size_t have = 0;
    ssize_t n;
    while ((n = recv(s, got + have, sizeof got - have, 0)) > 0)
        have += (size_t)n;
    if (f->client_len == 0 && (have != sizeof want - 1 || memcmp(got, want, have) != 0))
        f->client_len = k + 1;
    close(s);
    atomic_store(&f->client_finished, 1);
    return NULL;
}

static int client_connect(int port)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    struct timeval tv = {.tv_sec = 5};
    setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    assert_int_equal(connect(s, (struct sockaddr *)&a, sizeof a), 0);
    return s;
}

/* Sends `req` on a new connection and reads the answers until the server closes. */
static void client_exchange(fixture_t *f, const char *req)
{
    int s = client_connect(f->port);
    send(s, req, strlen(req), 0);
    ssize_t n;
    while ((n = recv(s, f->client_buf + f->client_len, sizeof f->client_buf - 1 - f->client_len,
                     0)) > 0)
        f->client_len += (size_t)n;
    f->client_buf[f->client_len] = '\0';
    close(s);
    atomic_store(&f->client_finished, 1);
}

static void *client_order(void *ud)
{
    client_exchange(ud, "GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\nConnection: close\r\n\r\n");
    return NULL;
}

static void *client_deadlines(void *ud)
{
    client_exchange(ud, "GET /dl HTTP/1.1\r\n\r\nGET /dlnow HTTP/1.1\r\nConnection: close\r\n\r\n");
    return NULL;
}

static void *client_hold_then_leave(void *ud)
{
    fixture_t *f = ud;
    int s = client_connect(f->port);
    const char req[] = "GET /hold HTTP/1.1\r\n\r\n";
    send(s, req, sizeof req - 1, 0);
    for (int i = 0; i < 5000 && !atomic_load(&f->got_hold); i++) {
        struct timespec ts = {0, 1000000}; /* polling a condition with a bound, not a sync sleep */
        nanosleep(&ts, NULL);
    }
    close(s);
    return NULL;
}

/* Asks for /tick and reads until the chunk is there (or the 5 s receive timeout gives up), then
 * wakes the loop. */
static void *client_tick(void *ud)
{
    fixture_t *f = ud;
    int s = client_connect(f->port);
    const char req[] = "GET /tick HTTP/1.1\r\n\r\n";
    send(s, req, sizeof req - 1, 0);
    char buf[1024];
    size_t have = 0;
    ssize_t n;
    int seen = 0;
    while (!seen && have < sizeof buf - 1 &&
           (n = recv(s, buf + have, sizeof buf - 1 - have, 0)) > 0) {
        have += (size_t)n;
        buf[have] = '\0';
        seen = strstr(buf, "data: tick\n\n\r\n") != NULL;
    }
    atomic_store(&f->client_saw_tick, seen ? 1 : -1);
    uv_async_send(&f->wake);
    f->client_fd = s; /* closed by the test, after the stream ends (joined first) */
    return NULL;
}

static void on_wake(uv_async_t *a)
{
    uv_stop(a->loop);
}

static void on_stopped(tx_http_server_t *srv, void *ud)
{
    (void)srv;
    ((fixture_t *)ud)->stopped = 1;
}

static void start_with(fixture_t *f, const tx_http_config_t *base)
{
    memset(f, 0, sizeof *f);
    assert_int_equal(uv_loop_init(&f->loop), 0);
    tx_http_config_t cfg = *base;
    cfg.handler = handler;
    cfg.handler_ud = f;
    tx_error_t err;
    f->srv = tx__http_server_start(&f->loop, "127.0.0.1:0", &cfg, &err);
    assert_non_null(f->srv);
    const char *addr = tx__http_server_address(f->srv);
    f->port = (int)strtol(strrchr(addr, ':') + 1, NULL, 10);
    assert_true(f->port > 0);
}

static void start(fixture_t *f)
{
    tx_http_config_t cfg;
    tx__http_config_defaults(&cfg);
    start_with(f, &cfg);
}

static void stop(fixture_t *f)
{
    tx__http_server_stop(f->srv, 1000, on_stopped, f);
    assert_true(run_until(f, is_stopped));
    tx__http_server_destroy(f->srv);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&f->loop), 0);
}

/* Stream output is written once per loop turn; what a timer callback writes must still leave
 * before the loop sleeps in its poll: here nothing else would wake the loop (no timers run, the
 * client waits for the chunk), so a chunk held until after the poll never arrives. */
static void stream_output_from_a_timer_is_not_held(void **state)
{
    (void)state;
    fixture_t f;
    start(&f);
    uv_timer_init(&f.loop, &f.tick);
    f.tick.data = &f;
    uv_async_init(&f.loop, &f.wake, on_wake);
    pthread_t th;
    pthread_create(&th, NULL, client_tick, &f);
    uv_run(&f.loop, UV_RUN_DEFAULT); /* until the client has the chunk or gave up */
    pthread_join(th, NULL);
    assert_int_equal(atomic_load(&f.client_saw_tick), 1);
    assert_non_null(f.held);
    assert_int_equal(tx__http_stream_end(f.held), TX_EOK);
    f.held = NULL;
    close(f.client_fd);
    uv_close((uv_handle_t *)&f.tick, NULL);
    uv_close((uv_handle_t *)&f.wake, NULL);
    stop(&f);
}

static void answers_in_request_order(void **state)
{
    (void)state;
    fixture_t f;
    start(&f);
    pthread_t th;
    pthread_create(&th, NULL, client_order, &f);
    assert_true(run_until(&f, client_done)); /* EOF comes after the server closed */
    pthread_join(th, NULL);
    const char *a = strstr(f.client_buf, "A-body"), *b = strstr(f.client_buf, "B-body");
    assert_non_null(a);
    assert_non_null(b);
    assert_true(a < b); /* answered B first, but A went out first */
    assert_non_null(strstr(f.client_buf, "Connection: close"));
    stop(&f);
}

static void exact_answers_on_one_connection(void **state)
{
    (void)state;
    fixture_t f;
    start(&f);
    pthread_t th;
    pthread_create(&th, NULL, client_exact, &f);
    assert_true(run_until(&f, client_done));
    pthread_join(th, NULL);
    assert_int_equal(f.client_len, 0); /* else: the number of the first answer that differed */
    stop(&f);
}

/* A request's deadline answers it when nothing else did; a request finished before its deadline
 * never sees it (the 1 ms one would fire before the 20 ms one if it were still set); answers keep
 * the request order. */
static void request_deadlines(void **state)
{
    (void)state;
    fixture_t f;
    start(&f);
    pthread_t th;
    pthread_create(&th, NULL, client_deadlines, &f);
    assert_true(run_until(&f, client_done));
    pthread_join(th, NULL);
    assert_int_equal(f.deadlines, 1);
    const char *late = strstr(f.client_buf, "HTTP/1.1 504"), *now = strstr(f.client_buf, "now");
    assert_non_null(late);
    assert_non_null(now);
    assert_true(late < now);
    stop(&f);
}

static void client_gone_aborts(void **state)
{
    (void)state;
    for (int stream = 0; stream < 2; stream++) {
        fixture_t f;
        start(&f);
        f.stream = stream;
        pthread_t th;
        pthread_create(&th, NULL, client_hold_then_leave, &f);
        assert_true(run_until(&f, was_aborted));
        pthread_join(th, NULL);
        assert_int_equal(f.aborts, 1);
        assert_int_equal(f.late_rc, TX_ESTOPPED); /* freed, nothing sent */
        if (stream) assert_int_equal(f.write_rc, TX_ESTOPPED);
        assert_null(f.held);
        stop(&f);
    }
}

static void listen_errors(void **state)
{
    (void)state;
    fixture_t f;
    start(&f);
    tx_http_config_t cfg;
    tx__http_config_defaults(&cfg);
    cfg.handler = handler;
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", f.port);
    tx_error_t err;
    assert_null(tx__http_server_start(&f.loop, addr, &cfg, &err));
    assert_int_equal(err.code, TX_EBUSY);
    assert_non_null(strstr(err.msg, "already in use"));
    assert_null(tx__http_server_start(&f.loop, "nonsense", &cfg, &err));
    assert_int_equal(err.code, TX_EINVAL);
    assert_null(tx__http_server_start(&f.loop, "127.0.0.1:99999", &cfg, &err));
    assert_null(tx__http_server_start(&f.loop, "[::1", &cfg, &err));
    assert_null(tx__http_server_start(NULL, addr, &cfg, &err));
    stop(&f);
}

/* ---- lingering close ---------------------------------------------------------------------- */

static int no_connections(fixture_t *f)
{
    return tx__http_server_connections(f->srv) == 0;
}

/* Reads what the server sends until EOF into client_buf (NUL-terminated). */
static void read_answer(fixture_t *f, int s)
{
    ssize_t n;
    while (f->client_len < sizeof f->client_buf - 1 &&
           (n = recv(s, f->client_buf + f->client_len, sizeof f->client_buf - 1 - f->client_len,
                     0)) > 0)
        f->client_len += (size_t)n;
    f->client_buf[f->client_len] = '\0';
}

/* A too-large body sent in full before reading anything (as many HTTP clients do). */
static void *client_whole_body(void *ud)
{
    fixture_t *f = ud;
    int s = client_connect(f->port);
    const size_t len = 2u * 1024u * 1024u;
    char head[128];
    int hl = snprintf(head, sizeof head, "POST /up HTTP/1.1\r\nContent-Length: %zu\r\n\r\n", len);
    char *body = malloc(len);
    assert_non_null(body);
    memset(body, 'b', len);
    int ok = send(s, head, (size_t)hl, MSG_NOSIGNAL) == hl;
    for (size_t off = 0; ok && off < len;) {
        ssize_t n = send(s, body + off, len - off, MSG_NOSIGNAL);
        if (n <= 0)
            ok = 0;
        else
            off += (size_t)n;
    }
    free(body);
    atomic_store(&f->client_sent_all, ok);
    read_answer(f, s);
    close(s);
    atomic_store(&f->client_finished, 1);
    return NULL;
}

/* Sends a too-large head, reads the answer to its EOF, then neither sends nor closes. */
static void *client_silent(void *ud)
{
    fixture_t *f = ud;
    f->client_fd = client_connect(f->port);
    const char head[] = "POST /up HTTP/1.1\r\nContent-Length: 100000\r\n\r\n";
    send(f->client_fd, head, sizeof head - 1, MSG_NOSIGNAL);
    read_answer(f, f->client_fd);
    atomic_store(&f->client_finished, 1);
    return NULL;
}

/* Sends a too-large head, then body bytes without end (up to 64 MiB) and reads nothing. */
static void *client_flood(void *ud)
{
    fixture_t *f = ud;
    f->client_fd = client_connect(f->port);
    struct timeval tv = {.tv_sec = 10};
    setsockopt(f->client_fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    const char head[] = "POST /up HTTP/1.1\r\nContent-Length: 1000000000\r\n\r\n";
    static char chunk[65536];
    memset(chunk, 'f', sizeof chunk);
    int ok = send(f->client_fd, head, sizeof head - 1, MSG_NOSIGNAL) == (ssize_t)sizeof head - 1;
    for (size_t sent = 0; ok && sent < 64u * 1024u * 1024u;) {
        ssize_t n = send(f->client_fd, chunk, sizeof chunk, MSG_NOSIGNAL);
        if (n <= 0)
            ok = 0;
        else
            sent += (size_t)n;
    }
    atomic_store(&f->client_sent_all, ok);
    atomic_store(&f->client_finished, 1);
    return NULL;
}

static void lingering_close_lets_the_client_read(void **state)
{
    (void)state;
    tx_http_config_t cfg;
    tx__http_config_defaults(&cfg);
    cfg.limits.max_body_bytes = 1000;
    for (int round = 0; round < 3; round++) {
        fixture_t f;
        start_with(&f, &cfg);
        pthread_t th;
        pthread_create(&th, NULL, client_whole_body, &f);
        assert_true(run_until(&f, client_done));
        pthread_join(th, NULL);
        assert_true(atomic_load(&f.client_sent_all)); /* no reset while it was sending */
        assert_true(strncmp(f.client_buf, "HTTP/1.1 413 ", 13) == 0);
        assert_non_null(strstr(f.client_buf, "\"code\":\"request_too_large\""));
        assert_true(run_until(&f, no_connections)); /* closed at the client's EOF */
        stop(&f);
    }
}

/* Asks for /huge with Connection: close, waits before reading, then reads everything. */
static void *client_slow_reader(void *ud)
{
    fixture_t *f = ud;
    int s = client_connect(f->port);
    const char req[] = "GET /huge HTTP/1.1\r\nConnection: close\r\n\r\n";
    send(s, req, sizeof req - 1, MSG_NOSIGNAL);
    struct timespec ts = {0, 300000000}; /* the scenario: a reader slower than linger_idle_ms */
    nanosleep(&ts, NULL);
    static char buf[65536];
    size_t body = 0;
    ssize_t n;
    while ((n = recv(s, buf, sizeof buf, 0)) > 0)
        body += (size_t)n;
    f->client_len = body; /* head + body when nothing was cut */
    close(s);
    atomic_store(&f->client_finished, 1);
    return NULL;
}

static void lingering_waits_for_the_answer_to_be_out(void **state)
{
    (void)state;
    tx_http_config_t cfg;
    tx__http_config_defaults(&cfg);
    cfg.linger_idle_ms = 50;
    cfg.linger_ms = 100;
    fixture_t f;
    start_with(&f, &cfg);
    pthread_t th;
    pthread_create(&th, NULL, client_slow_reader, &f);
    assert_true(run_until(&f, client_done));
    pthread_join(th, NULL);
    assert_true(f.client_len > HUGE_LEN); /* the whole answer arrived, none of it cut */
    stop(&f);
}

static void lingering_close_is_bounded(void **state)
{
    (void)state;
    tx_http_config_t cfg;
    tx__http_config_defaults(&cfg);
    cfg.limits.max_body_bytes = 1000;
    /* silence: a client that neither sends nor closes is closed after linger_idle_ms */
    cfg.linger_ms = 600000;
    cfg.linger_idle_ms = 100;
    fixture_t f;
    start_with(&f, &cfg);
    pthread_t th;
    pthread_create(&th, NULL, client_silent, &f);
    assert_true(run_until(&f, client_done)); /* the answer, then the server's FIN */
    pthread_join(th, NULL);
    assert_true(strncmp(f.client_buf, "HTTP/1.1 413 ", 13) == 0);
    assert_true(run_until(&f, no_connections)); /* while the client still holds its socket */
    close(f.client_fd);
    stop(&f);
    /* size: a client that keeps sending is cut off after linger_max_bytes */
    cfg.linger_idle_ms = 600000;
    cfg.linger_max_bytes = 256u * 1024u;
    start_with(&f, &cfg);
    pthread_create(&th, NULL, client_flood, &f);
    assert_true(run_until(&f, client_done));
    pthread_join(th, NULL);
    assert_false(atomic_load(&f.client_sent_all)); /* its sends failed: the server closed */
    assert_true(run_until(&f, no_connections));
    close(f.client_fd);
    stop(&f);
}

/* A client that asks for a big answer with Connection: close and never reads it: the write-out
 * is bounded by the idle timeout, so the connection is closed while the client holds its socket. */
static void drain_of_an_unread_answer_is_bounded(void **state)
{
    (void)state;
    tx_http_config_t cfg;
    tx__http_config_defaults(&cfg);
    cfg.idle_timeout_ms = 200;
    fixture_t f;
    start_with(&f, &cfg);
    int s = client_connect(f.port);
    const char req[] = "GET /huge HTTP/1.1\r\nConnection: close\r\n\r\n";
    assert_int_equal(send(s, req, sizeof req - 1, MSG_NOSIGNAL), (ssize_t)(sizeof req - 1));
    assert_true(run_until(&f, no_connections)); /* the client never read a byte */
    close(s);
    stop(&f);
}

/* Connects and sends nothing; records what it reads before the server's EOF. */
static void *client_mute(void *ud)
{
    fixture_t *f = ud;
    int s = client_connect(f->port);
    read_answer(f, s);
    close(s);
    atomic_store(&f->client_finished, 1);
    return NULL;
}

static void mute_connection_closed_at_header_timeout(void **state)
{
    (void)state;
    tx_http_config_t cfg;
    tx__http_config_defaults(&cfg);
    cfg.header_timeout_ms = 100;
    cfg.idle_timeout_ms = 600000; /* so only the header timeout can end it */
    fixture_t f;
    start_with(&f, &cfg);
    pthread_t th;
    pthread_create(&th, NULL, client_mute, &f);
    assert_true(run_until(&f, client_done));
    pthread_join(th, NULL);
    assert_int_equal(f.client_len, 0); /* closed without an answer */
    assert_true(run_until(&f, no_connections));
    stop(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(answers_in_request_order),
        cmocka_unit_test(exact_answers_on_one_connection),
        cmocka_unit_test(client_gone_aborts),
        cmocka_unit_test(request_deadlines),
        cmocka_unit_test(listen_errors),
        cmocka_unit_test(lingering_close_lets_the_client_read),
        cmocka_unit_test(lingering_close_is_bounded),
        cmocka_unit_test(lingering_waits_for_the_answer_to_be_out),
        cmocka_unit_test(drain_of_an_unread_answer_is_bounded),
        cmocka_unit_test(mute_connection_closed_at_header_timeout),
        cmocka_unit_test(stream_output_from_a_timer_is_not_held),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
