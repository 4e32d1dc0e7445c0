#!/usr/bin/env python3
"""Cost of observability on the gateway path: wrk against three tenax serve processes in one run,
all in front of the same nginx upstream (a canned chat completion): (a) metrics on + info logging
(one [ai][request] line per request), (b) metrics on, logging at warn, (c) TENAX_METRICS=0 and
logging at warn. Runs are interleaved and repeated; compare within the run only (shared machine).
    python3 bench/ops.py            (BENCH_DURATION=5s, BENCH_ROUNDS=2)"""
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "../tests/integration"))
import gateway as gw  # noqa: E402
import txtest  # noqa: E402

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "2"))
CONFIGS = (("metrics+info", {"TENAX_LOG_LEVEL": "info"}),
           ("metrics+warn", {"TENAX_LOG_LEVEL": "warn"}),
           ("off", {"TENAX_LOG_LEVEL": "warn", "TENAX_METRICS": "0"}))


def main():
    d = tempfile.mkdtemp(prefix="tenax-bench-ops-")
    up = txtest.free_port()
    script = os.path.join(d, "post.lua")
    with open(script, "w") as f:
        f.write(gw.WRK_LUA.format(body=gw.BODY))
    ngx = gw.start_nginx(d, "upstream", gw.upstream_body(up))
    txtest.wait_until(lambda: txtest.port_open(up), 10, "nginx")
    procs = {}
    try:
        for name, extra in CONFIGS:
            port = txtest.free_port()
            env = {"AI_BASE_URLS": "http://127.0.0.1:%d/v1" % up, "AI_API_KEY": "bench-key",
                   "AI_MAX_CONCURRENCY": "256", "AI_QUEUE_MAX_SIZE": "4096"}
            env.update(extra)
            procs[name] = (port, txtest.Proc(["serve", "--listen", "127.0.0.1:%d" % port,
                                              "--store", "sqlite:" + os.path.join(d, name + ".db")],
                                             env=env, port=port))
        res = {}
        for conns in (1, 64):
            for name, (port, _) in procs.items():
                subprocess.run(["wrk", "-t1", "-c%d" % conns, "-d1s", "-s", script,
                                "http://127.0.0.1:%d/v1/chat/completions" % port],
                               capture_output=True, check=True)
            for _ in range(ROUNDS):
                for name, (port, _) in procs.items():
                    res.setdefault((conns, name), []).append(gw.wrk(port, conns, script))
        print("observability cost, %s x %d rounds per cell, %s" % (gw.DURATION, ROUNDS,
                                                                   time.strftime("%Y-%m-%d %H:%M")))
        print("%-6s %-13s %10s %10s %10s %8s" % ("conns", "tenax", "req/s", "p50 us", "p99 us",
                                                 "non2xx"))
        best = {}
        for (conns, name), runs in sorted(res.items()):
            rps = max(r["rps"] for r in runs)
            p50 = min(r["p50"] for r in runs)
            p99 = min(r["p99"] for r in runs)
            best[(conns, name)] = (rps, p50)
            print("%-6d %-13s %10.0f %10.1f %10.1f %8d" % (conns, name, rps, p50, p99,
                                                           sum(r["non2xx"] for r in runs)))
        print()
        for conns in (1, 64):
            off = best[(conns, "off")]
            for name in ("metrics+warn", "metrics+info"):
                on = best[(conns, name)]
                print("c=%-3d %-13s vs off: throughput %.3f, p50 %+.1f us" %
                      (conns, name, on[0] / off[0], on[1] - off[1]))
    finally:
        for _, p in procs.values():
            p.stop()
        ngx.terminate()
        ngx.wait()
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
