/* PostgreSQL store throughput, when TX_BENCH_PG_URL names a server (the bench script starts
 * one): items/s imported (batches of 1,000), claim+begin+record+finish cycles/s with one node
 * and with two nodes (two handles in two threads on one database), each next to a baseline
 * measured in the same run (raw libpq COPY / plain UPDATE+INSERT statements, no logic).
 * Usage: TX_BENCH_PG_URL=postgres://… bench_pg [ITEMS] [CYCLES]   (defaults 100000 20000).
 * Works in a schema of its own (bench_<pid>), dropped at the end. */
#include <libpq-fe.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "store/store.h"

#define BATCH 1000
#define T0 1700000000000LL

static const char *TEXT = "Spent the weekend hiking near the lake; the trains were late again "
                          "but the view from the ridge was worth every step.";

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, const char *msg)
{
    fprintf(stderr, "bench_pg: %s: %s\n", what, msg ? msg : "?");
    exit(1);
}

static void raw_exec(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
        die(sql, PQresultErrorMessage(r));
    PQclear(r);
}

static PGconn *raw_conn(const char *url)
{
    PGconn *c = PQconnectdb(url);
    if (PQstatus(c) != CONNECTION_OK) die("connect", PQerrorMessage(c));
    raw_exec(c, "SET client_min_messages = warning");
    return c;
}

static double bench_import(const char *url, long n)
{
    tx_store_t *s = NULL;
    tx_error_t err = {0};
    if (tx__store_open(url, &s, &err) != TX_EOK) die("open", err.msg);
    static tx_item_input_t in[BATCH];
    static char ext[BATCH][24];
    double t = now_s();
    for (long base = 0; base < n; base += BATCH) {
        size_t k = 0;
        for (; k < BATCH && base + (long)k < n; k++) {
            snprintf(ext[k], sizeof ext[k], "%ld", base + (long)k);
            in[k] = (tx_item_input_t){"owner1", ext[k], "tags", TEXT};
        }
        tx_import_result_t r;
        if (tx__store_import(s, in, k, T0, &r, &err) != TX_EOK) die("import", err.msg);
        tx__import_result_free(&r);
    }
    double dt = now_s() - t;
    tx__store_close(s);
    return (double)n / dt;
}

/* The ceiling: COPY of the same rows into a table with the same unique key, no logic. */
static double baseline_import(PGconn *c, const char *schema, long n)
{
    char sql[300];
    snprintf(sql, sizeof sql,
             "CREATE TABLE %s.raw (id BIGSERIAL PRIMARY KEY, owner BYTEA, "
             "external_id BYTEA, task BYTEA, text BYTEA, status TEXT, due_at BIGINT, attempts "
             "BIGINT DEFAULT 0, result BYTEA, UNIQUE (owner, external_id, task))",
             schema);
    raw_exec(c, sql);
    snprintf(sql, sizeof sql,
             "COPY %s.raw (owner, external_id, task, text, status, due_at) "
             "FROM STDIN",
             schema);
    char line[400];
    double t = now_s();
    for (long base = 0; base < n; base += BATCH) {
        raw_exec(c, "BEGIN");
        PGresult *r = PQexec(c, sql);
        if (PQresultStatus(r) != PGRES_COPY_IN) die("copy", PQresultErrorMessage(r));
        PQclear(r);
        for (long i = base; i < base + BATCH && i < n; i++) {
            int len =
                snprintf(line, sizeof line, "owner1\t%ld\ttags\t%s\tpending\t%lld\n", i, TEXT, T0);
            if (PQputCopyData(c, line, len) != 1) die("copy", PQerrorMessage(c));
        }
        if (PQputCopyEnd(c, NULL) != 1) die("copy end", PQerrorMessage(c));
        while ((r = PQgetResult(c)) != NULL) {
            if (PQresultStatus(r) != PGRES_COMMAND_OK) die("copy", PQresultErrorMessage(r));
            PQclear(r);
        }
        raw_exec(c, "COMMIT");
    }
    return (double)n / (now_s() - t);
}

typedef struct {
    const char *url;
    long want;
    long done;
} node_t;

/* claim (batches of 10) → begin_attempt → record_attempt → finish(success), per item. */
static void *cycles(void *arg)
{
    node_t *nd = arg;
    tx_store_t *s = NULL;
    tx_error_t err = {0};
    if (tx__store_open(nd->url, &s, &err) != TX_EOK) die("open", err.msg);
    tx_ms_t now = T0 + 1;
    tx_item_outcome_t ok = {.status = TX_ITEM_SUCCESS,
                            .result = "[\"hiking\",\"lake\",\"trains\"]",
                            .model = "gpt-4o-mini",
                            .prompt_version = 1,
                            .error_class = -1};
    while (nd->done < nd->want) {
        tx_item_list_t l;
        if (tx__store_claim(s, "bench", 10, now, 120000, &l, &err) != TX_EOK) die("claim", err.msg);
        if (l.n == 0) die("claim", "ran out of items");
        for (size_t i = 0; i < l.n; i++) {
            int an;
            if (tx__store_begin_attempt(s, l.items[i].id, l.items[i].lease, 5, now, "gpt-4o-mini",
                                        &an, &err) != TX_EOK)
                die("begin_attempt", err.msg);
            tx_history_row_t a = {.n = an,
                                  .model = "gpt-4o-mini",
                                  .endpoint = "0",
                                  .cls = TX_CLASS_OK,
                                  .http_status = 200,
                                  .latency_ms = 800,
                                  .at = now};
            if (tx__store_record_attempt(s, l.items[i].id, l.items[i].lease, &a, &err) != TX_EOK)
                die("record_attempt", err.msg);
            if (tx__store_finish(s, l.items[i].id, l.items[i].lease, &ok, now, &err) != TX_EOK)
                die("finish", err.msg);
        }
        nd->done += (long)l.n;
        tx__item_list_free(&l);
        now++;
    }
    tx__store_close(s);
    return NULL;
}

static double bench_cycles(const char *url, long n, int nodes)
{
    node_t nd[2];
    pthread_t th[2];
    double t = now_s();
    for (int i = 0; i < nodes; i++) {
        nd[i] = (node_t){url, n / nodes, 0};
        if (pthread_create(&th[i], NULL, cycles, &nd[i]) != 0) die("thread", "cannot start");
    }
    long done = 0;
    for (int i = 0; i < nodes; i++) {
        pthread_join(th[i], NULL);
        done += nd[i].done;
    }
    return (double)done / (now_s() - t);
}

/* The same writes without logic: 1/10 of a claim UPDATE + 3 single-row autocommit statements
 * (UPDATE attempts, INSERT history, UPDATE result) by primary key. */
static double baseline_cycles(PGconn *c, const char *schema, long n)
{
    char sql[4][300];
    snprintf(sql[0], sizeof sql[0],
             "CREATE TABLE %s.raw_hist (item_id BIGINT, n BIGINT, "
             "model BYTEA, at BIGINT)",
             schema);
    raw_exec(c, sql[0]);
    snprintf(sql[0], sizeof sql[0],
             "UPDATE %s.raw SET status = 'processing' WHERE id BETWEEN "
             "$1::bigint AND $1::bigint + 9",
             schema);
    snprintf(sql[1], sizeof sql[1],
             "UPDATE %s.raw SET attempts = attempts + 1 WHERE id = "
             "$1::bigint",
             schema);
    snprintf(sql[2], sizeof sql[2],
             "INSERT INTO %s.raw_hist VALUES ($1::bigint, 1, "
             "'gpt-4o-mini', 0)",
             schema);
    snprintf(sql[3], sizeof sql[3],
             "UPDATE %s.raw SET status = 'success', result = "
             "'[\"hiking\",\"lake\",\"trains\"]' WHERE id = $1::bigint",
             schema);
    for (int i = 0; i < 4; i++) {
        char name[8];
        snprintf(name, sizeof name, "r%d", i);
        PGresult *r = PQprepare(c, name, sql[i], 0, NULL);
        if (PQresultStatus(r) != PGRES_COMMAND_OK) die("prepare", PQresultErrorMessage(r));
        PQclear(r);
    }
    char idbuf[24];
    const char *v[1] = {idbuf};
    double t = now_s();
    for (long id = 1; id <= n; id++) {
        snprintf(idbuf, sizeof idbuf, "%ld", id);
        for (int i = (id - 1) % 10 == 0 ? 0 : 1; i < 4; i++) {
            char name[8];
            snprintf(name, sizeof name, "r%d", i);
            PGresult *r = PQexecPrepared(c, name, 1, v, NULL, NULL, 0);
            if (PQresultStatus(r) != PGRES_COMMAND_OK) die("raw write", PQresultErrorMessage(r));
            PQclear(r);
        }
    }
    return (double)n / (now_s() - t);
}

int main(int argc, char **argv)
{
    const char *base = getenv("TX_BENCH_PG_URL");
    if (!base || !*base) {
        printf("bench_pg: TX_BENCH_PG_URL not set: skipped (scripts/pg.sh start DIR PORT "
               "prints one)\n");
        return 0;
    }
    long items = argc > 1 ? strtol(argv[1], NULL, 10) : 100000;
    long ncycles = argc > 2 ? strtol(argv[2], NULL, 10) : 20000;
    if (items <= 0 || ncycles <= 0 || 2 * ncycles > items) {
        fprintf(stderr, "usage: bench_pg [ITEMS] [CYCLES<=ITEMS/2]\n");
        return 2;
    }
    char schema[32], url[1200];
    snprintf(schema, sizeof schema, "bench_%d", (int)getpid());
    snprintf(url, sizeof url, "%s%cschema=%s", base, strchr(base, '?') ? '&' : '?', schema);
    PGconn *c = raw_conn(base);
    char sql[200];
    snprintf(sql, sizeof sql, "CREATE SCHEMA %s", schema);
    raw_exec(c, sql);

    double base_imp = baseline_import(c, schema, items);
    double imp = bench_import(url, items);
    printf("import        %8.0f items/s   baseline raw COPY   %8.0f rows/s   ratio %.2f  "
           "(%ld items, batches of %d)\n",
           imp, base_imp, imp / base_imp, items, BATCH);
    double base_cyc = baseline_cycles(c, schema, ncycles);
    double one = bench_cycles(url, ncycles, 1);
    printf("cycle 1 node  %8.0f items/s   baseline raw writes %8.0f items/s  ratio %.2f  "
           "(claim 10 + begin + record + finish, %ld items)\n",
           one, base_cyc, one / base_cyc, ncycles);
    double two = bench_cycles(url, ncycles, 2);
    printf("cycle 2 nodes %8.0f items/s   (two handles in two threads, %ld items)\n", two, ncycles);
    snprintf(sql, sizeof sql, "DROP SCHEMA %s CASCADE", schema);
    raw_exec(c, sql);
    PQfinish(c);
    return 0;
}
