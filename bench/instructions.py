#!/usr/bin/env python3
"""Instructions per request (make bench): the gateway benchmark's request counted in user-space
instructions under callgrind, for nginx's proxy_pass (one worker, keep-alive upstream) and for
tenax serve, against the same nginx upstream; then the same with TLS to the upstream (nginx serving
https with the test CA of tests/tls/mkcerts.sh; nginx's proxy with proxy_ssl_verify and
proxy_ssl_session_reuse on; tenax with AI_CA_FILE). Unlike req/s on a shared machine this figure
barely moves from run to run. tenax's count is split by where the instructions run: inside
OpenSSL (libssl, libcrypto), cJSON, jansson and http_parser (each with whatever libc they call,
minus the tenax callbacks they call back), and in tenax's own code with the libc it calls.
Options: --only plain|tls (one row), --conns N (wrk's connections, 8 by default), --keep DIR (keep
the callgrind profiles), --cache-sim (callgrind's cache simulation too)."""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "../tests/integration"))
import gateway  # noqa: E402
import txtest  # noqa: E402

LIBS = (("libssl", "libssl"), ("libcrypto", "libcrypto"), ("cJSON", "libcjson"),
        ("jansson", "libjansson"), ("http_parser", "libhttp_parser"))


def callgrind(cmd, out, env=None):
    sim = ["--cache-sim=yes"] if CACHE_SIM else []
    return subprocess.Popen(["valgrind", "--tool=callgrind", "--instr-atstart=no",
                             "--callgrind-out-file=" + out] + sim + cmd, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


CONNS = 8  # wrk's connections (--conns)
CACHE_SIM = False  # --cache-sim: callgrind also simulates the caches (misses in the profiles)


def callgrind_total(pid, dump):
    """Stops counting in the callgrind'ed process `pid`, dumps (to the file `dump`: the
    profile's name and the dump's number), and returns the dump's total."""
    subprocess.run(["callgrind_control", "-i", "off", str(pid)], capture_output=True, check=True)
    subprocess.run(["callgrind_control", "-d", str(pid)], capture_output=True, check=True)
    total = []

    def dumped():  # callgrind_control returns once the dump is written; this checks it is whole
        if not os.path.exists(dump):
            return False
        ann = subprocess.run(["callgrind_annotate", "--show=Ir", dump], capture_output=True,
                             text=True).stdout
        m = re.search(r"([\d,]+) \(100.0%\)\s+PROGRAM TOTALS", ann)
        if m:
            total.append(int(m.group(1).replace(",", "")))
        return bool(m)
    txtest.wait_until(dumped, 60, "callgrind dump")
    return total[0]


def measure(proc, out, port, script):
    """Counts the instructions proc spends on the requests of a 3 s wrk run; returns
    (requests, instructions, profile file)."""
    url = "http://127.0.0.1:%d/v1/chat/completions" % port
    txtest.wait_until(lambda: txtest.port_open(port), 60, "port %d under valgrind" % port)
    conns = "-c%d" % CONNS
    subprocess.run(["wrk", "-t1", conns, "-d2s", "-s", script, url], capture_output=True, check=True)
    subprocess.run(["callgrind_control", "-i", "on", str(proc.pid)], capture_output=True, check=True)
    w = subprocess.run(["wrk", "-t1", conns, "-d3s", "-s", script, url], capture_output=True,
                       text=True, check=True).stdout
    dump = out + ".1"
    total = callgrind_total(proc.pid, dump)
    requests = int(re.search(r"(\d+) requests in", w).group(1))
    return requests, total, dump


def split(dump, binary):
    """Instructions spent inside each library of LIBS, called from tenax: inclusive cost of the
    calls tenax makes into it, minus the cost of the tenax functions it calls back."""
    tree = subprocess.run(["callgrind_annotate", "--show=Ir", "--tree=calling", "--inclusive=yes", dump],
                          capture_output=True, text=True).stdout
    into = dict((k, 0) for k, _ in LIBS)
    back = dict((k, 0) for k, _ in LIBS)
    cur = None
    for line in tree.splitlines():
        m = re.match(r"\s*([\d,]+) \(.*\)\s+\*\s+\S+ \[(.*)\]", line)
        if m:
            cur = m.group(2)
            continue
        m = re.match(r"\s*([\d,]+) \(.*\)\s+>\s+\S+ \([\d,]+x\) \[(.*)\]", line)
        if not m or cur is None:
            continue
        v = int(m.group(1).replace(",", ""))
        callee = m.group(2)
        for name, so in LIBS:
            if cur == binary and so in callee:
                into[name] += v
            elif so in cur and callee == binary:
                back[name] += v
    return dict((k, into[k] - back[k]) for k, _ in LIBS)


def one(d, binary, script, tls):
    """nginx's and tenax's instructions per request, plain or TLS to the upstream."""
    tag = "tls" if tls else "plain"
    up, px, tx = txtest.free_port(), txtest.free_port(), txtest.free_port()
    if tls:
        certs = gateway.make_certs(d)
        upstream = gateway.start_nginx(d, "upstream-" + tag, gateway.upstream_tls_body(up, certs))
        body = gateway.PROXY_TLS_BODY.format(up=up, px=px, c=certs)
        base = "https://localhost:%d/v1" % up
    else:
        upstream = gateway.start_nginx(d, "upstream-" + tag, gateway.upstream_body(up))
        body = gateway.PROXY_BODY.format(up=up, px=px)
        base = "http://127.0.0.1:%d/v1" % up
    conf = os.path.join(d, "nginx-proxy-%s.conf" % tag)
    with open(conf, "w") as f:
        # one process, so callgrind sees the worker: nginx without its master
        f.write("master_process off;\n" + gateway.NGINX_COMMON.format(d=d, name="proxy-" + tag, body=body))
    procs = [upstream]
    try:
        txtest.wait_until(lambda: txtest.port_open(up), 10, "nginx upstream")
        ngx = callgrind(["nginx", "-c", conf, "-p", d], os.path.join(d, "cg.nginx." + tag))
        procs.append(ngx)
        n_req, n_ir, _ = measure(ngx, os.path.join(d, "cg.nginx." + tag), px, script)
        env = dict(os.environ, AI_BASE_URLS=base, AI_API_KEY="bench-key",
                   AI_MAX_CONCURRENCY="256", AI_QUEUE_MAX_SIZE="4096", TENAX_LOG_LEVEL="warn")
        if tls:
            env["AI_CA_FILE"] = os.path.join(certs, "ca.pem")
        ten = callgrind([binary, "serve", "--listen", "127.0.0.1:%d" % tx, "--store",
                         "sqlite:" + os.path.join(d, "bench-%s.db" % tag)],
                        os.path.join(d, "cg.tenax." + tag), env)
        procs.append(ten)
        t_req, t_ir, dump = measure(ten, os.path.join(d, "cg.tenax." + tag), tx, script)
        parts = split(dump, binary)
        ng, tn = n_ir / n_req, t_ir / t_req
        print("instructions per request, %s upstream (callgrind, wrk -c%d, %s)"
              % ("TLS" if tls else "plain", CONNS, time.strftime("%Y-%m-%d %H:%M")))
        print("%-34s %10.0f   (%d requests)" % ("nginx proxy_pass, one worker", ng, n_req))
        print("%-34s %10.0f   (%d requests)" % ("tenax serve", tn, t_req))
        own = tn
        for name, _ in LIBS:
            v = parts[name] / t_req
            own -= v
            print("  %-32s %10.0f   (%.2fx nginx's whole request)" % ("in " + name, v, v / ng))
        print("  %-32s %10.0f   (%.2fx nginx's whole request)" % ("in tenax and the libc it calls",
                                                               own, own / ng))
        print("tenax/nginx = %.2f" % (tn / ng))
        print()
    finally:
        for p in reversed(procs):
            p.terminate()
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def main():
    global CONNS, CACHE_SIM
    ap = argparse.ArgumentParser(description="instructions per request under callgrind")
    ap.add_argument("--keep", metavar="DIR",
                    help="copy the callgrind profiles (cg.nginx.*, cg.tenax.*) into DIR")
    ap.add_argument("--only", choices=("plain", "tls"), help="measure one row only")
    ap.add_argument("--cache-sim", action="store_true",
                    help="simulate the caches too (see the profiles kept with --keep)")
    ap.add_argument("--conns", type=int, default=CONNS, help="wrk connections (default %(default)s)")
    args = ap.parse_args()
    CONNS = args.conns
    CACHE_SIM = args.cache_sim
    if shutil.which("valgrind") is None:
        print("instructions: valgrind is not installed (scripts/deps.sh installs it); skipped")
        return
    binary = os.path.realpath(os.environ.get("TENAX_BIN", "build/tenax"))
    d = tempfile.mkdtemp(prefix="tenax-instr-")
    script = os.path.join(d, "post.lua")
    with open(script, "w") as f:
        f.write(gateway.WRK_LUA.format(body=gateway.BODY))
    try:
        if args.only != "tls":
            one(d, binary, script, False)
        if args.only != "plain" and os.environ.get("BENCH_TLS", "1") != "0":
            one(d, binary, script, True)
        if args.keep:
            os.makedirs(args.keep, exist_ok=True)
            for name in os.listdir(d):
                if name.startswith("cg."):
                    shutil.copy(os.path.join(d, name), args.keep)
    finally:
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
