"""tenax serve smoke test against the real mock: healthz/readyz, a chat completion with the
X-Tenax-* headers, a scripted 503-then-ok retried to attempts=2 with its [ai][retry] line, a
stream relayed to [DONE], request validation, bad flags, and a clean stop on SIGTERM."""
import json
import os
import re
import signal
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))
import txtest  # noqa: E402

F = txtest.Failures()


def chat_body(sid=None, script=None, stream=False, model="gpt-4o-mini"):
    b = {"model": model, "messages": [{"role": "user", "content": "hello there"}]}
    if stream:
        b["stream"] = True
    if script is not None:
        b["tenax_mock"] = {"id": sid, "script": script}
    return b


def main():
    r = subprocess.run([txtest.TENAX, "serve", "--bogus"], capture_output=True, text=True)
    F.check(r.returncode == 2 and "unknown option" in r.stderr, "bad flag exits 2: %r" % r.stderr)
    r = subprocess.run([txtest.TENAX, "serve", "--help"], capture_output=True, text=True)
    F.check(r.returncode == 0 and "--listen" in r.stdout, "--help")
    env = {"TENAX_ADMIN_TOKEN": ""}
    r = subprocess.run([txtest.TENAX, "serve", "--listen", "0.0.0.0:1"], capture_output=True,
                       text=True, env=dict(os.environ, **env))
    F.check(r.returncode == 2 and "TENAX_ADMIN_TOKEN" in r.stderr, "non-loopback refused")
    d = tempfile.mkdtemp(prefix="tenax-smoke-")
    bad = os.path.join(d, "bad.json")
    with open(bad, "w") as f:
        f.write("{not json")
    r = subprocess.run([txtest.TENAX, "serve", "--config", bad], capture_output=True, text=True)
    F.check(r.returncode == 2 and r.stderr.startswith("tenax: config: "),
            "bad config exits 2 with 'tenax: config:': %r" % r.stderr)

    with txtest.mock() as mk:
        port = txtest.free_port()
        env = {"AI_BASE_URLS": "http://127.0.0.1:%d/v1" % mk.port, "AI_RETRY_DELAY_MS": "10",
               "AI_API_KEY": "smoke-key", "TENAX_LOG_LEVEL": "info"}
        with txtest.Proc(["serve", "--listen", "127.0.0.1:%d" % port, "--store",
                          "sqlite:" + os.path.join(d, "smoke.db")], env=env, port=port) as gw:
            F.check("tenax serve listening on http://127.0.0.1:%d" % port in gw.log(),
                    "listening line")
            st, _, doc = txtest.request_json(port, "GET", "/healthz")
            F.check(st == 200 and doc == {"status": "ok"}, "healthz: %s %r" % (st, doc))
            st, _, _ = txtest.request_json(port, "GET", "/readyz")
            F.check(st == 200, "readyz: %s" % st)

            st, h, doc = txtest.request_json(port, "POST", "/v1/chat/completions", chat_body())
            F.check(st == 200 and doc and doc["choices"][0]["message"]["content"],
                    "chat completion: %s %r" % (st, doc))
            F.check(h.get("x-tenax-attempts") == "1" and h.get("x-tenax-model") == "gpt-4o-mini"
                    and h.get("x-tenax-endpoint") == "0", "X-Tenax-* headers: %r" % h)

            st, h, doc = txtest.request_json(port, "POST", "/v1/chat/completions",
                                             chat_body("s503", ["503", "ok"]))
            F.check(st == 200 and h.get("x-tenax-attempts") == "2",
                    "503 then ok: attempts=2, got %s %r" % (st, h.get("x-tenax-attempts")))
            line = txtest.wait_until(
                lambda: re.search(r"\[ai\]\[retry\] attempt=2 model=gpt-4o-mini endpoint=0 "
                                  r"class=server delay_ms=\d+", gw.log()), 5, "retry line")
            F.check(line is not None, "[ai][retry] line")

            st, h, raw = txtest.request(port, "POST", "/v1/chat/completions",
                                        json.dumps(chat_body(stream=True)),
                                        {"Content-Type": "application/json"})
            text = raw.decode()
            F.check(st == 200 and h.get("content-type", "").startswith("text/event-stream")
                    and text.rstrip().endswith("data: [DONE]"), "stream relayed: %s %r" %
                    (st, text[-80:]))

            st, _, doc = txtest.request_json(port, "POST", "/v1/chat/completions", "{nope")
            F.check(st == 400 and doc["error"]["type"] == "invalid_request_error",
                    "bad JSON → 400: %s %r" % (st, doc))
            st, _, doc = txtest.request_json(port, "POST", "/v1/chat/completions",
                                             {"model": "m", "messages": "x"})
            F.check(st == 400 and "messages" in doc["error"]["message"],
                    "messages not an array → 400 naming it: %r" % doc)
            st, _, doc = txtest.request_json(port, "POST", "/v1/chat/completions",
                                             {"model": "m", "messages": [], "stream": "yes"})
            F.check(st == 400 and "stream" in doc["error"]["message"], "stream type → 400")

            st, h, doc = txtest.request_json(port, "GET", "/v1/models")
            F.check(st == 200 and doc and isinstance(doc.get("data"), list), "models: %s" % st)

            rc = gw.stop(signal.SIGTERM)
            F.check(rc == 0, "SIGTERM: clean exit 0, got %s" % rc)
    F.finish()


if __name__ == "__main__":
    main()
