"""Pause on quota and on auth (SPEC §5.2) with `tenax run`: the work stops with exit 3 and the
reason, items go back to pending without losing their attempt budget, the pause is persisted and
survives a restart (a probe against the still-broken provider keeps it), and a probe that
succeeds (provider fixed) resumes the work."""
import os

import jobsutil as ju
import txtest

F = txtest.Failures()
d = ju.tmpdir()
inp = os.path.join(d, "in.jsonl")
ju.write_jsonl(inp, [{"id": str(i), "owner": "1", "text": "Item number %d about markets" % i}
                     for i in range(1, 21)])

for fault, cls in (("quota", "quota"), ("401", "auth")):
    db = os.path.join(d, "%s.db" % cls)
    store = "sqlite:" + db
    with txtest.mock(args=["--faults", fault + ":1"]) as m:
        rc, err = ju.run(["--input", inp, "--store", store], m.port)
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
        rc, err = ju.run(["--input", inp, "--store", store, "--wait"], m.port)
        F.check(rc == 3 and "paused" in err, "%s: --wait does not wait for a pause (rc %d)" % (cls, rc))
        F.check(ju.pause(db)[0] == 1, "%s: pause survives a restart" % cls)
        F.check(len(ju.query(db, "SELECT class FROM attempts")) == n_hist + 1,
                "%s: a restart while paused makes exactly one probe attempt" % cls)
    with txtest.mock() as m:
        rc, err = ju.run(["--input", inp, "--store", store], m.port)
        F.check(rc == 0, "%s: provider fixed → the probe resumes, all done (rc %d): %s" % (cls, rc, err))
        F.check(ju.pause(db)[0] == 0, "%s: pause cleared in the store" % cls)
        rows = ju.items(db)
        F.check(all(r["status"] == "success" for r in rows), "%s: all success" % cls)
        F.check(all(r["attempts"] == 1 for r in rows),
                "%s: each item used one attempt of its budget" % cls)

F.finish()
