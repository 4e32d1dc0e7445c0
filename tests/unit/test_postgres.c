/* PostgreSQL-only store tests (src/store/postgres.c): two nodes' migrations at once, claimers in
 * several threads working every item exactly once, a server restart and a stopped server
 * between two operations, LISTEN/NOTIFY wake-ups, ping, URL errors. Needs a server: ctest runs
 * it as pg_test_postgres through tests/with_pg.sh (TX_TEST_PG_URL, TX_TEST_PG_DIR,
 * TX_TEST_PG_SH); run alone without them, every test is skipped. The contract suite itself runs
 * on PostgreSQL as pg_test_store. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <libpq-fe.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store/store.h"
#include "store/pg_schema.h"
#include "store/pg_url.h"

#define T0 1700000000000LL
#define LEASE 60000

static const char *g_url, *g_dir, *g_sh;
static int g_schemas;

static void skip_without_server(void)
{
    if (!g_url) skip();
}

/* A fresh schema on the test server: "<url>?schema=pgt_<n>_<tag>". */
static void fresh_url(char *out, size_t len, const char *tag)
{
    snprintf(out, len, "%s?schema=pgt_%d_%s", g_url, ++g_schemas, tag);
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int64_t sql_count(const char *sql)
{
    PGconn *c = PQconnectdb(g_url);
    assert_int_equal(PQstatus(c), CONNECTION_OK);
    PGresult *r = PQexec(c, sql);
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    int64_t v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    PQfinish(c);
    return v;
}

static void sql_exec(const char *sql)
{
    PGconn *c = PQconnectdb(g_url);
    assert_int_equal(PQstatus(c), CONNECTION_OK);
    PGresult *r = PQexec(c, sql);
    assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
    PQclear(r);
    PQfinish(c);
}

static void pg_sh(const char *verb)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "'%s' %s '%s' >/dev/null", g_sh, verb, g_dir);
    assert_int_equal(system(cmd), 0);
}

static void seed(tx_store_t *s, const char *prefix, int n)
{
    tx_item_input_t *in = calloc((size_t)n, sizeof *in);
    char(*ext)[32] = calloc((size_t)n, 32);
    assert_non_null(in);
    assert_non_null(ext);
    for (int i = 0; i < n; i++) {
        snprintf(ext[i], 32, "%s%d", prefix, i);
        in[i] = (tx_item_input_t){"o", ext[i], NULL, "a post about trains"};
    }
    tx_import_result_t r;
    tx_error_t err = {0};
    assert_int_equal(tx__store_import(s, in, (size_t)n, T0, &r, &err), TX_EOK);
    assert_int_equal(r.inserted, (size_t)n);
    tx__import_result_free(&r);
    free(ext);
    free(in);
}

/* ---- migrations ------------------------------------------------------------------------- */

typedef struct {
    const char *url;
    int rc;
} opener_t;

static void *open_close(void *arg)
{
    opener_t *o = arg;
    tx_store_t *s = NULL;
    o->rc = tx__store_open(o->url, &s, NULL);
    tx__store_close(s);
    return NULL;
}

static void two_nodes_migrating_at_once_migrate_once(void **state)
{
    (void)state;
    skip_without_server();
    char url[600];
    fresh_url(url, sizeof url, "race");
    enum { N = 4 };
    opener_t o[N];
    pthread_t th[N];
    for (int i = 0; i < N; i++) {
        o[i] = (opener_t){url, -1};
        assert_int_equal(pthread_create(&th[i], NULL, open_close, &o[i]), 0);
    }
    for (int i = 0; i < N; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(o[i].rc, TX_EOK);
    }
    char sql[200];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM pgt_%d_race.schema_version", g_schemas);
    assert_int_equal(sql_count(sql), tx__pg_schema_version()); /* one row per step */
    snprintf(sql, sizeof sql, "SELECT count(*) FROM pgt_%d_race.tasks", g_schemas);
    assert_int_equal(sql_count(sql), 1); /* the seed ran once */
    /* step 5: items pages keep room for HOT updates */
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM pg_class WHERE oid = 'pgt_%d_race.items'::regclass "
             "AND reloptions @> '{fillfactor=70}'",
             g_schemas);
    assert_int_equal(sql_count(sql), 1);
}

static void a_newer_schema_is_refused(void **state)
{
    (void)state;
    skip_without_server();
    char url[600], sql[200];
    fresh_url(url, sizeof url, "newer");
    tx_store_t *s = NULL;
    assert_int_equal(tx__store_open(url, &s, NULL), TX_EOK);
    tx__store_close(s);
    snprintf(sql, sizeof sql, "INSERT INTO pgt_%d_newer.schema_version VALUES (99, 0)", g_schemas);
    sql_exec(sql);
    tx_error_t err = {0};
    s = (tx_store_t *)1;
    assert_int_equal(tx__store_open(url, &s, &err), TX_ESTORE);
    assert_null(s);
    assert_non_null(strstr(err.msg, "newer"));
}

/* ---- imports ---------------------------------------------------------------------------- */

enum { BIG = 6001, SAME = 2000 };

static void a_big_import_with_duplicates_spans_statements(void **state)
{
    (void)state;
    skip_without_server();
    char url[600];
    fresh_url(url, sizeof url, "big");
    tx_store_t *s = NULL;
    assert_int_equal(tx__store_open(url, &s, NULL), TX_EOK);
    tx_item_input_t *in = calloc(BIG, sizeof *in);
    char(*ext)[16] = calloc(BIG, 16);
    assert_non_null(in);
    assert_non_null(ext);
    for (int i = 0; i < BIG; i++) {
        snprintf(ext[i], 16, "b%d", i);
        in[i] = (tx_item_input_t){"o", ext[i], NULL, i % 1000 == 7 ? "" : "text"};
    }
    in[1].external_id = "b0";    /* same statement as its twin */
    in[6000].external_id = "b0"; /* past the first statement (5,000 rows) */
    tx_import_result_t r;
    assert_int_equal(tx__store_import(s, in, BIG, T0, &r, NULL), TX_EOK);
    assert_int_equal(r.n, BIG);
    assert_int_equal(r.inserted, BIG - 2);
    assert_int_equal(r.existing, 2);
    assert_int_equal(r.skipped, 6); /* 7, 1007, …, 5007 */
    assert_int_equal(r.ids[1], r.ids[0]);
    assert_int_equal(r.ids[6000], r.ids[0]);
    for (int i = 2; i < 6000; i++)
        assert_true(r.ids[i] > 0 && r.ids[i] != r.ids[0]);
    tx__import_result_free(&r);
    tx_store_stats_t st;
    assert_int_equal(tx__store_stats(s, "o", &st, NULL), TX_EOK);
    assert_int_equal(st.total, BIG - 2);
    free(ext);
    free(in);
    tx__store_close(s);
}

typedef struct {
    const char *url;
    tx_item_input_t *in;
    int64_t ids[SAME];
    size_t inserted, existing;
    int rc;
} importer_t;

static void *import_same(void *arg)
{
    importer_t *im = arg;
    tx_store_t *s = NULL;
    im->rc = tx__store_open(im->url, &s, NULL);
    tx_import_result_t r;
    if (im->rc == TX_EOK && (im->rc = tx__store_import(s, im->in, SAME, T0, &r, NULL)) == TX_EOK) {
        memcpy(im->ids, r.ids, sizeof im->ids);
        im->inserted = r.inserted;
        im->existing = r.existing;
        tx__import_result_free(&r);
    }
    tx__store_close(s);
    return NULL;
}

static void two_nodes_importing_the_same_items_agree(void **state)
{
    (void)state;
    skip_without_server();
    char url[600];
    fresh_url(url, sizeof url, "same");
    tx_store_t *s = NULL;
    assert_int_equal(tx__store_open(url, &s, NULL), TX_EOK); /* migrated before the race */
    static tx_item_input_t in[SAME];
    static char ext[SAME][16];
    for (int i = 0; i < SAME; i++) {
        snprintf(ext[i], 16, "s%d", i);
        in[i] = (tx_item_input_t){"o", ext[i], NULL, "text"};
    }
    static importer_t im[2];
    pthread_t th[2];
    for (int k = 0; k < 2; k++) {
        memset(&im[k], 0, sizeof im[k]);
        im[k].url = url;
        im[k].in = in;
        assert_int_equal(pthread_create(&th[k], NULL, import_same, &im[k]), 0);
    }
    for (int k = 0; k < 2; k++) {
        pthread_join(th[k], NULL);
        assert_int_equal(im[k].rc, TX_EOK);
    }
    assert_int_equal(im[0].inserted + im[1].inserted, SAME);
    assert_int_equal(im[0].existing + im[1].existing, SAME);
    for (int i = 0; i < SAME; i++) {
        assert_true(im[0].ids[i] > 0);
        assert_int_equal(im[0].ids[i], im[1].ids[i]);
    }
    tx_store_stats_t st;
    assert_int_equal(tx__store_stats(s, NULL, &st, NULL), TX_EOK);
    assert_int_equal(st.total, SAME);
    tx__store_close(s);
}

/* ---- every item exactly once ------------------------------------------------------------ */

enum { WORK_ITEMS = 1500, WORKERS = 3 };

typedef struct {
    const char *url;
    int64_t done[WORK_ITEMS];
    int n;
    int rc;
    char why[256];
} worker_t;

/* One node: claims batches and finishes each item as success until nothing is due. */
static void *worker(void *arg)
{
    worker_t *w = arg;
    tx_store_t *s = NULL;
    tx_error_t err = {0};
    w->rc = tx__store_open(w->url, &s, &err);
    while (w->rc == TX_EOK) {
        tx_item_list_t l;
        if ((w->rc = tx__store_claim(s, "node", 25, T0, LEASE, &l, &err)) != TX_EOK) break;
        if (l.n == 0) {
            tx__item_list_free(&l);
            break;
        }
        for (size_t i = 0; i < l.n && w->rc == TX_EOK; i++) {
            int n = 0;
            tx_item_outcome_t ok = {.status = TX_ITEM_SUCCESS,
                                    .result = "[\"t\"]",
                                    .model = "m",
                                    .prompt_version = 1,
                                    .error_class = -1};
            w->rc =
                tx__store_begin_attempt(s, l.items[i].id, l.items[i].lease, 3, T0, "m", &n, &err);
            if (w->rc == TX_EOK)
                w->rc = tx__store_finish(s, l.items[i].id, l.items[i].lease, &ok, T0, &err);
            if (w->rc == TX_EOK && w->n < WORK_ITEMS) w->done[w->n++] = l.items[i].id;
        }
        tx__item_list_free(&l);
    }
    if (w->rc != TX_EOK) snprintf(w->why, sizeof w->why, "%s", err.msg ? err.msg : "?");
    tx__store_close(s);
    return NULL;
}

static void nodes_work_every_item_exactly_once(void **state)
{
    (void)state;
    skip_without_server();
    char url[600];
    fresh_url(url, sizeof url, "work");
    tx_store_t *s = NULL;
    assert_int_equal(tx__store_open(url, &s, NULL), TX_EOK);
    seed(s, "w", WORK_ITEMS);
    static worker_t w[WORKERS];
    pthread_t th[WORKERS];
    for (int i = 0; i < WORKERS; i++) {
        memset(&w[i], 0, sizeof w[i]);
        w[i].url = url;
        assert_int_equal(pthread_create(&th[i], NULL, worker, &w[i]), 0);
    }
    for (int i = 0; i < WORKERS; i++)
        pthread_join(th[i], NULL);
    static char seen[WORK_ITEMS + 1];
    memset(seen, 0, sizeof seen);
    int total = 0;
    for (int i = 0; i < WORKERS; i++) {
        if (w[i].rc != TX_EOK) fprintf(stderr, "worker %d: %s\n", i, w[i].why);
        assert_int_equal(w[i].rc, TX_EOK);
        for (int k = 0; k < w[i].n; k++) {
            int64_t id = w[i].done[k];
            assert_true(id >= 1 && id <= WORK_ITEMS);
            assert_int_equal(seen[id], 0);
            seen[id] = 1;
            total++;
        }
    }
    assert_int_equal(total, WORK_ITEMS);
    tx_store_stats_t st;
    assert_int_equal(tx__store_stats(s, NULL, &st, NULL), TX_EOK);
    assert_int_equal(st.with_result, WORK_ITEMS);
    assert_int_equal(st.by_status[TX_ITEM_PROCESSING], 0);
    tx__store_close(s);
}

/* ---- connection loss -------------------------------------------------------------------- */

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Repeats `call` while it fails with TX_EIO (a lost or not yet restored connection, always
 * with a message about the connection), for at most 20 s; rc_var = the final code. */
#define AFTER_RECONNECT(rc_var, call)                                                              \
    do {                                                                                           \
        uint64_t until_ = mono_ms() + 20000;                                                       \
        tx_error_t e_ = {0};                                                                       \
        for (;;) {                                                                                 \
            memset(&e_, 0, sizeof e_);                                                             \
            rc_var = (call);                                                                       \
            if (rc_var != TX_EIO || mono_ms() > until_) break;                                     \
            assert_true(strstr(e_.msg, "onnect") || strstr(e_.msg, "PostgreSQL"));                 \
            sleep_ms(50);                                                                          \
        }                                                                                          \
    } while (0)

static void a_server_restart_between_two_operations_loses_nothing(void **state)
{
    (void)state;
    skip_without_server();
    char url[600];
    fresh_url(url, sizeof url, "restart");
    tx_store_t *s = NULL;
    assert_int_equal(tx__store_open(url, &s, NULL), TX_EOK);
    seed(s, "r", 10);
    tx_item_list_t l;
    assert_int_equal(tx__store_claim(s, "w", 2, T0, LEASE, &l, NULL), TX_EOK);
    assert_int_equal(l.n, 2);
    int n = 0;
    assert_int_equal(
        tx__store_begin_attempt(s, l.items[0].id, l.items[0].lease, 3, T0, "m", &n, NULL), TX_EOK);

    pg_sh("restart");

    /* The next operation either reconnects at once (the server's goodbye is seen first) or
     * fails cleanly with TX_EIO "connection lost"; then the one after reconnects. */
    tx_item_outcome_t ok = {.status = TX_ITEM_SUCCESS,
                            .result = "[\"x\"]",
                            .model = "m",
                            .prompt_version = 1,
                            .error_class = -1};
    int rc;
    AFTER_RECONNECT(rc, tx__store_finish(s, l.items[0].id, l.items[0].lease, &ok, T0 + 1, &e_));
    assert_int_equal(rc, TX_EOK);
    tx_item_t it;
    assert_int_equal(tx__store_get(s, l.items[0].id, &it, NULL), TX_EOK);
    assert_int_equal(it.status, TX_ITEM_SUCCESS);
    assert_int_equal(it.attempts, 1); /* written before the restart, still there */
    tx__item_clear(&it);

    /* The other claimed item's result is never written: it comes back after its lease. */
    tx_item_list_t again;
    assert_int_equal(tx__store_claim(s, "w", 100, T0 + LEASE, LEASE, &again, NULL), TX_EOK);
    assert_int_equal(again.n, 9); /* 8 never claimed + the abandoned one */
    int found = 0;
    for (size_t i = 0; i < again.n; i++)
        found += again.items[i].id == l.items[1].id;
    assert_int_equal(found, 1);
    tx__item_list_free(&again);
    tx__item_list_free(&l);
    tx_store_stats_t st;
    assert_int_equal(tx__store_stats(s, "o", &st, NULL), TX_EOK);
    assert_int_equal(st.total, 10);
    assert_int_equal(tx__store_ping(s, NULL), TX_EOK);
    tx__store_close(s);
}

static void a_stopped_server_gives_clear_errors_then_recovers(void **state)
{
    (void)state;
    skip_without_server();
    char url[600];
    fresh_url(url, sizeof url, "down");
    tx_store_t *s = NULL;
    assert_int_equal(tx__store_open(url, &s, NULL), TX_EOK);
    seed(s, "d", 3);

    pg_sh("stop");
    tx_error_t err = {0};
    tx_store_stats_t st;
    int rc = tx__store_stats(s, NULL, &st, &err); /* sees the dead socket, cannot reconnect */
    assert_int_equal(rc, TX_EIO);
    /* After a failed reconnect, calls within the backoff window fail fast without trying. */
    int fast = 0;
    for (int i = 0; i < 20; i++) {
        assert_int_equal(tx__store_ping(s, &err), TX_EIO);
        fast += strstr(err.msg, "next reconnect attempt") != NULL;
    }
    assert_true(fast > 0);
    tx_item_list_t l;
    assert_int_equal(tx__store_claim(s, "w", 5, T0, LEASE, &l, &err), TX_EIO);
    assert_int_equal(l.n, 0);

    /* Back on the same port: the handle reconnects once its backoff has passed. */
    const char *colon = strrchr(g_url, ':');
    assert_non_null(colon);
    long port = strtol(colon + 1, NULL, 10);
    assert_true(port > 0 && port < 65536);
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "'%s' start '%s' %ld >/dev/null", g_sh, g_dir, port);
    assert_int_equal(system(cmd), 0);
    AFTER_RECONNECT(rc, tx__store_stats(s, "o", &st, &e_));
    assert_int_equal(rc, TX_EOK);
    assert_int_equal(st.total, 3);
    tx__store_close(s);
}

typedef struct {
    tx_store_t *s;
    int rc;
    char msg[256];
} blocked_t;

static void *set_pause(void *arg)
{
    blocked_t *b = arg;
    tx_error_t err = {0};
    b->rc = tx__store_pause_set(b->s, 1, "blocked", T0, &err);
    snprintf(b->msg, sizeof b->msg, "%s", err.msg ? err.msg : "");
    return NULL;
}

static void a_connection_killed_mid_statement_is_a_clean_error(void **state)
{
    (void)state;
    skip_without_server();
    char url[600], sql[300];
    fresh_url(url, sizeof url, "kill");
    tx_store_t *s = NULL;
    assert_int_equal(tx__store_open(url, &s, NULL), TX_EOK);
    /* Another session holds the pause row, so our UPDATE waits inside the server. */
    PGconn *holder = PQconnectdb(g_url);
    assert_int_equal(PQstatus(holder), CONNECTION_OK);
    snprintf(sql, sizeof sql, "BEGIN; SELECT * FROM pgt_%d_kill.pause FOR UPDATE", g_schemas);
    PGresult *r = PQexec(holder, sql);
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    PQclear(r);
    static blocked_t b;
    memset(&b, 0, sizeof b);
    b.s = s;
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, set_pause, &b), 0);
    /* Terminate the waiting backend (the connection dies under a running statement). */
    int64_t killed = 0;
    uint64_t until = mono_ms() + 10000;
    while (!killed && mono_ms() < until) {
        killed = sql_count("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                           "WHERE application_name = 'tenax' AND wait_event_type = 'Lock'");
        if (!killed) sleep_ms(20);
    }
    assert_int_equal(killed, 1);
    pthread_join(th, NULL);
    assert_int_equal(b.rc, TX_EIO);
    assert_non_null(strstr(b.msg, "connection lost"));
    PQclear(PQexec(holder, "COMMIT"));
    PQfinish(holder);
    /* Nothing was written; the next call reconnects. */
    tx_pause_t p;
    assert_int_equal(tx__store_pause_get(s, &p, NULL), TX_EOK);
    assert_int_equal(p.paused, 0);
    tx__store_close(s);
}

static void a_lock_held_past_lock_timeout_is_busy(void **state)
{
    (void)state;
    skip_without_server();
    char url[700], sql[300];
    snprintf(url, sizeof url, "%s?options=-c%%20lock_timeout%%3D100&schema=pgt_%d_busy", g_url,
             ++g_schemas);
    tx_store_t *s = NULL;
    tx_error_t err = {0};
    assert_int_equal(tx__store_open(url, &s, &err), TX_EOK);
    PGconn *holder = PQconnectdb(g_url);
    assert_int_equal(PQstatus(holder), CONNECTION_OK);
    snprintf(sql, sizeof sql, "BEGIN; SELECT * FROM pgt_%d_busy.pause FOR UPDATE", g_schemas);
    PGresult *r = PQexec(holder, sql);
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    PQclear(r);
    assert_int_equal(tx__store_pause_set(s, 1, "x", T0, &err), TX_EBUSY);
    assert_non_null(strstr(err.msg, "busy"));
    PQclear(PQexec(holder, "COMMIT"));
    PQfinish(holder);
    assert_int_equal(tx__store_pause_set(s, 1, "x", T0, &err), TX_EOK); /* same connection */
    tx__store_close(s);
}

/* Group commit on a locked row: the group statement runs into lock_timeout, so nothing of it is
 * written and each request is redone alone: the free items get their write exactly once, the
 * locked one answers TX_EBUSY. */
static void a_busy_group_is_redone_one_by_one(void **state)
{
    (void)state;
    skip_without_server();
    char url[700], sql[300];
    snprintf(url, sizeof url, "%s?options=-c%%20lock_timeout%%3D100&schema=pgt_%d_grp", g_url,
             ++g_schemas);
    tx_store_t *s = NULL;
    tx_error_t err = {0};
    assert_int_equal(tx__store_open(url, &s, &err), TX_EOK);
    seed(s, "g", 3);
    tx_item_list_t l;
    assert_int_equal(tx__store_claim(s, "w", 3, T0, LEASE, &l, NULL), TX_EOK);
    assert_int_equal(l.n, 3);
    PGconn *holder = PQconnectdb(g_url);
    assert_int_equal(PQstatus(holder), CONNECTION_OK);
    snprintf(sql, sizeof sql, "BEGIN; SELECT * FROM pgt_%d_grp.items WHERE id = %lld FOR UPDATE",
             g_schemas, (long long)l.items[1].id);
    PGresult *r = PQexec(holder, sql);
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    PQclear(r);
    tx_store_begin_t b[3];
    for (int i = 0; i < 3; i++)
        b[i] = (tx_store_begin_t){
            .id = l.items[i].id, .lease = l.items[i].lease, .max_attempts = 3, .model = "m"};
    assert_int_equal(tx__store_begin_attempts(s, b, 3, T0 + 1), TX_EOK);
    assert_int_equal(b[0].rc, TX_EOK);
    assert_int_equal(b[0].attempt_n, 1); /* counted once: the failed group wrote nothing */
    assert_int_equal(b[1].rc, TX_EBUSY);
    assert_int_equal(b[2].rc, TX_EOK);
    assert_int_equal(b[2].attempt_n, 1);
    tx_history_row_t a = {.n = 1,
                          .model = "m",
                          .endpoint = "0",
                          .cls = TX_CLASS_OK,
                          .http_status = 200,
                          .latency_ms = 5,
                          .at = T0 + 2};
    tx_item_outcome_t o = {.status = TX_ITEM_SUCCESS,
                           .result = "[]",
                           .model = "m",
                           .prompt_version = 1,
                           .error_class = -1,
                           .attempt = &a};
    tx_store_finish_t f[3];
    for (int i = 0; i < 3; i++)
        f[i] = (tx_store_finish_t){.id = l.items[i].id, .lease = l.items[i].lease, .outcome = &o};
    assert_int_equal(tx__store_finish_many(s, f, 3, T0 + 3), TX_EOK);
    assert_int_equal(f[0].rc, TX_EOK);
    assert_int_equal(f[1].rc, TX_EBUSY);
    assert_int_equal(f[2].rc, TX_EOK);
    PQclear(PQexec(holder, "COMMIT"));
    PQfinish(holder);
    snprintf(sql, sizeof sql, "SELECT count(*) FROM pgt_%d_grp.attempts", g_schemas);
    assert_int_equal(sql_count(sql), 2); /* one history row each for the two finished items */
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM pgt_%d_grp.items WHERE status = 'success' AND attempts = 1",
             g_schemas);
    assert_int_equal(sql_count(sql), 2);
    /* The locked item is still ours once the lock is gone. */
    assert_int_equal(tx__store_finish_many(s, f + 1, 1, T0 + 4), TX_EOK);
    assert_int_equal(f[1].rc, TX_EOK);
    tx__item_list_free(&l);
    tx__store_close(s);
}

/* ---- wake-ups --------------------------------------------------------------------------- */

/* Waits (up to 10 s) for at least one wake-up on `l`; returns how many arrived. */
static int wait_wake(tx_store_t *l)
{
    int total = 0;
    uint64_t until = mono_ms() + 10000;
    while (total == 0 && mono_ms() < until) {
        int n = 0;
        assert_int_equal(tx__store_wait_notify(l, 200, &n, NULL), TX_EOK);
        total += n;
    }
    return total;
}

static void another_node_wakes_a_listener(void **state)
{
    (void)state;
    skip_without_server();
    char url[600];
    fresh_url(url, sizeof url, "wake");
    tx_store_t *listener = NULL, *node = NULL;
    assert_int_equal(tx__store_open(url, &listener, NULL), TX_EOK);
    assert_int_equal(tx__store_open(url, &node, NULL), TX_EOK);
    int fd = -1, n = -1;
    assert_int_equal(tx__store_listen(listener, &fd, NULL), TX_EOK);
    assert_true(fd >= 0);
    assert_int_equal(tx__store_wait_notify(listener, 0, &n, NULL), TX_EOK);
    assert_int_equal(n, 0); /* nothing happened yet */

    seed(node, "n", 3); /* import */
    assert_true(wait_wake(listener) >= 1);

    tx_item_list_t l;
    assert_int_equal(tx__store_claim(node, "w", 1, T0, LEASE, &l, NULL), TX_EOK);
    assert_int_equal(l.n, 1);
    tx_item_outcome_t park = {.status = TX_ITEM_RETRYING,
                              .retry_after = T0 + 1000,
                              .error = "429",
                              .error_class = TX_CLASS_RATE_LIMIT};
    assert_int_equal(tx__store_finish(node, l.items[0].id, l.items[0].lease, &park, T0, NULL),
                     TX_EOK); /* finish as retrying */
    assert_true(wait_wake(listener) >= 1);
    tx__item_list_free(&l);

    assert_int_equal(tx__store_pause_set(node, 1, "quota", T0, NULL), TX_EOK); /* pause */
    assert_true(wait_wake(listener) >= 1);
    tx_pause_t p;
    assert_int_equal(tx__store_pause_get(listener, &p, NULL), TX_EOK); /* shared by all nodes */
    assert_int_equal(p.paused, 1);
    assert_string_equal(p.reason, "quota");

    int64_t sel = 0;
    assert_int_equal(tx__store_retry(node, NULL, 0, 10, T0 + 5, &sel, NULL), TX_EOK);
    assert_true(sel >= 1);
    assert_true(wait_wake(listener) >= 1);

    /* The listener survives a server restart: after the reconnect it listens again. */
    pg_sh("restart");
    int rc;
    AFTER_RECONNECT(rc, tx__store_wait_notify(listener, 0, &n, &e_));
    assert_int_equal(rc, TX_EOK);
    assert_int_equal(tx__store_listen(listener, &fd, NULL), TX_EOK);
    assert_true(fd >= 0);
    AFTER_RECONNECT(rc, tx__store_regenerate(node, 1, T0 + 6, &e_));
    assert_int_equal(rc, TX_EOK);
    assert_true(wait_wake(listener) >= 1);
    tx__store_close(node);
    tx__store_close(listener);
}

static void sqlite_has_no_wake_ups_and_pings(void **state)
{
    (void)state;
    tx_store_t *s = NULL;
    assert_int_equal(tx__store_open("sqlite::memory:", &s, NULL), TX_EOK);
    tx_error_t err = {0};
    int fd = 7, n = 7;
    assert_int_equal(tx__store_listen(s, &fd, &err), TX_EINVAL);
    assert_non_null(strstr(err.msg, "unsupported"));
    assert_int_equal(tx__store_wait_notify(s, 10, &n, &err), TX_EINVAL);
    assert_int_equal(n, 0);
    assert_int_equal(tx__store_ping(s, NULL), TX_EOK);
    assert_int_equal(tx__store_ping(NULL, NULL), TX_EINVAL);
    tx__store_close(s);
}

/* ---- URLs ------------------------------------------------------------------------------- */

static void urls_are_checked(void **state)
{
    (void)state;
    tx_pg_url_t u;
    tx_error_t err = {0};
    assert_int_equal(
        tx__pg_url_parse("postgresql://u@h:5/db?sslmode=disable&schema=a_1&x=y", &u, &err), TX_EOK);
    assert_string_equal(u.conninfo, "postgresql://u@h:5/db?sslmode=disable&x=y");
    assert_string_equal(u.schema, "a_1");
    assert_int_equal(tx__pg_url_parse("postgres://h/db?schema=only", &u, &err), TX_EOK);
    assert_string_equal(u.conninfo, "postgres://h/db");
    assert_int_equal(tx__pg_url_parse("postgres://h/db", &u, &err), TX_EOK);
    assert_string_equal(u.schema, "");
    const char *bad[] = {"postgres://h/db?schema=",
                         "postgres://h/db?schema=A",
                         "postgres://h/db?schema=1a",
                         "postgres://h/db?schema=a;drop",
                         "postgres://h/db?schema=a&schema=b",
                         "postgres://h/\n",
                         "postgre://h/db",
                         "mysql://h"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(tx__pg_url_parse(bad[i], &u, &err), TX_EINVAL);
    char big[5000];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    memcpy(big, "postgres://", 11);
    assert_int_equal(tx__pg_url_parse(big, &u, &err), TX_EINVAL);
    assert_int_equal(tx__pg_url_parse(NULL, &u, &err), TX_EINVAL);

    /* Through the front door: nothing listens on port 1. */
    tx_store_t *s = (tx_store_t *)1;
    assert_int_equal(
        tx__store_open("postgres://tenax@127.0.0.1:1/tenax?connect_timeout=2", &s, &err), TX_EIO);
    assert_null(s);
    assert_non_null(strstr(err.msg, "cannot connect"));
    assert_int_equal(
        tx__store_open("postgres://u:s3cretpw@127.0.0.1:1/x?connect_timeout=2", &s, &err), TX_EIO);
    assert_null(strstr(err.msg, "s3cretpw"));
    assert_int_equal(tx__store_open("postgres://u:%zzs3cretpw@127.0.0.1:1/x", &s, &err), TX_EIO);
    assert_null(strstr(err.msg, "s3cretpw")); /* libpq echoes the bad token: scrubbed */
    assert_non_null(strstr(err.msg, "cannot connect"));
    assert_int_equal(tx__store_open("postgres://u:1@127.0.0.1:1/x?connect_timeout=2", &s, &err),
                     TX_EIO); /* a password that is also in the message ("port 1") */
    assert_null(strstr(err.msg, "port 1 "));
    assert_int_equal(tx__store_open("postgresql://127.0.0.1/x?schema=No", &s, &err), TX_EINVAL);
    assert_null(s);
}

static void ping_answers(void **state)
{
    (void)state;
    skip_without_server();
    char url[600];
    fresh_url(url, sizeof url, "ping");
    tx_store_t *s = NULL;
    assert_int_equal(tx__store_open(url, &s, NULL), TX_EOK);
    assert_int_equal(tx__store_ping(s, NULL), TX_EOK);
    tx__store_close(s);
}

int main(void)
{
    g_url = getenv("TX_TEST_PG_URL");
    g_dir = getenv("TX_TEST_PG_DIR");
    g_sh = getenv("TX_TEST_PG_SH");
    if (!g_url || !g_dir || !g_sh) {
        g_url = NULL;
        fprintf(stderr, "test_postgres: no server (TX_TEST_PG_URL unset): server tests skipped; "
                        "ctest runs them as pg_test_postgres via tests/with_pg.sh\n");
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(urls_are_checked),
        cmocka_unit_test(sqlite_has_no_wake_ups_and_pings),
        cmocka_unit_test(ping_answers),
        cmocka_unit_test(two_nodes_migrating_at_once_migrate_once),
        cmocka_unit_test(a_newer_schema_is_refused),
        cmocka_unit_test(a_big_import_with_duplicates_spans_statements),
        cmocka_unit_test(two_nodes_importing_the_same_items_agree),
        cmocka_unit_test(nodes_work_every_item_exactly_once),
        cmocka_unit_test(another_node_wakes_a_listener),
        cmocka_unit_test(a_connection_killed_mid_statement_is_a_clean_error),
        cmocka_unit_test(a_lock_held_past_lock_timeout_is_busy),
        cmocka_unit_test(a_busy_group_is_redone_one_by_one),
        cmocka_unit_test(a_server_restart_between_two_operations_loses_nothing),
        cmocka_unit_test(a_stopped_server_gives_clear_errors_then_recovers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
