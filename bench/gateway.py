#!/usr/bin/env python3
"""Gateway benchmark (make bench): wrk against (1) the nginx upstream directly, (2) nginx
proxy_pass (one worker, keep-alive upstream) and (3) tenax serve, all three in one run against the
same nginx upstream returning a canned chat completion; 1 connection and 64 connections. Then the
same over TLS to the upstream: nginx serving https with a test CA (tests/tls/mkcerts.sh), nginx's
proxy with proxy_ssl_verify on and proxy_ssl_session_reuse on, tenax with AI_CA_FILE; clients
still speak plain http to the proxies. The result is the ratios within this run: absolute numbers
drift on a shared machine."""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "../tests/integration"))
import txtest  # noqa: E402

DURATION = os.environ.get("BENCH_DURATION", "5s")
RUNS = int(os.environ.get("BENCH_RUNS", "3"))  # alternating runs; each figure is their median
CANNED = ('{"id":"chatcmpl-bench","object":"chat.completion","created":1,"model":"gpt-4o-mini",'
          '"choices":[{"index":0,"message":{"role":"assistant","content":"[\\"bench\\",\\"tags\\"]"},'
          '"finish_reason":"stop"}],"usage":{"prompt_tokens":20,"completion_tokens":5,"total_tokens":25}}')
BODY = ('{"model":"gpt-4o-mini","messages":[{"role":"system","content":"Tag the post."},'
        '{"role":"user","content":"Central bank raises the key rate to 16 percent, markets fall."}]}')

# Two nginx instances, one worker each: the upstream, and the proxy in front of it. Separate
# processes, so the proxy's hop to the upstream crosses processes exactly as tenax's does (one
# worker serving both would answer the upstream hop inside its own event loop).
NGINX_COMMON = """
worker_processes 1;
daemon off;
pid {d}/nginx-{name}.pid;
error_log {d}/error-{name}.log warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {d}/body-{name}; proxy_temp_path {d}/proxy-{name};
  fastcgi_temp_path {d}/fcgi-{name}; uwsgi_temp_path {d}/uwsgi-{name}; scgi_temp_path {d}/scgi-{name};
  keepalive_requests 1000000;
  {body}
}}
"""
UPSTREAM_BODY = """server {{ listen 127.0.0.1:{up};
    location / {{ default_type application/json; return 200 '{canned}'; }} }}"""
PROXY_BODY = """upstream up {{ server 127.0.0.1:{up}; keepalive 128; keepalive_requests 1000000; }}
  server {{ listen 127.0.0.1:{px};
    location / {{ proxy_pass http://up; proxy_http_version 1.1; proxy_set_header Connection ""; }} }}"""

UPSTREAM_TLS_BODY = """server {{ listen 127.0.0.1:{up} ssl; ssl_certificate {c}/server.pem;
    ssl_certificate_key {c}/server.key; keepalive_timeout 300s;
    location / {{ default_type application/json; return 200 '{canned}'; }} }}"""
PROXY_TLS_BODY = """upstream up {{ server 127.0.0.1:{up}; keepalive 128; keepalive_requests 1000000; }}
  server {{ listen 127.0.0.1:{px};
    location / {{ proxy_pass https://up; proxy_http_version 1.1; proxy_set_header Connection "";
      proxy_ssl_verify on; proxy_ssl_trusted_certificate {c}/ca.pem; proxy_ssl_name localhost;
      proxy_ssl_server_name on; proxy_ssl_session_reuse on; }} }}"""

WRK_LUA = """
wrk.method = "POST"
wrk.body = '{body}'
wrk.headers["Content-Type"] = "application/json"
"""


def unit_us(v, u):
    return float(v) * {"us": 1, "ms": 1000, "s": 1e6}[u]


def wrk(port, conns, script):
    threads = 1 if conns == 1 else 2
    out = subprocess.run(["wrk", "-t%d" % threads, "-c%d" % conns, "-d" + DURATION, "--latency",
                          "-s", script, "http://127.0.0.1:%d/v1/chat/completions" % port],
                         capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    lat = dict((p, unit_us(v, u)) for p, v, u in re.findall(r"\s(50|99)%\s+([\d.]+)(us|ms|s)", out))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    done = int(re.search(r"(\d+) requests in", out).group(1))
    return {"rps": rps, "p50": lat["50"], "p99": lat["99"], "requests": done,
            "non2xx": int(errors.group(1)) if errors else 0}


def cpu_s(pids):
    """(user, system) CPU seconds used so far by the processes `pids` (from /proc)."""
    tick = float(os.sysconf("SC_CLK_TCK"))
    user = system = 0
    for pid in pids:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        user += int(fields[11])  # utime (field 14)
        system += int(fields[12])  # stime (field 15)
    return user / tick, system / tick


def children(pid):
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [int(x) for x in out.split()]


def start_nginx(d, name, body):
    """One nginx instance (one worker) in folder d serving `body` (an http{} block's content)."""
    conf = os.path.join(d, "nginx-%s.conf" % name)
    with open(conf, "w") as f:
        f.write(NGINX_COMMON.format(d=d, name=name, body=body))
    return subprocess.Popen(["nginx", "-c", conf, "-p", d], stderr=subprocess.DEVNULL)


def upstream_body(up):
    return UPSTREAM_BODY.format(up=up, canned=CANNED.replace("\\", "\\\\"))  # nginx unescapes \\"


def upstream_tls_body(up, certs):
    return UPSTREAM_TLS_BODY.format(up=up, c=certs, canned=CANNED.replace("\\", "\\\\"))


def make_certs(d):
    """The test CA and a localhost certificate (tests/tls/mkcerts.sh) in d/certs."""
    certs = os.path.join(d, "certs")
    subprocess.run(["sh", os.path.join(os.path.dirname(__file__), "../tests/tls/mkcerts.sh"), certs],
                   check=True, capture_output=True)
    return certs


def median(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2] if len(xs) % 2 else (xs[len(xs) // 2 - 1] + xs[len(xs) // 2]) / 2.0


def measure_set(script, up, px, tx, proxy_pids, tenax_pid):
    """The three targets at c=1 and c=64, RUNS times alternating (direct, nginx, tenax, direct, …):
    [(conns, {name: wrk figures, each the median of the runs})]."""
    rows = []
    for conns in (1, 64):
        # warm up connections and caches, then measure the three back to back
        for port in (up, px, tx):
            subprocess.run(["wrk", "-t1", "-c%d" % conns, "-d1s", "-s", script,
                            "http://127.0.0.1:%d/v1/chat/completions" % port],
                           capture_output=True, check=True)
        runs = {"direct": [], "nginx": [], "tenax": []}
        for _ in range(RUNS):
            for name, port, pids in (("direct", up, []), ("nginx", px, proxy_pids),
                                     ("tenax", tx, [tenax_pid])):
                u0, s0 = cpu_s(pids)
                x = wrk(port, conns, script)
                # CPU per request of the proxy itself (nginx's proxy worker, tenax): the cost the
                # machine's noise moves least; user and kernel apart
                u1, s1 = cpu_s(pids)
                n = max(1, x["requests"])
                x["user_us"] = (u1 - u0) * 1e6 / n
                x["sys_us"] = (s1 - s0) * 1e6 / n
                x["cpu_us"] = x["user_us"] + x["sys_us"]
                runs[name].append(x)
        r = {}
        for name, xs in runs.items():
            r[name] = dict((k, median([x[k] for x in xs])) for k in xs[0])
            r[name]["non2xx"] = sum(x["non2xx"] for x in xs)
        rows.append((conns, r))
    return rows


def report(title, rows):
    print(title)
    print("%-6s %-7s %10s %10s %10s %8s %12s" % ("conns", "target", "req/s", "p50 us", "p99 us",
                                             "non2xx", "cpu us/req"))
    for conns, r in rows:
        for name in ("direct", "nginx", "tenax"):
            x = r[name]
            cpu = "%12.1f" % x["cpu_us"] if name != "direct" else "%12s" % "-"
            print("%-6d %-7s %10.0f %10.1f %10.1f %8d %s" % (conns, name, x["rps"], x["p50"],
                                                           x["p99"], x["non2xx"], cpu))
    print()
    for conns, r in rows:
        add_ng = r["nginx"]["p50"] - r["direct"]["p50"]
        add_tx = r["tenax"]["p50"] - r["direct"]["p50"]
        print("c=%-3d throughput tenax/nginx = %.2f   p50 added: tenax %.1f us, nginx %.1f us (ratio %.2f)"
              % (conns, r["tenax"]["rps"] / r["nginx"]["rps"], add_tx, add_ng,
                 add_tx / add_ng if add_ng > 0 else float("nan")))
    for conns, r in rows:
        t, n = r["tenax"], r["nginx"]
        print("c=%-3d CPU per request (proxy process only): tenax %.1f us, nginx %.1f us (ratio %.2f);"
              " user %.1f vs %.1f, kernel %.1f vs %.1f"
              % (conns, t["cpu_us"], n["cpu_us"],
                 t["cpu_us"] / n["cpu_us"] if n["cpu_us"] > 0 else float("nan"),
                 t["user_us"], n["user_us"], t["sys_us"], n["sys_us"]))


def tenax_env(base):
    env = {"AI_BASE_URLS": base, "AI_API_KEY": "bench-key",
           "AI_MAX_CONCURRENCY": "256", "AI_QUEUE_MAX_SIZE": "4096",
           "TENAX_LOG_LEVEL": os.environ.get("TENAX_LOG_LEVEL", "warn")}
    extra = os.environ.get("BENCH_TENAX_ENV", "")
    for kv in extra.split():
        k, v = kv.split("=", 1)
        env[k] = v
    return env


def main():
    d = tempfile.mkdtemp(prefix="tenax-bench-")
    up, px, tx = txtest.free_port(), txtest.free_port(), txtest.free_port()
    ups, pxs, txs = txtest.free_port(), txtest.free_port(), txtest.free_port()
    script = os.path.join(d, "post.lua")
    with open(script, "w") as f:
        f.write(WRK_LUA.format(body=BODY))
    certs = make_certs(d)
    ngx = [start_nginx(d, "upstream", upstream_body(up)),
           start_nginx(d, "proxy", PROXY_BODY.format(up=up, px=px)),
           start_nginx(d, "upstream-tls", upstream_tls_body(ups, certs)),
           start_nginx(d, "proxy-tls", PROXY_TLS_BODY.format(up=ups, px=pxs, c=certs))]
    txtest.wait_until(lambda: all(txtest.port_open(p) for p in (up, px, ups, pxs)), 10, "nginx")
    txtest.wait_until(lambda: children(ngx[1].pid) and children(ngx[3].pid), 10, "nginx proxy workers")
    tenax = txtest.Proc(["serve", "--listen", "127.0.0.1:%d" % tx, "--store",
                         "sqlite:" + os.path.join(d, "bench.db")],
                        env=tenax_env("http://127.0.0.1:%d/v1" % up), port=tx)
    env = tenax_env("https://localhost:%d/v1" % ups)
    env["AI_CA_FILE"] = os.path.join(certs, "ca.pem")
    tenax_tls = txtest.Proc(["serve", "--listen", "127.0.0.1:%d" % txs, "--store",
                             "sqlite:" + os.path.join(d, "bench-tls.db")], env=env, port=txs)
    # the "direct" row of the TLS table is a plain-http nginx serving the same answer: wrk's own
    # TLS would measure wrk, not the proxies
    try:
        rows = measure_set(script, up, px, tx, children(ngx[1].pid), tenax.p.pid)
        rows_tls = measure_set(script, up, pxs, txs, children(ngx[3].pid), tenax_tls.p.pid)
        report("gateway benchmark, medians of %d alternating runs of %s, %s"
               % (RUNS, DURATION, time.strftime("%Y-%m-%d %H:%M")), rows)
        print()
        report("gateway benchmark, TLS to the upstream (verified, sessions reused), medians of %d"
               " alternating runs of %s" % (RUNS, DURATION), rows_tls)
        print("tenax peak RSS: %.1f MiB (plain), %.1f MiB (TLS)"
              % (txtest.peak_rss_kib(tenax.p.pid) / 1024.0, txtest.peak_rss_kib(tenax_tls.p.pid) / 1024.0))
    finally:
        tenax.stop()
        tenax_tls.stop()
        for n in ngx:
            n.terminate()
            n.wait()
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
