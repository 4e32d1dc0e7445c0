"""tenax run end to end on the real mock and a real SQLite file: success, skipped, malformed
lines, idempotent import, the seed's attempt schedule with fallbacks, the budget, parking with
retry_after, --wait, and the exit codes 0/1/2/3."""
import os
import sqlite3
import time

import jobsutil as ju
import txtest

F = txtest.Failures()
d = ju.tmpdir()
db = os.path.join(d, "t.db")
store = "sqlite:" + db
inp = os.path.join(d, "in.jsonl")

# --- success, skipped, malformed line, default id/owner, --out, idempotent import -------------
ju.write_jsonl(inp, [{"id": "1", "owner": "7", "text": "Postgres 17 ships faster vacuum"},
                     {"id": "2", "owner": "7", "text": "   "},
                     {"text": "Amazon cuts cloud roles"},
                     {"id": "nb", "owner": "7", "text": "\u00a0\u3000 "}],
               raw_lines=['{"id": "4", "owner": "7", "text": 12}', "not json at all"])
out = os.path.join(d, "out.jsonl")
with txtest.mock() as m:
    rc, err = ju.run(["--input", inp, "--store", store, "--out", out], m.port)
    F.check(rc == 0, "all success/skipped exits 0 (got %d): %s" % (rc, err))
    F.check(":5:" in err and ":6:" in err, "malformed lines reported by number: " + err)
    rows = ju.items(db)
    F.check(len(rows) == 4, "4 items imported, got %d" % len(rows))
    by_ext = {r["external_id"]: r for r in rows}
    F.check(by_ext.get("1", {}).get("status") == "success", "item 1 success")
    F.check(by_ext.get("2", {}).get("status") == "skipped", "blank text is skipped")
    F.check(by_ext.get("nb", {}).get("status") == "skipped", "Unicode spaces only is skipped")
    F.check("3" in by_ext and by_ext["3"]["owner"] == "default",
            "id defaults to the line number, owner to default")
    r1 = by_ext.get("1", {})
    F.check(r1.get("attempts") == 1 and r1.get("model") == "gpt-4o-mini" and
            r1.get("prompt_version") == 1, "success records attempts, model, prompt version")
    h = ju.history(db, r1.get("id", 0))
    F.check(len(h) == 1 and h[0]["class"] == "ok" and h[0]["http_status"] == 200,
            "one ok history row: %r" % h)
    with open(out) as f:
        lines = [l for l in f.read().splitlines() if l]
    F.check(len(lines) == 4 and '"status":"success"' in lines[0], "--out writes JSONL items")
    # again: nothing new, nothing redone
    rc, err = ju.run(["--input", inp, "--store", store], m.port)
    F.check(rc == 0 and "0 new" in err and "4 already there" in err,
            "second import is idempotent: " + err)
    F.check(ju.items(db)[0]["attempts"] == 1, "a finished item is not worked again")

# --- the seed's schedule: 3 primary, 2 fallbacks, then failed (exit 1) ------------------------
db2 = os.path.join(d, "sched.db")
ju.write_jsonl(inp, [{"id": "s1", "owner": "1", "text": "Rates are on hold this quarter"}])
env = {"AI_FALLBACK_MODELS": "fb-one,fb-two"}
with txtest.mock(args=["--down-models", "gpt-4o-mini,fb-one,fb-two"]) as m:
    rc, err = ju.run(["--input", inp, "--store", "sqlite:" + db2], m.port, env)
    F.check(rc == 1, "an item failed → exit 1 (got %d): %s" % (rc, err))
    it = ju.items(db2)[0]
    F.check(it["status"] == "failed" and it["attempts"] == 5 and it["error_class"] == "server",
            "failed after 5 attempts: %r" % it)
    h = ju.history(db2, it["id"])
    F.check([r["model"] for r in h] == ["gpt-4o-mini"] * 3 + ["fb-one", "fb-two"],
            "attempts 1-3 primary, 4 and 5 the fallbacks: %r" % [r["model"] for r in h])
    F.check([r["n"] for r in h] == [1, 2, 3, 4, 5] and all(r["http_status"] == 503 for r in h),
            "history numbered 1..5 with the 503s")

db3 = os.path.join(d, "fb.db")
with txtest.mock(args=["--down-models", "gpt-4o-mini,fb-one"]) as m:
    rc, err = ju.run(["--input", inp, "--store", "sqlite:" + db3], m.port, env)
    it = ju.items(db3)[0]
    F.check(rc == 0 and it["status"] == "success" and it["model"] == "fb-two" and
            it["attempts"] == 5, "the second fallback answers on attempt 5: %r" % it)

# --- the budget is counted across runs --------------------------------------------------------
db4 = os.path.join(d, "budget.db")
with txtest.mock(args=["--down-models", "gpt-4o-mini"]) as m:
    rc, err = ju.run(["--input", inp, "--store", "sqlite:" + db4], m.port,
                     {"JOB_MAX_ATTEMPTS": "2"})
    it = ju.items(db4)[0]
    F.check(rc == 1 and it["attempts"] == 2 and it["status"] == "failed",
            "budget of 2 stops after 2 attempts: %r" % it)

# --- parking: 429 → retrying with retry_after; exit 3; --wait waits for it -------------------
db5 = os.path.join(d, "park.db")
with txtest.mock(args=["--faults", "429:1", "--retry-after", "1"]) as m:
    t0 = time.time()
    rc, err = ju.run(["--input", inp, "--store", "sqlite:" + db5], m.port,
                     {"JOB_PARK_BASE_MS": "1500"})
    it = ju.items(db5)[0]
    F.check(rc == 3, "parked item → exit 3 (got %d): %s" % (rc, err))
    F.check(it["status"] == "retrying" and it["error_class"] == "rate_limit" and
            it["attempts"] == 1, "parked after one attempt: %r" % it)
    F.check(it["retry_after"] >= int(t0 * 1000) + 1400, "retry_after = now + park delay (1.5 s)")
    parked_until = it["retry_after"]
with txtest.mock() as m:
    rc, err = ju.run(["--input", inp, "--store", "sqlite:" + db5, "--wait"], m.port)
    it = ju.items(db5)[0]
    F.check(rc == 0 and it["status"] == "success" and it["attempts"] == 2,
            "--wait waits for the parked item, then it succeeds: rc=%d %r" % (rc, it))
    F.check(it["last_attempt_at"] >= parked_until,
            "the next attempt did not start before retry_after")

# --- exit 2: usage and store errors ------------------------------------------------------------
rc, err = ju.run([])
F.check(rc == 2 and "--input" in err, "missing --input → 2")
rc, err = ju.run(["--input", inp, "--bogus"])
F.check(rc == 2, "bad flag → 2")
bad = os.path.join(d, "garbage.db")
with open(bad, "wb") as f:
    f.write(b"this is not a database" * 100)
rc, err = ju.run(["--input", inp, "--store", "sqlite:" + bad])
F.check(rc == 2 and "corrupt" in err, "corrupt store → 2 with a clear error: " + err)
lock = sqlite3.connect(db, isolation_level=None)
lock.execute("BEGIN EXCLUSIVE")
rc, err = ju.run(["--input", inp, "--store", store + "?busy_timeout_ms=300"])
lock.execute("ROLLBACK")
lock.close()
F.check(rc == 2 and "locked" in err, "locked store → 2 with a clear error: " + err)
rc, err = ju.run(["--input", os.path.join(d, "missing.jsonl"), "--store", store])
F.check(rc == 2 and "missing.jsonl" in err, "unreadable input → 2")
rc, err = ju.run(["--input", inp, "--store", store, "--task", "nope"])
F.check(rc == 2 and "nope" in err, "unknown task → 2")

F.finish()
