#!/usr/bin/env python3
"""Scale benchmark (make bench): (1) the peak RSS of tenax serve holding 10,000 concurrent client
connections (wrk -c10000) queued behind 256 upstream slots, against the nginx upstream of
bench/gateway.py; (2) 1,000 concurrent SSE streams from `tenax mock` (its `slow` answer: the
stream's pieces 20 ms apart) relayed by tenax and by nginx with proxy_buffering off, as CPU time
of the proxy process per relayed event. Both run against the same upstream in one run; on this
shared machine the CPU figures move with the other tenants."""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "../tests/integration"))
import gateway  # noqa: E402
import txtest  # noqa: E402

DURATION = os.environ.get("BENCH_DURATION", "5s")
STREAM_BODY = ('{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":'
               '"one two three four five six seven eight nine ten"}],'
               '"tenax_mock":{"id":"sse","script":["slow"]}}')
SSE_PROXY_BODY = """upstream up {{ server 127.0.0.1:{up}; keepalive 1024; keepalive_requests 1000000; }}
  server {{ listen 127.0.0.1:{px};
    location / {{ proxy_pass http://up; proxy_http_version 1.1; proxy_set_header Connection "";
      proxy_buffering off; }} }}"""


def wrk_requests(port, conns, script, duration):
    out = subprocess.run(["wrk", "-t2", "-c%d" % conns, "-d" + duration, "--timeout", "30s", "-s",
                          script, "http://127.0.0.1:%d/v1/chat/completions" % port],
                         capture_output=True, text=True).stdout
    m = re.search(r"(\d+) requests in", out)
    errs = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return (int(m.group(1)) if m else 0), (int(errs.group(1)) if errs else 0), out


def events_per_stream(port):
    req = urllib.request.Request("http://127.0.0.1:%d/v1/chat/completions" % port,
                                 data=STREAM_BODY.encode(), headers={"Content-Type": "application/json",
                                                                     "Authorization": "Bearer k"})
    with urllib.request.urlopen(req, timeout=30) as r:
        body = r.read().decode()
    return sum(1 for line in body.split("\n") if line.startswith("data:"))


def main():
    d = tempfile.mkdtemp(prefix="tenax-scale-")
    procs, ngx = [], []
    try:
        # (1) 10,000 connections
        up, tx = txtest.free_port(), txtest.free_port()
        script = os.path.join(d, "post.lua")
        with open(script, "w") as f:
            f.write(gateway.WRK_LUA.format(body=gateway.BODY))
        ngx.append(gateway.start_nginx(d, "upstream", gateway.upstream_body(up)))
        txtest.wait_until(lambda: txtest.port_open(up), 10, "nginx upstream")
        env = {"AI_BASE_URLS": "http://127.0.0.1:%d/v1" % up, "AI_API_KEY": "bench-key",
               "AI_MAX_CONCURRENCY": "256", "AI_QUEUE_MAX_SIZE": "100000",
               "TENAX_MAX_CONNECTIONS": "12000", "TENAX_LOG_LEVEL": "warn"}
        tenax = txtest.Proc(["serve", "--listen", "127.0.0.1:%d" % tx, "--store",
                             "sqlite:" + os.path.join(d, "scale.db")], env=env, port=tx)
        procs.append(tenax)
        rss0 = txtest.peak_rss_kib(tenax.p.pid)
        n, bad, out = wrk_requests(tx, 10000, script, DURATION)
        rss = txtest.peak_rss_kib(tenax.p.pid)
        print("10,000 concurrent connections (%s): tenax peak RSS %.1f MiB (%.1f MiB before), "
              "%d requests, %d non-2xx" % (time.strftime("%Y-%m-%d %H:%M"), rss / 1024.0,
                                          rss0 / 1024.0, n, bad))
        tenax.stop()
        procs.remove(tenax)

        # (2) 1,000 SSE streams
        mp, px, tx2 = txtest.free_port(), txtest.free_port(), txtest.free_port()
        mock = txtest.Proc(["mock", "--listen", "127.0.0.1:%d" % mp, "--slow-ms", "20",
                            "--max-connections", "4000"], port=mp)
        procs.append(mock)
        ngx.append(gateway.start_nginx(d, "sse-proxy", SSE_PROXY_BODY.format(up=mp, px=px)))
        txtest.wait_until(lambda: txtest.port_open(px), 10, "nginx sse proxy")
        txtest.wait_until(lambda: gateway.children(ngx[-1].pid), 10, "nginx worker")
        env = {"AI_BASE_URLS": "http://127.0.0.1:%d/v1" % mp, "AI_API_KEY": "bench-key",
               "AI_MAX_CONCURRENCY": "2048", "AI_QUEUE_MAX_SIZE": "4096",
               "TENAX_MAX_CONNECTIONS": "4000", "TENAX_LOG_LEVEL": "warn"}
        tenax = txtest.Proc(["serve", "--listen", "127.0.0.1:%d" % tx2, "--store",
                             "sqlite:" + os.path.join(d, "sse.db")], env=env, port=tx2)
        procs.append(tenax)
        sse_script = os.path.join(d, "sse.lua")
        with open(sse_script, "w") as f:
            f.write(gateway.WRK_LUA.format(body=STREAM_BODY) +
                    'wrk.headers["Authorization"] = "Bearer k"\n')
        per = {"nginx": events_per_stream(px), "tenax": events_per_stream(tx2)}
        print("1,000 SSE streams, pieces 20 ms apart (events per stream: nginx %d, tenax %d)"
              % (per["nginx"], per["tenax"]))
        for name, port, pids in (("nginx", px, gateway.children(ngx[-1].pid)),
                                 ("tenax", tx2, [tenax.p.pid])):
            u0, s0 = gateway.cpu_s(pids)
            n, bad, _ = wrk_requests(port, 1000, sse_script, DURATION)
            u1, s1 = gateway.cpu_s(pids)
            ev = max(1, n * per[name])
            print("  %-6s %6d streams, %7d events, %d non-2xx: %.2f us CPU per event (user %.2f, kernel %.2f)"
                  % (name, n, ev, bad, (u1 - u0 + s1 - s0) * 1e6 / ev, (u1 - u0) * 1e6 / ev,
                     (s1 - s0) * 1e6 / ev))
    finally:
        for p in procs:
            p.stop()
        for n in ngx:
            n.terminate()
            n.wait()
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
