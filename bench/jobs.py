#!/usr/bin/env python3
"""Job engine benchmark (make bench): `tenax run` importing and working N items end to end on a
SQLite file against the mock with zero latency, beside a baseline measured in the same run: the
mock's raw request rate under wrk with the same concurrency (what the upstream side alone can do).
Targets on the 2-core dev machine: 20,000 items/s imported, 5,000 items/s end to end."""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "../tests/integration"))
import txtest  # noqa: E402

N = int(os.environ.get("BENCH_JOBS_ITEMS", "20000"))
CONC = os.environ.get("BENCH_JOBS_CONCURRENCY", "16")
BODY = ('{"model":"gpt-4o-mini","messages":[{"role":"system","content":"Tag the post."},'
        '{"role":"user","content":"Item 1 about rates, cloud and markets"}]}')


def wrk_rate(port):
    if shutil.which("wrk") is None:
        return None
    d = tempfile.mkdtemp(prefix="tenax-bench-")
    lua = os.path.join(d, "post.lua")
    with open(lua, "w") as f:
        f.write('wrk.method = "POST"\nwrk.body = \'%s\'\n'
                'wrk.headers["Content-Type"] = "application/json"\n' % BODY)
    out = subprocess.run(["wrk", "-t2", "-c" + CONC, "-d3s", "-s", lua,
                          "http://127.0.0.1:%d/v1/chat/completions" % port],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT).stdout.decode()
    shutil.rmtree(d, ignore_errors=True)
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    return float(m.group(1)) if m else None


def store_cycle_rate():
    """bench_store's single-thread cycle (claim + begin + record + finish per item) on SQLite."""
    exe = os.path.join(os.path.dirname(txtest.TENAX), "bench_store")
    if not os.access(exe, os.X_OK):
        return None
    d = tempfile.mkdtemp(prefix="tenax-bench-store-")
    out = subprocess.run([exe, d, "4000", "4000"], stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT).stdout.decode()
    shutil.rmtree(d, ignore_errors=True)
    m = re.search(r"cycle\s+([\d.]+) items/s", out)
    return float(m.group(1)) if m else None


def main():
    d = tempfile.mkdtemp(prefix="tenax-bench-jobs-")
    inp = os.path.join(d, "items.jsonl")
    with open(inp, "w") as f:
        for i in range(N):
            f.write(json.dumps({"id": str(i), "owner": str(i % 10),
                                "text": "Item %d about rates, cloud and markets" % i}) + "\n")
    db = os.path.join(d, "bench.db")
    with txtest.mock() as m:
        base = wrk_rate(m.port)
        env = dict(os.environ, AI_BASE_URLS="http://127.0.0.1:%d/v1" % m.port,
                   AI_MAX_CONCURRENCY=CONC, JOB_BATCH_SIZE="200", TENAX_LOG_LEVEL="warn")
        t0 = time.monotonic()
        p = subprocess.Popen([txtest.TENAX, "run", "--input", inp, "--store", "sqlite:" + db],
                             env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL)
        t_import = None
        for line in p.stderr:
            if t_import is None and b" new (" in line:
                t_import = time.monotonic() - t0
        rc = p.wait()
        total = time.monotonic() - t0
    shutil.rmtree(d, ignore_errors=True)
    if rc != 0 or t_import is None:
        print("bench jobs: tenax run exited %d" % rc)
        sys.exit(1)
    work = total - t_import
    print("items %d, concurrency %s, batch 200, SQLite, mock with zero latency" % (N, CONC))
    print("import      %9.0f items/s  (%.2f s; target 20,000)" % (N / t_import, t_import))
    print("end to end  %9.0f items/s  (%.2f s incl. import; work phase alone %.0f items/s; "
          "target 5,000)" % (N / total, total, N / work if work > 0 else 0))
    if base:
        print("baseline    %9.0f req/s    mock raw rate under wrk -c%s (same run); "
              "work phase / baseline = %.2f" % (base, CONC, (N / work) / base if work > 0 else 0))
    else:
        print("baseline    wrk not found")
    cyc = store_cycle_rate()
    if cyc:
        print("baseline    %9.0f items/s  bench_store cycle, one thread (same run); "
              "work phase / store cycle = %.2f" % (cyc, (N / work) / cyc if work > 0 else 0))


if __name__ == "__main__":
    main()
