"""The job engine inside `tenax serve`: items left paused by a `tenax run` that hit quota are
picked up by the server's engine (its start-up probe succeeds against a healthy mock and resumes
the work), worked through the gateway's attempt primitive, and the server stops cleanly."""
import os

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
F.finish()
