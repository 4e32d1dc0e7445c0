"""Pause on quota and on auth (docs/jobs.md) with `tenax run`: the work stops with exit 3 and the
reason, items go back to pending without losing their attempt budget, the pause is persisted and
survives a restart (a probe against the still-broken provider keeps it), and a probe that
succeeds (provider fixed) resumes the work — also when the store is slow to record the resume
(a claim must not read the old pause meanwhile and pause the work again).

Deterministic by construction: every check reads the store after `tenax run` has exited; the
mocks listen on a port the kernel picks (no free-port race with tests running in parallel); the
attempt timeout is far above any answer time, so a loaded machine cannot turn a quota or auth
answer into a timeout, and the periodic probe cannot add a second probe to a slow run."""
import os
import sqlite3
import subprocess
import time

import jobsutil as ju
import txtest

F = txtest.Failures()
d = ju.tmpdir()
inp = os.path.join(d, "in.jsonl")
ju.write_jsonl(inp, [{"id": str(i), "owner": "1", "text": "Item number %d about markets" % i}
                     for i in range(1, 21)])
# No fixed window decides an outcome: an answer is never slower than the attempt timeout, and
# the periodic probe (the first one runs at start whatever the interval) cannot come round
# during a run however slow the machine, so "exactly one probe" counts the start-up probe only.
ENV = {"AI_TIMEOUT_MS": "120000", "JOB_PROBE_INTERVAL_MS": "86400000"}


def run(args, port, env=None):
    e = dict(ENV)
    e.update(env or {})
    return ju.run(args, port, env=e, timeout=300)


def paused_store(db, fault):
    """A store whose work `tenax run` paused on `fault`; returns its exit code and stderr."""
    with ju.mock(args=["--faults", fault + ":1"]) as m:
        return run(["--input", inp, "--store", "sqlite:" + db], m.port)


for fault, cls in (("quota", "quota"), ("401", "auth")):
    db = os.path.join(d, "%s.db" % cls)
    store = "sqlite:" + db
    with ju.mock(args=["--faults", fault + ":1"]) as m:
        rc, err = run(["--input", inp, "--store", store], m.port)
        F.check(rc == 3, "%s: paused → exit 3 (got %d)" % (cls, rc))
        F.check("paused" in err and cls in err, "%s: says why: %s" % (cls, err))
        p = ju.pause(db)
        F.check(p is not None and p[0] == 1 and cls in (p[1] or ""),
                "%s: pause persisted with its reason: %r" % (cls, p))
        rows = ju.items(db)
        F.check(all(r["status"] == "pending" for r in rows),
                "%s: every item back to pending: %r" % (cls, sorted({r["status"] for r in rows})))
        F.check(all(r["attempts"] == 0 for r in rows),
                "%s: attempt budget unchanged (attempts 0)" % cls)
        hist = ju.query(db, "SELECT class, refunded FROM attempts")
        F.check(len(hist) >= 1 and all(h["class"] == cls for h in hist),
                "%s: the failing attempt is in the history" % cls)
        F.check(all(h["refunded"] == 1 for h in hist),
                "%s: a handed-back attempt's history row is marked refunded: %r" % (cls, hist))
        n_hist = len(hist)
        # restart against the same broken provider: still paused, one probe only
        rc, err = run(["--input", inp, "--store", store, "--wait"], m.port)
        F.check(rc == 3 and "paused" in err, "%s: --wait does not wait for a pause (rc %d)" % (cls, rc))
        F.check(ju.pause(db)[0] == 1, "%s: pause survives a restart" % cls)
        F.check(len(ju.query(db, "SELECT class FROM attempts")) == n_hist + 1,
                "%s: a restart while paused makes exactly one probe attempt" % cls)
    with ju.mock() as m:
        rc, err = run(["--input", inp, "--store", store], m.port)
        F.check(rc == 0, "%s: provider fixed → the probe resumes, all done (rc %d): %s" % (cls, rc, err))
        F.check(ju.pause(db)[0] == 0, "%s: pause cleared in the store" % cls)
        rows = ju.items(db)
        F.check(all(r["status"] == "success" for r in rows), "%s: all success" % cls)
        F.check(all(r["attempts"] == 1 for r in rows),
                "%s: each item used one attempt of its budget" % cls)

# The probe succeeds while another writer holds the store's write lock, so clearing the pause
# waits; meanwhile the run's poll (every 500 ms) comes round. A claim then would read the old
# pause from the store (WAL readers see the last commit) and pause the work again: the run would
# exit 3 with 19 items pending. The engine claims nothing while its own pause change is unwritten.
db = os.path.join(d, "slow.db")
rc, _ = paused_store(db, "quota")
F.check(rc == 3 and ju.pause(db)[0] == 1, "slow store: paused to begin with (rc %d)" % rc)
with ju.mock(args=["--latency-ms", "1000"]) as m:
    p = subprocess.Popen([txtest.TENAX, "run", "--input", inp, "--store", "sqlite:" + db],
                         env=ju.env_for(m.port, dict(ENV, AI_MAX_CONCURRENCY="20")),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        txtest.wait_until(lambda: ju.mock_inflight(m.port) == 1, 60, "the probe at the provider")
        lock = sqlite3.connect(db, timeout=10, isolation_level=None)
        lock.execute("BEGIN IMMEDIATE")  # the store's write lock, until COMMIT below
        held_during_probe = ju.mock_inflight(m.port) == 1
        txtest.wait_until(lambda: ju.mock_inflight(m.port) == 0, 60, "the probe answered")
        time.sleep(1.5)  # the scenario: the write stays blocked across polls (not a synchronisation)
        lock.execute("COMMIT")
        lock.close()
        out, err = p.communicate(timeout=300)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    err = err.decode("utf-8", "replace")
    print("slow store: the lock was taken while the probe was in flight: %s" % held_during_probe)
    F.check(p.returncode == 0, "slow store: the probe's resume holds, all done (rc %d): %s"
            % (p.returncode, err))
    F.check("seen in the store" not in err, "slow store: no stale pause read: %s" % err)
    F.check(ju.pause(db)[0] == 0, "slow store: pause cleared in the store")
    F.check(all(r["status"] == "success" for r in ju.items(db)), "slow store: all success")

F.finish()
