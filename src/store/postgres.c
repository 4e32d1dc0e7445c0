/* The PostgreSQL store backend (`postgres://…`, `postgresql://…`): several tenax nodes on one
 * database. Blocking libpq in the caller's thread, statements prepared once per connection,
 * binary parameters, claims with FOR UPDATE SKIP LOCKED, reconnect with backoff after a lost
 * connection, and LISTEN/NOTIFY wake-ups (see docs/postgres.md). */
#include "core/utf8.h"
#include "core/clock.h"
#include "store/store.h"
#include "store/pg_schema.h"
#include "store/pg_url.h"
#include "store/pg_wire.h"

#include <ctype.h>
#include <errno.h>
#include <libpq-fe.h>
#include <openssl/rand.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "obs/log.h"

#define ITEM_COLS                                                                                  \
    "id, owner, external_id, task, text, result, status, attempts, last_attempt_at, "              \
    "retry_after, error, error_class, model, prompt_version, task_version, lease, lease_until, "   \
    "created_at, updated_at"

#define TASK_COLS                                                                                  \
    "t.name, t.version, COALESCE(a.version = t.version, false), t.system_prompt, "                 \
    "t.user_template, t.response_format, t.parser, t.model, t.created_at"

#define RETRY_SQL(set, owner_cond, statuses)                                                       \
    "UPDATE items SET " set " WHERE id IN (SELECT id FROM items WHERE " owner_cond                 \
    " AND status IN " statuses " ORDER BY id LIMIT $2 FOR UPDATE)"
#define RETRY_DUE "('retrying', 'pending')"
#define RETRY_FORCED "('retrying', 'pending', 'failed')"
#define RETRY_SET                                                                                  \
    "due_at = $3, updated_at = $3, "                                                               \
    "retry_after = CASE WHEN status = 'retrying' THEN $3 ELSE retry_after END"
#define RETRY_FORCE_SET                                                                            \
    "due_at = $3, updated_at = $3, "                                                               \
    "retry_after = CASE WHEN status = 'retrying' THEN $3 ELSE NULL END, "                          \
    "attempts = CASE WHEN status = 'failed' THEN 0 ELSE attempts END, "                            \
    "status = CASE WHEN status = 'failed' THEN 'pending' ELSE status END"

#define FINISH_UPDATE                                                                              \
    "UPDATE items SET status = $3, "                                                               \
    "result = CASE WHEN $3 = 'success' THEN $4 ELSE result END, "                                  \
    "model = CASE WHEN $3 = 'success' THEN $5 ELSE model END, "                                    \
    "prompt_version = CASE WHEN $3 = 'success' THEN $6 ELSE prompt_version END, "                  \
    "retry_after = $7, due_at = $8, "                                                              \
    "error = CASE WHEN $3 IN ('retrying', 'failed') THEN $9 "                                      \
    "  WHEN $3 = 'success' THEN NULL ELSE error END, "                                             \
    "error_class = CASE WHEN $3 IN ('retrying', 'failed') THEN $10 "                               \
    "  WHEN $3 = 'success' THEN NULL ELSE error_class END, "                                       \
    "attempts = CASE WHEN $3 = 'pending' THEN attempts_at_claim ELSE attempts END, "               \
    "lease = NULL, lease_until = NULL, worker = NULL, updated_at = $11 "                           \
    "WHERE id = $1 AND lease = $2 AND status = 'processing'"

#define IMPORT_CHUNK 5000 /* rows per INSERT statement */
#define EXPORT_PAGE 500   /* rows per export round trip */
#define CLAIM_MAX 10000
#define TX_PG_GROUP_MAX 256 /* requests per group statement (more: one by one) */
#define BACKOFF_MIN_MS 100  /* first retry after a failed reconnect */
#define BACKOFF_MAX_MS 5000

enum {
    S_IMPORT,
    S_IMPORT_SEL,
    S_CLAIM,
    S_BEGIN_ATT,
    S_LEASE_STATE,
    S_RECORD,
    S_FINISH,
    S_FINISH_REC,
    S_BEGIN_MANY,
    S_FINISH_MANY,
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
    S_TASK_LOCK,
    S_TASK_PUT,
    S_TASK_ACT,
    S_TASK_GET,
    S_TASK_LIST,
    S_PING,
    S__LAST
};

/* Each statement with its parameter types (see tx__pg_types: i int8, b bytea, t text,
 * B bytea[], T text[]). */
static const struct {
    const char *types;
    const char *sql;
} stmts[S__LAST] = {
    /* $1..$4 owners, ids, tasks, texts; $5 statuses; $6 now. Rows already there are not
     * inserted (no sequence value burnt); ON CONFLICT covers a concurrent importer. The result
     * has one row per input: ord, id (NULL if a concurrent insert is not visible yet), fresh. */
    [S_IMPORT] =
        {"BBBBTi",
         "WITH input AS (SELECT * FROM unnest($1::bytea[], $2::bytea[], $3::bytea[], "
         "  $4::bytea[], $5::text[]) WITH ORDINALITY AS u(o, e, t, x, st, ord)), "
         "ins AS (INSERT INTO items (owner, external_id, task, text, status, due_at, created_at, "
         "  updated_at) SELECT o, e, t, x, st, CASE WHEN st = 'pending' THEN $6 END, $6, $6 "
         "  FROM input WHERE NOT EXISTS (SELECT 1 FROM items i WHERE i.owner = input.o AND "
         "  i.external_id = input.e AND i.task = input.t) ORDER BY ord "
         "  ON CONFLICT (owner, external_id, task) DO NOTHING "
         "  RETURNING id, owner, external_id, task) "
         "SELECT input.ord, COALESCE(ins.id, old.id), (ins.id IS NOT NULL AND row_number() OVER "
         "  (PARTITION BY input.o, input.e, input.t ORDER BY input.ord) = 1) "
         "FROM input LEFT JOIN ins ON ins.owner = input.o AND ins.external_id = input.e AND "
         "  ins.task = input.t "
         "LEFT JOIN items old ON old.owner = input.o AND old.external_id = input.e AND "
         "  old.task = input.t ORDER BY input.ord"},
    [S_IMPORT_SEL] = {"bbb",
                      "SELECT id FROM items WHERE owner = $1 AND external_id = $2 AND task = $3"},
    /* $1 now, $2 limit, $3 salt (each row's token is salt XOR id: distinct, never 0),
     * $4 lease_ms, $5 worker. One statement; SKIP LOCKED lets claimers pass each other. The
     * update finds its rows by primary key (id = ANY (ARRAY(…))): joined with the CTE, the
     * planner may hash-join over a sequential scan of the whole table on every claim. */
    [S_CLAIM] =
        {"iiiib",
         "WITH picked AS (SELECT id, due_at FROM items WHERE due_at <= $1 "
         "  ORDER BY due_at, id LIMIT $2 FOR UPDATE SKIP LOCKED), "
         "upd AS (UPDATE items i SET status = 'processing', lease = $3 # i.id, "
         "  lease_until = $1 + $4, due_at = $1 + $4, worker = $5, attempts_at_claim = i.attempts, "
         "  updated_at = $1, task_version = (SELECT a.version FROM task_active a "
         "  WHERE a.name = i.task) WHERE i.id = ANY (ARRAY(SELECT id FROM picked)) "
         "  RETURNING i.*) "
         "SELECT " ITEM_COLS " FROM upd JOIN picked USING (id) "
         "ORDER BY picked.due_at, id"},
    [S_BEGIN_ATT] =
        {"iiiib",
         "UPDATE items SET attempts = attempts + 1, last_attempt_at = $4, attempt_model = $5, "
         "updated_at = $4 WHERE id = $1 AND lease = $2 AND status = 'processing' "
         "AND lease_until > $4 AND attempts < $3 RETURNING attempts"},
    [S_LEASE_STATE] = {"i", "SELECT lease, status, lease_until, attempts FROM items WHERE id = $1"},
    [S_RECORD] =
        {"iibbtiiiitb",
         "INSERT INTO attempts (item_id, n, model, endpoint, class, http_status, latency_ms, at, "
         "refunded, provider) SELECT $1, $2, $3, $4, $5, $6, $7, $8, $10::boolean, $11 WHERE "
         "EXISTS (SELECT 1 FROM items WHERE id = $1 "
         "AND lease = $9 AND status = 'processing' FOR SHARE)"},
    [S_FINISH] = {"iitbbiiibti", FINISH_UPDATE},
    /* The finish and its history row in ONE statement (one round trip, one implicit
     * transaction, no BEGIN/COMMIT): the row is inserted only when the lease-guarded update
     * matched, and the update's row lock makes the old FOR SHARE check unnecessary.
     * $12..$20: n, model, endpoint, class, http_status, latency_ms, at, refunded, provider. */
    [S_FINISH_REC] = {"iitbbiiibtiibbtiiitb",
                      "WITH upd AS (" FINISH_UPDATE " RETURNING id) "
                      "INSERT INTO attempts (item_id, n, model, endpoint, class, http_status, "
                      "latency_ms, at, refunded, provider) SELECT id, $12, $13, $14, $15, $16, "
                      "$17, $18, $19::boolean, $20 FROM upd"},
    /* Group commit of begin_attempt: $1 ids, $2 leases, $3 max attempts, $4 models, $5 now.
     * Each row guarded as S_BEGIN_ATT; the rows that matched come back with their count. */
    [S_BEGIN_MANY] =
        {"IIIBi",
         "UPDATE items i SET attempts = i.attempts + 1, last_attempt_at = $5, "
         "attempt_model = u.m, updated_at = $5 "
         "FROM unnest($1::int8[], $2::int8[], $3::int8[], $4::bytea[]) AS u(id, lease, maxa, m) "
         "WHERE i.id = u.id AND i.lease = u.lease AND i.status = 'processing' "
         "AND i.lease_until > $5 AND i.attempts < u.maxa RETURNING i.id, i.attempts"},
    /* Group commit of finish (+ history row where an = attempt n is not NULL), each row as
     * S_FINISH / S_FINISH_REC; $19 now, $20 the rows' providers. The ids that matched come
     * back. */
    [S_FINISH_MANY] =
        {"IITBBIIIBTIBBTIIIIiB",
         "WITH u AS (SELECT * FROM unnest($1::int8[], $2::int8[], $3::text[], $4::bytea[], "
         "  $5::bytea[], $6::int8[], $7::int8[], $8::int8[], $9::bytea[], $10::text[], "
         "  $11::int8[], $12::bytea[], $13::bytea[], $14::text[], $15::int8[], $16::int8[], "
         "  $17::int8[], $18::int8[], $20::bytea[]) AS u(id, lease, st, res, mdl, pv, ra, due, er, "
         "  ec, an, am, ae, ac, ah, al, aat, aref, ap)), "
         "upd AS (UPDATE items i SET status = u.st, "
         "  result = CASE WHEN u.st = 'success' THEN u.res ELSE i.result END, "
         "  model = CASE WHEN u.st = 'success' THEN u.mdl ELSE i.model END, "
         "  prompt_version = CASE WHEN u.st = 'success' THEN u.pv ELSE i.prompt_version END, "
         "  retry_after = u.ra, due_at = u.due, "
         "  error = CASE WHEN u.st IN ('retrying', 'failed') THEN u.er "
         "    WHEN u.st = 'success' THEN NULL ELSE i.error END, "
         "  error_class = CASE WHEN u.st IN ('retrying', 'failed') THEN u.ec "
         "    WHEN u.st = 'success' THEN NULL ELSE i.error_class END, "
         "  attempts = CASE WHEN u.st = 'pending' THEN i.attempts_at_claim ELSE i.attempts END, "
         "  lease = NULL, lease_until = NULL, worker = NULL, updated_at = $19 "
         "  FROM u WHERE i.id = u.id AND i.lease = u.lease AND i.status = 'processing' "
         "  RETURNING i.id), "
         "ins AS (INSERT INTO attempts (item_id, n, model, endpoint, class, http_status, "
         "  latency_ms, at, refunded, provider) SELECT u.id, u.an, u.am, u.ae, u.ac, u.ah, u.al, "
         "  u.aat, u.aref <> 0, u.ap FROM u JOIN upd ON upd.id = u.id WHERE u.an IS NOT NULL) "
         "SELECT id FROM upd"},
    [S_RECLAIM] = {"i", "UPDATE items SET status = 'pending', lease = NULL, lease_until = NULL, "
                        "worker = NULL, due_at = $1, updated_at = $1 "
                        "WHERE due_at <= $1 AND status = 'processing'"},
    [S_GET] = {"i", "SELECT " ITEM_COLS " FROM items WHERE id = $1"},
    [S_HISTORY] = {"i", "SELECT n, model, endpoint, class, http_status, latency_ms, at, "
                        "refunded::int, provider FROM attempts WHERE item_id = $1 ORDER BY seq"},
    [S_LIST] = {"btii", "SELECT " ITEM_COLS " FROM items WHERE owner = $1 AND id > $3 "
                        "AND ($2::text IS NULL OR status = $2) ORDER BY id LIMIT $4"},
    [S_STATS_OWNER] = {"b", "SELECT status, count(*) FROM items WHERE owner = $1 GROUP BY status"},
    [S_STATS_ALL] = {"", "SELECT status, count(*) FROM items GROUP BY status"},
    [S_RETRY] = {"bii", RETRY_SQL(RETRY_SET, "owner = $1", RETRY_DUE)},
    [S_RETRY_ALL] = {"bii", RETRY_SQL(RETRY_SET, "$1::bytea IS NULL", RETRY_DUE)},
    [S_RETRY_FORCE] = {"bii", RETRY_SQL(RETRY_FORCE_SET, "owner = $1", RETRY_FORCED)},
    [S_RETRY_FORCE_ALL] = {"bii", RETRY_SQL(RETRY_FORCE_SET, "$1::bytea IS NULL", RETRY_FORCED)},
    [S_REGEN] = {"ii", "UPDATE items SET status = 'pending', attempts = 0, attempts_at_claim = 0, "
                       "retry_after = NULL, error = NULL, error_class = NULL, lease = NULL, "
                       "lease_until = NULL, worker = NULL, due_at = $2, updated_at = $2 "
                       "WHERE id = $1 AND status <> 'skipped'"},
    [S_EXISTS] = {"i", "SELECT status FROM items WHERE id = $1"},
    [S_EXPORT] = {"btii", "SELECT " ITEM_COLS " FROM items WHERE ($1::bytea IS NULL OR owner = $1) "
                          "AND ($2::text IS NULL OR status = $2) AND id > $3 ORDER BY id LIMIT $4"},
    [S_NEXT_DUE] = {"", "SELECT min(due_at) FROM items WHERE due_at IS NOT NULL"},
    [S_PAUSE_GET] = {"", "SELECT paused, reason, since FROM pause WHERE id = 1"},
    [S_PAUSE_SET] = {"ibi",
                     "UPDATE pause SET paused = $1 <> 0, reason = $2, since = $3 WHERE id = 1"},
    [S_TASK_LOCK] = {"",
                     "SELECT pg_advisory_xact_lock(hashtext('tenax-task:' || current_schema()))"},
    [S_TASK_PUT] =
        {"bbbbbbi",
         "WITH v AS (SELECT COALESCE(max(version), 0) + 1 AS version FROM tasks WHERE name = $1), "
         "ins AS (INSERT INTO tasks (name, version, system_prompt, user_template, "
         "  response_format, parser, model, created_at) "
         "  SELECT $1, v.version, $2, $3, $4, $5, $6, $7 FROM v RETURNING version), "
         "act AS (INSERT INTO task_active (name, version) SELECT $1, version FROM ins "
         "  WHERE version = 1 ON CONFLICT (name) DO NOTHING) "
         "SELECT version FROM ins"},
    [S_TASK_ACT] = {"bi", "INSERT INTO task_active (name, version) SELECT $1, $2 WHERE EXISTS "
                          "(SELECT 1 FROM tasks WHERE name = $1 AND version = $2) "
                          "ON CONFLICT (name) DO UPDATE SET version = excluded.version"},
    [S_TASK_GET] = {"bi",
                    "SELECT " TASK_COLS " FROM tasks t LEFT JOIN task_active a ON a.name = t.name "
                    "WHERE t.name = $1 AND t.version = CASE WHEN $2 > 0 THEN $2 ELSE "
                    "(SELECT version FROM task_active WHERE name = $1) END"},
    [S_TASK_LIST] = {"", "SELECT " TASK_COLS " FROM tasks t LEFT JOIN task_active a "
                         "ON a.name = t.name ORDER BY t.name, t.version"},
    [S_PING] = {"", "SELECT 1"},
};

typedef struct {
    tx_store_t base;
    PGconn *conn;
    tx_pg_url_t *url;
    char channel[64];       /* LISTEN channel: tenax_<schema> */
    char prepared[S__LAST]; /* 1 = prepared on the current connection */
    int in_tx;              /* inside BEGIN … COMMIT: never reconnect silently */
    int listening;          /* LISTEN again after a reconnect */
    int notified;           /* notifications received and not yet reported */
    int fails;              /* consecutive failed reconnects */
    uint64_t retry_at;      /* monotonic ms before which no reconnect is tried */
    uint64_t lease_counter; /* fallback when the random source fails */
} pg_t;

static pg_t *H(tx_store_t *s)
{
    return (pg_t *)s;
}

/* libpq's message without its trailing newline (static buffer per handle is not needed: the
 * caller copies it into err right away). */
static void first_line(char *out, size_t len, const char *msg)
{
    snprintf(out, len, "%s", msg && *msg ? msg : "unknown error");
    out[strcspn(out, "\n")] = '\0';
}

/* Forgets the connection; the next call reconnects (at once: the server was there a moment
 * ago). Prepared statements die with the connection. */
static void drop_conn(pg_t *h)
{
    if (h->conn) PQfinish(h->conn);
    h->conn = NULL;
    memset(h->prepared, 0, sizeof h->prepared);
    h->retry_at = 0;
    h->fails = 0;
}

static int lost(pg_t *h, tx_error_t *err, const char *what, const char *why)
{
    char line[160];
    first_line(line, sizeof line, why);
    drop_conn(h);
    h->in_tx = 0;
    tx__log(TX_LOG_WARN, "store", "postgres: connection lost during %s: %s", what, line);
    return tx__store_fail(err, TX_EIO,
                          "store: %s: connection lost (%s); the next call "
                          "reconnects",
                          what, line);
}

/* Maps a failed result (or a NULL one) to a tx_err_t. Consumes nothing; the caller clears. */
static int dberr(pg_t *h, const PGresult *r, tx_error_t *err, const char *what)
{
    if (!h->conn || PQstatus(h->conn) == CONNECTION_BAD)
        return lost(h, err, what, h->conn ? PQerrorMessage(h->conn) : "no connection");
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    const char *msg = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    if (!msg) msg = r ? PQresultErrorMessage(r) : PQerrorMessage(h->conn);
    char line[160];
    first_line(line, sizeof line, msg);
    if (!state) return tx__store_fail(err, r ? TX_ESTORE : TX_ENOMEM, "store: %s: %s", what, line);
    if (strncmp(state, "08", 2) == 0 || strcmp(state, "57P01") == 0 ||
        strcmp(state, "57P02") == 0 || strcmp(state, "57P03") == 0)
        return lost(h, err, what, line);
    if (strcmp(state, "55P03") == 0 || strcmp(state, "57014") == 0 || strcmp(state, "40001") == 0 ||
        strcmp(state, "40P01") == 0)
        return tx__store_fail(err, TX_EBUSY, "store: %s: database busy (%s), try again", what,
                              line);
    if (strncmp(state, "53", 2) == 0)
        return tx__store_fail(err, TX_EIO, "store: %s: server out of resources (%s)", what, line);
    return tx__store_fail(err, TX_ESTORE, "store: %s: %s", what, line);
}

static void collect_notifies(pg_t *h)
{
    PGnotify *n;
    while (h->conn && (n = PQnotifies(h->conn)) != NULL) {
        h->notified++;
        PQfreemem(n);
    }
}

/* Runs SQL without parameters (BEGIN, COMMIT, LISTEN, session setup). */
static int simple(pg_t *h, const char *sql, tx_error_t *err, const char *what)
{
    PGresult *r = PQexec(h->conn, sql);
    ExecStatusType st = PQresultStatus(r);
    int rc = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK ? TX_EOK : dberr(h, r, err, what);
    PQclear(r);
    collect_notifies(h);
    return rc;
}

static int start_listening(pg_t *h, tx_error_t *err)
{
    char *ident = PQescapeIdentifier(h->conn, h->channel, strlen(h->channel));
    if (!ident) return dberr(h, NULL, err, "listen");
    char sql[160];
    snprintf(sql, sizeof sql, "LISTEN %s", ident);
    PQfreemem(ident);
    return simple(h, sql, err, "listen");
}

/* Server notices ("schema … already exists, skipping") are for humans debugging, not stderr. */
static void on_notice(void *arg, const char *msg)
{
    (void)arg;
    char line[200];
    first_line(line, sizeof line, msg);
    tx__log(TX_LOG_DEBUG, "store", "postgres: %s", line);
}

/* Replaces the URL's password (user:PASSWORD@) in libpq's message by "***": libpq may echo
 * part of a malformed URL, and messages end up in logs. */
static void scrub_password(char *msg, size_t cap, const char *url)
{
    const char *auth = strstr(url, "://");
    if (!auth) return;
    auth += 3;
    size_t hostpart = strcspn(auth, "/?");
    const char *at = NULL;
    for (const char *c = auth; c < auth + hostpart; c++)
        if (*c == '@') at = c;
    const char *colon = at ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
    if (!colon || at - colon < 2) return;
    size_t plen = (size_t)(at - colon - 1);
    char out[256];
    size_t o = 0;
    for (const char *m = msg; *m && o + 4 < sizeof out;) {
        if (strncmp(m, colon + 1, plen) == 0) {
            memcpy(out + o, "***", 3);
            o += 3;
            m += plen;
        } else {
            out[o++] = *m++;
        }
    }
    if (o >= cap) o = cap - 1;
    memcpy(msg, out, o);
    msg[o] = '\0';
}

/* Opens the connection and sets the session up (search_path, channel, LISTEN). */
static int connect_db(pg_t *h, tx_error_t *err)
{
    /* Our defaults first: the URI's own settings (expanded from dbname) override them. A row
     * lock held longer than lock_timeout gives TX_EBUSY, like SQLite's busy timeout. */
    const char *keys[] = {"connect_timeout", "application_name", "options", "dbname", NULL};
    const char *vals[] = {"5", "tenax", "-c lock_timeout=5000", h->url->conninfo, NULL};
    h->conn = PQconnectdbParams(keys, vals, 1);
    if (!h->conn) return tx__store_fail(err, TX_ENOMEM, "store: out of memory");
    if (PQstatus(h->conn) != CONNECTION_OK) {
        char line[200];
        first_line(line, sizeof line, PQerrorMessage(h->conn));
        scrub_password(line, sizeof line, h->url->conninfo);
        PQfinish(h->conn);
        h->conn = NULL;
        return tx__store_fail(err, TX_EIO, "store: cannot connect to PostgreSQL: %s", line);
    }
    PQsetNoticeProcessor(h->conn, on_notice, NULL);
    memset(h->prepared, 0, sizeof h->prepared);
    if (h->url->schema[0]) {
        const char *v[1] = {h->url->schema};
        PGresult *r = PQexecParams(h->conn, "SELECT set_config('search_path', $1, false)", 1, NULL,
                                   v, NULL, NULL, 0);
        int rc = PQresultStatus(r) == PGRES_TUPLES_OK ? TX_EOK : dberr(h, r, err, "connect");
        PQclear(r);
        if (rc != TX_EOK) return rc;
    }
    PGresult *r = PQexec(h->conn, "SELECT 'tenax_' || left(COALESCE(current_schema(), "
                                  "current_setting('search_path')), 50)");
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
        int rc = dberr(h, r, err, "connect");
        PQclear(r);
        return rc;
    }
    snprintf(h->channel, sizeof h->channel, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    if (h->listening) return start_listening(h, err);
    return TX_EOK;
}

/* A usable connection, or TX_EIO: checks a quiet socket for a dead peer (a server that went
 * away has sent its goodbye or closed the socket), reconnects with backoff when needed. */
static int ensure(pg_t *h, tx_error_t *err)
{
    if (h->conn && PQstatus(h->conn) == CONNECTION_OK) {
        /* A server going away sends a FATAL message, then closes: read up to the close. */
        int alive = 1;
        for (int i = 0; i < 3 && alive && !h->in_tx; i++) {
            struct pollfd pfd = {.fd = PQsocket(h->conn), .events = POLLIN};
            if (pfd.fd < 0 || poll(&pfd, 1, 0) <= 0) break;
            alive = PQconsumeInput(h->conn) && PQstatus(h->conn) == CONNECTION_OK;
        }
        if (alive) {
            collect_notifies(h);
            return TX_EOK;
        }
        tx__log(TX_LOG_WARN, "store", "postgres: connection closed by the server; reconnecting");
        drop_conn(h);
        h->notified++; /* notifications may have been missed: let the caller look */
    }
    if (h->in_tx) {
        h->in_tx = 0;
        return tx__store_fail(err, TX_EIO, "store: connection lost inside a transaction");
    }
    if (h->conn) drop_conn(h);
    uint64_t now = (uint64_t)tx__clock_mono_ms();
    if (now < h->retry_at)
        return tx__store_fail(err, TX_EIO,
                              "store: PostgreSQL unreachable; next reconnect "
                              "attempt in %llu ms",
                              (unsigned long long)(h->retry_at - now));
    int rc = connect_db(h, err);
    if (rc != TX_EOK) {
        if (h->conn) {
            PQfinish(h->conn);
            h->conn = NULL;
        }
        int shift = h->fails < 6 ? h->fails : 6;
        uint64_t wait = (uint64_t)BACKOFF_MIN_MS << shift;
        h->retry_at =
            (uint64_t)tx__clock_mono_ms() + (wait < BACKOFF_MAX_MS ? wait : BACKOFF_MAX_MS);
        h->fails++;
        return rc;
    }
    if (h->fails || h->listening) tx__log(TX_LOG_INFO, "store", "postgres: reconnected");
    h->fails = 0;
    h->retry_at = 0;
    return TX_EOK;
}

/* Runs prepared statement `id` with `p` (may be NULL). Returns the result (caller PQclears)
 * with *rc = TX_EOK, or NULL with *rc and err set. */
static PGresult *run(pg_t *h, int id, tx_pg_params_t *p, int *rc, tx_error_t *err, const char *what)
{
    if (p && p->oom) {
        *rc = tx__store_fail(err, TX_ENOMEM, "store: out of memory");
        return NULL;
    }
    if ((*rc = ensure(h, err)) != TX_EOK) return NULL;
    char name[16];
    snprintf(name, sizeof name, "tx%d", id);
    if (!h->prepared[id]) {
        Oid oids[TX_PG_MAX_PARAMS];
        int n = tx__pg_types(stmts[id].types, oids);
        PGresult *r = PQprepare(h->conn, name, stmts[id].sql, n, oids);
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
            *rc = dberr(h, r, err, what);
            PQclear(r);
            return NULL;
        }
        PQclear(r);
        h->prepared[id] = 1;
    }
    PGresult *r = PQexecPrepared(h->conn, name, p ? p->n : 0, p ? p->val : NULL, p ? p->len : NULL,
                                 p ? p->fmt : NULL, 1);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
        *rc = dberr(h, r, err, what);
        PQclear(r);
        return NULL;
    }
    collect_notifies(h);
    *rc = TX_EOK;
    return r;
}

/* Runs a statement whose rows do not matter; *changed = rows affected (may be NULL). */
static int run_cmd(pg_t *h, int id, tx_pg_params_t *p, int64_t *changed, tx_error_t *err,
                   const char *what)
{
    int rc;
    PGresult *r = run(h, id, p, &rc, err, what);
    if (!r) return rc;
    if (changed) *changed = strtoll(PQcmdTuples(r), NULL, 10);
    PQclear(r);
    return TX_EOK;
}

static int begin(pg_t *h, const char *sql, tx_error_t *err)
{
    int rc = ensure(h, err);
    if (rc == TX_EOK) rc = simple(h, sql, err, "begin");
    if (rc == TX_EOK) h->in_tx = 1;
    return rc;
}

static int commit(pg_t *h, tx_error_t *err)
{
    int rc = simple(h, "COMMIT", err, "commit");
    h->in_tx = 0;
    return rc;
}

static void rollback(pg_t *h)
{
    if (h->in_tx && h->conn && PQstatus(h->conn) == CONNECTION_OK)
        PQclear(PQexec(h->conn, "ROLLBACK"));
    h->in_tx = 0;
}

static const char *class_name_or_null(int cls)
{
    return cls >= 0 && cls < TX_CLASS__LAST ? tx_class_name((tx_class_t)cls) : NULL;
}

static int class_col(const PGresult *r, int row, int col)
{
    if (tx__pg_is_null(r, row, col)) return -1;
    char name[64];
    int len = PQgetlength(r, row, col);
    snprintf(name, sizeof name, "%.*s", len < 63 ? len : 63, PQgetvalue(r, row, col));
    return tx_class_from_name(name);
}

static int status_col(const PGresult *r, int row, int col)
{
    char name[32];
    int len = PQgetlength(r, row, col);
    snprintf(name, sizeof name, "%.*s", len < 31 ? len : 31, PQgetvalue(r, row, col));
    return tx__item_status_from_name(name);
}

/* Fills `it` from row `row` of ITEM_COLS. TX_ENOMEM (it cleared) when a copy fails. */
static int read_item(const PGresult *r, int row, tx_item_t *it)
{
    int oom = 0;
    memset(it, 0, sizeof *it);
    it->id = tx__pg_get_int(r, row, 0);
    it->owner = tx__pg_get_str(r, row, 1, &oom);
    it->external_id = tx__pg_get_str(r, row, 2, &oom);
    it->task = tx__pg_get_str(r, row, 3, &oom);
    it->text = tx__pg_get_str(r, row, 4, &oom);
    it->result = tx__pg_get_str(r, row, 5, &oom);
    int status = status_col(r, row, 6);
    it->status = status < 0 ? TX_ITEM_PENDING : (tx_item_status_t)status;
    it->attempts = (int)tx__pg_get_int(r, row, 7);
    it->last_attempt_at = tx__pg_get_int(r, row, 8);
    it->retry_after = tx__pg_get_int(r, row, 9);
    it->error = tx__pg_get_str(r, row, 10, &oom);
    it->error_class = class_col(r, row, 11);
    it->model = tx__pg_get_str(r, row, 12, &oom);
    it->prompt_version = (int)tx__pg_get_int(r, row, 13);
    it->task_version = (int)tx__pg_get_int(r, row, 14);
    it->lease = tx__pg_get_int(r, row, 15);
    it->lease_until = tx__pg_get_int(r, row, 16);
    it->created_at = tx__pg_get_int(r, row, 17);
    it->updated_at = tx__pg_get_int(r, row, 18);
    if (oom) {
        tx__item_clear(it);
        return TX_ENOMEM;
    }
    return TX_EOK;
}

/* Appends every row of `r` to `out` (grown as needed). */
static int append_items(const PGresult *r, tx_item_list_t *out, tx_error_t *err)
{
    int rows = PQntuples(r);
    if (rows == 0) return TX_EOK;
    tx_item_t *n = realloc(out->items, (out->n + (size_t)rows) * sizeof *n);
    if (!n) return tx__store_fail(err, TX_ENOMEM, "store: out of memory");
    out->items = n;
    for (int i = 0; i < rows; i++) {
        if (read_item(r, i, &out->items[out->n]) != TX_EOK)
            return tx__store_fail(err, TX_ENOMEM, "store: out of memory");
        out->n++;
    }
    return TX_EOK;
}

/* ---- open / close ---------------------------------------------------------------------- */

static void pg_close(tx_store_t *s)
{
    pg_t *h = H(s);
    if (!h) return;
    if (h->conn) PQfinish(h->conn);
    free(h->url);
    free(h);
}

static int pg_open(const char *url, tx_store_t **out, tx_error_t *err)
{
    pg_t *h = calloc(1, sizeof *h);
    if (!h || !(h->url = malloc(sizeof *h->url))) {
        free(h);
        return tx__store_fail(err, TX_ENOMEM, "store: out of memory");
    }
    h->base.ops = &tx__store_postgres_ops;
    int rc = tx__pg_url_parse(url, h->url, err);
    if (rc != TX_EOK) goto fail;
    if ((rc = connect_db(h, err)) != TX_EOK) goto fail;
    char why[200] = "";
    int from = 0, newer = 0;
    if (tx__pg_migrate(h->conn, h->url->schema, &from, &newer, why, sizeof why) != 0) {
        if (PQstatus(h->conn) == CONNECTION_BAD)
            rc = tx__store_fail(err, TX_EIO, "store: connection lost while migrating: %s", why);
        else
            rc = tx__store_fail(err, TX_ESTORE,
                                "store: migrating PostgreSQL schema from "
                                "version %d: %s",
                                from, why);
        goto fail;
    }
    *out = &h->base;
    return TX_EOK;
fail:
    pg_close(&h->base);
    return rc;
}

/* ---- items ------------------------------------------------------------------------------ */

/* Imports items[0..n) (n ≤ IMPORT_CHUNK) in one statement; fills res->ids[base..]. */
static int import_chunk(pg_t *h, const tx_item_input_t *items, size_t n, size_t base, tx_ms_t now,
                        tx_import_result_t *res, tx_error_t *err)
{
    const char **cols = calloc(5 * n, sizeof *cols);
    if (!cols) return tx__store_fail(err, TX_ENOMEM, "store: out of memory");
    const char **own = cols, **ext = cols + n, **task = cols + 2 * n, **text = cols + 3 * n,
               **st = cols + 4 * n;
    for (size_t i = 0; i < n; i++) {
        const tx_item_input_t *in = &items[i];
        own[i] = in->owner ? in->owner : "default";
        ext[i] = in->external_id;
        task[i] = in->task && *in->task ? in->task : "tags";
        text[i] = in->text ? in->text : "";
        st[i] = tx__utf8_blank(in->text) ? "skipped" : "pending";
    }
    tx_pg_params_t p = {0};
    tx__pg_str_array(&p, TX_PG_BYTEA, own, n);
    tx__pg_str_array(&p, TX_PG_BYTEA, ext, n);
    tx__pg_str_array(&p, TX_PG_BYTEA, task, n);
    tx__pg_str_array(&p, TX_PG_BYTEA, text, n);
    tx__pg_str_array(&p, TX_PG_TEXT, st, n);
    tx__pg_int(&p, now);
    int rc;
    PGresult *r = run(h, S_IMPORT, &p, &rc, err, "import");
    tx__pg_params_free(&p);
    if (r && PQntuples(r) != (int)n) {
        PQclear(r);
        r = NULL;
        rc = tx__store_fail(err, TX_ESTORE, "store: import: unexpected answer");
    }
    for (int row = 0; r && row < (int)n; row++) {
        int64_t ord = tx__pg_get_int(r, row, 0);
        if (ord < 1 || ord > (int64_t)n) continue;
        size_t i = (size_t)ord - 1;
        int fresh = tx__pg_get_int(r, row, 2) != 0;
        res->ids[base + i] = tx__pg_get_int(r, row, 1);
        if (fresh) {
            res->inserted++;
            res->skipped += st[i][0] == 's';
        } else if (res->ids[base + i]) {
            res->existing++;
        }
    }
    PQclear(r);
    /* A row another node inserted while this statement ran is not in its snapshot: look. */
    for (size_t i = 0; rc == TX_EOK && i < n; i++) {
        if (res->ids[base + i]) continue;
        tx_pg_params_t q = {0};
        tx__pg_str(&q, own[i]);
        tx__pg_str(&q, ext[i]);
        tx__pg_str(&q, task[i]);
        PGresult *one = run(h, S_IMPORT_SEL, &q, &rc, err, "import lookup");
        if (one && PQntuples(one) == 1) {
            res->ids[base + i] = tx__pg_get_int(one, 0, 0);
            res->existing++;
        } else if (one) {
            rc = tx__store_fail(err, TX_ESTORE, "store: import: item %zu vanished", base + i + 1);
        }
        PQclear(one);
    }
    free(cols);
    return rc;
}

static int pg_import(tx_store_t *s, const tx_item_input_t *items, size_t n, tx_ms_t now,
                     tx_import_result_t *res, tx_error_t *err)
{
    pg_t *h = H(s);
    /* res: zeroed, ids allocated, items checked (store.c) */
    if (n == 0) return TX_EOK;
    int rc = TX_EOK, several = n > IMPORT_CHUNK;
    if (several && (rc = begin(h, "BEGIN", err)) != TX_EOK) goto fail;
    for (size_t base = 0; base < n && rc == TX_EOK; base += IMPORT_CHUNK) {
        size_t k = n - base < IMPORT_CHUNK ? n - base : IMPORT_CHUNK;
        rc = import_chunk(h, items + base, k, base, now, res, err);
    }
    if (rc != TX_EOK) goto fail;
    if (several && (rc = commit(h, err)) != TX_EOK) goto fail;
    res->n = n;
    return TX_EOK;
fail:
    rollback(h);
    tx__import_result_free(res);
    return rc;
}

static int64_t new_salt(pg_t *h)
{
    uint64_t v = 0;
    if (RAND_bytes((unsigned char *)&v, sizeof v) != 1)
        v = ++h->lease_counter * 0x9E3779B97F4A7C15ull;
    /* Bit 62 set, bit 63 clear: salt XOR id is positive and non-zero for ids below 2^62. */
    return (int64_t)((v & 0x3fffffffffffffffull) | 0x4000000000000000ull);
}

static int pg_claim(tx_store_t *s, const char *worker, size_t limit, tx_ms_t now, tx_ms_t lease_ms,
                    tx_item_list_t *out, tx_error_t *err)
{
    pg_t *h = H(s);
    memset(out, 0, sizeof *out);
    if (limit == 0) return TX_EOK;
    if (limit > CLAIM_MAX) limit = CLAIM_MAX;
    tx_pg_params_t p = {0};
    tx__pg_int(&p, now);
    tx__pg_int(&p, (int64_t)limit);
    tx__pg_int(&p, new_salt(h));
    tx__pg_int(&p, lease_ms);
    tx__pg_str(&p, worker);
    int rc;
    PGresult *r = run(h, S_CLAIM, &p, &rc, err, "claim");
    if (!r) return rc;
    rc = append_items(r, out, err);
    PQclear(r);
    if (rc != TX_EOK)
        tx__item_list_free(out); /* committed: the items come back after their lease */
    return rc;
}

/* Why a lease-guarded write matched no row: the item is gone, or the lease is not current. */
static int lease_refused(pg_t *h, int64_t id, int64_t lease, tx_ms_t now, int max_attempts,
                         tx_error_t *err)
{
    tx_pg_params_t p = {0};
    tx__pg_int(&p, id);
    int rc;
    PGresult *r = run(h, S_LEASE_STATE, &p, &rc, err, "lease check");
    if (!r) return rc;
    if (PQntuples(r) != 1) {
        PQclear(r);
        return tx__store_fail(err, TX_ENOTFOUND, "store: item %lld not found", (long long)id);
    }
    int64_t have = tx__pg_get_int(r, 0, 0);
    int processing = status_col(r, 0, 1) == TX_ITEM_PROCESSING;
    tx_ms_t until = tx__pg_get_int(r, 0, 2);
    int64_t attempts = tx__pg_get_int(r, 0, 3);
    PQclear(r);
    if (have != lease || !processing)
        return tx__store_fail(err, TX_ECONFLICT, "store: item %lld: lease lost", (long long)id);
    if (max_attempts > 0 && until <= now)
        return tx__store_fail(err, TX_ECONFLICT, "store: item %lld: lease expired", (long long)id);
    if (max_attempts > 0 && attempts >= max_attempts)
        return tx__store_fail(err, TX_ERANGE,
                              "store: item %lld: attempt budget used up "
                              "(%lld of %d)",
                              (long long)id, (long long)attempts, max_attempts);
    return tx__store_fail(err, TX_ECONFLICT, "store: item %lld: lease lost", (long long)id);
}

static int pg_begin_attempt(tx_store_t *s, int64_t id, int64_t lease, int max_attempts, tx_ms_t now,
                            const char *model, int *attempt_n, tx_error_t *err)
{
    pg_t *h = H(s);
    if (max_attempts <= 0)
        return tx__store_fail(err, TX_EINVAL, "store: begin_attempt: max_attempts <= 0");
    tx_pg_params_t p = {0};
    tx__pg_int(&p, id);
    tx__pg_int(&p, lease);
    tx__pg_int(&p, max_attempts);
    tx__pg_int(&p, now);
    tx__pg_str(&p, model);
    int rc;
    PGresult *r = run(h, S_BEGIN_ATT, &p, &rc, err, "begin_attempt");
    if (!r) return rc;
    int n = PQntuples(r) == 1 ? (int)tx__pg_get_int(r, 0, 0) : 0;
    PQclear(r);
    if (n == 0) return lease_refused(h, id, lease, now, max_attempts, err);
    if (attempt_n) *attempt_n = n;
    return TX_EOK;
}

static int pg_record_attempt(tx_store_t *s, int64_t id, int64_t lease, const tx_history_row_t *a,
                             tx_error_t *err)
{
    pg_t *h = H(s);
    if (a->cls < 0 || a->cls >= TX_CLASS__LAST)
        return tx__store_fail(err, TX_EINVAL, "store: record_attempt: bad class %d", a->cls);
    tx_pg_params_t p = {0};
    tx__pg_int(&p, id);
    tx__pg_int(&p, a->n);
    tx__pg_str(&p, a->model);
    tx__pg_str(&p, a->endpoint);
    tx__pg_str(&p, tx_class_name((tx_class_t)a->cls));
    tx__pg_int(&p, a->http_status);
    tx__pg_int(&p, a->latency_ms);
    tx__pg_int(&p, a->at);
    tx__pg_int(&p, lease);
    tx__pg_str(&p, a->refunded ? "true" : "false");
    tx__pg_str(&p, a->provider);
    int64_t changed = 0;
    int rc = run_cmd(h, S_RECORD, &p, &changed, err, "record_attempt");
    if (rc == TX_EOK && changed == 0) return lease_refused(h, id, lease, 0, 0, err);
    return rc;
}

static void int_or_null(tx_pg_params_t *p, int64_t v, int present)
{
    if (present)
        tx__pg_int(p, v);
    else
        tx__pg_str(p, NULL);
}

/* The finish, with its history row `a` in the same statement when not NULL. */
static int finish_row(tx_store_t *s, int64_t id, int64_t lease, const tx_item_outcome_t *o,
                      const tx_history_row_t *a, tx_ms_t now, tx_error_t *err)
{
    pg_t *h = H(s);
    int retrying = o->status == TX_ITEM_RETRYING;
    tx_pg_params_t p = {0};
    tx__pg_int(&p, id);
    tx__pg_int(&p, lease);
    tx__pg_str(&p, tx__item_status_name(o->status));
    tx__pg_str(&p, o->result);
    tx__pg_str(&p, o->model);
    tx__pg_int(&p, o->prompt_version);
    int_or_null(&p, o->retry_after, retrying);
    int_or_null(&p, retrying ? o->retry_after : now, retrying || o->status == TX_ITEM_PENDING);
    tx__pg_str(&p, o->error);
    tx__pg_str(&p, class_name_or_null(o->error_class));
    tx__pg_int(&p, now);
    if (a) {
        tx__pg_int(&p, a->n);
        tx__pg_str(&p, a->model);
        tx__pg_str(&p, a->endpoint);
        tx__pg_str(&p, tx_class_name((tx_class_t)a->cls));
        tx__pg_int(&p, a->http_status);
        tx__pg_int(&p, a->latency_ms);
        tx__pg_int(&p, a->at);
        tx__pg_str(&p, a->refunded ? "true" : "false");
        tx__pg_str(&p, a->provider);
    }
    int64_t changed = 0;
    int rc = run_cmd(h, a ? S_FINISH_REC : S_FINISH, &p, &changed, err, "finish");
    if (rc == TX_EOK && changed == 0) return lease_refused(h, id, lease, now, 0, err);
    return rc;
}

/* With o->attempt: history row + finish in one statement (one implicit transaction). */
static int pg_finish(tx_store_t *s, int64_t id, int64_t lease, const tx_item_outcome_t *o,
                     tx_ms_t now, tx_error_t *err)
{
    if (!o->attempt) return finish_row(s, id, lease, o, NULL, now, err);
    if (o->attempt->cls < 0 || o->attempt->cls >= TX_CLASS__LAST)
        return tx__store_fail(err, TX_EINVAL, "store: record_attempt: bad class %d",
                              o->attempt->cls);
    tx_history_row_t a = *o->attempt;
    a.refunded = a.refunded || o->status == TX_ITEM_PENDING; /* given back: the n is reused */
    return finish_row(s, id, lease, o, &a, now, err);
}

/* ---- group commit: several begin_attempts / finishes in one statement ------------------- */

/* 1 when two requests name the same item (one statement cannot tell them apart). */
static int has_duplicate(const int64_t *ids, size_t n)
{
    for (size_t i = 0; i < n; i++)
        for (size_t k = i + 1; k < n; k++)
            if (ids[i] == ids[k]) return 1;
    return 0;
}

/* After a failed group statement: nothing of it was written. A lost connection answers every
 * request with that error (as single calls would: the next call reconnects); anything else
 * (deadlock, timeout, a refused row) is retried one request at a time. Returns 1 when the
 * caller should go one by one. */
static int group_failed(int rc, const tx_error_t *gerr, int *rcs[], tx_error_t *errs[], size_t n)
{
    if (rc != TX_EIO) return 1;
    for (size_t i = 0; i < n; i++) {
        *rcs[i] = rc;
        tx__store_error_copy(errs[i], gerr);
    }
    return 0;
}

static void pg_begin_attempts(tx_store_t *s, tx_store_begin_t **reqs, size_t n, tx_ms_t now)
{
    pg_t *h = H(s);
    int64_t *ids = calloc(n ? 3 * n : 1, sizeof *ids);
    const char **models = calloc(n ? n : 1, sizeof *models);
    int valid = ids && models && n > 1 && n <= TX_PG_GROUP_MAX;
    for (size_t i = 0; valid && i < n; i++) {
        ids[i] = reqs[i]->id;
        ids[n + i] = reqs[i]->lease;
        ids[2 * n + i] = reqs[i]->max_attempts;
        models[i] = reqs[i]->model;
        valid = reqs[i]->max_attempts > 0;
    }
    int single = !valid || has_duplicate(ids, n);
    if (!single) {
        tx_pg_params_t p = {0};
        tx__pg_int_array(&p, ids, NULL, n);
        tx__pg_int_array(&p, ids + n, NULL, n);
        tx__pg_int_array(&p, ids + 2 * n, NULL, n);
        tx__pg_str_array(&p, TX_PG_BYTEA, models, n);
        tx__pg_int(&p, now);
        int rc;
        tx_error_t gerr = {0};
        PGresult *r = run(h, S_BEGIN_MANY, &p, &rc, &gerr, "begin_attempt");
        tx__pg_params_free(&p);
        if (r) {
            for (size_t i = 0; i < n; i++)
                reqs[i]->rc = -1; /* not matched yet */
            for (int row = 0; row < PQntuples(r); row++) {
                int64_t id = tx__pg_get_int(r, row, 0);
                for (size_t i = 0; i < n; i++)
                    if (reqs[i]->id == id) {
                        reqs[i]->attempt_n = (int)tx__pg_get_int(r, row, 1);
                        reqs[i]->rc = TX_EOK;
                    }
            }
            PQclear(r);
            /* Refused rows: one read each says why, as for a single call. */
            for (size_t i = 0; i < n; i++)
                if (reqs[i]->rc == -1)
                    reqs[i]->rc = lease_refused(h, reqs[i]->id, reqs[i]->lease, now,
                                                reqs[i]->max_attempts, &reqs[i]->err);
        } else {
            int *rcs[TX_PG_GROUP_MAX];
            tx_error_t *errs[TX_PG_GROUP_MAX];
            for (size_t i = 0; i < n; i++) {
                rcs[i] = &reqs[i]->rc;
                errs[i] = &reqs[i]->err;
            }
            single = group_failed(rc, &gerr, rcs, errs, n);
        }
    }
    free(ids);
    free(models);
    for (size_t i = 0; single && i < n; i++)
        reqs[i]->rc = pg_begin_attempt(s, reqs[i]->id, reqs[i]->lease, reqs[i]->max_attempts, now,
                                       reqs[i]->model, &reqs[i]->attempt_n, &reqs[i]->err);
}

static void pg_finish_many(tx_store_t *s, tx_store_finish_t **reqs, size_t n, tx_ms_t now)
{
    pg_t *h = H(s);
    int single = n < 2 || n > TX_PG_GROUP_MAX;
    int64_t *iv = single ? NULL : calloc(12 * n, sizeof *iv);
    unsigned char *nul = single ? NULL : calloc(12 * n, 1);
    const char **sv = single ? NULL : calloc(9 * n, sizeof *sv);
    if (!single && (!iv || !nul || !sv)) single = 1;
        /* int8 columns: 0 id, 1 lease, 2 pv, 3 ra, 4 due, 5 an, 6 ah, 7 al, 8 aat, 9 aref;
         * string columns: 0 st, 1 res, 2 mdl, 3 er, 4 ec, 5 am, 6 ae, 7 ac, 8 ap. */
#define IV(c, i) iv[(size_t)(c)*n + (i)]
#define NUL(c, i) nul[(size_t)(c)*n + (i)]
#define SV(c, i) sv[(size_t)(c)*n + (i)]
    for (size_t i = 0; !single && i < n; i++) {
        const tx_item_outcome_t *o = reqs[i]->outcome;
        const tx_history_row_t *a = o->attempt;
        if (a && (a->cls < 0 || a->cls >= TX_CLASS__LAST)) {
            single = 1; /* answered (TX_EINVAL) by the single call */
            break;
        }
        int retrying = o->status == TX_ITEM_RETRYING;
        IV(0, i) = reqs[i]->id;
        IV(1, i) = reqs[i]->lease;
        IV(2, i) = o->prompt_version;
        IV(3, i) = o->retry_after;
        NUL(3, i) = !retrying;
        IV(4, i) = retrying ? o->retry_after : now;
        NUL(4, i) = !(retrying || o->status == TX_ITEM_PENDING);
        SV(0, i) = tx__item_status_name(o->status);
        SV(1, i) = o->result;
        SV(2, i) = o->model;
        SV(3, i) = o->error;
        SV(4, i) = class_name_or_null(o->error_class);
        for (int c = 5; c <= 9; c++)
            NUL(c, i) = a == NULL;
        if (a) {
            IV(5, i) = a->n;
            IV(6, i) = a->http_status;
            IV(7, i) = a->latency_ms;
            IV(8, i) = a->at;
            IV(9, i) = a->refunded || o->status == TX_ITEM_PENDING; /* given back: n reused */
            SV(5, i) = a->model;
            SV(6, i) = a->endpoint;
            SV(7, i) = tx_class_name((tx_class_t)a->cls);
            SV(8, i) = a->provider;
        }
    }
    if (!single && has_duplicate(iv, n)) single = 1;
    if (!single) {
        tx_pg_params_t p = {0};
        tx__pg_int_array(&p, &IV(0, 0), NULL, n);
        tx__pg_int_array(&p, &IV(1, 0), NULL, n);
        tx__pg_str_array(&p, TX_PG_TEXT, &SV(0, 0), n);
        tx__pg_str_array(&p, TX_PG_BYTEA, &SV(1, 0), n);
        tx__pg_str_array(&p, TX_PG_BYTEA, &SV(2, 0), n);
        tx__pg_int_array(&p, &IV(2, 0), NULL, n);
        tx__pg_int_array(&p, &IV(3, 0), &NUL(3, 0), n);
        tx__pg_int_array(&p, &IV(4, 0), &NUL(4, 0), n);
        tx__pg_str_array(&p, TX_PG_BYTEA, &SV(3, 0), n);
        tx__pg_str_array(&p, TX_PG_TEXT, &SV(4, 0), n);
        tx__pg_int_array(&p, &IV(5, 0), &NUL(5, 0), n);
        tx__pg_str_array(&p, TX_PG_BYTEA, &SV(5, 0), n);
        tx__pg_str_array(&p, TX_PG_BYTEA, &SV(6, 0), n);
        tx__pg_str_array(&p, TX_PG_TEXT, &SV(7, 0), n);
        tx__pg_int_array(&p, &IV(6, 0), &NUL(6, 0), n);
        tx__pg_int_array(&p, &IV(7, 0), &NUL(7, 0), n);
        tx__pg_int_array(&p, &IV(8, 0), &NUL(8, 0), n);
        tx__pg_int_array(&p, &IV(9, 0), &NUL(9, 0), n);
        tx__pg_int(&p, now);
        tx__pg_str_array(&p, TX_PG_BYTEA, &SV(8, 0), n);
        int rc;
        tx_error_t gerr = {0};
        PGresult *r = run(h, S_FINISH_MANY, &p, &rc, &gerr, "finish");
        tx__pg_params_free(&p);
        if (r) {
            for (size_t i = 0; i < n; i++)
                reqs[i]->rc = -1;
            for (int row = 0; row < PQntuples(r); row++) {
                int64_t id = tx__pg_get_int(r, row, 0);
                for (size_t i = 0; i < n; i++)
                    if (reqs[i]->id == id) reqs[i]->rc = TX_EOK;
            }
            PQclear(r);
            for (size_t i = 0; i < n; i++)
                if (reqs[i]->rc == -1)
                    reqs[i]->rc =
                        lease_refused(h, reqs[i]->id, reqs[i]->lease, now, 0, &reqs[i]->err);
        } else {
            int *rcs[TX_PG_GROUP_MAX];
            tx_error_t *errs[TX_PG_GROUP_MAX];
            for (size_t i = 0; i < n; i++) {
                rcs[i] = &reqs[i]->rc;
                errs[i] = &reqs[i]->err;
            }
            single = group_failed(rc, &gerr, rcs, errs, n);
        }
    }
#undef IV
#undef NUL
#undef SV
    free(iv);
    free(nul);
    free(sv);
    for (size_t i = 0; single && i < n; i++)
        reqs[i]->rc =
            pg_finish(s, reqs[i]->id, reqs[i]->lease, reqs[i]->outcome, now, &reqs[i]->err);
}

static int pg_reclaim_expired(tx_store_t *s, tx_ms_t now, int64_t *count, tx_error_t *err)
{
    tx_pg_params_t p = {0};
    tx__pg_int(&p, now);
    int64_t changed = 0;
    int rc = run_cmd(H(s), S_RECLAIM, &p, &changed, err, "reclaim");
    if (rc == TX_EOK && count) *count = changed;
    return rc;
}

static int read_history(pg_t *h, tx_item_t *it, tx_error_t *err)
{
    tx_pg_params_t p = {0};
    tx__pg_int(&p, it->id);
    int rc;
    PGresult *r = run(h, S_HISTORY, &p, &rc, err, "history");
    if (!r) return rc;
    int rows = PQntuples(r), oom = 0;
    if (rows > 0 && !(it->history = calloc((size_t)rows, sizeof *it->history))) oom = 1;
    for (int i = 0; i < rows && !oom; i++) {
        tx_history_row_t *a = &it->history[it->n_history++];
        a->n = (int)tx__pg_get_int(r, i, 0);
        a->model = tx__pg_get_str(r, i, 1, &oom);
        a->endpoint = tx__pg_get_str(r, i, 2, &oom);
        int cls = class_col(r, i, 3);
        a->cls = cls < 0 ? TX_CLASS_OK : cls;
        a->http_status = (int)tx__pg_get_int(r, i, 4);
        a->latency_ms = tx__pg_get_int(r, i, 5);
        a->at = tx__pg_get_int(r, i, 6);
        a->refunded = tx__pg_get_int(r, i, 7) != 0;
        a->provider = tx__pg_get_str(r, i, 8, &oom);
    }
    PQclear(r);
    return oom ? tx__store_fail(err, TX_ENOMEM, "store: out of memory") : TX_EOK;
}

static int pg_get(tx_store_t *s, int64_t id, tx_item_t *out, tx_error_t *err)
{
    pg_t *h = H(s);
    memset(out, 0, sizeof *out);
    /* One snapshot so the item and its history agree. */
    int rc = begin(h, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", err);
    if (rc != TX_EOK) return rc;
    tx_pg_params_t p = {0};
    tx__pg_int(&p, id);
    PGresult *r = run(h, S_GET, &p, &rc, err, "get");
    if (r && PQntuples(r) == 0)
        rc = tx__store_fail(err, TX_ENOTFOUND, "store: item %lld not found", (long long)id);
    else if (r && read_item(r, 0, out) != TX_EOK)
        rc = tx__store_fail(err, TX_ENOMEM, "store: out of memory");
    PQclear(r);
    if (rc == TX_EOK) rc = read_history(h, out, err);
    if (rc == TX_EOK) rc = commit(h, err);
    if (rc != TX_EOK) {
        rollback(h);
        tx__item_clear(out);
    }
    return rc;
}

static int pg_list(tx_store_t *s, const char *owner, int status, size_t limit, int64_t after,
                   tx_item_list_t *out, tx_error_t *err)
{
    memset(out, 0, sizeof *out);
    if (!owner) return tx__store_fail(err, TX_EINVAL, "store: list: an owner is required");
    tx_pg_params_t p = {0};
    tx__pg_str(&p, owner);
    tx__pg_str(&p, status >= 0 ? tx__item_status_name((tx_item_status_t)status) : NULL);
    tx__pg_int(&p, after);
    tx__pg_int(&p, (int64_t)limit);
    int rc;
    PGresult *r = run(H(s), S_LIST, &p, &rc, err, "list");
    if (!r) return rc;
    rc = append_items(r, out, err);
    PQclear(r);
    if (rc != TX_EOK) tx__item_list_free(out);
    return rc;
}

static int pg_stats(tx_store_t *s, const char *owner, tx_store_stats_t *out, tx_error_t *err)
{
    memset(out, 0, sizeof *out);
    tx_pg_params_t p = {0};
    if (owner) tx__pg_str(&p, owner);
    int rc;
    PGresult *r = run(H(s), owner ? S_STATS_OWNER : S_STATS_ALL, &p, &rc, err, "stats");
    if (!r) return rc;
    for (int i = 0; i < PQntuples(r); i++) {
        int k = status_col(r, i, 0);
        int64_t c = tx__pg_get_int(r, i, 1);
        if (k >= 0) out->by_status[k] += c;
        out->total += c;
    }
    PQclear(r);
    out->with_result = out->by_status[TX_ITEM_SUCCESS];
    out->without_result = out->total - out->with_result;
    out->need_retry = out->by_status[TX_ITEM_RETRYING];
    return TX_EOK;
}

static int pg_retry(tx_store_t *s, const char *owner, int force, size_t limit, tx_ms_t now,
                    int64_t *selected, tx_error_t *err)
{
    int id = force ? (owner ? S_RETRY_FORCE : S_RETRY_FORCE_ALL) : (owner ? S_RETRY : S_RETRY_ALL);
    tx_pg_params_t p = {0};
    tx__pg_str(&p, owner);
    tx__pg_int(&p, (int64_t)limit);
    tx__pg_int(&p, now);
    int64_t changed = 0;
    int rc = run_cmd(H(s), id, &p, &changed, err, "retry");
    if (rc == TX_EOK && selected) *selected = changed;
    return rc;
}

static int pg_regenerate(tx_store_t *s, int64_t id, tx_ms_t now, tx_error_t *err)
{
    pg_t *h = H(s);
    tx_pg_params_t p = {0};
    tx__pg_int(&p, id);
    tx__pg_int(&p, now);
    int64_t changed = 0;
    int rc = run_cmd(h, S_REGEN, &p, &changed, err, "regenerate");
    if (rc != TX_EOK || changed == 1) return rc;
    tx_pg_params_t q = {0};
    tx__pg_int(&q, id);
    PGresult *r = run(h, S_EXISTS, &q, &rc, err, "regenerate");
    if (!r) return rc;
    int found = PQntuples(r) == 1;
    PQclear(r);
    if (found)
        return tx__store_fail(err, TX_EINVAL,
                              "store: item %lld was skipped (no text): "
                              "nothing to regenerate",
                              (long long)id);
    return tx__store_fail(err, TX_ENOTFOUND, "store: item %lld not found", (long long)id);
}

static int pg_export(tx_store_t *s, const char *owner, int status, tx_store_item_cb cb, void *ud,
                     tx_error_t *err)
{
    pg_t *h = H(s);
    /* Pages by id inside one read-only snapshot: constant memory, a consistent export. */
    int rc = begin(h, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", err);
    if (rc != TX_EOK) return rc;
    int64_t after = 0;
    int stop = 0;
    while (rc == TX_EOK && !stop) {
        tx_pg_params_t p = {0};
        tx__pg_str(&p, owner);
        tx__pg_str(&p, status >= 0 ? tx__item_status_name((tx_item_status_t)status) : NULL);
        tx__pg_int(&p, after);
        tx__pg_int(&p, EXPORT_PAGE);
        PGresult *r = run(h, S_EXPORT, &p, &rc, err, "export");
        if (!r) break;
        int rows = PQntuples(r);
        for (int i = 0; i < rows && !stop; i++) {
            tx_item_t it;
            if (read_item(r, i, &it) != TX_EOK) {
                rc = tx__store_fail(err, TX_ENOMEM, "store: out of memory");
                break;
            }
            after = it.id;
            stop = cb(&it, ud) != 0;
            tx__item_clear(&it);
        }
        PQclear(r);
        if (rows < EXPORT_PAGE) break;
    }
    if (rc == TX_EOK) return commit(h, err);
    rollback(h);
    return rc;
}

static int pg_next_due(tx_store_t *s, tx_ms_t now, tx_ms_t *when, tx_error_t *err)
{
    (void)now;
    int rc;
    PGresult *r = run(H(s), S_NEXT_DUE, NULL, &rc, err, "next_due");
    if (!r) return rc;
    if (PQntuples(r) != 1 || tx__pg_is_null(r, 0, 0))
        rc = tx__store_fail(err, TX_ENOTFOUND, "store: nothing is due");
    else
        *when = tx__pg_get_int(r, 0, 0);
    PQclear(r);
    return rc;
}

/* ---- pause ------------------------------------------------------------------------------ */

static int pg_pause_get(tx_store_t *s, tx_pause_t *out, tx_error_t *err)
{
    memset(out, 0, sizeof *out);
    int rc;
    PGresult *r = run(H(s), S_PAUSE_GET, NULL, &rc, err, "pause_get");
    if (!r) return rc;
    if (PQntuples(r) == 1) {
        out->paused = tx__pg_get_int(r, 0, 0) != 0;
        if (!tx__pg_is_null(r, 0, 1)) {
            int len = PQgetlength(r, 0, 1);
            snprintf(out->reason, sizeof out->reason, "%.*s", len, PQgetvalue(r, 0, 1));
        }
        out->since = tx__pg_get_int(r, 0, 2);
    } else {
        rc = tx__store_fail(err, TX_ESTORE, "store: pause_get: the pause row is missing");
    }
    PQclear(r);
    return rc;
}

static int pg_pause_set(tx_store_t *s, int paused, const char *reason, tx_ms_t now, tx_error_t *err)
{
    tx_pg_params_t p = {0};
    tx__pg_int(&p, paused ? 1 : 0);
    tx__pg_str(&p, paused ? reason : NULL);
    int_or_null(&p, now, paused);
    return run_cmd(H(s), S_PAUSE_SET, &p, NULL, err, "pause_set");
}

/* ---- tasks ------------------------------------------------------------------------------ */

static int read_task(const PGresult *r, int row, tx_task_t *t)
{
    int oom = 0;
    memset(t, 0, sizeof *t);
    t->name = tx__pg_get_str(r, row, 0, &oom);
    t->version = (int)tx__pg_get_int(r, row, 1);
    t->active = tx__pg_get_int(r, row, 2) != 0;
    t->system_prompt = tx__pg_get_str(r, row, 3, &oom);
    t->user_template = tx__pg_get_str(r, row, 4, &oom);
    t->response_format = tx__pg_get_str(r, row, 5, &oom);
    t->parser = tx__pg_get_str(r, row, 6, &oom);
    t->model = tx__pg_get_str(r, row, 7, &oom);
    t->created_at = tx__pg_get_int(r, row, 8);
    if (oom) {
        tx__task_clear(t);
        return TX_ENOMEM;
    }
    return TX_EOK;
}

static int pg_task_put_version(tx_store_t *s, const char *name, const tx_task_spec_t *spec,
                               tx_ms_t now, int *version, tx_error_t *err)
{
    pg_t *h = H(s);
    /* Serialised per schema: two nodes adding a version at once get max+1 and max+2. */
    int rc = begin(h, "BEGIN", err);
    if (rc != TX_EOK) return rc;
    PGresult *r = run(h, S_TASK_LOCK, NULL, &rc, err, "task_put_version");
    PQclear(r);
    if (rc != TX_EOK) goto fail;
    tx_pg_params_t p = {0};
    tx__pg_str(&p, name);
    tx__pg_str(&p, spec->system_prompt);
    tx__pg_str(&p, spec->user_template);
    tx__pg_str(&p, spec->response_format);
    tx__pg_str(&p, spec->parser);
    tx__pg_str(&p, spec->model);
    tx__pg_int(&p, now);
    r = run(h, S_TASK_PUT, &p, &rc, err, "task_put_version");
    if (!r) goto fail;
    int v = PQntuples(r) == 1 ? (int)tx__pg_get_int(r, 0, 0) : 0;
    PQclear(r);
    if ((rc = commit(h, err)) != TX_EOK) goto fail;
    if (version) *version = v;
    return TX_EOK;
fail:
    rollback(h);
    return rc;
}

static int pg_task_activate(tx_store_t *s, const char *name, int version, tx_error_t *err)
{
    tx_pg_params_t p = {0};
    tx__pg_str(&p, name);
    tx__pg_int(&p, version);
    int64_t changed = 0;
    int rc = run_cmd(H(s), S_TASK_ACT, &p, &changed, err, "task_activate");
    if (rc == TX_EOK && changed == 0)
        rc =
            tx__store_fail(err, TX_ENOTFOUND, "store: task %.64s has no version %d", name, version);
    return rc;
}

static int pg_task_get(tx_store_t *s, const char *name, int version, tx_task_t *out,
                       tx_error_t *err)
{
    memset(out, 0, sizeof *out);
    tx_pg_params_t p = {0};
    tx__pg_str(&p, name);
    tx__pg_int(&p, version);
    int rc;
    PGresult *r = run(H(s), S_TASK_GET, &p, &rc, err, "task_get");
    if (!r) return rc;
    if (PQntuples(r) == 0)
        rc = tx__store_fail(err, TX_ENOTFOUND, "store: task %.64s version %d not found", name,
                            version);
    else if (read_task(r, 0, out) != TX_EOK)
        rc = tx__store_fail(err, TX_ENOMEM, "store: out of memory");
    PQclear(r);
    return rc;
}

static int pg_task_list(tx_store_t *s, tx_task_t **out, size_t *n, tx_error_t *err)
{
    *out = NULL;
    *n = 0;
    int rc;
    PGresult *r = run(H(s), S_TASK_LIST, NULL, &rc, err, "task_list");
    if (!r) return rc;
    int rows = PQntuples(r);
    if (rows > 0 && !(*out = calloc((size_t)rows, sizeof **out)))
        rc = tx__store_fail(err, TX_ENOMEM, "store: out of memory");
    for (int i = 0; i < rows && rc == TX_EOK; i++) {
        if (read_task(r, i, &(*out)[i]) != TX_EOK)
            rc = tx__store_fail(err, TX_ENOMEM, "store: out of memory");
        else
            (*n)++;
    }
    PQclear(r);
    if (rc != TX_EOK) {
        tx__task_list_free(*out, *n);
        *out = NULL;
        *n = 0;
    }
    return rc;
}

/* ---- health and wake-ups ---------------------------------------------------------------- */

static int pg_ping(tx_store_t *s, tx_error_t *err)
{
    int rc;
    PGresult *r = run(H(s), S_PING, NULL, &rc, err, "ping");
    PQclear(r);
    return rc;
}

static int pg_listen(tx_store_t *s, int *fd, tx_error_t *err)
{
    pg_t *h = H(s);
    int rc = ensure(h, err);
    if (rc == TX_EOK && !h->listening) {
        rc = start_listening(h, err);
        if (rc == TX_EOK) h->listening = 1;
    }
    if (rc == TX_EOK && fd) *fd = PQsocket(h->conn);
    return rc;
}

static int pg_wait_notify(tx_store_t *s, int timeout_ms, int *count, tx_error_t *err)
{
    pg_t *h = H(s);
    if (count) *count = 0;
    int rc = pg_listen(s, NULL, err);
    if (rc != TX_EOK) return rc;
    if (!PQconsumeInput(h->conn)) return lost(h, err, "wait_notify", PQerrorMessage(h->conn));
    collect_notifies(h);
    if (h->notified == 0 && timeout_ms > 0) {
        struct pollfd pfd = {.fd = PQsocket(h->conn), .events = POLLIN};
        int pr = poll(&pfd, 1, timeout_ms);
        if (pr < 0 && errno != EINTR)
            return tx__store_fail(err, TX_EIO, "store: wait_notify: poll: %s", strerror(errno));
        if (pr > 0) {
            if (!PQconsumeInput(h->conn))
                return lost(h, err, "wait_notify", PQerrorMessage(h->conn));
            collect_notifies(h);
        }
    }
    if (count) *count = h->notified;
    h->notified = 0;
    return TX_EOK;
}

const struct tx_store_ops tx__store_postgres_ops = {
    .version = TX_STORE_OPS_VERSION,
    .scheme = "postgres",
    .open = pg_open,
    .close = pg_close,
    .import = pg_import,
    .claim = pg_claim,
    .begin_attempt = pg_begin_attempt,
    .record_attempt = pg_record_attempt,
    .finish = pg_finish,
    .reclaim_expired = pg_reclaim_expired,
    .get = pg_get,
    .list = pg_list,
    .stats = pg_stats,
    .retry = pg_retry,
    .regenerate = pg_regenerate,
    .export_items = pg_export,
    .next_due = pg_next_due,
    .pause_get = pg_pause_get,
    .pause_set = pg_pause_set,
    .task_put_version = pg_task_put_version,
    .task_activate = pg_task_activate,
    .task_get = pg_task_get,
    .task_list = pg_task_list,
    .ping = pg_ping,
    .listen = pg_listen,
    .wait_notify = pg_wait_notify,
    .begin_attempts = pg_begin_attempts,
    .finish_many = pg_finish_many,
};
