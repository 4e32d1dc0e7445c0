/* Measures the upstream client's own cost: (1) send+cancel of a typical gateway request (no
 * network: our setup and teardown only), (2) round trips over keep-alive to an in-process
 * libuv responder, sequential and 64 at once. Usage: bench_upstream [iterations]. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "upstream/client.h"

static const char REPLY[] = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                            "Content-Length: 2\r\n\r\n{}";

typedef struct {
    uv_tcp_t tcp;
    char buf[4096];
} conn_t;

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
    (void)hint;
    conn_t *c = h->data;
    *b = uv_buf_init(c->buf, sizeof c->buf);
}

static void on_conn_closed(uv_handle_t *h)
{
    free(h->data);
}

/* Answers one reply per request head seen in each read (requests here have no body). */
static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    if (n < 0) {
        uv_close((uv_handle_t *)s, on_conn_closed);
        return;
    }
    int heads = 0;
    for (ssize_t i = 0; i + 3 < n; i++)
        if (memcmp(b->base + i, "\r\n\r\n", 4) == 0) heads++;
    for (int k = 0; k < heads; k++) {
        uv_buf_t out = uv_buf_init((char *)REPLY, sizeof REPLY - 1);
        uv_try_write(s, &out, 1);
    }
}

static void on_accept(uv_stream_t *l, int status)
{
    if (status != 0) return;
    conn_t *c = calloc(1, sizeof *c);
    uv_tcp_init(l->loop, &c->tcp);
    c->tcp.data = c;
    if (uv_accept(l, (uv_stream_t *)&c->tcp) == 0)
        uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

typedef struct {
    tx_upstream_t *u;
    const char *url;
    long left, done, failed, inflight;
} run_t;

static void on_done(void *ud, const tx_upstream_result_t *r);
static const tx_upstream_cb_t CB = {NULL, NULL, on_done};

static void start(run_t *run)
{
    run->left--;
    run->inflight++;
    if (tx__upstream_send(run->u, "GET", run->url, NULL, 0, NULL, 0, NULL, &CB, run) == NULL) {
        run->failed++;
        run->inflight--;
    }
}

static void on_done(void *ud, const tx_upstream_result_t *r)
{
    run_t *run = ud;
    run->inflight--;
    run->done++;
    if (r->err != TX_UPSTREAM_EOK || r->status != 200) run->failed++;
    if (run->left > 0) start(run);
}

static double now_s(void)
{
    return (double)uv_hrtime() / 1e9;
}

int main(int argc, char **argv)
{
    long iters = argc > 1 ? strtol(argv[1], NULL, 10) : 20000;
    if (iters <= 0) iters = 20000;
    uv_loop_t *loop = uv_default_loop();
    uv_tcp_t srv;
    struct sockaddr_in a;
    uv_ip4_addr("127.0.0.1", 0, &a);
    uv_tcp_init(loop, &srv);
    uv_tcp_bind(&srv, (struct sockaddr *)&a, 0);
    uv_listen((uv_stream_t *)&srv, 256, on_accept);
    struct sockaddr_storage ss;
    int len = sizeof ss;
    uv_tcp_getsockname(&srv, (struct sockaddr *)&ss, &len);
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1/chat/completions",
             ntohs(((struct sockaddr_in *)&ss)->sin_port));
    tx_upstream_t *u = tx__upstream_new(loop, NULL);

    /* 1. send + cancel */
    static const char body[] = "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\","
                               "\"content\":\"Tag this post about cats and dogs please\"}]}";
    const tx_header_t h[] = {{"Content-Type", "application/json"},
                             {"Authorization", "Bearer sk-xxxxxxxxxxxxxxxxxxxx"},
                             {"Accept", "application/json"}};
    tx_upstream_limits_t lim = {.attempt_timeout_ms = 18000};
    double t0 = now_s();
    for (long i = 0; i < iters; i++) {
        tx_upstream_req_t *r =
            tx__upstream_send(u, "POST", url, h, 3, body, sizeof body - 1, &lim, &CB, NULL);
        tx__upstream_cancel(r);
        if (i % 1000 == 999) uv_run(loop, UV_RUN_NOWAIT); /* let closed timers go */
    }
    double t1 = now_s();
    printf("send+cancel: %ld in %.3f s = %.2f us each\n", iters, t1 - t0,
           (t1 - t0) * 1e6 / (double)iters);
    uv_run(loop, UV_RUN_NOWAIT);

    /* 2. round trips */
    int widths[] = {1, 64};
    for (int w = 0; w < 2; w++) {
        run_t run = {u, url, iters, 0, 0, 0};
        t0 = now_s();
        for (int k = 0; k < widths[w] && run.left > 0; k++)
            start(&run);
        while (run.inflight > 0)
            uv_run(loop, UV_RUN_ONCE);
        t1 = now_s();
        printf("round trips, %d in flight: %ld (%ld failed) in %.3f s = %.0f req/s, %.1f us each\n",
               widths[w], run.done, run.failed, t1 - t0, (double)run.done / (t1 - t0),
               (t1 - t0) * 1e6 / (double)run.done);
    }
    tx__upstream_close(u, NULL, NULL);
    uv_close((uv_handle_t *)&srv, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
    return 0;
}
