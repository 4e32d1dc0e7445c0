#!/usr/bin/env python3
"""The SSE relay benchmark alone (the second part of bench/scale.py), with ways to see where the
CPU goes: concurrent streams from `tenax mock` (its `slow` answer: one event every 20 ms) relayed by
nginx (one worker, proxy_buffering off) and by tenax serve, in alternating rounds against the same
upstream. Per relayed event it prints the proxy's CPU time (default), its system calls by name
(--strace: strace -c attached to the proxy during the round) or the user-space instructions it
ran (--callgrind: both proxies under valgrind's callgrind, counting only during the round; the
profile files are kept in --keep DIR for callgrind_annotate).

  python3 bench/sse.py [--rounds N] [--conns C] [--duration 5s] [--strace | --callgrind [--keep DIR]]
                       [--base OTHER_TENAX_BINARY]

--base adds a third proxy to every round: another tenax binary (a build of an earlier commit), so
a change is measured against its baseline under the same load.

TENAX_BIN selects the binary (the tests' default: build/tenax). Under strace the proxies run far
slower: use fewer streams (--conns 100) so they keep up and the per-event counts stay those of a
proxy that is not behind; under callgrind, fewer still (--conns 50).)"""
import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "../tests/integration"))
import gateway  # noqa: E402
import instructions  # noqa: E402
import scale  # noqa: E402
import txtest  # noqa: E402


def attach(mode, pids, out):
    """A tracer attached to `pids` for one round (None for plain CPU time)."""
    if mode == "strace":
        cmd = ["strace", "-c", "-f", "-o", out]
        for p in pids:
            cmd += ["-p", str(p)]
    else:
        return None
    t = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if mode == "strace":  # attached once it reports each thread; give it the time to do so
        txtest.wait_until(lambda: os.path.exists("/proc/%d" % t.pid) and
                          any(os.path.exists("/proc/%d/status" % p) for p in pids), 5, "strace")
    return t


def detach(t):
    t.send_signal(signal.SIGINT)
    t.wait(30)


def report_strace(out, ev):
    rows = []
    with open(out) as f:
        for line in f:
            m = re.match(r"\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?(\w+)\s*$", line)
            if m and m.group(2) != "total":
                rows.append((int(m.group(1)), m.group(2)))
    rows.sort(reverse=True)
    total = sum(n for n, _ in rows)
    return "%.2f syscalls per event (%s)" % (
        total / ev, ", ".join("%s %.2f" % (name, n / ev) for n, name in rows if n / ev >= 0.005))


def ctx_switches(pids):
    """Voluntary context switches of `pids` so far: how often the loop slept in epoll_wait."""
    n = 0
    for pid in pids:
        for task in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/status" % (pid, task)) as f:
                for line in f:
                    if line.startswith("voluntary_ctxt_switches:"):
                        n += int(line.split()[1])
    return n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--conns", type=int, default=1000)
    ap.add_argument("--duration", default=os.environ.get("BENCH_DURATION", "5s"))
    ap.add_argument("--strace", action="store_const", dest="mode", const="strace")
    ap.add_argument("--callgrind", action="store_const", dest="mode", const="callgrind")
    ap.add_argument("--keep", default=None, help="folder for the callgrind profiles")
    ap.add_argument("--base", default=None, help="another tenax binary measured alongside")
    args = ap.parse_args()
    d = tempfile.mkdtemp(prefix="tenax-sse-")
    procs, ngx = [], []
    try:
        mp, px, tx, tb = (txtest.free_port(), txtest.free_port(), txtest.free_port(),
                          txtest.free_port())
        mock = txtest.Proc(["mock", "--listen", "127.0.0.1:%d" % mp, "--slow-ms", "20",
                            "--max-connections", "4000"], port=mp)
        procs.append(mock)
        env = {"AI_BASE_URLS": "http://127.0.0.1:%d/v1" % mp, "AI_API_KEY": "bench-key",
               "AI_MAX_CONCURRENCY": "2048", "AI_QUEUE_MAX_SIZE": "4096",
               "TENAX_MAX_CONNECTIONS": "4000", "TENAX_LOG_LEVEL": "warn"}
        def serve(port):
            return ["serve", "--listen", "127.0.0.1:%d" % port, "--store",
                    "sqlite:" + os.path.join(d, "sse-%d.db" % port)]
        tenaxes = [("tenax", tx, os.path.realpath(txtest.TENAX))]
        if args.base:
            tenaxes.append(("base", tb, os.path.realpath(args.base)))
        cg = {}
        if args.mode == "callgrind":
            keep = args.keep or d
            os.makedirs(keep, exist_ok=True)
            conf = os.path.join(d, "nginx-sse-cg.conf")
            with open(conf, "w") as f:  # one process, so callgrind sees the worker
                f.write("master_process off;\n" + gateway.NGINX_COMMON.format(
                    d=d, name="sse-cg", body=scale.SSE_PROXY_BODY.format(up=mp, px=px)))
            cg["nginx"] = os.path.join(keep, "cg.nginx.sse")
            ngx.append(instructions.callgrind(["nginx", "-c", conf, "-p", d], cg["nginx"]))
            txtest.wait_until(lambda: txtest.port_open(px), 60, "nginx under valgrind")
            pids = {"nginx": [ngx[0].pid]}
            for name, port, binary in tenaxes:
                cg[name] = os.path.join(keep, "cg.%s.sse" % name)
                p = instructions.callgrind([binary] + serve(port), cg[name],
                                           dict(os.environ, **env))
                ngx.append(p)
                txtest.wait_until(lambda: txtest.port_open(port), 60, name + " under valgrind")
                pids[name] = [p.pid]
        else:
            ngx.append(gateway.start_nginx(d, "sse-proxy",
                                           scale.SSE_PROXY_BODY.format(up=mp, px=px)))
            txtest.wait_until(lambda: txtest.port_open(px), 10, "nginx sse proxy")
            txtest.wait_until(lambda: gateway.children(ngx[-1].pid), 10, "nginx worker")
            pids = {"nginx": gateway.children(ngx[-1].pid)}
            for name, port, binary in tenaxes:
                saved, txtest.TENAX = txtest.TENAX, binary
                try:
                    p = txtest.Proc(serve(port), env=env, port=port)
                finally:
                    txtest.TENAX = saved
                procs.append(p)
                pids[name] = [p.p.pid]
        script = os.path.join(d, "sse.lua")
        with open(script, "w") as f:
            f.write(gateway.WRK_LUA.format(body=scale.STREAM_BODY) +
                    'wrk.headers["Authorization"] = "Bearer k"\n')
        order = [("nginx", px)] + [(name, port) for name, port, _ in tenaxes]
        per = dict((name, scale.events_per_stream(port)) for name, port in order)
        print("%d SSE streams, pieces 20 ms apart (events per stream: %s)%s"
              % (args.conns, ", ".join("%s %d" % (n, per[n]) for n, _ in order),
                 " under " + args.mode if args.mode else ""))
        for rnd in range(args.rounds):
            for name, port in order:
                out = os.path.join(d, "%s-%d.out" % (name, rnd))
                t = attach(args.mode, pids[name], out)
                if args.mode == "callgrind":
                    subprocess.run(["callgrind_control", "-z", str(pids[name][0])],
                                   capture_output=True, check=True)
                    subprocess.run(["callgrind_control", "-i", "on", str(pids[name][0])],
                                   capture_output=True, check=True)
                u0, s0 = gateway.cpu_s(pids[name])
                w0 = ctx_switches(pids[name])
                n, bad, _ = scale.wrk_requests(port, args.conns, script, args.duration)
                u1, s1 = gateway.cpu_s(pids[name])
                w1 = ctx_switches(pids[name])
                if t is not None:
                    detach(t)
                ev = max(1, n * per[name])
                line = "  %-6s %6d streams, %7d events, %d non-2xx: " % (name, n, ev, bad)
                if args.mode == "strace":
                    line += report_strace(out, ev)
                elif args.mode == "callgrind":
                    total = instructions.callgrind_total(pids[name][0],
                                                         cg[name] + ".%d" % (rnd + 1))
                    line += "%.0f user-space instructions per event" % (total / ev)
                else:
                    line += "%.2f us CPU per event (user %.2f, kernel %.2f), %.2f sleeps" % (
                        (u1 - u0 + s1 - s0) * 1e6 / ev, (u1 - u0) * 1e6 / ev, (s1 - s0) * 1e6 / ev,
                        (w1 - w0) / float(ev))
                print(line, flush=True)
    finally:
        for p in procs:
            p.stop()
        for n in ngx:
            n.terminate()
            n.wait()
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
