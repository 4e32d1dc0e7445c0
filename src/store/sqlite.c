/* The SQLite store backend (`sqlite:PATH`): WAL, busy timeout, versioned migrations, one cached
 * prepared statement per query per handle. Claims take the write lock (BEGIN IMMEDIATE), so two
 * handles on one file never lease the same item. */
#include "core/utf8.h"
#include "core/clock.h"
#include "store/store.h"
#include "store/sqlite_schema.h"
#include "store/sqlite_url.h"

#include <ctype.h>
#include <errno.h>
#include <libgen.h>
#include <openssl/rand.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define ITEM_COLS                                                                                  \
    "id, owner, external_id, task, text, result, status, attempts, last_attempt_at, "              \
    "retry_after, error, error_class, model, prompt_version, task_version, lease, lease_until, "   \
    "created_at, updated_at"

#define TASK_COLS                                                                                  \
    "t.name, t.version, COALESCE(a.version = t.version, 0), t.system_prompt, t.user_template, "    \
    "t.response_format, t.parser, t.model, t.created_at"

enum {
    S_BEGIN,
    S_COMMIT,
    S_ROLLBACK,
    S_IMPORT_INS,
    S_IMPORT_SEL,
    S_CLAIM_SEL,
    S_CLAIM_UPD,
    S_BEGIN_ATT,
    S_LEASE_STATE,
    S_RECORD,
    S_FINISH,
    S_RECLAIM,
    S_GET,
    S_HISTORY,
    S_LIST,
    S_STATS_OWNER,
    S_STATS_ALL,
    S_RETRY,
    S_RETRY_ALL,
    S_RETRY_FORCE,
    S_RETRY_FORCE_ALL,
    S_REGEN,
    S_EXISTS,
    S_EXPORT,
    S_NEXT_DUE,
    S_PAUSE_GET,
    S_PAUSE_SET,
    S_TASK_MAX,
    S_TASK_INS,
    S_TASK_ACT,
    S_TASK_GET,
    S_TASK_LIST,
    S__LAST
};

/* POST /v1/owners/{owner}/retry: make up to ?2 items of owner ?1 due at ?3 (force: failed ones too,
 * attempts reset). */
#define RETRY_SQL(set, owner_cond, statuses)                                                       \
    "UPDATE items SET " set " WHERE id IN (SELECT id FROM items WHERE " owner_cond                 \
    " AND status IN " statuses " ORDER BY id LIMIT ?2)"
#define RETRY_DUE "('retrying', 'pending')"
#define RETRY_FORCED "('retrying', 'pending', 'failed')"
#define RETRY_SET                                                                                  \
    "due_at = ?3, updated_at = ?3, "                                                               \
    "retry_after = CASE WHEN status = 'retrying' THEN ?3 ELSE retry_after END"
#define RETRY_FORCE_SET                                                                            \
    "due_at = ?3, updated_at = ?3, "                                                               \
    "retry_after = CASE WHEN status = 'retrying' THEN ?3 ELSE NULL END, "                          \
    "attempts = CASE WHEN status = 'failed' THEN 0 ELSE attempts END, "                            \
    "status = CASE WHEN status = 'failed' THEN 'pending' ELSE status END"

static const char *const sql_text[S__LAST] = {
    [S_BEGIN] = "BEGIN IMMEDIATE",
    [S_COMMIT] = "COMMIT",
    [S_ROLLBACK] = "ROLLBACK",
    [S_IMPORT_INS] = "INSERT INTO items (owner, external_id, task, text, status, due_at, "
                     "created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7) "
                     "ON CONFLICT (owner, external_id, task) DO NOTHING",
    [S_IMPORT_SEL] = "SELECT id FROM items WHERE owner = ?1 AND external_id = ?2 AND task = ?3",
    [S_CLAIM_SEL] = "SELECT id FROM items WHERE due_at IS NOT NULL AND due_at <= ?1 "
                    "ORDER BY due_at, id LIMIT ?2",
    [S_CLAIM_UPD] = "UPDATE items SET status = 'processing', lease = ?2, lease_until = ?3, "
                    "due_at = ?3, worker = ?4, attempts_at_claim = attempts, updated_at = ?5, "
                    "task_version = (SELECT version FROM task_active WHERE name = items.task) "
                    "WHERE id = ?1 RETURNING " ITEM_COLS,
    [S_BEGIN_ATT] = "UPDATE items SET attempts = attempts + 1, last_attempt_at = ?4, "
                    "attempt_model = ?5, updated_at = ?4 WHERE id = ?1 AND lease = ?2 "
                    "AND status = 'processing' AND lease_until > ?4 AND attempts < ?3 "
                    "RETURNING attempts",
    [S_LEASE_STATE] = "SELECT lease, status, lease_until, attempts FROM items WHERE id = ?1",
    [S_RECORD] = "INSERT INTO attempts (item_id, n, model, endpoint, class, http_status, "
                 "latency_ms, at, refunded, provider) SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?10, "
                 "?11 WHERE EXISTS "
                 "(SELECT 1 FROM items WHERE id = ?1 AND lease = ?9 AND status = 'processing')",
    [S_FINISH] = "UPDATE items SET status = ?3, "
                 "result = CASE WHEN ?3 = 'success' THEN ?4 ELSE result END, "
                 "model = CASE WHEN ?3 = 'success' THEN ?5 ELSE model END, "
                 "prompt_version = CASE WHEN ?3 = 'success' THEN ?6 ELSE prompt_version END, "
                 "retry_after = ?7, due_at = ?8, "
                 "error = CASE WHEN ?3 IN ('retrying', 'failed') THEN ?9 "
                 "  WHEN ?3 = 'success' THEN NULL ELSE error END, "
                 "error_class = CASE WHEN ?3 IN ('retrying', 'failed') THEN ?10 "
                 "  WHEN ?3 = 'success' THEN NULL ELSE error_class END, "
                 "attempts = CASE WHEN ?3 = 'pending' THEN attempts_at_claim ELSE attempts END, "
                 "lease = NULL, lease_until = NULL, worker = NULL, updated_at = ?11 "
                 "WHERE id = ?1 AND lease = ?2 AND status = 'processing'",
    [S_RECLAIM] = "UPDATE items SET status = 'pending', lease = NULL, lease_until = NULL, "
                  "worker = NULL, due_at = ?1, updated_at = ?1 "
                  "WHERE due_at <= ?1 AND status = 'processing'",
    [S_GET] = "SELECT " ITEM_COLS " FROM items WHERE id = ?1",
    [S_HISTORY] = "SELECT n, model, endpoint, class, http_status, latency_ms, at, refunded, "
                  "provider "
                  "FROM attempts WHERE item_id = ?1 ORDER BY rowid",
    [S_LIST] = "SELECT " ITEM_COLS " FROM items WHERE owner = ?1 AND id > ?3 "
               "AND (?2 IS NULL OR status = ?2) ORDER BY id LIMIT ?4",
    [S_STATS_OWNER] = "SELECT status, count(*) FROM items WHERE owner = ?1 GROUP BY status",
    [S_STATS_ALL] = "SELECT status, count(*) FROM items GROUP BY status",
    [S_RETRY] = RETRY_SQL(RETRY_SET, "owner = ?1", RETRY_DUE),
    [S_RETRY_ALL] = RETRY_SQL(RETRY_SET, "?1 IS NULL", RETRY_DUE),
    [S_RETRY_FORCE] = RETRY_SQL(RETRY_FORCE_SET, "owner = ?1", RETRY_FORCED),
    [S_RETRY_FORCE_ALL] = RETRY_SQL(RETRY_FORCE_SET, "?1 IS NULL", RETRY_FORCED),
    [S_REGEN] = "UPDATE items SET status = 'pending', attempts = 0, attempts_at_claim = 0, "
                "retry_after = NULL, error = NULL, error_class = NULL, lease = NULL, "
                "lease_until = NULL, worker = NULL, due_at = ?2, updated_at = ?2 "
                "WHERE id = ?1 AND status <> 'skipped'",
    [S_EXISTS] = "SELECT status FROM items WHERE id = ?1",
    [S_EXPORT] = "SELECT " ITEM_COLS " FROM items WHERE (?1 IS NULL OR owner = ?1) "
                 "AND (?2 IS NULL OR status = ?2) ORDER BY id",
    [S_NEXT_DUE] = "SELECT min(due_at) FROM items WHERE due_at IS NOT NULL",
    [S_PAUSE_GET] = "SELECT paused, reason, since FROM pause WHERE id = 1",
    [S_PAUSE_SET] = "UPDATE pause SET paused = ?1, reason = ?2, since = ?3 WHERE id = 1",
    [S_TASK_MAX] = "SELECT COALESCE(max(version), 0) FROM tasks WHERE name = ?1",
    [S_TASK_INS] = "INSERT INTO tasks (name, version, system_prompt, user_template, "
                   "response_format, parser, model, created_at) "
                   "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    [S_TASK_ACT] = "INSERT INTO task_active (name, version) SELECT ?1, ?2 WHERE EXISTS "
                   "(SELECT 1 FROM tasks WHERE name = ?1 AND version = ?2) "
                   "ON CONFLICT (name) DO UPDATE SET version = excluded.version",
    [S_TASK_GET] = "SELECT " TASK_COLS " FROM tasks t LEFT JOIN task_active a ON a.name = t.name "
                   "WHERE t.name = ?1 AND t.version = CASE WHEN ?2 > 0 THEN ?2 ELSE "
                   "(SELECT version FROM task_active WHERE name = ?1) END",
    [S_TASK_LIST] = "SELECT " TASK_COLS " FROM tasks t LEFT JOIN task_active a "
                    "ON a.name = t.name ORDER BY t.name, t.version",
};

typedef struct {
    tx_store_t base;
    sqlite3 *db;
    sqlite3_stmt *st[S__LAST];
    uint64_t lease_counter; /* fallback when the random source fails */
    int busy_ms;
} sq_t;

static sq_t *H(tx_store_t *s)
{
    return (sq_t *)s;
}

/* Maps a SQLite failure to a tx_err_t and a message that says what to do. */
static int dberr(sq_t *h, int rc, tx_error_t *err, const char *what)
{
    const char *msg = h && h->db ? sqlite3_errmsg(h->db) : sqlite3_errstr(rc);
    switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return tx__store_fail(err, TX_EBUSY,
                              "store: %s: database is locked by another "
                              "process (waited %d ms)",
                              what, h ? h->busy_ms : 0);
    case SQLITE_NOTADB:
    case SQLITE_CORRUPT:
        return tx__store_fail(err, TX_ESTORE,
                              "store: %s: the file is not a tenax SQLite "
                              "database or is corrupt (%s)",
                              what, msg);
    case SQLITE_READONLY:
        return tx__store_fail(err, TX_ESTORE, "store: %s: the database is read-only (%s)", what,
                              msg);
    case SQLITE_FULL:
        return tx__store_fail(err, TX_EIO, "store: %s: disk full (%s)", what, msg);
    case SQLITE_IOERR:
        return tx__store_fail(err, TX_EIO, "store: %s: I/O error (%s)", what, msg);
    case SQLITE_NOMEM:
        return tx__store_fail(err, TX_ENOMEM, "store: %s: out of memory", what);
    default:
        return tx__store_fail(err, TX_ESTORE, "store: %s: %s", what, msg);
    }
}

/* The cached statement `id`, reset and unbound; NULL with err filled on failure. */
static sqlite3_stmt *stmt(sq_t *h, int id, tx_error_t *err);

/* stmt() for a caller that jumps to its cleanup: TX_EOK with *st set, or the error. */
static int prep(sq_t *h, int id, sqlite3_stmt **st, tx_error_t *err)
{
    *st = stmt(h, id, err);
    return *st != NULL ? TX_EOK : err != NULL ? err->code : TX_ESTORE;
}

static sqlite3_stmt *stmt(sq_t *h, int id, tx_error_t *err)
{
    if (!h->st[id]) {
        int rc = sqlite3_prepare_v3(h->db, sql_text[id], -1, SQLITE_PREPARE_PERSISTENT, &h->st[id],
                                    NULL);
        if (rc != SQLITE_OK) {
            dberr(h, rc, err, "prepare");
            h->st[id] = NULL;
            return NULL;
        }
    }
    sqlite3_reset(h->st[id]);
    sqlite3_clear_bindings(h->st[id]);
    return h->st[id];
}

static void done(sqlite3_stmt *st)
{
    if (st) sqlite3_reset(st);
}

/* Runs a statement without rows (BEGIN, COMMIT, ROLLBACK). */
static int run(sq_t *h, int id, tx_error_t *err, const char *what)
{
    sqlite3_stmt *st = stmt(h, id, err);
    if (!st) return err ? err->code : TX_ESTORE;
    int rc = sqlite3_step(st);
    done(st);
    return rc == SQLITE_DONE ? TX_EOK : dberr(h, rc, err, what);
}

static int tx_begin(sq_t *h, tx_error_t *err)
{
    return run(h, S_BEGIN, err, "begin");
}

static int tx_commit(sq_t *h, tx_error_t *err)
{
    int rc = run(h, S_COMMIT, err, "commit");
    if (rc != TX_EOK && !sqlite3_get_autocommit(h->db)) run(h, S_ROLLBACK, NULL, "rollback");
    return rc;
}

static void tx_rollback(sq_t *h)
{
    if (!sqlite3_get_autocommit(h->db)) run(h, S_ROLLBACK, NULL, "rollback");
}

static void bind_text(sqlite3_stmt *st, int i, const char *s)
{
    if (s)
        sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, i);
}

static void bind_ms(sqlite3_stmt *st, int i, tx_ms_t v, int present)
{
    if (present)
        sqlite3_bind_int64(st, i, v);
    else
        sqlite3_bind_null(st, i);
}

/* A malloc'd copy of a text column, NULL for SQL NULL. *oom set when the copy fails. */
static char *col_str(sqlite3_stmt *st, int i, int *oom)
{
    if (sqlite3_column_type(st, i) == SQLITE_NULL) return NULL;
    const unsigned char *t = sqlite3_column_text(st, i);
    int len = sqlite3_column_bytes(st, i);
    char *copy = malloc((size_t)len + 1);
    if (!copy || !t) {
        free(copy);
        *oom = 1;
        return NULL;
    }
    memcpy(copy, t, (size_t)len);
    copy[len] = '\0';
    return copy;
}

static int class_col(sqlite3_stmt *st, int i)
{
    if (sqlite3_column_type(st, i) == SQLITE_NULL) return -1;
    return tx_class_from_name((const char *)sqlite3_column_text(st, i));
}

/* Fills `it` from a row of ITEM_COLS. TX_ENOMEM (it cleared) when a copy fails. */
static int read_item(sqlite3_stmt *st, tx_item_t *it)
{
    int oom = 0;
    memset(it, 0, sizeof *it);
    it->id = sqlite3_column_int64(st, 0);
    it->owner = col_str(st, 1, &oom);
    it->external_id = col_str(st, 2, &oom);
    it->task = col_str(st, 3, &oom);
    it->text = col_str(st, 4, &oom);
    it->result = col_str(st, 5, &oom);
    int status = tx__item_status_from_name((const char *)sqlite3_column_text(st, 6));
    it->status = status < 0 ? TX_ITEM_PENDING : (tx_item_status_t)status;
    it->attempts = sqlite3_column_int(st, 7);
    it->last_attempt_at = sqlite3_column_int64(st, 8);
    it->retry_after = sqlite3_column_int64(st, 9);
    it->error = col_str(st, 10, &oom);
    it->error_class = class_col(st, 11);
    it->model = col_str(st, 12, &oom);
    it->prompt_version = sqlite3_column_int(st, 13);
    it->task_version = sqlite3_column_int(st, 14);
    it->lease = sqlite3_column_int64(st, 15);
    it->lease_until = sqlite3_column_int64(st, 16);
    it->created_at = sqlite3_column_int64(st, 17);
    it->updated_at = sqlite3_column_int64(st, 18);
    if (oom) {
        tx__item_clear(it);
        return TX_ENOMEM;
    }
    return TX_EOK;
}

/* Appends a row to a growing item list. */
static int list_push(tx_item_list_t *out, size_t *cap, sqlite3_stmt *st)
{
    if (out->n == *cap) {
        size_t ncap = *cap ? *cap * 2 : 16;
        tx_item_t *n = realloc(out->items, ncap * sizeof *n);
        if (!n) return TX_ENOMEM;
        out->items = n;
        *cap = ncap;
    }
    int rc = read_item(st, &out->items[out->n]);
    if (rc == TX_EOK) out->n++;
    return rc;
}

static int64_t new_lease(sq_t *h)
{
    uint64_t v = 0;
    if (RAND_bytes((unsigned char *)&v, sizeof v) != 1)
        v = ++h->lease_counter * 0x9E3779B97F4A7C15ull;
    v &= 0x7fffffffffffffffull; /* positive; 0 means "no lease" */
    return v ? (int64_t)v : 1;
}

/* ---- open / close ---------------------------------------------------------------------- */

static void sq_close(tx_store_t *s)
{
    sq_t *h = H(s);
    if (!h) return;
    for (int i = 0; i < S__LAST; i++)
        sqlite3_finalize(h->st[i]);
    sqlite3_close_v2(h->db);
    free(h);
}

/* Says why `path` cannot be opened when its folder is missing. */
static int folder_problem(const char *path, tx_error_t *err)
{
    char copy[4096];
    snprintf(copy, sizeof copy, "%s", path);
    const char *dir = dirname(copy);
    struct stat sb;
    if (stat(dir, &sb) != 0)
        return tx__store_fail(err, TX_EIO, "store: cannot open %.100s: folder %.100s: %s", path,
                              dir, strerror(errno));
    if (!S_ISDIR(sb.st_mode))
        return tx__store_fail(err, TX_EIO, "store: cannot open %.100s: %.100s is not a folder",
                              path, dir);
    return TX_EOK;
}

static int pragma(sq_t *h, const char *sql, tx_error_t *err, const char *what)
{
    int rc = sqlite3_exec(h->db, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? TX_EOK : dberr(h, rc, err, what);
}

/* The connection set-up (WAL, synchronous=NORMAL, foreign keys) and the migrations, as raw
 * SQLite codes; *step names the part that failed ("open" or "migrate"). */
static int setup_once(sq_t *h, int *from, char *why, size_t whylen, const char **step)
{
    static const char *const pragmas[] = {
        /* WAL: readers never block the writer. synchronous=NORMAL is the standard setting
         * with WAL: a commit is durable across a process crash (the WAL is written before
         * COMMIT returns), only an OS crash or power loss can drop the last commits, never
         * corrupt the file. FULL would fsync the WAL on every commit. */
        "PRAGMA journal_mode = WAL", "PRAGMA synchronous = NORMAL", "PRAGMA foreign_keys = ON"};
    *step = "open";
    for (size_t i = 0; i < sizeof pragmas / sizeof pragmas[0]; i++) {
        int rc = sqlite3_exec(h->db, pragmas[i], NULL, NULL, NULL);
        if (rc != SQLITE_OK) return rc;
    }
    *step = "migrate";
    return tx__sqlite_migrate(h->db, from, why, whylen);
}

/* A first open racing other handles' WAL switch or migration can get SQLITE_BUSY/LOCKED
 * without SQLite's busy handler being called (the journal-mode change and the WAL-index
 * set-up do not always wait). Such a race is retried, with a short growing pause, until the
 * handle's busy timeout has passed; only then does it fail. */
static int setup_with_retry(sq_t *h, int *from, char *why, size_t whylen, const char **step)
{
    int64_t deadline = tx__clock_mono_ms() + h->busy_ms;
    for (int pause = 1;; pause = pause < 50 ? pause * 2 : 50) {
        int rc = setup_once(h, from, why, whylen, step);
        int base = rc & 0xff;
        if ((base != SQLITE_BUSY && base != SQLITE_LOCKED) || tx__clock_mono_ms() >= deadline)
            return rc;
        sqlite3_sleep(pause);
    }
}

static int sq_open_parsed(const tx_sqlite_url_t *u, tx_store_t **out, tx_error_t *err)
{
    const char *path = u->path;
    int memory = strcmp(path, ":memory:") == 0;
    if (!memory) {
        int rc = folder_problem(path, err);
        if (rc != TX_EOK) return rc;
    }
    sq_t *h = calloc(1, sizeof *h);
    if (!h) return tx__store_fail(err, TX_ENOMEM, "store: out of memory");
    h->base.ops = &tx__store_sqlite_ops;
    h->busy_ms = u->busy_timeout_ms;
    int rc = sqlite3_open_v2(
        path, &h->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        if (!h->db) {
            free(h);
            return tx__store_fail(err, TX_ENOMEM, "store: out of memory");
        }
        rc = tx__store_fail(err, TX_EIO, "store: cannot open %.150s: %s", path,
                            sqlite3_errmsg(h->db));
        goto fail;
    }
    if (sqlite3_db_readonly(h->db, "main") == 1) {
        rc = tx__store_fail(err, TX_ESTORE,
                            "store: %.150s is read-only: tenax needs to write "
                            "to its store",
                            path);
        goto fail;
    }
    sqlite3_busy_timeout(h->db, h->busy_ms);
    sqlite3_extended_result_codes(h->db, 0);
    char why[200] = "";
    int from = 0;
    const char *step = "open";
    int src = setup_with_retry(h, &from, why, sizeof why, &step);
    if (src != SQLITE_OK) {
        if ((src & 0xff) == SQLITE_BUSY || (src & 0xff) == SQLITE_LOCKED ||
            (src & 0xff) == SQLITE_NOTADB || (src & 0xff) == SQLITE_CORRUPT ||
            (src & 0xff) == SQLITE_READONLY || strcmp(step, "open") == 0)
            rc = dberr(h, src, err, step);
        else
            rc = tx__store_fail(err, TX_ESTORE, "store: migrating %.100s from version %d: %s", path,
                                from, why);
        goto fail;
    }
    *out = &h->base;
    return TX_EOK;
fail:
    sq_close(&h->base);
    return rc;
}

static int sq_open(const char *url, tx_store_t **out, tx_error_t *err)
{
    tx_sqlite_url_t *pu = malloc(sizeof *pu); /* 4 KiB: kept off small thread stacks */
    if (!pu) return tx__store_fail(err, TX_ENOMEM, "store: out of memory");
    int prc = tx__sqlite_url_parse(url, pu, err);
    if (prc != TX_EOK) {
        free(pu);
        return prc;
    }
    int rc = sq_open_parsed(pu, out, err);
    free(pu);
    return rc;
}

/* ---- items ------------------------------------------------------------------------------ */

static int sq_import(tx_store_t *s, const tx_item_input_t *items, size_t n, tx_ms_t now,
                     tx_import_result_t *res, tx_error_t *err)
{
    sq_t *h = H(s);
    int rc = tx_begin(h, err); /* res: zeroed, ids allocated, items checked (store.c) */
    if (rc != TX_EOK) goto fail;
    for (size_t i = 0; i < n; i++) {
        const tx_item_input_t *in = &items[i];
        const char *owner = in->owner ? in->owner : "default";
        const char *task = in->task && *in->task ? in->task : "tags";
        int skip = tx__utf8_blank(in->text);
        sqlite3_stmt *st = NULL;
        if ((rc = prep(h, S_IMPORT_INS, &st, err)) != TX_EOK) goto fail;
        bind_text(st, 1, owner);
        bind_text(st, 2, in->external_id);
        bind_text(st, 3, task);
        bind_text(st, 4, in->text ? in->text : "");
        bind_text(st, 5, skip ? "skipped" : "pending");
        bind_ms(st, 6, now, !skip);
        sqlite3_bind_int64(st, 7, now);
        int src = sqlite3_step(st);
        done(st);
        if (src != SQLITE_DONE) {
            rc = dberr(h, src, err, "import");
            goto fail;
        }
        if (sqlite3_changes(h->db) == 1) {
            res->ids[i] = sqlite3_last_insert_rowid(h->db);
            res->inserted++;
            res->skipped += skip;
            continue;
        }
        st = stmt(h, S_IMPORT_SEL, err);
        if (!st) {
            rc = err ? err->code : TX_ESTORE;
            goto fail;
        }
        bind_text(st, 1, owner);
        bind_text(st, 2, in->external_id);
        bind_text(st, 3, task);
        src = sqlite3_step(st);
        if (src != SQLITE_ROW) {
            done(st);
            rc = dberr(h, src == SQLITE_DONE ? SQLITE_ERROR : src, err, "import lookup");
            goto fail;
        }
        res->ids[i] = sqlite3_column_int64(st, 0);
        done(st);
        res->existing++;
    }
    if ((rc = tx_commit(h, err)) != TX_EOK) goto fail;
    res->n = n;
    return TX_EOK;
fail:
    tx_rollback(h);
    tx__import_result_free(res);
    return rc;
}

static int sq_claim(tx_store_t *s, const char *worker, size_t limit, tx_ms_t now, tx_ms_t lease_ms,
                    tx_item_list_t *out, tx_error_t *err)
{
    sq_t *h = H(s);
    memset(out, 0, sizeof *out);
    if (limit == 0) return TX_EOK;
    if (limit > 10000) limit = 10000;
    int64_t *ids = malloc(limit * sizeof *ids);
    if (!ids) return tx__store_fail(err, TX_ENOMEM, "store: out of memory");
    size_t nids = 0, cap = 0;
    int rc = tx_begin(h, err);
    if (rc != TX_EOK) goto fail;
    sqlite3_stmt *st = NULL;
    if ((rc = prep(h, S_CLAIM_SEL, &st, err)) != TX_EOK) goto fail;
    sqlite3_bind_int64(st, 1, now);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)limit);
    int src;
    while ((src = sqlite3_step(st)) == SQLITE_ROW)
        ids[nids++] = sqlite3_column_int64(st, 0);
    done(st);
    if (src != SQLITE_DONE) {
        rc = dberr(h, src, err, "claim");
        goto fail;
    }
    for (size_t i = 0; i < nids; i++) {
        st = stmt(h, S_CLAIM_UPD, err);
        if (!st) {
            rc = err ? err->code : TX_ESTORE;
            goto fail;
        }
        sqlite3_bind_int64(st, 1, ids[i]);
        sqlite3_bind_int64(st, 2, new_lease(h));
        sqlite3_bind_int64(st, 3, now + lease_ms);
        bind_text(st, 4, worker);
        sqlite3_bind_int64(st, 5, now);
        src = sqlite3_step(st);
        if (src == SQLITE_ROW) rc = list_push(out, &cap, st);
        while (src == SQLITE_ROW)
            src = sqlite3_step(st);
        done(st);
        if (rc != TX_EOK) {
            tx__store_fail(err, rc, "store: out of memory");
            goto fail;
        }
        if (src != SQLITE_DONE) {
            rc = dberr(h, src, err, "claim");
            goto fail;
        }
    }
    if ((rc = tx_commit(h, err)) != TX_EOK) goto fail;
    free(ids);
    return TX_EOK;
fail:
    tx_rollback(h);
    free(ids);
    tx__item_list_free(out);
    return rc;
}

/* Why a lease-guarded write matched no row: the item is gone, or the lease is not current. */
static int lease_refused(sq_t *h, int64_t id, int64_t lease, tx_ms_t now, int max_attempts,
                         tx_error_t *err)
{
    sqlite3_stmt *st = stmt(h, S_LEASE_STATE, err);
    if (!st) return err ? err->code : TX_ESTORE;
    sqlite3_bind_int64(st, 1, id);
    int src = sqlite3_step(st);
    if (src != SQLITE_ROW) {
        done(st);
        if (src != SQLITE_DONE) return dberr(h, src, err, "lease check");
        return tx__store_fail(err, TX_ENOTFOUND, "store: item %lld not found", (long long)id);
    }
    int64_t have = sqlite3_column_int64(st, 0);
    int processing = strcmp((const char *)sqlite3_column_text(st, 1), "processing") == 0;
    tx_ms_t until = sqlite3_column_int64(st, 2);
    int attempts = sqlite3_column_int(st, 3);
    done(st);
    if (have != lease || !processing)
        return tx__store_fail(err, TX_ECONFLICT, "store: item %lld: lease lost", (long long)id);
    if (max_attempts > 0 && until <= now)
        return tx__store_fail(err, TX_ECONFLICT, "store: item %lld: lease expired", (long long)id);
    if (max_attempts > 0 && attempts >= max_attempts)
        return tx__store_fail(err, TX_ERANGE,
                              "store: item %lld: attempt budget used up "
                              "(%d of %d)",
                              (long long)id, attempts, max_attempts);
    return tx__store_fail(err, TX_ECONFLICT, "store: item %lld: lease lost", (long long)id);
}

static int sq_begin_attempt(tx_store_t *s, int64_t id, int64_t lease, int max_attempts, tx_ms_t now,
                            const char *model, int *attempt_n, tx_error_t *err)
{
    sq_t *h = H(s);
    if (max_attempts <= 0)
        return tx__store_fail(err, TX_EINVAL, "store: begin_attempt: max_attempts <= 0");
    /* One guarded UPDATE … RETURNING: atomic on its own, committed before we return. */
    sqlite3_stmt *st = stmt(h, S_BEGIN_ATT, err);
    if (!st) return err ? err->code : TX_ESTORE;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int64(st, 2, lease);
    sqlite3_bind_int(st, 3, max_attempts);
    sqlite3_bind_int64(st, 4, now);
    bind_text(st, 5, model);
    int src = sqlite3_step(st);
    int n = src == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
    while (src == SQLITE_ROW)
        src = sqlite3_step(st);
    done(st);
    if (src != SQLITE_DONE) return dberr(h, src, err, "begin_attempt");
    if (n == 0) /* refused: say why (nothing was written either way) */
        return lease_refused(h, id, lease, now, max_attempts, err);
    if (attempt_n) *attempt_n = n;
    return TX_EOK;
}

static int sq_record_attempt(tx_store_t *s, int64_t id, int64_t lease, const tx_history_row_t *a,
                             tx_error_t *err)
{
    sq_t *h = H(s);
    if (a->cls < 0 || a->cls >= TX_CLASS__LAST)
        return tx__store_fail(err, TX_EINVAL, "store: record_attempt: bad class %d", a->cls);
    sqlite3_stmt *st = stmt(h, S_RECORD, err);
    if (!st) return err ? err->code : TX_ESTORE;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int(st, 2, a->n);
    bind_text(st, 3, a->model);
    bind_text(st, 4, a->endpoint);
    bind_text(st, 5, tx_class_name((tx_class_t)a->cls));
    sqlite3_bind_int(st, 6, a->http_status);
    sqlite3_bind_int64(st, 7, a->latency_ms);
    sqlite3_bind_int64(st, 8, a->at);
    sqlite3_bind_int64(st, 9, lease);
    sqlite3_bind_int(st, 10, a->refunded ? 1 : 0);
    bind_text(st, 11, a->provider);
    int src = sqlite3_step(st);
    done(st);
    if (src != SQLITE_DONE) return dberr(h, src, err, "record_attempt");
    if (sqlite3_changes(h->db) == 0) return lease_refused(h, id, lease, 0, 0, err);
    return TX_EOK;
}

static int finish_row(tx_store_t *s, int64_t id, int64_t lease, const tx_item_outcome_t *o,
                      tx_ms_t now, tx_error_t *err)
{
    sq_t *h = H(s);
    sqlite3_stmt *st = stmt(h, S_FINISH, err);
    if (!st) return err ? err->code : TX_ESTORE;
    int cls_ok = o->error_class >= 0 && o->error_class < TX_CLASS__LAST;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int64(st, 2, lease);
    bind_text(st, 3, tx__item_status_name(o->status));
    bind_text(st, 4, o->result);
    bind_text(st, 5, o->model);
    sqlite3_bind_int(st, 6, o->prompt_version);
    bind_ms(st, 7, o->retry_after, o->status == TX_ITEM_RETRYING);
    if (o->status == TX_ITEM_RETRYING)
        sqlite3_bind_int64(st, 8, o->retry_after);
    else
        bind_ms(st, 8, now, o->status == TX_ITEM_PENDING);
    bind_text(st, 9, o->error);
    bind_text(st, 10, cls_ok ? tx_class_name((tx_class_t)o->error_class) : NULL);
    sqlite3_bind_int64(st, 11, now);
    int src = sqlite3_step(st);
    done(st);
    if (src != SQLITE_DONE) return dberr(h, src, err, "finish");
    if (sqlite3_changes(h->db) == 0) return lease_refused(h, id, lease, now, 0, err);
    return TX_EOK;
}

/* With o->attempt: history row + finish in one BEGIN IMMEDIATE … COMMIT (one commit instead
 * of two); either both are written or neither. */
static int sq_finish(tx_store_t *s, int64_t id, int64_t lease, const tx_item_outcome_t *o,
                     tx_ms_t now, tx_error_t *err)
{
    if (!o->attempt) return finish_row(s, id, lease, o, now, err);
    sq_t *h = H(s);
    tx_history_row_t a = *o->attempt;
    a.refunded = a.refunded || o->status == TX_ITEM_PENDING; /* given back: the n is reused */
    int rc = tx_begin(h, err);
    if (rc != TX_EOK) return rc;
    if ((rc = sq_record_attempt(s, id, lease, &a, err)) == TX_EOK &&
        (rc = finish_row(s, id, lease, o, now, err)) == TX_EOK &&
        (rc = tx_commit(h, err)) == TX_EOK)
        return TX_EOK;
    tx_rollback(h);
    return rc;
}

static int sq_reclaim_expired(tx_store_t *s, tx_ms_t now, int64_t *count, tx_error_t *err)
{
    sq_t *h = H(s);
    sqlite3_stmt *st = stmt(h, S_RECLAIM, err);
    if (!st) return err ? err->code : TX_ESTORE;
    sqlite3_bind_int64(st, 1, now);
    int src = sqlite3_step(st);
    done(st);
    if (src != SQLITE_DONE) return dberr(h, src, err, "reclaim");
    if (count) *count = sqlite3_changes(h->db);
    return TX_EOK;
}

static int read_history(sq_t *h, tx_item_t *it, tx_error_t *err)
{
    sqlite3_stmt *st = stmt(h, S_HISTORY, err);
    if (!st) return err ? err->code : TX_ESTORE;
    sqlite3_bind_int64(st, 1, it->id);
    size_t cap = 0;
    int src, oom = 0;
    while ((src = sqlite3_step(st)) == SQLITE_ROW) {
        if (it->n_history == cap) {
            size_t ncap = cap ? cap * 2 : 8;
            tx_history_row_t *n = realloc(it->history, ncap * sizeof *n);
            if (!n) {
                oom = 1;
                break;
            }
            it->history = n;
            cap = ncap;
        }
        tx_history_row_t *a = &it->history[it->n_history++];
        memset(a, 0, sizeof *a);
        a->n = sqlite3_column_int(st, 0);
        a->model = col_str(st, 1, &oom);
        a->endpoint = col_str(st, 2, &oom);
        int cls = class_col(st, 3);
        a->cls = cls < 0 ? TX_CLASS_OK : cls;
        a->http_status = sqlite3_column_int(st, 4);
        a->latency_ms = sqlite3_column_int64(st, 5);
        a->at = sqlite3_column_int64(st, 6);
        a->refunded = sqlite3_column_int(st, 7) != 0;
        a->provider = col_str(st, 8, &oom);
        if (oom) break;
    }
    done(st);
    if (oom) return tx__store_fail(err, TX_ENOMEM, "store: out of memory");
    if (src != SQLITE_DONE) return dberr(h, src, err, "history");
    return TX_EOK;
}

static int sq_get(tx_store_t *s, int64_t id, tx_item_t *out, tx_error_t *err)
{
    sq_t *h = H(s);
    memset(out, 0, sizeof *out);
    /* One read transaction so the item and its history agree. */
    int rc = pragma(h, "BEGIN", err, "get");
    if (rc != TX_EOK) return rc;
    sqlite3_stmt *st = NULL;
    if ((rc = prep(h, S_GET, &st, err)) != TX_EOK) goto out;
    sqlite3_bind_int64(st, 1, id);
    int src = sqlite3_step(st);
    if (src == SQLITE_ROW) {
        rc = read_item(st, out);
        if (rc != TX_EOK) tx__store_fail(err, rc, "store: out of memory");
    } else if (src == SQLITE_DONE) {
        rc = tx__store_fail(err, TX_ENOTFOUND, "store: item %lld not found", (long long)id);
    } else {
        rc = dberr(h, src, err, "get");
    }
    done(st);
    if (rc == TX_EOK) rc = read_history(h, out, err);
    if (rc != TX_EOK) tx__item_clear(out);
out:
    tx_rollback(h);
    return rc;
}

static int select_items(sq_t *h, sqlite3_stmt *st, tx_item_list_t *out, tx_error_t *err,
                        const char *what)
{
    size_t cap = 0;
    int src, rc = TX_EOK;
    while ((src = sqlite3_step(st)) == SQLITE_ROW)
        if ((rc = list_push(out, &cap, st)) != TX_EOK) break;
    done(st);
    if (rc == TX_EOK && src != SQLITE_DONE)
        rc = dberr(h, src, err, what);
    else if (rc != TX_EOK)
        tx__store_fail(err, rc, "store: out of memory");
    if (rc != TX_EOK) tx__item_list_free(out);
    return rc;
}

static int sq_list(tx_store_t *s, const char *owner, int status, size_t limit, int64_t after,
                   tx_item_list_t *out, tx_error_t *err)
{
    sq_t *h = H(s);
    memset(out, 0, sizeof *out);
    if (!owner) return tx__store_fail(err, TX_EINVAL, "store: list: an owner is required");
    sqlite3_stmt *st = stmt(h, S_LIST, err);
    if (!st) return err ? err->code : TX_ESTORE;
    bind_text(st, 1, owner);
    bind_text(st, 2, status >= 0 ? tx__item_status_name((tx_item_status_t)status) : NULL);
    sqlite3_bind_int64(st, 3, after);
    sqlite3_bind_int64(st, 4, (sqlite3_int64)limit);
    return select_items(h, st, out, err, "list");
}

static int sq_stats(tx_store_t *s, const char *owner, tx_store_stats_t *out, tx_error_t *err)
{
    sq_t *h = H(s);
    memset(out, 0, sizeof *out);
    sqlite3_stmt *st = stmt(h, owner ? S_STATS_OWNER : S_STATS_ALL, err);
    if (!st) return err ? err->code : TX_ESTORE;
    if (owner) bind_text(st, 1, owner);
    int src;
    while ((src = sqlite3_step(st)) == SQLITE_ROW) {
        int k = tx__item_status_from_name((const char *)sqlite3_column_text(st, 0));
        int64_t c = sqlite3_column_int64(st, 1);
        if (k >= 0) out->by_status[k] += c;
        out->total += c;
    }
    done(st);
    if (src != SQLITE_DONE) return dberr(h, src, err, "stats");
    out->with_result = out->by_status[TX_ITEM_SUCCESS];
    out->without_result = out->total - out->with_result;
    out->need_retry = out->by_status[TX_ITEM_RETRYING];
    return TX_EOK;
}

static int sq_retry(tx_store_t *s, const char *owner, int force, size_t limit, tx_ms_t now,
                    int64_t *selected, tx_error_t *err)
{
    sq_t *h = H(s);
    int id = force ? (owner ? S_RETRY_FORCE : S_RETRY_FORCE_ALL) : (owner ? S_RETRY : S_RETRY_ALL);
    sqlite3_stmt *st = stmt(h, id, err);
    if (!st) return err ? err->code : TX_ESTORE;
    bind_text(st, 1, owner);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)limit);
    sqlite3_bind_int64(st, 3, now);
    int src = sqlite3_step(st);
    done(st);
    if (src != SQLITE_DONE) return dberr(h, src, err, "retry");
    if (selected) *selected = sqlite3_changes(h->db);
    return TX_EOK;
}

static int sq_regenerate(tx_store_t *s, int64_t id, tx_ms_t now, tx_error_t *err)
{
    sq_t *h = H(s);
    sqlite3_stmt *st = stmt(h, S_REGEN, err);
    if (!st) return err ? err->code : TX_ESTORE;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int64(st, 2, now);
    int src = sqlite3_step(st);
    done(st);
    if (src != SQLITE_DONE) return dberr(h, src, err, "regenerate");
    if (sqlite3_changes(h->db) == 1) return TX_EOK;
    st = stmt(h, S_EXISTS, err);
    if (!st) return err ? err->code : TX_ESTORE;
    sqlite3_bind_int64(st, 1, id);
    src = sqlite3_step(st);
    done(st);
    if (src == SQLITE_ROW)
        return tx__store_fail(err, TX_EINVAL,
                              "store: item %lld was skipped (no text): "
                              "nothing to regenerate",
                              (long long)id);
    if (src == SQLITE_DONE)
        return tx__store_fail(err, TX_ENOTFOUND, "store: item %lld not found", (long long)id);
    return dberr(h, src, err, "regenerate");
}

static int sq_export(tx_store_t *s, const char *owner, int status, tx_store_item_cb cb, void *ud,
                     tx_error_t *err)
{
    sq_t *h = H(s);
    sqlite3_stmt *st = stmt(h, S_EXPORT, err);
    if (!st) return err ? err->code : TX_ESTORE;
    bind_text(st, 1, owner);
    bind_text(st, 2, status >= 0 ? tx__item_status_name((tx_item_status_t)status) : NULL);
    int src, rc = TX_EOK;
    while ((src = sqlite3_step(st)) == SQLITE_ROW) {
        tx_item_t it;
        if ((rc = read_item(st, &it)) != TX_EOK) {
            tx__store_fail(err, rc, "store: out of memory");
            break;
        }
        int stop = cb(&it, ud);
        tx__item_clear(&it);
        if (stop) {
            src = SQLITE_DONE;
            break;
        }
    }
    done(st);
    if (rc == TX_EOK && src != SQLITE_DONE) rc = dberr(h, src, err, "export");
    return rc;
}

static int sq_next_due(tx_store_t *s, tx_ms_t now, tx_ms_t *when, tx_error_t *err)
{
    (void)now;
    sq_t *h = H(s);
    sqlite3_stmt *st = stmt(h, S_NEXT_DUE, err);
    if (!st) return err ? err->code : TX_ESTORE;
    int src = sqlite3_step(st);
    int rc = TX_EOK;
    if (src != SQLITE_ROW)
        rc = dberr(h, src, err, "next_due");
    else if (sqlite3_column_type(st, 0) == SQLITE_NULL)
        rc = tx__store_fail(err, TX_ENOTFOUND, "store: nothing is due");
    else
        *when = sqlite3_column_int64(st, 0);
    done(st);
    return rc;
}

/* ---- pause ------------------------------------------------------------------------------ */

static int sq_pause_get(tx_store_t *s, tx_pause_t *out, tx_error_t *err)
{
    sq_t *h = H(s);
    memset(out, 0, sizeof *out);
    sqlite3_stmt *st = stmt(h, S_PAUSE_GET, err);
    if (!st) return err ? err->code : TX_ESTORE;
    int src = sqlite3_step(st);
    int rc = TX_EOK;
    if (src == SQLITE_ROW) {
        out->paused = sqlite3_column_int(st, 0) != 0;
        const unsigned char *r = sqlite3_column_text(st, 1);
        snprintf(out->reason, sizeof out->reason, "%s", r ? (const char *)r : "");
        out->since = sqlite3_column_int64(st, 2);
    } else {
        rc = dberr(h, src == SQLITE_DONE ? SQLITE_CORRUPT : src, err, "pause_get");
    }
    done(st);
    return rc;
}

static int sq_pause_set(tx_store_t *s, int paused, const char *reason, tx_ms_t now, tx_error_t *err)
{
    sq_t *h = H(s);
    sqlite3_stmt *st = stmt(h, S_PAUSE_SET, err);
    if (!st) return err ? err->code : TX_ESTORE;
    sqlite3_bind_int(st, 1, paused ? 1 : 0);
    bind_text(st, 2, paused ? reason : NULL);
    bind_ms(st, 3, now, paused);
    int src = sqlite3_step(st);
    done(st);
    return src == SQLITE_DONE ? TX_EOK : dberr(h, src, err, "pause_set");
}

/* ---- tasks ------------------------------------------------------------------------------ */

static int read_task(sqlite3_stmt *st, tx_task_t *t)
{
    int oom = 0;
    memset(t, 0, sizeof *t);
    t->name = col_str(st, 0, &oom);
    t->version = sqlite3_column_int(st, 1);
    t->active = sqlite3_column_int(st, 2) != 0;
    t->system_prompt = col_str(st, 3, &oom);
    t->user_template = col_str(st, 4, &oom);
    t->response_format = col_str(st, 5, &oom);
    t->parser = col_str(st, 6, &oom);
    t->model = col_str(st, 7, &oom);
    t->created_at = sqlite3_column_int64(st, 8);
    if (oom) {
        tx__task_clear(t);
        return TX_ENOMEM;
    }
    return TX_EOK;
}

static int step_done(sq_t *h, sqlite3_stmt *st, tx_error_t *err, const char *what)
{
    int src = sqlite3_step(st);
    done(st);
    return src == SQLITE_DONE ? TX_EOK : dberr(h, src, err, what);
}

static int sq_task_put_version(tx_store_t *s, const char *name, const tx_task_spec_t *spec,
                               tx_ms_t now, int *version, tx_error_t *err)
{
    sq_t *h = H(s);
    int rc = tx_begin(h, err);
    if (rc != TX_EOK) return rc;
    sqlite3_stmt *st = stmt(h, S_TASK_MAX, err);
    if (!st) goto fail_code;
    bind_text(st, 1, name);
    int src = sqlite3_step(st);
    int v = src == SQLITE_ROW ? sqlite3_column_int(st, 0) + 1 : 0;
    done(st);
    if (src != SQLITE_ROW) {
        rc = dberr(h, src, err, "task_put_version");
        goto fail;
    }
    if (!(st = stmt(h, S_TASK_INS, err))) goto fail_code;
    bind_text(st, 1, name);
    sqlite3_bind_int(st, 2, v);
    bind_text(st, 3, spec->system_prompt);
    bind_text(st, 4, spec->user_template);
    bind_text(st, 5, spec->response_format);
    bind_text(st, 6, spec->parser);
    bind_text(st, 7, spec->model);
    sqlite3_bind_int64(st, 8, now);
    if ((rc = step_done(h, st, err, "task_put_version")) != TX_EOK) goto fail;
    if (v == 1) {
        if (!(st = stmt(h, S_TASK_ACT, err))) goto fail_code;
        bind_text(st, 1, name);
        sqlite3_bind_int(st, 2, v);
        if ((rc = step_done(h, st, err, "task_put_version")) != TX_EOK) goto fail;
    }
    if ((rc = tx_commit(h, err)) != TX_EOK) return rc;
    if (version) *version = v;
    return TX_EOK;
fail_code:
    rc = err ? err->code : TX_ESTORE;
fail:
    tx_rollback(h);
    return rc;
}

static int sq_task_activate(tx_store_t *s, const char *name, int version, tx_error_t *err)
{
    sq_t *h = H(s);
    sqlite3_stmt *st = stmt(h, S_TASK_ACT, err);
    if (!st) return err ? err->code : TX_ESTORE;
    bind_text(st, 1, name);
    sqlite3_bind_int(st, 2, version);
    int rc = step_done(h, st, err, "task_activate");
    if (rc == TX_EOK && sqlite3_changes(h->db) == 0)
        rc =
            tx__store_fail(err, TX_ENOTFOUND, "store: task %.64s has no version %d", name, version);
    return rc;
}

static int sq_task_get(tx_store_t *s, const char *name, int version, tx_task_t *out,
                       tx_error_t *err)
{
    sq_t *h = H(s);
    memset(out, 0, sizeof *out);
    sqlite3_stmt *st = stmt(h, S_TASK_GET, err);
    if (!st) return err ? err->code : TX_ESTORE;
    bind_text(st, 1, name);
    sqlite3_bind_int(st, 2, version);
    int src = sqlite3_step(st);
    int rc;
    if (src == SQLITE_ROW) {
        rc = read_task(st, out);
        if (rc != TX_EOK) tx__store_fail(err, rc, "store: out of memory");
    } else if (src == SQLITE_DONE) {
        rc = tx__store_fail(err, TX_ENOTFOUND, "store: task %.64s version %d not found", name,
                            version);
    } else {
        rc = dberr(h, src, err, "task_get");
    }
    done(st);
    return rc;
}

static int sq_task_list(tx_store_t *s, tx_task_t **out, size_t *n, tx_error_t *err)
{
    sq_t *h = H(s);
    *out = NULL;
    *n = 0;
    sqlite3_stmt *st = stmt(h, S_TASK_LIST, err);
    if (!st) return err ? err->code : TX_ESTORE;
    size_t cap = 0;
    int src, rc = TX_EOK;
    while ((src = sqlite3_step(st)) == SQLITE_ROW) {
        if (*n == cap) {
            size_t ncap = cap ? cap * 2 : 8;
            tx_task_t *nt = realloc(*out, ncap * sizeof *nt);
            if (!nt) {
                rc = TX_ENOMEM;
                break;
            }
            *out = nt;
            cap = ncap;
        }
        if ((rc = read_task(st, &(*out)[*n])) != TX_EOK) break;
        (*n)++;
    }
    done(st);
    if (rc != TX_EOK)
        tx__store_fail(err, rc, "store: out of memory");
    else if (src != SQLITE_DONE)
        rc = dberr(h, src, err, "task_list");
    if (rc != TX_EOK) {
        tx__task_list_free(*out, *n);
        *out = NULL;
        *n = 0;
    }
    return rc;
}

const struct tx_store_ops tx__store_sqlite_ops = {
    .version = TX_STORE_OPS_VERSION,
    .scheme = "sqlite:",
    .open = sq_open,
    .close = sq_close,
    .import = sq_import,
    .claim = sq_claim,
    .begin_attempt = sq_begin_attempt,
    .record_attempt = sq_record_attempt,
    .finish = sq_finish,
    .reclaim_expired = sq_reclaim_expired,
    .get = sq_get,
    .list = sq_list,
    .stats = sq_stats,
    .retry = sq_retry,
    .regenerate = sq_regenerate,
    .export_items = sq_export,
    .next_due = sq_next_due,
    .pause_get = sq_pause_get,
    .pause_set = sq_pause_set,
    .task_put_version = sq_task_put_version,
    .task_activate = sq_task_activate,
    .task_get = sq_task_get,
    .task_list = sq_task_list,
};
