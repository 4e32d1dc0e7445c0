/* The store executor: work runs off the loop with a real SQLite handle, every done callback runs
 * on the loop thread, close drains what was queued, and a bad URL fails cleanly. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "jobs/storeq.h"

typedef struct {
    pthread_t loop_thread;
    int done;
    int done_on_loop;
    int closed;
    int64_t imported;
} ctx_t;

typedef struct {
    ctx_t *c;
    int n;
    int rc;
    int64_t created;
} work_t;

static void do_import(tx_store_t *s, void *arg)
{
    work_t *w = arg;
    char id[32];
    snprintf(id, sizeof id, "%d", w->n);
    tx_item_input_t in = {0};
    in.owner = "o";
    in.external_id = id;
    in.task = "tags";
    in.text = "some text";
    tx_import_result_t res = {0};
    w->rc = tx_store_import(s, &in, 1, 1000, &res, NULL);
    w->created = (int64_t)res.inserted;
    tx_import_result_free(&res);
}

static void on_done(void *arg)
{
    work_t *w = arg;
    w->c->done++;
    w->c->done_on_loop += pthread_equal(pthread_self(), w->c->loop_thread) != 0;
    if (w->rc == TX_EOK) w->c->imported += w->created;
}

static void on_closed(void *ud)
{
    ((ctx_t *)ud)->closed = 1;
}

static void runs_and_drains(void **state)
{
    (void)state;
    char dir[] = "/tmp/tx-storeq-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char url[128];
    snprintf(url, sizeof url, "sqlite:%s/q.db", dir);
    uv_loop_t loop;
    uv_loop_init(&loop);
    tx_storeq_t *q = NULL;
    tx_error_t err = {0};
    assert_int_equal(tx_storeq_open(&loop, url, 2, &q, &err), TX_EOK);
    ctx_t c = {.loop_thread = pthread_self()};
    enum { N = 200 };
    static work_t w[N];
    for (int i = 0; i < N; i++) {
        w[i] = (work_t){.c = &c, .n = i};
        assert_int_equal(tx_storeq_submit(q, do_import, on_done, &w[i]), TX_EOK);
    }
    tx_storeq_close(q, on_closed, &c);
    assert_int_equal(tx_storeq_submit(q, do_import, on_done, &w[0]), TX_ESTOPPED);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(c.done, N);
    assert_int_equal(c.done_on_loop, N);
    assert_int_equal(c.imported, N);
    assert_true(c.closed);
    assert_int_equal(uv_loop_close(&loop), 0);
    char path[160];
    snprintf(path, sizeof path, "%s/q.db", dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/q.db-wal", dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/q.db-shm", dir);
    unlink(path);
    rmdir(dir);
}

static void bad_url_fails_cleanly(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    tx_storeq_t *q = NULL;
    tx_error_t err = {0};
    assert_int_not_equal(tx_storeq_open(&loop, "nosuch:thing", 1, &q, &err), TX_EOK);
    assert_null(q);
    assert_non_null(err.msg);
    assert_int_not_equal(tx_storeq_open(&loop, "sqlite:/nonexistent-dir/x/y.db", 1, &q, &err),
                         TX_EOK);
    assert_int_equal(tx_storeq_open(NULL, "sqlite::memory:", 1, &q, &err), TX_EINVAL);
    tx_storeq_close(NULL, NULL, NULL);
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(runs_and_drains),
        cmocka_unit_test(bad_url_fails_cleanly),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
