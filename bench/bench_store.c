/* Store throughput: items/s imported (batches of 1,000) and claim+begin+record+finish cycles/s
 * on the SQLite backend, each next to a baseline measured in the same run on the same disk (raw
 * prepared INSERT / UPDATE statements with no logic) and the ratio.
 * Usage: bench_store [DIR] [ITEMS] [CYCLES]   (defaults: /tmp 100000 20000) */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "store/store.h"

#define BATCH 1000
#define T0 1700000000000LL

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, const char *msg)
{
    fprintf(stderr, "bench_store: %s: %s\n", what, msg ? msg : "?");
    exit(1);
}

static void rm_db(const char *path)
{
    char p[600];
    unlink(path);
    snprintf(p, sizeof p, "%s-wal", path);
    unlink(p);
    snprintf(p, sizeof p, "%s-shm", path);
    unlink(p);
}

static const char *TEXT = "Spent the weekend hiking near the lake; the trains were late again "
                          "but the view from the ridge was worth every step.";

static double bench_import(const char *url, long n)
{
    tx_store_t *s = NULL;
    tx_error_t err = {0};
    if (tx__store_open(url, &s, &err) != TX_EOK) die("open", err.msg);
    tx_item_input_t in[BATCH];
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

static sqlite3 *raw_open(const char *path)
{
    sqlite3 *db = NULL;
    if (sqlite3_open(path, &db) != SQLITE_OK) die("raw open", sqlite3_errmsg(db));
    sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;", NULL, NULL, NULL);
    return db;
}

static double baseline_import(const char *path, long n)
{
    rm_db(path);
    sqlite3 *db = raw_open(path);
    if (sqlite3_exec(db,
                     "CREATE TABLE items (id INTEGER PRIMARY KEY, owner TEXT, external_id "
                     "TEXT, task TEXT, text TEXT, status TEXT, due_at INTEGER, created_at "
                     "INTEGER, updated_at INTEGER, UNIQUE (owner, external_id, task))",
                     NULL, NULL, NULL) != SQLITE_OK)
        die("raw schema", sqlite3_errmsg(db));
    sqlite3_stmt *st;
    sqlite3_prepare_v2(db,
                       "INSERT INTO items (owner, external_id, task, text, status, due_at, "
                       "created_at, updated_at) VALUES (?, ?, ?, ?, 'pending', ?, ?, ?)",
                       -1, &st, NULL);
    char ext[24];
    double t = now_s();
    for (long base = 0; base < n; base += BATCH) {
        sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
        for (long i = base; i < base + BATCH && i < n; i++) {
            snprintf(ext, sizeof ext, "%ld", i);
            sqlite3_bind_text(st, 1, "owner1", -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 2, ext, -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 3, "tags", -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 4, TEXT, -1, SQLITE_STATIC);
            sqlite3_bind_int64(st, 5, T0);
            sqlite3_bind_int64(st, 6, T0);
            sqlite3_bind_int64(st, 7, T0);
            if (sqlite3_step(st) != SQLITE_DONE) die("raw insert", sqlite3_errmsg(db));
            sqlite3_reset(st);
        }
        sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    }
    double dt = now_s() - t;
    sqlite3_finalize(st);
    sqlite3_close(db);
    return (double)n / dt;
}

/* claim (batches of 10) → begin_attempt → finish(success) carrying the attempt row, per item:
 * the job engine's common path, two write transactions per item plus a tenth of a claim. */
static double bench_cycles(const char *url, long n)
{
    tx_store_t *s = NULL;
    tx_error_t err = {0};
    if (tx__store_open(url, &s, &err) != TX_EOK) die("open", err.msg);
    long done = 0;
    tx_ms_t now = T0 + 1;
    tx_item_outcome_t ok = {.status = TX_ITEM_SUCCESS,
                            .result = "[\"hiking\",\"lake\",\"trains\"]",
                            .model = "gpt-4o-mini",
                            .prompt_version = 1,
                            .error_class = -1};
    double t = now_s();
    while (done < n) {
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
            ok.attempt = &a;
            if (tx__store_finish(s, l.items[i].id, l.items[i].lease, &ok, now, &err) != TX_EOK)
                die("finish", err.msg);
        }
        done += (long)l.n;
        tx__item_list_free(&l);
        now++;
    }
    double dt = now_s() - t;
    tx__store_close(s);
    return (double)done / dt;
}

/* The same writes without logic: per item 1/10 of a claim UPDATE + 3 single-row autocommit
 * statements (UPDATE attempts, INSERT history, UPDATE result) by primary key. */
static double baseline_cycles(const char *path, long n)
{
    sqlite3 *db = raw_open(path);
    sqlite3_exec(db,
                 "CREATE TABLE hist (item_id INTEGER, n INTEGER, model TEXT, at INTEGER);"
                 "ALTER TABLE items ADD COLUMN attempts INTEGER DEFAULT 0;"
                 "ALTER TABLE items ADD COLUMN result TEXT;",
                 NULL, NULL, NULL);
    sqlite3_stmt *claim, *att, *hist, *fin;
    sqlite3_prepare_v2(db, "UPDATE items SET status = 'processing' WHERE id BETWEEN ? AND ?", -1,
                       &claim, NULL);
    sqlite3_prepare_v2(db, "UPDATE items SET attempts = attempts + 1 WHERE id = ?", -1, &att, NULL);
    sqlite3_prepare_v2(db, "INSERT INTO hist VALUES (?, 1, 'gpt-4o-mini', ?)", -1, &hist, NULL);
    sqlite3_prepare_v2(db, "UPDATE items SET status = 'success', result = ? WHERE id = ?", -1, &fin,
                       NULL);
    double t = now_s();
    for (long id = 1; id <= n; id++) {
        if ((id - 1) % 10 == 0) {
            sqlite3_bind_int64(claim, 1, id);
            sqlite3_bind_int64(claim, 2, id + 9);
            sqlite3_step(claim);
            sqlite3_reset(claim);
        }
        sqlite3_bind_int64(att, 1, id);
        sqlite3_step(att);
        sqlite3_reset(att);
        sqlite3_bind_int64(hist, 1, id);
        sqlite3_bind_int64(hist, 2, T0);
        sqlite3_step(hist);
        sqlite3_reset(hist);
        sqlite3_bind_text(fin, 1, "[\"hiking\",\"lake\",\"trains\"]", -1, SQLITE_STATIC);
        sqlite3_bind_int64(fin, 2, id);
        if (sqlite3_step(fin) != SQLITE_DONE) die("raw update", sqlite3_errmsg(db));
        sqlite3_reset(fin);
    }
    double dt = now_s() - t;
    sqlite3_finalize(claim);
    sqlite3_finalize(att);
    sqlite3_finalize(hist);
    sqlite3_finalize(fin);
    sqlite3_close(db);
    return (double)n / dt;
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : "/tmp";
    long items = argc > 2 ? strtol(argv[2], NULL, 10) : 100000;
    long cycles = argc > 3 ? strtol(argv[3], NULL, 10) : 20000;
    if (items <= 0 || cycles <= 0 || cycles > items) {
        fprintf(stderr, "usage: bench_store [DIR] [ITEMS] [CYCLES<=ITEMS]\n");
        return 2;
    }
    char path[512], url[600], raw[512];
    snprintf(path, sizeof path, "%s/bench_store_%d.db", dir, (int)getpid());
    snprintf(raw, sizeof raw, "%s/bench_store_raw_%d.db", dir, (int)getpid());
    snprintf(url, sizeof url, "sqlite:%s", path);
    rm_db(path);

    double base_imp = baseline_import(raw, items);
    double imp = bench_import(url, items);
    printf("import   %10.0f items/s   baseline raw INSERT %10.0f rows/s   ratio %.2f  "
           "(%ld items, batches of %d)\n",
           imp, base_imp, imp / base_imp, items, BATCH);
    double base_cyc = baseline_cycles(raw, cycles);
    double cyc = bench_cycles(url, cycles);
    printf("cycle    %10.0f items/s   baseline raw writes %10.0f items/s  ratio %.2f  "
           "(claim 10 + begin + finish with attempt row, %ld items)\n",
           cyc, base_cyc, cyc / base_cyc, cycles);
    rm_db(path);
    rm_db(raw);
    return 0;
}
