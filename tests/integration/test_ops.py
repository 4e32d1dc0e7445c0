"""Operating tenax serve end to end: hot reload (file watch, SIGHUP) seen in /admin/diag with its
source while requests keep succeeding, a broken file rejected with configError and the old values
kept, every diag field, `tenax diag`, /metrics accepted by promtool, admin token and client keys
(401/200), the client rate limit (429 + Retry-After, reloadable), JSON logs, and no secret in any
output."""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading

sys.path.insert(0, os.path.dirname(__file__))
from txtest import (TENAX, Failures, Proc, free_port, request, request_json,  # noqa: E402
                    wait_until)

F = Failures()
DIAG = "/admin/diag?q=ai-queue"
ADMIN = "adm-7f3c1e9b2d4a-MARKER"
CK1 = "ck1-a8d2f0b41c77-MARKER"
CK2 = "ck2-55e0c9a3b1f8-MARKER"
APIKEY = "sk-apikey-0c4e8a6d2b1f-MARKER"
TGTOKEN = "123456:tg-9b7d5f3e1a0c-MARKER"
HOOKSECRET = "hookpath-3e5a7c9b1d2f-MARKER"
SECRETS = [ADMIN, CK1, CK2, APIKEY, TGTOKEN, HOOKSECRET]
AUTH = {"Authorization": "Bearer " + ADMIN}

tmp = tempfile.mkdtemp(prefix="tenax-ops-")
cfg_path = os.path.join(tmp, "tenax.json")


def write_cfg(doc):
    text = doc if isinstance(doc, str) else json.dumps(doc)
    t = cfg_path + ".tmp"
    with open(t, "w") as f:
        f.write(text)
    os.replace(t, cfg_path)


def serve(extra_env=None, cfg=True):
    port = free_port()
    env = {"TENAX_ADMIN_TOKEN": ADMIN, "TENAX_CLIENT_KEYS": CK1 + ", " + CK2,
           "AI_API_KEY": APIKEY, "AI_BASE_URLS": "http://127.0.0.1:9/v1",
           "NOTIFY_TELEGRAM_BOT_TOKEN": TGTOKEN, "NOTIFY_TELEGRAM_CHAT_ID": "42",
           "NOTIFY_WEBHOOK_URL": "http://127.0.0.1:9/" + HOOKSECRET,
           "TENAX_LOG_LEVEL": "debug", "AI_RETRY_MAX": "4", "AI_RETRY_DELAY_MS": "0"}
    env.update(extra_env or {})
    args = ["serve", "--listen", "127.0.0.1:%d" % port, "--store",
            "sqlite:" + os.path.join(tmp, "s%d.db" % port)]
    if cfg:
        args += ["--config", cfg_path]
    return Proc(args, env=env, port=port)


def diag(port):
    return request_json(port, "GET", DIAG, headers=AUTH)[2]


FIELDS = {"maxConcurrency": int, "maxQueue": int, "requestTimeoutMs": int, "retryMax": int,
          "endpointFailoverThreshold": int, "sources": dict, "activeBaseUrl": str,
          "backupBaseUrls": list, "failoverCounts": dict, "endpoints": dict, "inFlight": int,
          "queued": int, "droppedSinceBoot": int, "avgWaitMs": (int, float), "jobs": dict,
          "configLoadedAt": str, "providers": list}


def keys_twice(doc, path="", seen=None):
    """The diag's own field names that appear at more than one place (lists' items excepted)."""
    seen = {} if seen is None else seen
    if isinstance(doc, dict):
        for k, v in doc.items():
            seen.setdefault(k, []).append(path)
            if k not in ("sources",) and not isinstance(v, list):
                keys_twice(v, path + "." + k, seen)
    return [k for k, paths in seen.items() if len(paths) > 1 and
            k in ("activeBaseUrl", "backupBaseUrls", "failoverCounts", "sources", "maxConcurrency",
                  "maxQueue", "requestTimeoutMs", "retryMax", "endpointFailoverThreshold",
                  "providers", "endpoints")]

all_output = []

# --- 1. diag fields, sources, tenax diag ---------------------------------------------------
write_cfg({"AI_MAX_CONCURRENCY": 6, "AI_BASE_URLS": ["http://127.0.0.1:9/v1",
                                                     "http://127.0.0.1:10/v1"]})
with serve() as s:
    st, _, d = request_json(s.port, "GET", DIAG)
    F.check(st == 401 and d["error"]["code"] == "invalid_admin_token", "diag without token: 401")
    st, _, d = request_json(s.port, "GET", DIAG, headers={"Authorization": "Bearer nope"})
    F.check(st == 401, "diag with a wrong token: 401")
    st, _, d = request_json(s.port, "GET", DIAG, headers=AUTH)
    F.check(st == 200, "diag with the token: 200")
    for k, t in FIELDS.items():
        F.check(k in d and isinstance(d[k], t), "diag field %s present as %s" % (k, t))
    F.check("configError" in d and d["configError"] is None, "configError null when good")
    F.check(d["maxConcurrency"] == 6 and d["sources"]["maxConcurrency"] == "kv",
            "kv value and source (sources.maxConcurrency)")
    F.check(d["retryMax"] == 4 and d["sources"]["retryMax"] == "env", "env value and source")
    F.check(d["sources"]["maxQueue"] == "default", "default source")
    F.check(d["sources"].get("JOB_BATCH_SIZE") == "default", "a key without a field: its name")
    F.check("AI_MAX_CONCURRENCY" not in d["sources"] and "AI_BASE_URLS" not in d["sources"],
            "sources keyed by the field, never twice")
    F.check(keys_twice(d) == [], "no field appears twice: %r" % keys_twice(d))
    F.check([p["name"] for p in d["providers"]] == ["default"] and
            [e["url"] for e in d["providers"][0]["endpoints"]] ==
            ["http://127.0.0.1:9/v1", "http://127.0.0.1:10/v1"] and
            d["providers"][0]["downModels"] == [],
            "providers: the default one with its endpoints and no down models")
    F.check(d["sources"].get("baseUrls") == "kv", "sources.baseUrls")
    F.check(d["activeBaseUrl"] == "http://127.0.0.1:9/v1", "activeBaseUrl")
    F.check(d["backupBaseUrls"] == ["http://127.0.0.1:10/v1"], "backupBaseUrls")
    F.check(d["failoverCounts"] == {"endpoint_0": 0, "endpoint_1": 0}, "failoverCounts")
    eps = d["endpoints"]
    F.check(not any(k in eps for k in ("activeBaseUrl", "backupBaseUrls", "failoverCounts")),
            "endpoints does not repeat the top-level three")
    F.check([e["health"] for e in eps["list"]] == ["healthy", "healthy"], "endpoint health")
    F.check(set(("paused", "pauseReason", "counts")) <= set(d["jobs"]), "jobs fields")
    F.check(re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", d["configLoadedAt"]) is not None,
            "configLoadedAt RFC 3339")
    # tenax diag, with and without the token
    env = dict(os.environ, TENAX_ADMIN_TOKEN=ADMIN)
    r = subprocess.run([TENAX, "diag", "--url", "http://127.0.0.1:%d" % s.port], env=env,
                       capture_output=True, text=True, timeout=20)
    F.check(r.returncode == 0 and "maxConcurrency=6" in r.stdout and "[1]" in r.stdout,
            "tenax diag report: " + r.stdout + r.stderr)
    all_output += [r.stdout, r.stderr]
    r = subprocess.run([TENAX, "diag", "--json", "--url", "127.0.0.1:%d" % s.port], env=env,
                       capture_output=True, text=True, timeout=20)
    F.check(r.returncode == 0 and json.loads(r.stdout)["maxConcurrency"] == 6, "tenax diag --json")
    env.pop("TENAX_ADMIN_TOKEN")
    r = subprocess.run([TENAX, "diag", "--url", "http://127.0.0.1:%d" % s.port], env=env,
                       capture_output=True, text=True, timeout=20)
    F.check(r.returncode == 1 and "401" in r.stderr, "tenax diag without token fails: " + r.stderr)
    all_output += [r.stdout, r.stderr]
    r = subprocess.run([TENAX, "diag", "--url", "http://127.0.0.1:%d" % free_port()],
                       capture_output=True, text=True, timeout=20)
    F.check(r.returncode == 1, "tenax diag against nothing exits 1")

    # --- 2. access control and rate limit on gateway routes --------------------------------
    st, h, doc = request_json(s.port, "GET", "/v1/models")
    F.check(st == 401 and doc["error"]["code"] == "invalid_api_key", "no client key: 401")
    st, h, doc = request_json(s.port, "GET", "/v1/models", headers={"Authorization": "Bearer x"})
    F.check(st == 401, "wrong client key: 401")
    st, h, doc = request_json(s.port, "GET", "/v1/models",
                              headers={"Authorization": "Bearer " + CK2})
    F.check(st != 401, "right client key passes (%d)" % st)
    item = {"owner": "1", "id": "1", "text": "x", "task": "tags"}
    for path in ("/v1/items", "/v1/owners/1/retry", "/v1/items/1/regenerate",
                 "/users/1/posts/retry_tagging", "/posts/1/regenerate_tags", "/v1/tasks"):
        st, _, doc = request_json(s.port, "POST", path, item)
        F.check(st == 401 and doc["error"]["code"] == "invalid_admin_token",
                "item-mutating %s without token: 401 (%d)" % (path, st))
        st, _, _ = request_json(s.port, "POST", path, item, headers=AUTH)
        F.check(st != 401, "item-mutating %s with token passes (%d)" % (path, st))
    st, _, _ = request_json(s.port, "POST", "/admin/resume")
    F.check(st == 401, "resume without token: 401")
    st, _, doc = request_json(s.port, "POST", "/admin/resume", headers=AUTH)
    F.check(st == 200 and "status" in doc, "resume with token: 200")

    # --- 3. hot reload under load: seen in diag with its source; no request fails ----------
    stop = threading.Event()
    results = []

    def load():
        while not stop.is_set():
            for path in (DIAG, "/healthz", "/metrics"):
                try:
                    results.append(request(s.port, "GET", path, headers=AUTH, timeout=10)[0])
                except Exception as e:  # noqa: BLE001
                    results.append(repr(e))

    th = threading.Thread(target=load)
    th.start()
    for n in (7, 8, 9, 10, 11):
        write_cfg({"AI_MAX_CONCURRENCY": n, "AI_QUEUE_MAX_SIZE": 100 + n,
                   "AI_BASE_URLS": ["http://127.0.0.1:9/v1", "http://127.0.0.1:10/v1"]})
        wait_until(lambda: diag(s.port)["maxConcurrency"] == n, 10, "reload to %d" % n)
    stop.set()
    th.join()
    bad = [r for r in results if r != 200]
    F.check(len(results) > 10 and not bad, "no request failed during %d reloads under load "
            "(%d requests, bad: %s)" % (5, len(results), bad[:5]))
    d = diag(s.port)
    F.check(d["maxQueue"] == 111 and d["sources"]["maxQueue"] == "kv",
            "new key from the file with source kv")
    F.check("[ai][config] AI_MAX_CONCURRENCY=11 source=kv" in s.log(), "change logged per key")

    # --- 4. a broken file: rejected, old values stay, configError; then cleared -----------
    write_cfg('{"AI_MAX_CONCURRENCY": 3,')
    d = wait_until(lambda: (lambda x: x if x["configError"] else None)(diag(s.port)), 10,
                   "configError")
    F.check(d["maxConcurrency"] == 11, "old value stays after a broken file")
    F.check("[ai][config] rejected:" in s.log(), "rejection logged")
    write_cfg({"AI_MAX_CONCURRENCY": 99999})
    wait_until(lambda: "AI_MAX_CONCURRENCY" in (diag(s.port)["configError"] or ""), 10,
               "out-of-bounds rejected")
    F.check(diag(s.port)["maxConcurrency"] == 11, "old value stays after out-of-bounds")
    write_cfg({"AI_MAX_CONCURRENCY": 2, "CLIENT_RATE_LIMIT_RPM": 2})
    d = wait_until(lambda: (lambda x: x if x["configError"] is None else None)(diag(s.port)), 10,
                   "configError cleared")
    F.check(d["maxConcurrency"] == 2, "good file applied after a broken one")

    # --- 5. rate limit, switched on by the reload ------------------------------------------
    hk = {"Authorization": "Bearer " + CK1}
    codes = [request(s.port, "GET", "/v1/models", headers=hk) for _ in range(3)]
    F.check([c[0] != 429 for c in codes[:2]] == [True, True], "first two within the limit")
    st, h, body = codes[2]
    F.check(st == 429, "third request in a minute: 429 (%d)" % st)
    F.check(int(h.get("retry-after", "0")) >= 1, "Retry-After >= 1")
    F.check(h.get("x-ratelimit-limit-requests") == "2" and
            h.get("x-ratelimit-remaining-requests") == "0", "x-ratelimit-* headers")
    F.check(json.loads(body)["error"]["type"] == "rate_limit_exceeded", "OpenAI-style 429")
    st, _, _ = request(s.port, "GET", "/v1/models", headers={"Authorization": "Bearer " + CK2})
    F.check(st != 429, "another client key has its own bucket")

    # --- 6. SIGHUP reloads too ---------------------------------------------------------------
    write_cfg({"AI_MAX_CONCURRENCY": 5, "CLIENT_RATE_LIMIT_RPM": 0})
    s.p.send_signal(signal.SIGHUP)
    wait_until(lambda: diag(s.port)["maxConcurrency"] == 5, 10, "reload after SIGHUP")
    F.check(request(s.port, "GET", "/v1/models", headers=hk)[0] != 429, "rate limit off again")

    # --- 7. /metrics passes promtool --------------------------------------------------------
    st, h, body = request(s.port, "GET", "/metrics")
    F.check(st == 200 and h.get("content-type", "").startswith("text/plain; version=0.0.4"),
            "metrics content type")
    text = body.decode()
    F.check('tenax_requests_total{route="/v1/models",model="",status="429"}' in text,
            "429 answers counted")
    if shutil.which("promtool"):
        r = subprocess.run(["promtool", "check", "metrics"], input=body, capture_output=True,
                           timeout=30)
        F.check(r.returncode == 0, "promtool check metrics: " + r.stdout.decode() +
                r.stderr.decode())
    all_output.append(json.dumps(diag(s.port)))
    all_output.append(text)
    s.stop()
    all_output.append(s.log())

# --- 8. JSON logs, metrics off, no config file --------------------------------------------
with serve({"TENAX_LOG_FORMAT": "json", "TENAX_METRICS": "0"}, cfg=False) as s:
    st, _, _ = request(s.port, "GET", "/metrics")
    F.check(st == 404, "TENAX_METRICS=0: /metrics 404")
    request(s.port, "GET", "/v1/models")
    d = diag(s.port)
    F.check(d["configError"] is None and d["sources"]["maxConcurrency"] == "default",
            "without a config file")
    s.stop()
    log = s.log()
    all_output.append(log)
    lines = [ln for ln in log.splitlines() if ln.startswith("{")]
    ok = True
    for ln in lines:
        try:
            o = json.loads(ln)
            ok = ok and {"ts", "level", "tag", "msg"} <= set(o)
        except ValueError:
            ok = False
    F.check(len(lines) >= 2 and ok, "JSON log lines are valid objects (%d)" % len(lines))
    F.check(any(json.loads(ln)["tag"] == "ai][auth" for ln in lines), "auth tag in JSON logs")

# --- 9. no secret anywhere ------------------------------------------------------------------
joined = "\n".join(all_output)
for sec in SECRETS:
    F.check(sec not in joined, "secret %s... never printed" % sec[:6])
F.check("set" in joined, "secrets shown as set")

shutil.rmtree(tmp, ignore_errors=True)
F.finish()
