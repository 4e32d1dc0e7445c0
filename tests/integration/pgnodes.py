"""Helpers for the several-nodes-on-PostgreSQL tests (test_pg_*.py, run by tests/with_pg.sh,
which exports TX_TEST_PG_URL / TX_TEST_PG_DIR / TX_TEST_PG_SH): start `tenax serve` nodes on
one database, import items over HTTP, and read the database with psql."""
import os
import re
import subprocess
import sys
import time

import txtest

PG_URL = os.environ.get("TX_TEST_PG_URL")
PG_DIR = os.environ.get("TX_TEST_PG_DIR")
PG_SH = os.environ.get("TX_TEST_PG_SH")

TERMINAL = ("success", "failed", "skipped")


def require_pg():
    """Exit 77 (ctest: skipped) when not run under tests/with_pg.sh."""
    if not PG_URL or not PG_DIR or not PG_SH:
        print("TX_TEST_PG_URL not set: run through tests/with_pg.sh; skipping", file=sys.stderr)
        sys.exit(77)


def store_url(schema):
    return "%s?schema=%s" % (PG_URL, schema)


def psql(sql):
    """Runs one SQL text; returns the rows of the last statement as lists of strings."""
    p = subprocess.run(["psql", "-X", "-q", "-At", "-F", "\t", "-v", "ON_ERROR_STOP=1",
                        "-d", PG_URL, "-c", sql], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=30)
    if p.returncode != 0:
        raise AssertionError("psql failed: %s\n%s" % (sql, p.stderr.decode(errors="replace")))
    out = p.stdout.decode(errors="replace")
    return [line.split("\t") for line in out.splitlines() if line != ""]


def psql_try(sql):
    """psql() that answers None while the server is down."""
    try:
        return psql(sql)
    except AssertionError:
        return None


def counts(schema):
    """{status: n} of the schema's items."""
    rows = psql("SELECT status, count(*) FROM %s.items GROUP BY 1" % schema)
    return {r[0]: int(r[1]) for r in rows}


def unfinished(schema):
    c = counts(schema)
    return sum(v for k, v in c.items() if k not in TERMINAL)


def terminal(schema):
    c = counts(schema)
    return sum(v for k, v in c.items() if k in TERMINAL)


def pg_port():
    m = re.search(r":(\d+)/", PG_URL)
    return int(m.group(1))


def pg_stop():
    subprocess.run([PG_SH, "stop", PG_DIR], check=True, timeout=60)


def pg_start():
    subprocess.run([PG_SH, "start", PG_DIR, str(pg_port())], check=True, timeout=60,
                   stdout=subprocess.DEVNULL)


def pg_restart():
    subprocess.run([PG_SH, "restart", PG_DIR], check=True, timeout=60)


# Every node: the mock as its only endpoint, retries at once, short parks, small batches.
NODE_ENV = {
    "AI_RETRY_DELAY_MS": "0",
    "AI_RETRY_MAX": "5",
    "AI_TIMEOUT_MS": "1000",
    "AI_MAX_CONCURRENCY": "16",
    "AI_ENDPOINT_FAILOVER_THRESHOLD": "100",
    "JOB_MAX_ATTEMPTS": "5",
    "JOB_BATCH_SIZE": "50",
    "JOB_PARK_BASE_MS": "100",
    "JOB_PARK_MAX_MS": "1000",
    "TENAX_LOG_LEVEL": "warn",
}

# The faults every test runs with (zero latency): 5xx, 200s that carry an error or nothing,
# garbage, resets, a few hangs (AI_TIMEOUT_MS), rate limits with Retry-After.
FAULTS = "500:0.04,502:0.03,503:0.02,err200:0.02,empty:0.02,badjson:0.02,reset:0.01," \
         "timeout:0.003,429:0.01,1302:0.005"


def serve(schema, mock_port, model, env=None):
    """A `tenax serve` node on the schema; its primary model names it (the history's model
    column then says which node made each attempt)."""
    port = txtest.free_port()
    e = dict(NODE_ENV)
    e["AI_BASE_URLS"] = "http://127.0.0.1:%d/v1" % mock_port
    e["AI_MODEL"] = model
    e.update(env or {})
    for k in ("TENAX_CONFIG", "TENAX_ADMIN_TOKEN", "AI_API_KEY", "OPENAI_API_KEY"):
        os.environ.pop(k, None)
    return txtest.Proc(["serve", "--listen", "127.0.0.1:%d" % port, "--store", store_url(schema)],
                       env=e, port=port)


def items_body(lo, hi, owner_mod=7):
    return [{"owner": "o%d" % (i % owner_mod), "id": "ext-%d" % i,
             "text": "post %d: postgres nodes share one queue of items to tag" % i}
            for i in range(lo, hi)]


def import_items(port, n, chunk=1000):
    """POST /v1/items in chunks; returns the number inserted (fails on any other answer)."""
    inserted = 0
    for lo in range(0, n, chunk):
        st, _, doc = txtest.request_json(port, "POST", "/v1/items",
                                         items_body(lo, min(n, lo + chunk)), timeout=60)
        if st != 201 or not isinstance(doc, dict):
            raise AssertionError("import answered %s: %r" % (st, doc))
        inserted += doc.get("inserted", 0)
    return inserted


def wait_all_terminal(schema, timeout, what):
    txtest.wait_until(lambda: unfinished(schema) == 0, timeout, what, interval=0.2)


def ok_rows_per_item(schema):
    """{item id: number of `ok` rows in its history}."""
    rows = psql("SELECT i.id, count(a.seq) FILTER (WHERE a.class = 'ok') FROM %s.items i "
                "LEFT JOIN %s.attempts a ON a.item_id = i.id GROUP BY i.id" % (schema, schema))
    return {int(r[0]): int(r[1]) for r in rows}


def item_rows(schema):
    """id, status, attempts, history rows, result set?, model that answered (text)."""
    rows = psql("SELECT i.id, i.status, i.attempts, (SELECT count(*) FROM %s.attempts a WHERE "
                "a.item_id = i.id), i.result IS NOT NULL, convert_from(COALESCE(i.model, ''), "
                "'UTF8') FROM %s.items i ORDER BY i.id" % (schema, schema))
    return [{"id": int(r[0]), "status": r[1], "attempts": int(r[2]), "rows": int(r[3]),
             "result": r[4] == "t", "model": r[5]} for r in rows]


def attempts_by_model(schema):
    rows = psql("SELECT convert_from(model, 'UTF8'), count(*) FROM %s.attempts GROUP BY 1"
                % schema)
    return {r[0]: int(r[1]) for r in rows}


def diag_store(port):
    """The `store` object of /admin/diag, or None."""
    try:
        st, _, doc = txtest.request_json(port, "GET", "/admin/diag?q=ai-queue", timeout=5)
    except OSError:
        return None
    return doc.get("store") if st == 200 and isinstance(doc, dict) else None


def readyz(port):
    try:
        st, _, _ = txtest.request(port, "GET", "/readyz", timeout=5)
        return st
    except OSError:
        return None


class Clock:
    def __init__(self):
        self.t0 = time.monotonic()

    def s(self):
        return time.monotonic() - self.t0
