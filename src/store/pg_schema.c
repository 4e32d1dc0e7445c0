/* The PostgreSQL schema as numbered migrations recorded in `schema_version`, applied together
 * in one transaction under an advisory lock. Every string that comes from outside (owners, ids,
 * texts, results, models, prompts) is BYTEA, so any bytes round-trip as SQLite's TEXT does.
 * Append steps; never edit one. */
#include "store/pg_schema.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const migrations[] = {
    /* 1: items, history, tasks, pause, and the wake-up triggers (LISTEN tenax_<schema>) */
    "CREATE TABLE items ("
    "  id BIGSERIAL PRIMARY KEY,"
    "  owner BYTEA NOT NULL, external_id BYTEA NOT NULL, task BYTEA NOT NULL, text BYTEA NOT NULL,"
    "  status TEXT NOT NULL CHECK (status IN ('pending','processing','success','retrying',"
    "                                         'failed','skipped')),"
    "  result BYTEA, attempts BIGINT NOT NULL DEFAULT 0,"
    "  attempts_at_claim BIGINT NOT NULL DEFAULT 0,"
    "  last_attempt_at BIGINT, attempt_model BYTEA, retry_after BIGINT,"
    "  error BYTEA, error_class TEXT, model BYTEA, prompt_version BIGINT, task_version BIGINT,"
    "  lease BIGINT, lease_until BIGINT, worker BYTEA,"
    "  due_at BIGINT," /* pending: queued at; retrying: retry_after; processing: lease_until */
    "  created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL,"
    "  UNIQUE (owner, external_id, task));"
    "CREATE INDEX items_due ON items (due_at, id) WHERE due_at IS NOT NULL;"
    "CREATE INDEX items_owner_status ON items (owner, status, id);"
    "CREATE INDEX items_owner_id ON items (owner, id);"
    "CREATE TABLE attempts ("
    "  seq BIGSERIAL PRIMARY KEY,"
    "  item_id BIGINT NOT NULL REFERENCES items (id) ON DELETE CASCADE,"
    "  n BIGINT NOT NULL, model BYTEA, endpoint BYTEA, class TEXT NOT NULL,"
    "  http_status BIGINT, latency_ms BIGINT, at BIGINT NOT NULL);"
    "CREATE INDEX attempts_item ON attempts (item_id, seq);"
    "CREATE TABLE tasks ("
    "  name BYTEA NOT NULL, version BIGINT NOT NULL,"
    "  system_prompt BYTEA NOT NULL, user_template BYTEA NOT NULL, response_format BYTEA,"
    "  parser BYTEA NOT NULL, model BYTEA, created_at BIGINT NOT NULL,"
    "  PRIMARY KEY (name, version));"
    "CREATE TABLE task_active (name BYTEA PRIMARY KEY, version BIGINT NOT NULL);"
    "CREATE TABLE pause (id INT PRIMARY KEY CHECK (id = 1), paused BOOLEAN NOT NULL,"
    "  reason BYTEA, since BIGINT);"
    "INSERT INTO pause (id, paused) VALUES (1, false);"
    /* One NOTIFY per statement that leaves an item due (import, retry, regenerate, finish as
     * retrying/pending, reclaim), whoever wrote it; PostgreSQL folds duplicates per commit. */
    "CREATE FUNCTION tenax_wake_items() RETURNS trigger LANGUAGE plpgsql AS $f$ BEGIN"
    "  IF EXISTS (SELECT 1 FROM fresh WHERE status IN ('pending', 'retrying')) THEN"
    "    PERFORM pg_notify('tenax_' || left(TG_TABLE_SCHEMA, 50), 'items');"
    "  END IF;"
    "  RETURN NULL; END $f$;"
    "CREATE TRIGGER items_wake_insert AFTER INSERT ON items REFERENCING NEW TABLE AS fresh"
    "  FOR EACH STATEMENT EXECUTE FUNCTION tenax_wake_items();"
    "CREATE TRIGGER items_wake_update AFTER UPDATE ON items REFERENCING NEW TABLE AS fresh"
    "  FOR EACH STATEMENT EXECUTE FUNCTION tenax_wake_items();"
    "CREATE FUNCTION tenax_wake_pause() RETURNS trigger LANGUAGE plpgsql AS $f$ BEGIN"
    "  PERFORM pg_notify('tenax_' || left(TG_TABLE_SCHEMA, 50), 'pause');"
    "  RETURN NULL; END $f$;"
    "CREATE TRIGGER pause_wake AFTER UPDATE ON pause FOR EACH ROW"
    "  WHEN (OLD.paused IS DISTINCT FROM NEW.paused) EXECUTE FUNCTION tenax_wake_pause();",

    /* 2: the built-in tags task, version 1, active (same text as the SQLite seed) */
    "INSERT INTO tasks (name, version, system_prompt, user_template, response_format, parser,"
    "  model, created_at) VALUES (convert_to('tags', 'UTF8'), 1, convert_to("
    "  'You tag posts. Read the post and answer with a JSON array of 3 to 7 short topical tags "
    "(one to three words each) that say what the post is about: its subjects, places, people, "
    "products or events, not its tone. Write the tags in the same language as the post, in "
    "lower case unless a proper name needs capitals, without # signs and without duplicates. "
    "Answer with the JSON array only, no prose and no code fences, for example: "
    "[\"street food\", \"bangkok\", \"travel\"]', 'UTF8'),"
    "  convert_to('Post:\n{{text}}', 'UTF8'), NULL, convert_to('tags', 'UTF8'), NULL,"
    "  (extract(epoch FROM now()) * 1000)::bigint);"
    "INSERT INTO task_active (name, version) VALUES (convert_to('tags', 'UTF8'), 1);",
    /* 3: the update wake-up per row, filtered by WHEN (evaluated without running any function):
     * claims, begin_attempt and success/failed finishes no longer build a transition table and
     * run plpgsql on every statement; only an update that leaves a row pending or retrying
     * notifies (folded per transaction as before). Halves begin_attempt's cost (pgnodes). */
    "DROP TRIGGER items_wake_update ON items;"
    "CREATE FUNCTION tenax_wake_item() RETURNS trigger LANGUAGE plpgsql AS $f$ BEGIN"
    "  PERFORM pg_notify('tenax_' || left(TG_TABLE_SCHEMA, 50), 'items');"
    "  RETURN NULL; END $f$;"
    "CREATE TRIGGER items_wake_update AFTER UPDATE ON items FOR EACH ROW"
    "  WHEN (NEW.status IN ('pending', 'retrying')) EXECUTE FUNCTION tenax_wake_item();",
    /* 4: history rows of a handed-back (refunded) attempt are marked */
    "ALTER TABLE attempts ADD COLUMN refunded BOOLEAN NOT NULL DEFAULT false;",
    /* 5: room on every items page for the next version of its rows, so begin_attempt (which
     * changes no indexed column) is a HOT update: no new entry in any of the five indexes.
     * Pages written from now on (imports) get it; older pages keep theirs. */
    "ALTER TABLE items SET (fillfactor = 70);",
    /* 6: history rows name the provider of the endpoint (NULL in older rows) */
    "ALTER TABLE attempts ADD COLUMN provider BYTEA;",
};

#define N_MIGRATIONS ((int)(sizeof migrations / sizeof migrations[0]))

int tx__pg_schema_version(void)
{
    return N_MIGRATIONS;
}

/* Runs `sql` (no rows expected unless want_rows); 0 or -1 with why filled. */
static int exec(PGconn *c, const char *sql, PGresult **rows, char *why, size_t whylen)
{
    PGresult *r = PQexec(c, sql);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        snprintf(why, whylen, "%s", r ? PQresultErrorMessage(r) : PQerrorMessage(c));
        why[strcspn(why, "\n")] = '\0';
        PQclear(r);
        return -1;
    }
    if (rows)
        *rows = r;
    else
        PQclear(r);
    return 0;
}

static int first_int(PGresult *r)
{
    long v = 0;
    if (PQntuples(r) == 1) v = strtol(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return (int)v;
}

int tx__pg_migrate(PGconn *c, const char *schema, int *from, int *newer, char *why, size_t whylen)
{
    *from = 0;
    *newer = 0;
    if (exec(c, "BEGIN", NULL, why, whylen) != 0) return -1;
    /* The lock key names the schema: deployments in other schemas do not wait for us. */
    const char *key_param[1] = {schema};
    PGresult *r = PQexecParams(c,
                               "SELECT pg_advisory_xact_lock(hashtext('tenax-migrate:' || "
                               "COALESCE(NULLIF($1, ''), current_schema(), '')))",
                               1, NULL, key_param, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        snprintf(why, whylen, "%s", PQresultErrorMessage(r));
        why[strcspn(why, "\n")] = '\0';
        PQclear(r);
        goto fail;
    }
    PQclear(r);
    if (*schema) {
        /* The name was checked to be [a-z_][a-z0-9_]* and is quoted by libpq all the same. */
        char *ident = PQescapeIdentifier(c, schema, strlen(schema));
        char sql[128];
        snprintf(sql, sizeof sql, "CREATE SCHEMA IF NOT EXISTS %s", ident ? ident : "\"\"");
        PQfreemem(ident);
        if (exec(c, sql, NULL, why, whylen) != 0) goto fail;
    }
    if (exec(c,
             "CREATE TABLE IF NOT EXISTS schema_version (version BIGINT PRIMARY KEY, "
             "applied_at BIGINT NOT NULL)",
             NULL, why, whylen) != 0 ||
        exec(c, "SELECT COALESCE(max(version), 0)::text FROM schema_version", &r, why, whylen) != 0)
        goto fail;
    int have = first_int(r);
    *from = have;
    if (have > N_MIGRATIONS) {
        snprintf(why, whylen, "schema version %d is newer than this tenax knows (%d)", have,
                 N_MIGRATIONS);
        *newer = 1;
        goto fail;
    }
    for (int v = have; v < N_MIGRATIONS; v++) {
        char bump[160];
        snprintf(bump, sizeof bump,
                 "INSERT INTO schema_version (version, applied_at) VALUES "
                 "(%d, (extract(epoch FROM now()) * 1000)::bigint)",
                 v + 1);
        if (exec(c, migrations[v], NULL, why, whylen) != 0 || exec(c, bump, NULL, why, whylen))
            goto fail;
    }
    if (exec(c, "COMMIT", NULL, why, whylen) != 0) goto fail;
    return 0;
fail:
    PQclear(PQexec(c, "ROLLBACK"));
    return -1;
}
