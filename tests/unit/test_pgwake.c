/* The wake-up listener (src/jobs/pgwake.c): SQLite says "unsupported" and never calls back;
 * on PostgreSQL an import, a park and a pause change made through another handle wake the loop,
 * a resume of the shared pause is reported as such, a server restart is survived (wake after
 * the loss, listening again, woken again), close leaves no handle and no later call, and a
 * schema at version 2 (statement-level update trigger) is migrated to the row-level one. ctest runs
 * it as pg_test_pgwake through tests/with_pg.sh; alone, the PostgreSQL cases are skipped. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "jobs/pgwake.h"
#include "store/store.h"
#include "store/pg_schema.h"

#include <libpq-fe.h>

#define T0 1700000000000LL

static const char *g_url, *g_dir, *g_sh;
static int g_schemas;

typedef struct {
    int calls, resumed, closed;
} seen_t;

static void on_wake(void *ud, int resumed)
{
    seen_t *s = ud;
    s->calls++;
    s->resumed += resumed;
}

static void on_closed(void *ud)
{
    ((seen_t *)ud)->closed = 1;
}

typedef struct {
    int (*pred)(void *);
    void *arg;
    uint64_t deadline;
    int met;
} waiter_t;

static void waiter_cb(uv_timer_t *t)
{
    waiter_t *w = t->data;
    if (w->pred(w->arg)) {
        w->met = 1;
        uv_stop(t->loop);
    } else if (uv_now(t->loop) > w->deadline) {
        uv_stop(t->loop);
    }
}

/* Runs the loop until pred(arg) holds (1) or `ms` passed (0). */
static int run_until(uv_loop_t *loop, int (*pred)(void *), void *arg, unsigned ms)
{
    uv_update_time(loop);
    waiter_t w = {pred, arg, uv_now(loop) + ms, 0};
    uv_timer_t t;
    uv_timer_init(loop, &t);
    t.data = &w;
    uv_timer_start(&t, waiter_cb, 0, 5);
    uv_run(loop, UV_RUN_DEFAULT);
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
    return w.met;
}

typedef struct {
    tx_pgwake_t *w;
    seen_t *s;
    int calls_over;
} cond_t;

static int is_listening(void *arg)
{
    tx_pgwake_stats_t st;
    tx__pgwake_stats(((cond_t *)arg)->w, &st);
    return st.listening;
}

static int is_unsupported(void *arg)
{
    tx_pgwake_stats_t st;
    tx__pgwake_stats(((cond_t *)arg)->w, &st);
    return st.unsupported;
}

static int called(void *arg)
{
    cond_t *c = arg;
    return c->s->calls > c->calls_over;
}

static int resumed(void *arg)
{
    return ((cond_t *)arg)->s->resumed > 0;
}

static int closed(void *arg)
{
    return ((seen_t *)arg)->closed;
}

static void close_and_check(uv_loop_t *loop, tx_pgwake_t *w, seen_t *s)
{
    int calls = s->calls;
    tx__pgwake_close(w, on_closed, s);
    assert_true(run_until(loop, closed, s, 10000));
    assert_int_equal(s->calls, calls); /* no call after close */
    assert_int_equal(uv_loop_close(loop), 0);
}

static void import_one(tx_store_t *st, const char *id)
{
    tx_item_input_t in = {"o", id, NULL, "some text to tag"};
    tx_import_result_t r;
    assert_int_equal(tx__store_import(st, &in, 1, T0, &r, NULL), TX_EOK);
    assert_int_equal(r.inserted, 1);
    tx__import_result_free(&r);
}

static void test_bad_arguments(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    tx_pgwake_t *w = (tx_pgwake_t *)1;
    tx_error_t err = {0};
    assert_int_equal(tx__pgwake_open(&loop, NULL, on_wake, NULL, &w, &err), TX_EINVAL);
    assert_null(w);
    assert_non_null(err.msg);
    assert_int_equal(tx__pgwake_open(&loop, "sqlite:x.db", NULL, NULL, &w, NULL), TX_EINVAL);
    assert_int_equal(tx__pgwake_open(NULL, "sqlite:x.db", on_wake, NULL, &w, NULL), TX_EINVAL);
    tx__pgwake_close(NULL, on_closed, NULL); /* no-op */
    tx_pgwake_stats_t st = {.wakeups = 7};
    tx__pgwake_stats(NULL, &st);
    assert_int_equal(st.wakeups, 0);
    assert_int_equal(tx__pgwake_start(NULL, "sqlite:x.db"), TX_EINVAL);
    assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_sqlite_unsupported(void **state)
{
    (void)state;
    char dir[] = "/tmp/tx_pgwake_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char url[256];
    snprintf(url, sizeof url, "sqlite:%s/w.db", dir);
    uv_loop_t loop;
    uv_loop_init(&loop);
    seen_t s = {0};
    tx_pgwake_t *w = NULL;
    assert_int_equal(tx__pgwake_open(&loop, url, on_wake, &s, &w, NULL), TX_EOK);
    cond_t c = {w, &s, 0};
    assert_true(run_until(&loop, is_unsupported, &c, 10000));
    tx_store_t *st = NULL;
    assert_int_equal(tx__store_open(url, &st, NULL), TX_EOK);
    import_one(st, "1");
    tx__store_close(st);
    assert_false(run_until(&loop, called, &c, 200)); /* nothing can wake: no call */
    assert_int_equal(s.calls, 0);
    close_and_check(&loop, w, &s);
    char path[300];
    snprintf(path, sizeof path, "%s/w.db", dir);
    unlink(path);
    rmdir(dir);
}

/* A listener on a fresh schema (created first through `st`), already listening. */
static tx_pgwake_t *listener(uv_loop_t *loop, seen_t *s, tx_store_t **st, char *url, size_t n)
{
    snprintf(url, n, "%s?schema=pgw_%d_%d", g_url, (int)getpid(), ++g_schemas);
    assert_int_equal(tx__store_open(url, st, NULL), TX_EOK);
    uv_loop_init(loop);
    tx_pgwake_t *w = NULL;
    assert_int_equal(tx__pgwake_open(loop, url, on_wake, s, &w, NULL), TX_EOK);
    cond_t c = {w, s, 0};
    assert_true(run_until(loop, is_listening, &c, 10000));
    return w;
}

static void test_pg_wakes(void **state)
{
    (void)state;
    if (!g_url) skip();
    uv_loop_t loop;
    seen_t s = {0};
    tx_store_t *st;
    char url[512];
    tx_pgwake_t *w = listener(&loop, &s, &st, url, sizeof url);
    cond_t c = {w, &s, s.calls};
    /* an import on another handle (another node) */
    import_one(st, "a");
    assert_true(run_until(&loop, called, &c, 10000));
    tx_pgwake_stats_t ws;
    tx__pgwake_stats(w, &ws);
    assert_true(ws.notifies >= 1);
    assert_true(ws.wakeups >= 1);
    assert_int_equal(s.resumed, 0);
    /* a claim wakes nobody; a park (finish as retrying) does */
    tx_item_list_t l;
    assert_int_equal(tx__store_claim(st, "n2", 1, T0, 60000, &l, NULL), TX_EOK);
    assert_int_equal(l.n, 1);
    c.calls_over = s.calls;
    tx_item_outcome_t out = {.status = TX_ITEM_RETRYING,
                             .retry_after = T0 + 1000,
                             .error = "server: 503",
                             .error_class = TX_CLASS_SERVER};
    assert_int_equal(tx__store_finish(st, l.items[0].id, l.items[0].lease, &out, T0, NULL), TX_EOK);
    tx__item_list_free(&l);
    assert_true(run_until(&loop, called, &c, 10000));
    /* the shared pause: set (a wake, not a resume), then cleared (a resume) */
    c.calls_over = s.calls;
    assert_int_equal(tx__store_pause_set(st, 1, "quota: test", T0, NULL), TX_EOK);
    assert_true(run_until(&loop, called, &c, 10000));
    assert_int_equal(s.resumed, 0);
    assert_int_equal(tx__store_pause_set(st, 0, NULL, T0, NULL), TX_EOK);
    assert_true(run_until(&loop, resumed, &c, 10000));
    assert_int_equal(s.resumed, 1);
    tx__store_close(st);
    close_and_check(&loop, w, &s);
}

static void test_pg_restart(void **state)
{
    (void)state;
    if (!g_url || !g_dir || !g_sh) skip();
    uv_loop_t loop;
    seen_t s = {0};
    tx_store_t *st;
    char url[512];
    tx_pgwake_t *w = listener(&loop, &s, &st, url, sizeof url);
    cond_t c = {w, &s, s.calls};
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "'%s' restart '%s'", g_sh, g_dir);
    assert_int_equal(system(cmd), 0);
    /* the loss is reported (wake-ups may have been missed), then it listens again */
    assert_true(run_until(&loop, called, &c, 20000));
    assert_true(run_until(&loop, is_listening, &c, 20000));
    /* and a write after the restart wakes it */
    tx_item_input_t in = {"o", "after-restart", NULL, "text"};
    tx_import_result_t r;
    int rc = tx__store_import(st, &in, 1, T0, &r, NULL);
    if (rc == TX_EIO) rc = tx__store_import(st, &in, 1, T0, &r, NULL); /* reconnects */
    assert_int_equal(rc, TX_EOK);
    tx__import_result_free(&r);
    c.calls_over = s.calls;
    assert_true(run_until(&loop, called, &c, 10000));
    tx__store_close(st);
    close_and_check(&loop, w, &s);
}

static void sql(const char *q)
{
    PGconn *c = PQconnectdb(g_url);
    assert_int_equal(PQstatus(c), CONNECTION_OK);
    PGresult *r = PQexec(c, q);
    if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
        fail_msg("%s: %s", q, PQresultErrorMessage(r));
    PQclear(r);
    PQfinish(c);
}

static long sql_long(const char *q)
{
    PGconn *c = PQconnectdb(g_url);
    assert_int_equal(PQstatus(c), CONNECTION_OK);
    PGresult *r = PQexec(c, q);
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    long v = strtol(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    PQfinish(c);
    return v;
}

/* A database made by a build with 2 steps (the statement-level update trigger of step 1) is
 * brought to step 3 on open, and updates still wake listeners. */
static void test_pg_upgrade_to_row_trigger(void **state)
{
    (void)state;
    if (!g_url) skip();
    char url[512], schema[64], q[512];
    snprintf(schema, sizeof schema, "pgw_%d_up", (int)getpid());
    snprintf(url, sizeof url, "%s?schema=%s", g_url, schema);
    tx_store_t *st = NULL;
    assert_int_equal(tx__store_open(url, &st, NULL), TX_EOK);
    tx__store_close(st);
    /* back to what version 2 left */
    snprintf(q, sizeof q,
             "SET search_path TO %s; DROP TRIGGER items_wake_update ON items;"
             "DROP FUNCTION tenax_wake_item();"
             "CREATE TRIGGER items_wake_update AFTER UPDATE ON items REFERENCING NEW TABLE AS "
             "fresh FOR EACH STATEMENT EXECUTE FUNCTION tenax_wake_items();"
             "ALTER TABLE attempts DROP COLUMN refunded;" /* step 4 runs again too */
             "ALTER TABLE attempts DROP COLUMN provider;" /* and step 6 */
             "DELETE FROM schema_version WHERE version > 2",
             schema);
    sql(q);
    assert_int_equal(tx__store_open(url, &st, NULL), TX_EOK); /* migrates 2 -> 3 -> 4 */
    snprintf(q, sizeof q, "SELECT max(version) FROM %s.schema_version", schema);
    assert_int_equal(sql_long(q), tx__pg_schema_version());
    snprintf(q, sizeof q,
             "SELECT count(*) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN "
             "pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = '%s' AND "
             "t.tgname = 'items_wake_update' AND (t.tgtype & 1) = 1", /* 1 = FOR EACH ROW */
             schema);
    assert_int_equal(sql_long(q), 1);
    /* an import and a park after the upgrade wake a listener */
    uv_loop_t loop;
    uv_loop_init(&loop);
    seen_t s = {0};
    tx_pgwake_t *w = NULL;
    assert_int_equal(tx__pgwake_open(&loop, url, on_wake, &s, &w, NULL), TX_EOK);
    cond_t c = {w, &s, 0};
    assert_true(run_until(&loop, is_listening, &c, 10000));
    import_one(st, "u1");
    assert_true(run_until(&loop, called, &c, 10000));
    tx_item_list_t l;
    assert_int_equal(tx__store_claim(st, "n", 1, T0, 60000, &l, NULL), TX_EOK);
    assert_int_equal(l.n, 1);
    c.calls_over = s.calls;
    tx_item_outcome_t out = {.status = TX_ITEM_RETRYING,
                             .retry_after = T0 + 1000,
                             .error = "server: 503",
                             .error_class = TX_CLASS_SERVER};
    assert_int_equal(tx__store_finish(st, l.items[0].id, l.items[0].lease, &out, T0, NULL), TX_EOK);
    tx__item_list_free(&l);
    assert_true(run_until(&loop, called, &c, 10000));
    tx__store_close(st);
    close_and_check(&loop, w, &s);
}

int main(void)
{
    g_url = getenv("TX_TEST_PG_URL");
    g_dir = getenv("TX_TEST_PG_DIR");
    g_sh = getenv("TX_TEST_PG_SH");
    if (!g_url)
        fprintf(stderr, "test_pgwake: no server (TX_TEST_PG_URL unset): PostgreSQL cases skipped; "
                        "run through tests/with_pg.sh\n");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_sqlite_unsupported),
        cmocka_unit_test(test_pg_wakes),
        cmocka_unit_test(test_pg_restart),
        cmocka_unit_test(test_pg_upgrade_to_row_trigger),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
