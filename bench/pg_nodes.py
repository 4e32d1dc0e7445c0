#!/usr/bin/env python3
"""Several nodes on PostgreSQL (make bench): items/s end to end (import through POST /v1/items,
then worked through to a terminal state) by `tenax serve` on PostgreSQL with one node and with two
nodes, against the mock with zero latency and no faults, beside the SQLite single-node figure
measured in the same run (the ratio is the result). Starts its own throw-away PostgreSQL with
scripts/pg.sh and stops it. Target on the 2-core dev machine: 5,000 items/s with two nodes.
Env: BENCH_PG_ITEMS (default 20000), BENCH_PG_CONCURRENCY (per node, default 32),
BENCH_PG_IMPORTERS (concurrent import requests of 1,000 items, default 4)."""
import concurrent.futures
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "../tests/integration"))
import txtest  # noqa: E402

N = int(os.environ.get("BENCH_PG_ITEMS", "20000"))
CONC = os.environ.get("BENCH_PG_CONCURRENCY", "32")
PG_SH = os.path.join(HERE, "../scripts/pg.sh")
CHUNK = 1000
IMPORTERS = int(os.environ.get("BENCH_PG_IMPORTERS", "4"))  # concurrent POST /v1/items


def start_pg():
    if not any(os.path.exists(os.path.join("/usr/lib/postgresql", v, "bin/initdb"))
               for v in (os.listdir("/usr/lib/postgresql") if os.path.isdir("/usr/lib/postgresql")
                         else [])):
        return None, None
    base = tempfile.mkdtemp(prefix="tenax-bench-pg-")
    os.chmod(base, 0o755)  # the server runs as `postgres` when we are root
    d = os.path.join(base, "pg")
    for _ in range(5):
        port = txtest.free_port()
        p = subprocess.run([PG_SH, "start", d, str(port)], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE)
        if p.returncode == 0:
            return base, p.stdout.decode().strip()
    shutil.rmtree(base, ignore_errors=True)
    return None, None


def stop_pg(base):
    subprocess.run([PG_SH, "stop", os.path.join(base, "pg")], stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    shutil.rmtree(base, ignore_errors=True)


def node(store, mock_port, model):
    port = txtest.free_port()
    env = {"AI_BASE_URLS": "http://127.0.0.1:%d/v1" % mock_port, "AI_MODEL": model,
           "AI_MAX_CONCURRENCY": CONC, "AI_QUEUE_MAX_SIZE": "1000", "JOB_BATCH_SIZE": "200",
           "TENAX_LOG_LEVEL": "error"}
    return txtest.Proc(["serve", "--listen", "127.0.0.1:%d" % port, "--store", store], env=env,
                       port=port)


def done_count(port, owner):
    st, _, doc = txtest.request_json(port, "GET", "/v1/owners/%s/stats" % owner, timeout=30)
    if st != 200 or not isinstance(doc, dict):
        return -1
    b = doc.get("by_status", {})
    return b.get("success", 0) + b.get("failed", 0) + b.get("skipped", 0)


def run(label, store, mock_port, nodes, owner):
    """Imports N items through the first node and waits until all are terminal; items/s."""
    procs = [node(store, mock_port, "node-%d" % i) for i in range(nodes)]
    try:
        bodies = [json.dumps([{"owner": owner, "id": str(i),
                               "text": "item %d about rates and clouds" % i}
                              for i in range(lo, min(N, lo + CHUNK))])
                  for lo in range(0, N, CHUNK)]
        answers = []

        def post(body):
            st, _, _ = txtest.request(procs[0].port, "POST", "/v1/items", body,
                                      {"Content-Type": "application/json"}, timeout=120)
            answers.append(st)

        t0 = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(IMPORTERS) as ex:
            list(ex.map(post, bodies))
        t_imp = time.monotonic() - t0
        if any(st != 201 for st in answers):
            raise SystemExit("bench pg_nodes: %s: import answered %r" % (label, set(answers)))
        txtest.wait_until(lambda: done_count(procs[0].port, owner) >= N, 600,
                          "%s: every item terminal" % label, interval=0.25)
        took = time.monotonic() - t0
    finally:
        for p in procs:
            p.stop()
            os.unlink(p.logf.name)
    rate = N / took
    print("%-26s %8.0f items/s  (%.2f s; import %.2f s)" % (label, rate, took, t_imp))
    return rate


def main():
    base, url = start_pg()
    if url is None:
        print("bench pg_nodes: no PostgreSQL server binaries (scripts/deps.sh); skipped")
        return
    d = tempfile.mkdtemp(prefix="tenax-bench-nodes-")
    try:
        print("load average before: %.1f; items %d per run, %d concurrent imports of %d, "
              "concurrency %s and batch 200 per node, mock with zero latency, no faults; "
              "PostgreSQL from scripts/pg.sh on this host"
              % (os.getloadavg()[0], N, IMPORTERS, CHUNK, CONC))
        with txtest.mock() as m:
            sq = run("SQLite, 1 node", "sqlite:" + os.path.join(d, "b.db"), m.port, 1, "sq")
            p1 = run("PostgreSQL, 1 node", url + "?schema=bench_one", m.port, 1, "p1")
            p2 = run("PostgreSQL, 2 nodes", url + "?schema=bench_two", m.port, 2, "p2")
        print("load average after the runs: %.1f (%d cores)" % (os.getloadavg()[0],
                                                                os.cpu_count() or 0))
        print("ratio PostgreSQL/SQLite: 1 node %.2f, 2 nodes %.2f; 2 nodes / 1 node %.2f "
              "(target 5,000 items/s with 2 nodes)" % (p1 / sq, p2 / sq, p2 / p1))
    finally:
        shutil.rmtree(d, ignore_errors=True)
        stop_pg(base)


if __name__ == "__main__":
    main()
