/* The store executor: work runs off the loop with a real SQLite handle, every done callback runs
 * on the loop thread, close drains what was queued, grouped work is taken in contiguous runs, and
 * a bad URL fails cleanly. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/storeq.h"

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
    w->rc = tx__store_import(s, &in, 1, 1000, &res, NULL);
    w->created = (int64_t)res.inserted;
    tx__import_result_free(&res);
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
    assert_int_equal(tx__storeq_open(&loop, url, 2, &q, &err), TX_EOK);
    ctx_t c = {.loop_thread = pthread_self()};
    enum { N = 200 };
    static work_t w[N];
    for (int i = 0; i < N; i++) {
        w[i] = (work_t){.c = &c, .n = i};
        assert_int_equal(tx__storeq_submit(q, do_import, on_done, &w[i]), TX_EOK);
    }
    tx__storeq_close(q, on_closed, &c);
    assert_int_equal(tx__storeq_submit(q, do_import, on_done, &w[0]), TX_ESTOPPED);
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

/* Grouped work: a held thread lets 150 group items and one plain item queue up; then the
 * thread takes each contiguous run of group items in one call (at most TX_STOREQ_GROUP_MAX),
 * never across the plain item, and every done runs once, on the loop, in submission order. */
typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int release;
    size_t sizes[16];
    int calls;
    int order[160];
    int n_done;
    int done_on_loop;
    pthread_t loop_thread;
} grp_t;

typedef struct {
    grp_t *g;
    int seq;
    int ran;
} gitem_t;

static void hold(tx_store_t *s, void *arg)
{
    (void)s;
    grp_t *g = ((gitem_t *)arg)->g;
    pthread_mutex_lock(&g->mu);
    while (!g->release)
        pthread_cond_wait(&g->cv, &g->mu);
    pthread_mutex_unlock(&g->mu);
    ((gitem_t *)arg)->ran = 1;
}

static void group_fn(tx_store_t *s, void **args, size_t n)
{
    assert_non_null(s);
    gitem_t *first = args[0];
    if (first->g->calls < 16) first->g->sizes[first->g->calls] = n;
    first->g->calls++;
    for (size_t i = 0; i < n; i++)
        ((gitem_t *)args[i])->ran++;
}

static void plain_fn(tx_store_t *s, void *arg)
{
    (void)s;
    ((gitem_t *)arg)->ran++;
}

static void gdone(void *arg)
{
    gitem_t *it = arg;
    grp_t *g = it->g;
    if (g->n_done < 160) g->order[g->n_done] = it->seq;
    g->n_done++;
    g->done_on_loop += pthread_equal(pthread_self(), g->loop_thread) != 0;
}

static void gclosed(void *ud)
{
    (void)ud;
}

static void groups_take_contiguous_runs(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    tx_storeq_t *q = NULL;
    tx_error_t err = {0};
    assert_int_equal(tx__storeq_open(&loop, "sqlite::memory:", 1, &q, &err), TX_EOK);
    static grp_t g;
    memset(&g, 0, sizeof g);
    pthread_mutex_init(&g.mu, NULL);
    pthread_cond_init(&g.cv, NULL);
    g.loop_thread = pthread_self();
    enum { N = 152 };
    static gitem_t it[N];
    for (int i = 0; i < N; i++)
        it[i] = (gitem_t){.g = &g, .seq = i};
    assert_int_equal(tx__storeq_submit(q, hold, gdone, &it[0]), TX_EOK);
    for (int i = 1; i < N; i++) {
        int rc = i == 101 ? tx__storeq_submit(q, plain_fn, gdone, &it[i])
                          : tx__storeq_submit_group(q, group_fn, gdone, &it[i]);
        assert_int_equal(rc, TX_EOK);
    }
    pthread_mutex_lock(&g.mu);
    g.release = 1;
    pthread_cond_signal(&g.cv);
    pthread_mutex_unlock(&g.mu);
    tx__storeq_close(q, gclosed, NULL);
    assert_int_equal(tx__storeq_submit_group(q, group_fn, gdone, &it[1]), TX_ESTOPPED);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(g.n_done, N);
    assert_int_equal(g.done_on_loop, N);
    for (int i = 0; i < N; i++) {
        assert_int_equal(g.order[i], i);
        assert_int_equal(it[i].ran, 1);
    }
    /* items 1..100, then the plain 101, then 102..151 */
    assert_int_equal(g.calls, 3);
    assert_int_equal(g.sizes[0], TX_STOREQ_GROUP_MAX);
    assert_int_equal(g.sizes[1], 100 - TX_STOREQ_GROUP_MAX);
    assert_int_equal(g.sizes[2], 50);
    assert_int_equal(uv_loop_close(&loop), 0);
    pthread_mutex_destroy(&g.mu);
    pthread_cond_destroy(&g.cv);
}

static void bad_url_fails_cleanly(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    tx_storeq_t *q = NULL;
    tx_error_t err = {0};
    assert_int_not_equal(tx__storeq_open(&loop, "nosuch:thing", 1, &q, &err), TX_EOK);
    assert_null(q);
    assert_non_null(err.msg);
    assert_int_not_equal(tx__storeq_open(&loop, "sqlite:/nonexistent-dir/x/y.db", 1, &q, &err),
                         TX_EOK);
    assert_int_equal(tx__storeq_open(NULL, "sqlite::memory:", 1, &q, &err), TX_EINVAL);
    tx__storeq_close(NULL, NULL, NULL);
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(runs_and_drains),
        cmocka_unit_test(groups_take_contiguous_runs),
        cmocka_unit_test(bad_url_fails_cleanly),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
