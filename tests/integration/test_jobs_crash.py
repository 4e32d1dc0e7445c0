"""The crash test (docs/jobs.md): `tenax run --wait` over 3,000 items on a faulty mock with zero
latency is killed with SIGKILL at random moments at least 10 times and started again until it
finishes. Then, reading the SQLite file directly: every item is terminal, none is missing or
duplicated, none used more than JOB_MAX_ATTEMPTS, and each item's history agrees with its status
and attempt count."""
import os
import random
import signal
import subprocess
import time

import jobsutil as ju
import txtest

N = 3000
KILLS = 12
MAX_ATTEMPTS = 5
F = txtest.Failures()
d = ju.tmpdir()
db = os.path.join(d, "crash.db")
inp = os.path.join(d, "in.jsonl")
ju.write_jsonl(inp, [{"id": "c%d" % i, "owner": str(i % 5),
                      "text": "" if i % 97 == 0 else "Crash item %d on rates, cloud and markets" % i}
                     for i in range(N)])
seed = int(os.environ.get("TX_CRASH_SEED", str(int(time.time()))))
rng = random.Random(seed)
print("seed", seed)

env = {"JOB_LEASE_MS": "1000", "JOB_PARK_BASE_MS": "0", "JOB_BATCH_SIZE": "40",
       "AI_MAX_CONCURRENCY": "16", "JOB_MAX_ATTEMPTS": str(MAX_ATTEMPTS),
       "AI_FALLBACK_MODELS": "fb-a,fb-b",
       # about crashes, not the retry budget: a provider failing a quarter of the time would have
       # most retries parked by the default budget (20 % + 10/s), which only slows the run down
       "AI_RETRY_BUDGET_PERCENT": "1000"}
faults = "500:0.08,503:0.04,err200:0.04,empty:0.03,badjson:0.03,reset:0.02,429:0.02"
args = ["run", "--input", inp, "--store", "sqlite:" + db, "--wait"]
with txtest.mock(args=["--faults", faults, "--retry-after", "1", "--seed", str(seed)]) as m:
    e = ju.env_for(m.port, env)
    kills = 0
    inflight_at_kill = 0
    runs = 0
    final_rc = None

    def in_hand():
        try:
            return ju.query(db, "SELECT count(*) AS c FROM items "
                                "WHERE status = 'processing'")[0]["c"]
        except Exception:  # the file or its schema may not exist yet
            return 0

    while kills < KILLS:
        p = subprocess.Popen([txtest.TENAX] + args, env=e, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        runs += 1
        # wait until this run has items in hand, then kill it at a random moment soon after
        txtest.wait_until(lambda: in_hand() > 0 or p.poll() is not None, 30, "work to start",
                          interval=0.002)
        if p.poll() is not None:
            final_rc = p.returncode
            break
        time.sleep(rng.uniform(0, 0.04))  # the random moment (not a synchronisation)
        p.send_signal(signal.SIGKILL)
        p.wait()
        kills += 1
        inflight_at_kill += in_hand()
    if final_rc is None:
        p = subprocess.Popen([txtest.TENAX] + args, env=e, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        runs += 1
        final_rc = p.wait(45)
    print("runs", runs, "kills", kills, "final exit", final_rc)
    F.check(kills >= 10, "killed at least 10 times (%d)" % kills)
    print("items in hand at the kills", inflight_at_kill)
    F.check(inflight_at_kill > 0, "some kills hit items in the middle of their work")
    F.check(final_rc in (0, 1), "the last run finished everything (exit %r)" % final_rc)

rows = ju.items(db)
F.check(len(rows) == N, "every item is there exactly once (%d of %d)" % (len(rows), N))
keys = {(r["owner"], r["external_id"], r["task"]) for r in rows}
F.check(len(keys) == len(rows), "no duplicates")
F.check({"c%d" % i for i in range(N)} == {r["external_id"] for r in rows}, "none missing")
terminal = {"success", "failed", "skipped"}
bad = [r for r in rows if r["status"] not in terminal]
F.check(not bad, "every item is terminal (%d are not, e.g. %r)" % (len(bad), bad[:1]))
F.check(all(r["attempts"] <= MAX_ATTEMPTS for r in rows), "no item exceeded JOB_MAX_ATTEMPTS")
F.check(all(r["status"] == "skipped" for r in rows if r["text"].strip() == ""),
        "blank items skipped")

hist = {}
# A refunded row (attempt handed back on a quota/auth pause) shares its n with the next attempt;
# the counted rows (refunded = 0) must be distinct and within the item's attempts.
for h in ju.query(db, "SELECT item_id, n, model, class FROM attempts WHERE refunded = 0 "
                      "ORDER BY item_id, n"):
    hist.setdefault(h["item_id"], []).append(h)
problems = []
for r in rows:
    hs = hist.get(r["id"], [])
    ns = [h["n"] for h in hs]
    if len(set(ns)) != len(ns):
        problems.append((r["id"], "duplicate attempt numbers", ns))
    if any(n < 1 or n > r["attempts"] for n in ns):
        problems.append((r["id"], "attempt number beyond the item's attempts", ns, r["attempts"]))
    if r["status"] == "skipped" and (hs or r["attempts"]):
        problems.append((r["id"], "skipped item was worked"))
    if r["status"] == "success":
        last = hs[-1] if hs else None
        if last is None or last["class"] != "ok" or last["model"] != r["model"]:
            problems.append((r["id"], "success without a final ok attempt", hs))
        if r["result"] is None:
            problems.append((r["id"], "success without a result"))
    if r["status"] == "failed":
        if hs and hs[-1]["class"] == "ok" and hs[-1]["n"] == r["attempts"]:
            problems.append((r["id"], "failed but its last attempt was ok", hs))
        if r["error_class"] is None and r["attempts"] < MAX_ATTEMPTS:
            problems.append((r["id"], "failed without a class", r))
F.check(not problems, "histories consistent (%d problems, e.g. %r)" % (len(problems), problems[:3]))
counts = {}
for r in rows:
    counts[r["status"]] = counts.get(r["status"], 0) + 1
print("final", counts)
F.finish()
