"""Helpers for the job integration tests: run `tenax run` against a real mock and read the SQLite
file with python's sqlite3 module."""
import json
import os
import re
import sqlite3
import subprocess
import tempfile

import txtest

BASE_ENV = {
    "AI_RETRY_DELAY_MS": "0",      # in-line retries at once: tests stay fast
    "AI_TIMEOUT_MS": "5000",
    "TENAX_LOG_LEVEL": "warn",
}


def write_jsonl(path, rows, raw_lines=()):
    with open(path, "w") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")
        for line in raw_lines:
            f.write(line + "\n")


def env_for(mock_port=None, env=None):
    e = dict(os.environ)
    e.update(BASE_ENV)
    if mock_port is not None:
        e["AI_BASE_URLS"] = "http://127.0.0.1:%d/v1" % mock_port
    e.update(env or {})
    return e


def run(args, mock_port=None, env=None, timeout=60):
    """Runs `tenax run ARGS`; returns (exit code, stderr text)."""
    p = subprocess.run([txtest.TENAX, "run"] + list(args), env=env_for(mock_port, env),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
    return p.returncode, p.stderr.decode("utf-8", "replace")


def mock(args=()):
    """`tenax mock` on a port the kernel picks (--listen 127.0.0.1:0), read from its start-up
    line: no window between choosing a free port and binding it in which another process (tests
    run in parallel) could take it, leaving this test talking to someone else's server."""
    m = txtest.Proc(["mock", "--listen", "127.0.0.1:0"] + list(args))
    try:
        found = txtest.wait_until(
            lambda: re.search(r"listening on http://127\.0\.0\.1:(\d+)", m.log())
            or m.p.poll() is not None, 15, "the mock's start-up line")
        if m.p.poll() is not None:
            raise AssertionError("tenax mock exited %s:\n%s" % (m.p.returncode, m.log()))
        m.port = int(found.group(1))
    except BaseException:
        m.stop()
        raise
    return m


def mock_inflight(port):
    """The completions the mock holds in flight now (GET /mock/stats)."""
    st, _, doc = txtest.request_json(port, "GET", "/mock/stats")
    assert st == 200, "mock stats answered %s" % st
    return doc["inflight"]


def query(db, sql, args=()):
    c = sqlite3.connect(db, timeout=10)
    c.row_factory = sqlite3.Row
    rows = [dict(r) for r in c.execute(sql, args)]
    c.close()
    return rows


def items(db):
    return query(db, "SELECT * FROM items ORDER BY id")


def history(db, item_id):
    return query(db, "SELECT * FROM attempts WHERE item_id = ? ORDER BY n, at", (item_id,))


def pause(db):
    rows = query(db, "SELECT paused, reason FROM pause WHERE id = 1")
    return (rows[0]["paused"], rows[0]["reason"]) if rows else None


def tmpdir():
    return tempfile.mkdtemp(prefix="tenax-jobs-")
