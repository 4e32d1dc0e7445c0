"""Issue 6: two `tenax serve` nodes on one PostgreSQL database work 5,000 items through a faulty
mock; every item reaches a terminal state once, with exactly one successful result in its
history. Then again with one node killed (SIGKILL) halfway: the survivor finishes everything
after the leases expire. Runs under tests/with_pg.sh (a throw-away server)."""
import sys

import pgnodes as pn
import txtest

pn.require_pg()
F = txtest.Failures()
N = 5000
MAX_ATTEMPTS = int(pn.NODE_ENV["JOB_MAX_ATTEMPTS"])


def check_budget(schema, rows, strict):
    over = [r for r in rows if r["attempts"] > MAX_ATTEMPTS or r["rows"] > r["attempts"]]
    F.check(not over, "%s: attempts within JOB_MAX_ATTEMPTS, history rows <= attempts: %r"
            % (schema, over[:3]))
    if strict:  # nobody died: every attempt begun was recorded
        diff = [r for r in rows if r["rows"] != r["attempts"]]
        F.check(not diff, "%s: one history row per attempt: %r" % (schema, diff[:3]))


def check_results(schema, rows, ok_rows, max_dup):
    bad = [r for r in rows if r["status"] not in pn.TERMINAL]
    F.check(not bad, "%s: every item terminal: %r" % (schema, bad[:3]))
    succ = [r for r in rows if r["status"] == "success"]
    F.check(len(succ) > N * 0.95, "%s: most items succeed (%d of %d)" % (schema, len(succ), N))
    F.check(all(r["result"] for r in succ), "%s: every success has its result" % schema)
    nores = [r for r in rows if r["status"] != "success" and r["result"]]
    F.check(not nores, "%s: no result on an item that did not succeed: %r" % (schema, nores[:3]))
    no_ok = [r["id"] for r in succ if ok_rows.get(r["id"], 0) < 1]
    F.check(not no_ok, "%s: every success has an ok attempt: %r" % (schema, no_ok[:5]))
    failed_ok = [r["id"] for r in rows if r["status"] == "failed" and ok_rows.get(r["id"], 0)]
    F.check(not failed_ok, "%s: no ok attempt on a failed item: %r" % (schema, failed_ok[:5]))
    dups = [i for i, n in ok_rows.items() if n > 1]
    F.check(len(dups) <= max_dup, "%s: items answered twice: %d (allowed %d): %r"
            % (schema, len(dups), max_dup, dups[:5]))
    return dups


with txtest.mock(args=["--faults", pn.FAULTS, "--retry-after", "1", "--seed", "6"]) as m:
    # --- both nodes up the whole time ---------------------------------------------------------
    schema = "two_nodes"
    clock = pn.Clock()
    with pn.serve(schema, m.port, "node-a") as a, pn.serve(schema, m.port, "node-b") as b:
        ins = pn.import_items(a.port, N)
        F.check(ins == N, "5,000 items imported through node A (%d)" % ins)
        # node B heard of the import through LISTEN/NOTIFY (not only its own poll)
        wb = txtest.wait_until(lambda: (pn.diag_store(b.port) or {}).get("wakeups"), 20,
                               "node B woken by node A's import")
        F.check(wb >= 1 and pn.diag_store(b.port).get("listening") is True,
                "node B's diag: wake-ups %r, listening" % wb)
        again = pn.import_items(b.port, 1000)
        F.check(again == 0, "the same items through node B: nothing new (%d)" % again)
        pn.wait_all_terminal(schema, 60, "every item terminal with two nodes")
        took = clock.s()
        rows = pn.item_rows(schema)
        F.check(len(rows) == N, "%d items in the database (%d)" % (N, len(rows)))
        check_results(schema, rows, pn.ok_rows_per_item(schema), 0)
        check_budget(schema, rows, strict=True)
        by_model = pn.attempts_by_model(schema)
        F.check(by_model.get("node-a", 0) >= N // 20 and by_model.get("node-b", 0) >= N // 20,
                "both nodes worked (attempts by node: %r)" % by_model)
        F.check(set(by_model) <= {"node-a", "node-b"}, "only the nodes' models: %r" % by_model)
        st, _, stats = txtest.request_json(b.port, "GET", "/v1/owners/o3/stats")
        succ = sum(1 for r in rows if r["status"] == "success")
        F.check(st == 200 and isinstance(stats, dict), "stats from node B (%s)" % st)
        total_o3 = len(range(3, N, 7))
        F.check(isinstance(stats, dict) and stats.get("total") == total_o3,
                "node B's stats see every item of o3, whichever node worked it: %r" % stats)
        print("two nodes: %d items in %.1f s (%d successes), attempts by node %r"
              % (N, took, succ, by_model))

    # --- node A killed halfway: B finishes after A's leases expire -----------------------------
    schema = "two_nodes_kill"
    env = {"JOB_LEASE_MS": "2000"}
    with pn.serve(schema, m.port, "node-a", env) as a, pn.serve(schema, m.port, "node-b", env) as b:
        ins = pn.import_items(a.port, N)
        F.check(ins == N, "5,000 items imported again (%d)" % ins)
        txtest.wait_until(lambda: pn.terminal(schema) >= N // 2, 60, "half of the items done",
                          interval=0.05)
        a.kill9()
        held = pn.psql("SELECT count(*) FROM %s.items WHERE status = 'processing'" % schema)
        held = int(held[0][0])
        clock = pn.Clock()
        pn.wait_all_terminal(schema, 60, "the survivor finishes every item")
        F.check(b.p.poll() is None, "node B is still running")
        rows = pn.item_rows(schema)
        F.check(len(rows) == N, "%d items in the database (%d)" % (N, len(rows)))
        ok_rows = pn.ok_rows_per_item(schema)
        # An item A had answered and recorded but not yet finished when it died is asked again
        # by B: its history shows two ok rows, its result was written once. At most A's batch.
        dups = check_results(schema, rows, ok_rows, int(pn.NODE_ENV["JOB_BATCH_SIZE"]))
        check_budget(schema, rows, strict=False)
        after = pn.psql("SELECT count(*) FROM %s.attempts a JOIN %s.items i ON i.id = a.item_id "
                        "WHERE convert_from(a.model, 'UTF8') = 'node-b'" % (schema, schema))
        print("kill: %d items held at the kill, finished by B %.1f s later; %d answered twice; "
              "B made %s attempts" % (held, clock.s(), len(dups), after[0][0]))
        F.check(held <= int(pn.NODE_ENV["JOB_BATCH_SIZE"]) * 2,
                "at most two batches in hand at the kill (%d)" % held)
    F.check(a.p.returncode == -9, "node A died of SIGKILL (%s)" % a.p.returncode)

F.finish()
sys.exit(0)
