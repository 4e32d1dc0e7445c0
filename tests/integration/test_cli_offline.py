"""The offline commands on a store populated by the real binary (tenax run against the real
mock): stats (table and --json), export (JSONL with the item fields, filters), retry (with and
without --force, --limit), regenerate, and every exit code (0 ok, 1 store error, 2 usage)."""
import json
import os
import subprocess

import jobsutil as ju
import txtest

F = txtest.Failures()
d = ju.tmpdir()
db = os.path.join(d, "t.db")
store = "sqlite:" + db


def tenax(*args, env=None):
    e = dict(os.environ)
    e.pop("TENAX_STORE", None)
    e.update(env or {})
    p = subprocess.run([os.path.abspath(txtest.TENAX)] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       env=e, timeout=60, cwd=d)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


# --- populate: owner 1 has 2 successes and a blank; owner f has 3 failures ----------------------
inp = os.path.join(d, "ok.jsonl")
ju.write_jsonl(inp, [{"id": "1", "owner": "1", "text": "Postgres 17 ships faster vacuum"},
                     {"id": "2", "owner": "1", "text": "Rates are on hold this quarter"},
                     {"id": "3", "owner": "1", "text": "  "}])
with txtest.mock() as m:
    rc, err = ju.run(["--input", inp, "--store", store], m.port)
    F.check(rc == 0, "populate: tenax run exits 0 (%d): %s" % (rc, err))
bad = os.path.join(d, "bad.jsonl")
ju.write_jsonl(bad, [{"id": "f%d" % i, "owner": "f", "text": "will fail %d" % i} for i in range(3)])
with txtest.mock(args=["--down-models", "gpt-4o-mini"]) as m:
    rc, err = ju.run(["--input", bad, "--store", store], m.port)
    F.check(rc == 1, "populate: failing items exit 1 (%d): %s" % (rc, err))

# --- stats -------------------------------------------------------------------------------------
rc, out, err = tenax("stats", "--store", store, "--owner", "1", "--json")
F.check(rc == 0, "stats --json exits 0: " + err)
st = json.loads(out) if rc == 0 else {}
F.check(list(st.keys()) == ["owner", "total", "with_result", "without_result", "need_retry",
                            "by_status", "enabled", "max_attempts"], "stats keys: %r" % list(st))
F.check(st.get("owner") == "1" and st.get("total") == 3 and st.get("with_result") == 2 and
        st.get("without_result") == 1 and st.get("need_retry") == 0, "stats counts: %r" % st)
F.check(st.get("by_status") == {"pending": 0, "processing": 0, "success": 2, "failed": 0,
                                "retrying": 0, "skipped": 1}, "by_status: %r" % st.get("by_status"))
F.check(st.get("enabled") is True and st.get("max_attempts") == 5, "enabled, max_attempts")
rc, out, err = tenax("stats", "--store", store, "--json", env={"JOB_MAX_ATTEMPTS": "9"})
st = json.loads(out) if rc == 0 else {}
F.check(st.get("owner") is None and st.get("total") == 6 and st.get("max_attempts") == 9,
        "stats of every owner, JOB_MAX_ATTEMPTS from the env: %r" % st)
rc, out, err = tenax("stats", "--store", store, "--owner", "f")
F.check(rc == 0 and "total           3" in out and "failed        3" in out,
        "stats table: " + out + err)
# default store: TENAX_STORE
rc, out, err = tenax("stats", "--json", env={"TENAX_STORE": store})
F.check(rc == 0 and json.loads(out).get("total") == 6, "TENAX_STORE is the default store")

# --- export ------------------------------------------------------------------------------------
rc, out, err = tenax("export", "--store", store)
lines = [json.loads(l) for l in out.splitlines() if l]
F.check(rc == 0 and len(lines) == 6, "export writes every item (%d): %s" % (len(lines), err))
keys = ["id", "owner", "external_id", "task", "text", "result", "status", "attempts",
        "last_attempt_at", "retry_after", "error", "error_class", "model", "prompt_version",
        "created_at", "updated_at", "history"]
F.check(all(list(l.keys()) == keys for l in lines), "export has the item fields in order")
ok = [l for l in lines if l["status"] == "success"]
F.check(len(ok) == 2 and all(isinstance(l["result"], list) and l["result"] and
                             all(isinstance(t, str) for t in l["result"]) for l in ok),
        "a tags result is an array of strings: %r" % [l["result"] for l in ok])
F.check(all(len(l["history"]) == 1 and l["history"][0]["class"] == "ok" and
            l["history"][0]["http_status"] == 200 and
            set(l["history"][0]) == {"n", "model", "endpoint", "provider", "class",
                                     "http_status", "latency_ms", "at"} and
            l["history"][0]["provider"] == "default" for l in ok), "history rows")
F.check(all(l["created_at"].endswith("Z") and "T" in l["created_at"] for l in lines),
        "times are RFC 3339 UTC")
failed = [l for l in lines if l["status"] == "failed"]
F.check(len(failed) == 3 and all(l["error_class"] == "server" and l["error"] and
                                 len(l["history"]) == l["attempts"] for l in failed),
        "failed items carry class, error and one history row per attempt")
rc, out, err = tenax("export", "--store", store, "--owner", "1", "--status", "skipped")
sk = [json.loads(l) for l in out.splitlines() if l]
F.check(rc == 0 and len(sk) == 1 and sk[0]["external_id"] == "3", "export --owner --status")
rc, out, err = tenax("export", "--store", store, "--owner", "nobody")
F.check(rc == 0 and out == "", "export of an unknown owner is empty")

# --- retry -------------------------------------------------------------------------------------
rc, out, err = tenax("retry", "--store", store, "--owner", "f")
F.check(rc == 0 and "selected 0 items" in out, "retry without --force leaves failed items: " + out)
rc, out, err = tenax("retry", "--store", store, "--owner", "f", "--force", "--limit", "2")
F.check(rc == 0 and "selected 2 items" in out, "retry --force --limit 2: " + out + err)
rc, out, err = tenax("export", "--store", store, "--owner", "f")
fl = [json.loads(l) for l in out.splitlines() if l]
pend = [l for l in fl if l["status"] == "pending"]
F.check(len(pend) == 2 and all(l["attempts"] == 0 and len(l["history"]) >= 1 for l in pend),
        "forced items: pending, attempts 0, history kept: %r" %
        [(l["status"], l["attempts"], len(l["history"])) for l in fl])
rc, out, err = tenax("retry", "--store", store, "--owner", "f")
F.check(rc == 0 and "selected 2 items" in out, "retry without --force takes pending ones: " + out)

# --- regenerate --------------------------------------------------------------------------------
target = ok[0]
rc, out, err = tenax("regenerate", str(target["id"]), "--store", store)
F.check(rc == 0 and "queued" in out, "regenerate exits 0: " + out + err)
rc, out, err = tenax("export", "--store", store, "--owner", "1")
again = {l["id"]: l for l in (json.loads(x) for x in out.splitlines() if x)}
t = again.get(target["id"], {})
F.check(t.get("status") == "pending" and t.get("attempts") == 0 and len(t.get("history", [])) == 1,
        "regenerated: pending, attempts reset, history kept: %r" % t)
rc, out, err = tenax("regenerate", "999999", "--store", store)
F.check(rc == 1 and "no item" in err, "regenerate of a missing id exits 1: " + err)
rc, out, err = tenax("regenerate", str(sk[0]["id"]) if sk else "3", "--store", store)
F.check(rc == 1 and "skipped" in err, "regenerate of a skipped item exits 1: " + err)

# --- exit codes and errors ---------------------------------------------------------------------
for cmd in (["stats"], ["retry"], ["export"], ["regenerate", "1"]):
    rc, out, err = tenax(*cmd, "--store", "sqlite:" + os.path.join(d, "missing.db"))
    F.check(rc == 1 and "no store" in err and len(err.strip().splitlines()) == 1,
            "%s on a missing store: exit 1, one line (%d): %s" % (cmd[0], rc, err))
    F.check(not os.path.exists(os.path.join(d, "missing.db")), "a missing store is not created")
    rc, out, err = tenax(*cmd, "--bogus")
    F.check(rc == 2 and len(err.strip().splitlines()) == 1, "%s --bogus exits 2 one line" % cmd[0])
    rc, out, err = tenax(cmd[0], "--help")
    F.check(rc == 0 and out.startswith("usage: tenax " + cmd[0]), "%s --help" % cmd[0])
corrupt = os.path.join(d, "corrupt.db")
with open(corrupt, "wb") as f:
    f.write(b"this is not a database" * 100)
rc, out, err = tenax("stats", "--store", "sqlite:" + corrupt)
F.check(rc == 1 and "corrupt" in err, "a corrupt store: exit 1 with a clear error: " + err)
rc, out, err = tenax("retry", "--store", store, "--limit", "0")
F.check(rc == 2 and "--limit" in err, "retry --limit 0 exits 2: " + err)
rc, out, err = tenax("export", "--store", store, "--status", "done")
F.check(rc == 2 and "--status" in err, "export --status done exits 2: " + err)
rc, out, err = tenax("regenerate", "abc", "--store", store)
F.check(rc == 2, "regenerate abc exits 2")
rc, out, err = tenax("regenerate", "--store", store)
F.check(rc == 2, "regenerate without an ID exits 2")
rc, out, err = tenax("stats", "--store", store, "extra")
F.check(rc == 2, "stats with a stray argument exits 2")

F.finish()
