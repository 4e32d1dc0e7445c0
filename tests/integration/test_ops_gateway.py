"""Ops on the gateway path against `tenax mock`: a cache hit never reaches the upstream (mock
stats), bypass/refresh, rate-limit headers on answers, tokens and requests in /metrics (promtool),
quota notifications to a webhook (one per interval for a burst, another after it), and a webhook
that hangs never delaying an answer."""
import http.server
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading

sys.path.insert(0, os.path.dirname(__file__))
from txtest import Failures, Proc, free_port, mock, request, request_json, wait_until  # noqa: E402

F = Failures()
MODEL = "gpt-4o-mini"
ADMIN = "adm-ops-gw"
APIKEY = "sk-upstream-6d1e0b9a7c35-MARKER"
TGTOKEN = "777:tg-token-4c2a9e8f1b3d-MARKER"
AUTH = {"Authorization": "Bearer " + ADMIN}
tmp = tempfile.mkdtemp(prefix="tenax-opsgw-")


def chat(port, text="hello", headers=None, script=None, sid=None):
    body = {"model": MODEL, "messages": [{"role": "user", "content": text}]}
    if script is not None:
        body["tenax_mock"] = {"id": sid, "script": script}
    return request(port, "POST", "/v1/chat/completions", body, headers=headers)


def serve(mock_port, env):
    port = free_port()
    e = {"AI_BASE_URLS": "http://127.0.0.1:%d/v1" % mock_port, "AI_API_KEY": "sk-test",
         "TENAX_ADMIN_TOKEN": ADMIN, "AI_RETRY_DELAY_MS": "0", "AI_MAX_CONCURRENCY": "8"}
    e.update(env)
    return Proc(["serve", "--listen", "127.0.0.1:%d" % port, "--store",
                 "sqlite:" + os.path.join(tmp, "s%d.db" % port)], env=e, port=port)


def diag(port):
    return request_json(port, "GET", "/admin/diag?q=ai-queue", headers=AUTH)[2]


def mock_requests(mp):
    return request_json(mp, "GET", "/mock/stats")[2]["requests"]


class Hook(http.server.BaseHTTPRequestHandler):
    received = []
    paths = []

    def do_POST(self):
        Hook.paths.append(self.path)
        n = int(self.headers.get("Content-Length", "0"))
        Hook.received.append(json.loads(self.rfile.read(n)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *a):
        pass


with mock() as m:
    # --- cache, rate-limit headers, metrics --------------------------------------------------
    with serve(m.port, {"CACHE_TTL_S": "60", "CLIENT_RATE_LIMIT_RPM": "100",
                        "AI_API_KEY": APIKEY, "TENAX_LOG_LEVEL": "debug"}) as s:
        st, h, body = chat(s.port, "cache me")
        F.check(st == 200 and h.get("x-tenax-cache") == "miss", "first: miss (%d %s)" % (st, h))
        F.check(h.get("x-ratelimit-limit-requests") == "100" and
                h.get("x-ratelimit-remaining-requests") == "99", "x-ratelimit-* on an answer")
        n0 = mock_requests(m.port)
        st, h, body2 = chat(s.port, "cache me")
        F.check(st == 200 and h.get("x-tenax-cache") == "hit" and body2 == body,
                "second: hit with the same body")
        F.check(h.get("x-tenax-model") == MODEL, "hit replays X-Tenax-Model")
        F.check(mock_requests(m.port) == n0, "the hit never reached the upstream")
        st, h, _ = chat(s.port, "cache me", headers={"X-Tenax-Cache": "bypass"})
        F.check(st == 200 and mock_requests(m.port) == n0 + 1, "bypass goes upstream")
        st, h, _ = chat(s.port, "cache me", headers={"X-Tenax-Cache": "refresh"})
        F.check(st == 200 and mock_requests(m.port) == n0 + 2, "refresh goes upstream")
        st, h, _ = chat(s.port, "cache me")
        F.check(h.get("x-tenax-cache") == "hit" and mock_requests(m.port) == n0 + 2,
                "hit again after refresh")
        st, h, data = request(s.port, "GET", "/metrics")
        text = data.decode()
        F.check('tenax_cache_total{result="hit"} 2' in text, "cache hits counted")
        F.check('tenax_tokens_total{model="%s",kind="prompt"}' % MODEL in text, "tokens counted")
        F.check('tenax_requests_total{route="/v1/chat/completions",model="%s",status="200"} 5'
                % MODEL in text, "requests counted (%s)" %
                [ln for ln in text.splitlines() if ln.startswith("tenax_requests_total")])
        F.check('tenax_upstream_attempts_total{endpoint="0",model="%s",class="ok"} 3' % MODEL
                in text, "attempts counted")
        F.check("tenax_overhead_seconds_count 5" in text, "overhead observed per request")
        if shutil.which("promtool"):
            r = subprocess.run(["promtool", "check", "metrics"], input=data, capture_output=True,
                               timeout=30)
            F.check(r.returncode == 0, "promtool after traffic: %s" % r.stderr.decode())
        s.stop()
        F.check(APIKEY not in s.log() and "[ai][request]" in s.log(),
                "upstream key never logged at debug level with traffic")

    # --- hot reload under gateway load: every request answered 200 ---------------------------
    cfg = os.path.join(tmp, "tenax.json")

    def write_cfg(doc):
        with open(cfg + ".tmp", "w") as f:
            json.dump(doc, f)
        os.replace(cfg + ".tmp", cfg)

    mock_url = "http://127.0.0.1:%d/v1" % m.port
    write_cfg({"AI_BASE_URLS": [mock_url]})
    port = free_port()
    with Proc(["serve", "--listen", "127.0.0.1:%d" % port, "--config", cfg, "--store",
               "sqlite:" + os.path.join(tmp, "reload.db")],
              env={"AI_API_KEY": "sk-test", "TENAX_ADMIN_TOKEN": ADMIN}, port=port) as s:
        stop = threading.Event()
        codes = []

        def load():
            i = 0
            while not stop.is_set():
                i += 1
                try:
                    codes.append(chat(s.port, "load %d" % i)[0])
                except Exception as e:  # noqa: BLE001
                    codes.append(repr(e))

        threads = [threading.Thread(target=load) for _ in range(3)]
        for t in threads:
            t.start()
        for n in range(2, 8):
            urls = [mock_url] if n % 2 else [mock_url, "http://127.0.0.1:9/v1"]
            write_cfg({"AI_BASE_URLS": urls, "AI_MAX_CONCURRENCY": n, "AI_TIMEOUT_MS": 1000 * n})
            wait_until(lambda: diag(s.port)["maxConcurrency"] == n, 10, "reload %d" % n)
            wait_until(lambda: len(codes) >= 3 * n, 10, "traffic after reload %d" % n)
        stop.set()
        for t in threads:
            t.join()
        d = diag(s.port)
        F.check(d["requestTimeoutMs"] == 7000 and d["sources"]["requestTimeoutMs"] == "kv" and
                d["backupBaseUrls"] == [], "last reload in force with its source")
        bad = [c for c in codes if c != 200]
        F.check(len(codes) >= 18 and not bad, "no gateway request failed across 6 reloads "
                "(%d requests, bad %s)" % (len(codes), bad[:5]))

    # --- quota notifications: one per interval ------------------------------------------------
    hook = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    url = "http://127.0.0.1:%d/hooks/secret" % hook.server_address[1]
    with serve(m.port, {"NOTIFY_WEBHOOK_URL": url, "NOTIFY_QUOTA_INTERVAL_S": "2",
                        "AI_RETRY_MAX": "1"}) as s:
        for i in range(5):
            st, _, _ = chat(s.port, "q%d" % i, script=["quota"], sid="q%d" % i)
            F.check(st == 429, "quota answered 429 (%d)" % st)
        wait_until(lambda: len(Hook.received) >= 1, 10, "first quota notification")
        d = diag(s.port)
        F.check(d["notifications"]["sent"] == 1 and d["notifications"]["suppressed"] == 4,
                "burst: one sent, four throttled (%r)" % d["notifications"])
        F.check(Hook.received[0]["type"] == "quota_exceeded" and Hook.received[0]["at"],
                "webhook payload %r" % Hook.received[0])
        # After the interval the next quota error notifies again.
        k = [0]

        def again():
            k[0] += 1
            chat(s.port, "again%d" % k[0], script=["quota"], sid="a%d" % k[0])
            return len(Hook.received) >= 2

        wait_until(again, 15, "second quota notification after the interval", interval=0.2)
        F.check(len(Hook.received) == 2 and Hook.received[1]["type"] == "quota_exceeded",
                "exactly two notifications")
        F.check("/hooks/secret" not in s.log(), "webhook path never logged")
    # --- auth failures notify too; Telegram gets its own message ------------------------------
    Hook.received = []
    Hook.paths = []
    with serve(m.port, {"NOTIFY_WEBHOOK_URL": url, "AI_RETRY_MAX": "1",
                        "NOTIFY_TELEGRAM_BOT_TOKEN": TGTOKEN, "NOTIFY_TELEGRAM_CHAT_ID": "4242",
                        "NOTIFY_TELEGRAM_API": "http://127.0.0.1:%d" % hook.server_address[1]}) as s:
        st, _, _ = chat(s.port, "auth", script=["401"], sid="auth")
        F.check(st == 401, "upstream 401 relayed (%d)" % st)
        wait_until(lambda: len(Hook.received) >= 2, 10, "webhook and Telegram")
        hooks = [r for r in Hook.received if "type" in r]
        tg = [r for r in Hook.received if "chat_id" in r]
        F.check(len(hooks) == 1 and hooks[0]["type"] == "auth_failed", "auth_failed webhook")
        F.check(len(tg) == 1 and tg[0]["chat_id"] == "4242" and "auth_failed" in tg[0]["text"],
                "Telegram message %r" % tg)
        F.check("/bot%s/sendMessage" % TGTOKEN in Hook.paths, "Telegram URL carries the token")
        s.stop()
        F.check(TGTOKEN not in s.log(), "bot token never logged")
    hook.shutdown()

    # --- a webhook that hangs never delays an answer -----------------------------------------
    dead = socket.socket()
    dead.bind(("127.0.0.1", 0))
    dead.listen(8)  # accepts into the backlog, never answers
    with serve(m.port, {"NOTIFY_WEBHOOK_URL": "http://127.0.0.1:%d/h" % dead.getsockname()[1],
                        "AI_RETRY_MAX": "1"}) as s:
        st, _, _ = chat(s.port, "dead hook", script=["quota"], sid="dead")
        F.check(st == 429, "answered while the webhook hangs")
        d = diag(s.port)
        F.check(d["notifications"]["sent"] == 1 and d["notifications"]["failed"] == 0,
                "the POST is still pending when the answer is out (%r)" % d["notifications"])
        st, _, _ = chat(s.port, "next")
        F.check(st == 200, "next request served")
    dead.close()

shutil.rmtree(tmp, ignore_errors=True)
F.finish()
