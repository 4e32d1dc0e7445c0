"""The job engine inside `tenax serve`: items left paused by a `tenax run` that hit quota are
picked up by the server's engine (its start-up probe succeeds against a healthy mock and resumes
the work), worked through the gateway's attempt primitive, and the server stops cleanly."""
import os
import sqlite3

import jobsutil as ju
import txtest

F = txtest.Failures()
d = ju.tmpdir()
db = os.path.join(d, "serve.db")
inp = os.path.join(d, "in.jsonl")
ju.write_jsonl(inp, [{"id": str(i), "owner": "9", "text": "Served item %d about rates" % i}
                     for i in range(30)])
with txtest.mock(args=["--faults", "quota:1"]) as m:
    rc, err = ju.run(["--input", inp, "--store", "sqlite:" + db], m.port)
    F.check(rc == 3 and ju.pause(db)[0] == 1, "setup: paused on quota (rc %d)" % rc)

with txtest.mock() as m:
    port = txtest.free_port()
    env = ju.env_for(m.port)
    env.pop("TENAX_LOG_LEVEL", None)
    with txtest.Proc(["serve", "--listen", "127.0.0.1:%d" % port, "--store", "sqlite:" + db],
                     env=env, port=port) as s:
        def all_done():
            rows = ju.items(db)
            return all(r["status"] == "success" for r in rows) and rows
        try:
            txtest.wait_until(all_done, 20, "the server's engine to finish the items")
            ok = True
        except AssertionError:
            ok = False
        F.check(ok, "serve works the paused items after its probe succeeds:\n" + s.log()[-2000:])
        F.check(ju.pause(db)[0] == 0, "the pause is cleared")
        F.check("probe succeeded" in s.log(), "the log says the probe resumed the work")
        rc = s.stop()
        F.check(rc == 0, "graceful stop exits 0 (got %r)" % rc)
    rows = ju.items(db)
    F.check(all(r["attempts"] == 1 for r in rows), "one attempt each")

# --- the periodic probe: paused in a running server, the provider comes back, work resumes ----
db2 = os.path.join(d, "probe.db")
mport = txtest.free_port()
m = txtest.mock(port=mport, args=["--faults", "quota:1"])
rc, err = ju.run(["--input", inp, "--store", "sqlite:" + db2], mport)  # imports, then pauses
n0 = len(ju.query(db2, "SELECT 1 FROM attempts"))
env = ju.env_for(mport, {"JOB_PROBE_INTERVAL_MS": "1000"})
env.pop("TENAX_LOG_LEVEL", None)
port = txtest.free_port()
with txtest.Proc(["serve", "--listen", "127.0.0.1:%d" % port, "--store", "sqlite:" + db2],
                 env=env, port=port) as s:
    def probed():
        n = len(ju.query(db2, "SELECT 1 FROM attempts"))
        return n > n0 and all(r["status"] == "pending" for r in ju.items(db2))
    txtest.wait_until(probed, 10, "the start-up probe to fail on quota")
    F.check(ju.pause(db2)[0] == 1, "still paused after the failed probe")
    m.stop()
    m = txtest.mock(port=mport)  # the provider is back on the same address
    try:
        txtest.wait_until(lambda: all(r["status"] == "success" for r in ju.items(db2)), 15,
                          "a periodic probe to resume the work")
        ok = True
    except AssertionError:
        ok = False
    F.check(ok, "a probe every JOB_PROBE_INTERVAL_MS resumes the work:\n" + s.log()[-1500:])
    F.check(ju.pause(db2)[0] == 0, "pause cleared by the probe")
m.stop()

# --- diag shows the pause; POST /admin/resume resumes (the probe interval is long here) ------
db4 = os.path.join(d, "resume.db")
with txtest.mock(args=["--faults", "quota:1"]) as m:
    ju.run(["--input", inp, "--store", "sqlite:" + db4], m.port)  # imports, then pauses
with txtest.mock(args=["--faults", "quota:1"]) as m:
    port = txtest.free_port()
    env = ju.env_for(m.port, {"JOB_PROBE_INTERVAL_MS": "600000"})
    with txtest.Proc(["serve", "--listen", "127.0.0.1:%d" % port, "--store", "sqlite:" + db4],
                     env=env, port=port) as s:
        def diag_jobs():
            st, _, doc = txtest.request_json(port, "GET", "/admin/diag?q=ai-queue")
            return doc.get("jobs") if st == 200 and isinstance(doc, dict) else None
        j = txtest.wait_until(lambda: (lambda x: x if x and x.get("counts", {}).get("pending")
                                       == 30 else None)(diag_jobs()), 10, "diag job counts")
        F.check(j.get("paused") is True and "quota" in (j.get("pauseReason") or ""),
                "diag shows the pause and its reason: %r" % j)
        m.stop()
        m2 = txtest.mock(port=m.port)  # provider fixed, no probe due for 10 minutes
        st, _, doc = txtest.request_json(port, "POST", "/admin/resume")
        F.check(st == 200 and doc.get("status") == "resumed", "POST /admin/resume: %r" % doc)
        try:
            txtest.wait_until(lambda: all(r["status"] == "success" for r in ju.items(db4)), 15,
                              "the resumed work")
            ok = True
        except AssertionError:
            ok = False
        F.check(ok, "after /admin/resume every item succeeds")
        F.check(ju.pause(db4)[0] == 0, "resume cleared the persisted pause")
        j = txtest.wait_until(lambda: (lambda x: x if x and x.get("counts", {}).get("success")
                                       == 30 else None)(diag_jobs()), 10, "diag success counts")
        F.check(j.get("paused") is False and j.get("attempts", 0) >= 30,
                "diag: not paused, attempts counted: %r" % j)
        m2.stop()

# --- graceful stop with attempts in flight: items are handed back, nothing is lost -------------
db3 = os.path.join(d, "stop.db")
with txtest.mock(args=["--faults", "quota:1"]) as m:
    ju.run(["--input", inp, "--store", "sqlite:" + db3], m.port)  # imports, then pauses
ju.query(db3, "SELECT 1")
c = sqlite3.connect(db3)
c.execute("UPDATE pause SET paused = 0, reason = NULL")  # as an admin resume would
c.commit()
c.close()
with txtest.mock(args=["--latency-ms", "400"]) as m:
    port = txtest.free_port()
    env = ju.env_for(m.port, {"AI_MAX_CONCURRENCY": "4"})
    with txtest.Proc(["serve", "--listen", "127.0.0.1:%d" % port, "--store", "sqlite:" + db3],
                     env=env, port=port) as s:
        txtest.wait_until(lambda: any(r["status"] == "processing" for r in ju.items(db3)), 10,
                          "work in flight")
        rc = s.stop()
        F.check(rc == 0, "SIGTERM with work in flight exits 0 (got %r)" % rc)
    rows = ju.items(db3)
    F.check(not any(r["status"] == "processing" for r in rows),
            "no item is left leased after a graceful stop: %r" % sorted({r["status"] for r in rows}))
    F.check(all(r["attempts"] <= 1 for r in rows), "at most one attempt each so far")
    rc, err = ju.run(["--input", inp, "--store", "sqlite:" + db3, "--wait"], m.port)
    rows = ju.items(db3)
    F.check(rc == 0 and all(r["status"] == "success" for r in rows),
            "a later run finishes everything (rc %d)" % rc)
F.finish()
