"""tenax serve smoke test against the real mock: healthz/readyz, a chat completion with the
X-Tenax-* headers, a scripted 503-then-ok retried to attempts=2 with its [ai][retry] line, a
stream relayed to [DONE], request validation, bad flags, a warning for an unusable proxy URL, and a
clean stop on SIGTERM."""
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
    F.check(r.returncode == 2 and r.stderr.startswith("tenax serve: config: "),
            "bad config exits 2 with 'tenax serve: config:': %r" % r.stderr)

    with txtest.mock() as mk:
        port = txtest.free_port()
        env = {"AI_BASE_URLS": "http://127.0.0.1:%d/v1" % mk.port, "AI_RETRY_DELAY_MS": "10",
               "AI_API_KEY": "smoke-key", "TENAX_LOG_LEVEL": "info",
               # a proxy URL with credentials is not usable: said once, its password never shown
               "HTTPS_PROXY": "", "https_proxy": "http://smoke:pr0xy-pass@127.0.0.1:9"}
        with txtest.Proc(["serve", "--listen", "127.0.0.1:%d" % port, "--store",
                          "sqlite:" + os.path.join(d, "smoke.db")], env=env, port=port) as gw:
            F.check("tenax serve listening on http://127.0.0.1:%d" % port in gw.log(),
                    "listening line")
            F.check(re.search(r"\[ai\]\[proxy\] https_proxy is ignored: credentials", gw.log())
                    and "pr0xy-pass" not in gw.log(), "unusable proxy warned: %s" % gw.log())
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
    graceful_and_queue(d)
    client_gone(d)
    endless_first_event(d)
    F.finish()


def endless_first_event(d):
    """An upstream 200 stream whose first event never ends (no blank line, megabytes) is not
    relayed: the client gets 502 invalid_response, nothing half-streamed."""
    import socket
    import threading
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(4)
    up_port = srv.getsockname()[1]

    def serve():
        try:
            c, _ = srv.accept()
        except OSError:
            return
        try:
            buf = b""
            while b"\r\n\r\n" not in buf:
                buf += c.recv(65536)
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                      b"Transfer-Encoding: chunked\r\n\r\n")
            chunk = b"data: " + b"x" * 65536
            for _ in range(64):  # 4 MiB at most, then give up
                c.sendall(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
                chunk = b"x" * 65536
        except OSError:
            pass
        c.close()

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    port = txtest.free_port()
    env = {"AI_BASE_URLS": "http://127.0.0.1:%d/v1" % up_port, "AI_RETRY_MAX": "1",
           "TENAX_LOG_LEVEL": "warn"}
    with txtest.Proc(["serve", "--listen", "127.0.0.1:%d" % port, "--store",
                      "sqlite:" + os.path.join(d, "smoke4.db")], env=env, port=port):
        st, h, doc = txtest.request_json(port, "POST", "/v1/chat/completions",
                                         chat_body(stream=True))
        F.check(st == 502 and doc["error"]["code"] == "invalid_response"
                and h.get("x-tenax-attempts") == "1",
                "endless first stream event → 502 invalid_response: %s %r" % (st, doc))
    srv.close()
    t.join(5)


def client_gone(d):
    """A client that goes away cancels its upstream request and frees its slot (the mock
    would take 30 s)."""
    import socket
    with txtest.mock(args=["--latency-ms", "30000"]) as mk:
        port = txtest.free_port()
        env = {"AI_BASE_URLS": "http://127.0.0.1:%d/v1" % mk.port, "AI_TIMEOUT_MS": "60000",
               "TENAX_LOG_LEVEL": "warn"}
        with txtest.Proc(["serve", "--listen", "127.0.0.1:%d" % port, "--store",
                          "sqlite:" + os.path.join(d, "smoke3.db")], env=env, port=port):
            def in_flight():
                return (txtest.request_json(port, "GET", "/admin/diag?q=ai-queue")[2] or {}).get(
                    "inFlight")
            for stream in (False, True):
                try:
                    txtest.request(port, "POST", "/v1/chat/completions",
                                   json.dumps(chat_body(stream=stream)), timeout=0.3)
                    F.check(False, "the slow request should not have answered")
                except (socket.timeout, TimeoutError, OSError):
                    pass
                ok = True
                try:
                    txtest.wait_until(lambda: in_flight() == 0, 10, "slot released")
                except AssertionError:
                    ok = False
                F.check(ok, "client gone (stream=%s): upstream cancelled, slot released" % stream)


def graceful_and_queue(d):
    """One slot, no queue: a second request while the first is in flight is dropped with 503
    queue_full + Retry-After; SIGTERM with the first still in flight lets it finish (200) and
    the process exits 0."""
    import threading
    with txtest.mock(args=["--latency-ms", "800"]) as mk:
        port = txtest.free_port()
        env = {"AI_BASE_URLS": "http://127.0.0.1:%d/v1" % mk.port, "AI_MAX_CONCURRENCY": "1",
               "AI_QUEUE_MAX_SIZE": "0", "TENAX_LOG_LEVEL": "warn"}
        gw = txtest.Proc(["serve", "--listen", "127.0.0.1:%d" % port, "--store",
                          "sqlite:" + os.path.join(d, "smoke2.db")], env=env, port=port)
        try:
            first = {}

            def run():
                first["r"] = txtest.request_json(port, "POST", "/v1/chat/completions",
                                                 chat_body())

            t = threading.Thread(target=run)
            t.start()
            txtest.wait_until(lambda: (txtest.request_json(port, "GET", "/admin/diag?q=ai-queue")[2]
                                       or {}).get("inFlight") == 1, 5, "one request in flight")
            st, h, doc = txtest.request_json(port, "POST", "/v1/chat/completions", chat_body())
            F.check(st == 503 and doc["error"]["type"] == "queue_full" and "retry-after" in h,
                    "queue full → 503 queue_full with Retry-After: %s %r %r" % (st, h, doc))
            gw.p.send_signal(signal.SIGTERM)
            t.join(10)
            st = first.get("r", (None,))[0]
            F.check(st == 200, "in-flight request finishes during the graceful stop: %s" % st)
            rc = gw.p.wait(10)
            F.check(rc == 0, "graceful stop exits 0, got %s" % rc)
        finally:
            gw.stop()
            if "Sanitizer" in gw.log():
                F.check(False, "sanitizer report:\n" + gw.log())


if __name__ == "__main__":
    main()
