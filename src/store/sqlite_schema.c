/* The SQLite schema as numbered migrations (PRAGMA user_version), each applied in its own
 * transaction, plus the seed of the built-in `tags` task. Append steps; never edit one. */
#include "store/sqlite_schema.h"

#include <stdio.h>

static const char *const migrations[] = {
    /* 1: items, history, tasks, pause */
    "CREATE TABLE items ("
    "  id INTEGER PRIMARY KEY,"
    "  owner TEXT NOT NULL, external_id TEXT NOT NULL, task TEXT NOT NULL, text TEXT NOT NULL,"
    "  status TEXT NOT NULL CHECK (status IN ('pending','processing','success','retrying',"
    "                                         'failed','skipped')),"
    "  result TEXT, attempts INTEGER NOT NULL DEFAULT 0,"
    "  attempts_at_claim INTEGER NOT NULL DEFAULT 0,"
    "  last_attempt_at INTEGER, attempt_model TEXT, retry_after INTEGER,"
    "  error TEXT, error_class TEXT, model TEXT, prompt_version INTEGER, task_version INTEGER,"
    "  lease INTEGER, lease_until INTEGER, worker TEXT,"
    "  due_at INTEGER," /* pending: queued at; retrying: retry_after; processing: lease_until */
    "  created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,"
    "  UNIQUE (owner, external_id, task));"
    "CREATE INDEX items_due ON items (due_at, id) WHERE due_at IS NOT NULL;"
    "CREATE INDEX items_owner_status ON items (owner, status, id);"
    "CREATE INDEX items_owner_id ON items (owner, id);"
    "CREATE TABLE attempts ("
    "  item_id INTEGER NOT NULL REFERENCES items (id) ON DELETE CASCADE,"
    "  n INTEGER NOT NULL, model TEXT, endpoint TEXT, class TEXT NOT NULL,"
    "  http_status INTEGER, latency_ms INTEGER, at INTEGER NOT NULL);"
    "CREATE INDEX attempts_item ON attempts (item_id);"
    "CREATE TABLE tasks ("
    "  name TEXT NOT NULL, version INTEGER NOT NULL,"
    "  system_prompt TEXT NOT NULL, user_template TEXT NOT NULL, response_format TEXT,"
    "  parser TEXT NOT NULL, model TEXT, created_at INTEGER NOT NULL,"
    "  PRIMARY KEY (name, version));"
    "CREATE TABLE task_active (name TEXT PRIMARY KEY, version INTEGER NOT NULL);"
    "CREATE TABLE pause (id INTEGER PRIMARY KEY CHECK (id = 1), paused INTEGER NOT NULL,"
    "  reason TEXT, since INTEGER);"
    "INSERT INTO pause (id, paused) VALUES (1, 0);",

    /* 2: the built-in tags task, version 1, active */
    "INSERT INTO tasks (name, version, system_prompt, user_template, response_format, parser,"
    "  model, created_at) VALUES ('tags', 1,"
    "  'You tag posts. Read the post and answer with a JSON array of 3 to 7 short topical tags "
    "(one to three words each) that say what the post is about: its subjects, places, people, "
    "products or events, not its tone. Write the tags in the same language as the post, in "
    "lower case unless a proper name needs capitals, without # signs and without duplicates. "
    "Answer with the JSON array only, no prose and no code fences, for example: "
    "[\"street food\", \"bangkok\", \"travel\"]',"
    "  'Post:\n{{text}}', NULL, 'tags', NULL, CAST(strftime('%s','now') AS INTEGER) * 1000);"
    "INSERT INTO task_active (name, version) VALUES ('tags', 1);",

    /* 3: history rows of a handed-back (refunded) attempt are marked */
    "ALTER TABLE attempts ADD COLUMN refunded INTEGER NOT NULL DEFAULT 0;",

    /* 4: history rows name the provider of the endpoint (NULL in older rows) */
    "ALTER TABLE attempts ADD COLUMN provider TEXT;",
};

#define N_MIGRATIONS ((int)(sizeof migrations / sizeof migrations[0]))

static int exec(sqlite3 *db, const char *sql, char *why, size_t whylen)
{
    char *msg = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK) snprintf(why, whylen, "%s", msg ? msg : sqlite3_errstr(rc));
    sqlite3_free(msg);
    return rc;
}

int tx__sqlite_migrate(sqlite3 *db, int *from, char *why, size_t whylen)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL);
    if (rc == SQLITE_OK) rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        snprintf(why, whylen, "%s", sqlite3_errmsg(db));
        sqlite3_finalize(st);
        return rc == SQLITE_OK || rc == SQLITE_DONE ? SQLITE_ERROR : rc;
    }
    int have = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    *from = have;
    if (have > N_MIGRATIONS) {
        snprintf(why, whylen, "schema version %d is newer than this tenax knows (%d)", have,
                 N_MIGRATIONS);
        return SQLITE_MISMATCH;
    }
    for (int v = have; v < N_MIGRATIONS; v++) {
        char bump[64];
        snprintf(bump, sizeof bump, "PRAGMA user_version = %d", v + 1);
        rc = exec(db, "BEGIN IMMEDIATE", why, whylen);
        if (rc != SQLITE_OK) return rc;
        /* Re-check under the write lock: another handle may have migrated meanwhile. */
        int now_have = -1;
        if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK &&
            sqlite3_step(st) == SQLITE_ROW)
            now_have = sqlite3_column_int(st, 0);
        sqlite3_finalize(st);
        if (now_have > v) {
            exec(db, "COMMIT", why, whylen);
            v = now_have - 1;
            continue;
        }
        rc = exec(db, migrations[v], why, whylen);
        if (rc == SQLITE_OK) rc = exec(db, bump, why, whylen);
        if (rc == SQLITE_OK) rc = exec(db, "COMMIT", why, whylen);
        if (rc != SQLITE_OK) {
            char ignore[8];
            exec(db, "ROLLBACK", ignore, sizeof ignore);
            return rc;
        }
    }
    return SQLITE_OK;
}
