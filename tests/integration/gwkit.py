"""Helpers for the gateway's integration tests (not a test itself): start `tenax serve` in front of
upstreams, a scripted raw-socket upstream (FakeUpstream) for what the mock cannot do (connection
refused/reset, holding a request until released, SSE paced by the test, any status/body), and
readers for the `[ai][retry]` / `[ai][failover]` log lines. python3 stdlib only."""
import json
import os
import re
import select
import shutil
import socket
import struct
import tempfile
import threading
import time

import txtest

# The gateway must see only the settings a test gives it.
for _k in list(os.environ):
    if (_k.startswith(("AI_", "JOB_", "TAGGING_", "NOTIFY_", "CLIENT_", "CACHE_"))
            or (_k.startswith("TENAX_") and _k != "TENAX_BIN") or _k == "OPENAI_API_KEY"):
        del os.environ[_k]

RETRY_RE = re.compile(r"\[ai\]\[retry\] attempt=(\d+) model=(\S+) endpoint=(\S+) class=(\S+) "
                      r"delay_ms=(\d+)")
FAILOVER_RE = re.compile(r"\[ai\]\[failover\] from=(\d+) to=(\d+)")


def retry_lines(log):
    """[(attempt, model, endpoint, class, delay_ms)] in log order."""
    return [(int(a), m, e, c, int(d)) for a, m, e, c, d in RETRY_RE.findall(log)]


def failover_lines(log):
    return [(int(a), int(b)) for a, b in FAILOVER_RE.findall(log)]


def ok_completion(model, content="fake ok"):
    return {"id": "chatcmpl-fake", "object": "chat.completion", "created": 1, "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                         "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}}


def sse_event(obj):
    return "data: %s\n\n" % (obj if isinstance(obj, str) else json.dumps(obj))


def chunk_event(model, content, finish=None):
    delta = {"content": content} if content is not None else {}
    return sse_event({"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 1,
                      "model": model, "choices": [{"index": 0, "delta": delta,
                                                   "finish_reason": finish}]})


class FakeUpstream:
    """An HTTP/1.1 upstream on a raw socket that plays `actions` in order, one per request (then
    `default`, an ok completion when None). An action is a dict:
      {"kind":"json","status":S,"body":obj-or-bytes,"headers":{...}}
      {"kind":"reset"}    read the request, then close with RST
      {"kind":"cut"}      send the head with Content-Length 1000 and a few bytes, then RST
      {"kind":"hang"}     hold the request until release() (then an ok completion) or the peer
                          closes (counted in `peer_closed`)
      {"kind":"sse","events":[str...],"hold_after":k}  stream events; after k of them hold until
                          release() or the peer closes; then the rest and the end of the stream
                          (with "then":"reset": an RST instead of the rest)
    Counts: requests (list of (path, parsed body or None)), req_headers, inflight, max_inflight, peer_closed."""

    def __init__(self, actions=None, default=None):
        self.actions = list(actions or [])
        self.default = default
        self.lock = threading.Lock()
        self.requests = []
        self.req_headers = []  # per request: headers lower-cased
        self.inflight = 0
        self.max_inflight = 0
        self.peer_closed = 0
        self.release_ev = threading.Event()
        self.stopping = False
        self.conns = []
        self.ls = socket.socket()
        self.ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.ls.bind(("127.0.0.1", 0))
        self.ls.listen(128)
        self.port = self.ls.getsockname()[1]
        self.url = "http://127.0.0.1:%d/v1" % self.port
        self.t = threading.Thread(target=self._accept, daemon=True)
        self.t.start()

    def release(self):
        self.release_ev.set()

    def count(self):
        with self.lock:
            return len(self.requests)

    def models(self):
        with self.lock:
            return [b.get("model") if isinstance(b, dict) else None for _, b in self.requests]

    def close(self):
        self.stopping = True
        self.release_ev.set()
        try:
            self.ls.close()
        except OSError:
            pass
        with self.lock:
            conns = list(self.conns)
        for c in conns:
            try:
                c.close()
            except OSError:
                pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _accept(self):
        while not self.stopping:
            try:
                c, _ = self.ls.accept()
            except OSError:
                return
            with self.lock:
                self.conns.append(c)
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    @staticmethod
    def _read_request(c, buf):
        """Returns (path, body bytes, rest of buf) or None when the peer closed."""
        while b"\r\n\r\n" not in buf:
            d = c.recv(65536)
            if not d:
                return None
            buf += d
        head, buf = buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        path = lines[0].split(" ")[1] if len(lines[0].split(" ")) > 1 else ""
        hdrs = {}
        for ln in lines[1:]:
            if ":" in ln:
                k, v = ln.split(":", 1)
                hdrs[k.strip().lower()] = v.strip()
        if hdrs.get("transfer-encoding", "").lower() == "chunked":
            body = b""
            while True:
                while b"\r\n" not in buf:
                    d = c.recv(65536)
                    if not d:
                        return None
                    buf += d
                size_line, buf = buf.split(b"\r\n", 1)
                size = int(size_line.split(b";")[0], 16)
                while len(buf) < size + 2:
                    d = c.recv(65536)
                    if not d:
                        return None
                    buf += d
                body += buf[:size]
                buf = buf[size + 2:]
                if size == 0:
                    break
        else:
            n = int(hdrs.get("content-length", "0"))
            while len(buf) < n:
                d = c.recv(65536)
                if not d:
                    return None
                buf += d
            body, buf = buf[:n], buf[n:]
        return path, body, buf, hdrs

    def _wait_release_or_close(self, c):
        """Holds until release() (returns True) or the peer closes (returns False)."""
        while not self.release_ev.is_set():
            r, _, _ = select.select([c], [], [], 0.02)
            if r:
                try:
                    d = c.recv(1, socket.MSG_PEEK)
                except OSError:
                    d = b""
                if not d:
                    with self.lock:
                        self.peer_closed += 1
                    return False
        return True

    @staticmethod
    def _rst(c):
        c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        c.close()

    def _serve(self, c):
        buf = b""
        try:
            while not self.stopping:
                got = self._read_request(c, buf)
                if got is None:
                    return
                path, body, buf, hdrs = got
                try:
                    doc = json.loads(body) if body else None
                except ValueError:
                    doc = None
                with self.lock:
                    self.requests.append((path, doc))
                    self.req_headers.append(hdrs)
                    action = self.actions.pop(0) if self.actions else self.default
                    self.inflight += 1
                    self.max_inflight = max(self.max_inflight, self.inflight)
                try:
                    keep = self._play(c, action, doc)
                finally:
                    with self.lock:
                        self.inflight -= 1
                if not keep:
                    return
        except OSError:
            return
        finally:
            try:
                c.close()
            except OSError:
                pass

    def _play(self, c, action, doc):
        model = doc.get("model", "?") if isinstance(doc, dict) else "?"
        action = action or {"kind": "json", "status": 200, "body": ok_completion(model)}
        kind = action["kind"]
        if kind == "reset":
            self._rst(c)
            return False
        if kind == "cut":
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                      b"Content-Length: 1000\r\n\r\n{\"id\":\"chatcmpl-cut\",\"ob")
            self._rst(c)
            return False
        if kind == "hang":
            if not self._wait_release_or_close(c):
                return False
            action = {"kind": "json", "status": 200, "body": ok_completion(model, "released")}
            kind = "json"
        if kind == "json":
            body = action.get("body", {})
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            hdrs = {"Content-Type": "application/json"}
            hdrs.update(action.get("headers", {}))
            status = action.get("status", 200)
            head = "HTTP/1.1 %d X\r\n" % status + "".join(
                "%s: %s\r\n" % kv for kv in hdrs.items()) + "Content-Length: %d\r\n\r\n" % len(data)
            c.sendall(head.encode() + data)
            return True
        if kind == "sse":
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                      b"Cache-Control: no-cache\r\nTransfer-Encoding: chunked\r\n\r\n")
            events = action["events"]
            hold = action.get("hold_after", len(events))

            def send(ev):
                d = ev.encode()
                c.sendall(b"%x\r\n%s\r\n" % (len(d), d))
            for ev in events[:hold]:
                send(ev)
            if hold < len(events) and not self._wait_release_or_close(c):
                return False
            if action.get("then") == "reset":  # cut the stream after the held part
                self._rst(c)
                return False
            for ev in events[hold:]:
                send(ev)
            c.sendall(b"0\r\n\r\n")
            return True
        raise ValueError("unknown action " + kind)


def refused_url():
    """A URL whose port refuses connections (bound, never listening)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return "http://127.0.0.1:%d/v1" % port


class Gateway:
    """`tenax serve` on a free port in front of `urls`, with short delays; `env` overrides.
    Its store is a SQLite file in a temporary folder (removed on exit)."""

    def __init__(self, urls, env=None, args=()):
        self.dir = tempfile.mkdtemp(prefix="tenax-gw-")
        self.port = txtest.free_port()
        e = {"AI_BASE_URLS": json.dumps(list(urls)), "AI_API_KEY": "sk-test-gateway",
             "AI_RETRY_DELAY_MS": "10", "AI_RETRY_MAX_DELAY_MS": "100", "AI_RETRY_JITTER": "none",
             "AI_TIMEOUT_MS": "2000", "AI_ENDPOINT_FAILOVER_THRESHOLD": "100",
             "AI_MODEL": "gpt-4o-mini"}
        e.update(env or {})
        e = {k: v for k, v in e.items() if v is not None}  # None: leave the key unset
        try:
            self.proc = txtest.Proc(["serve", "--listen", "127.0.0.1:%d" % self.port, "--store",
                                     "sqlite:" + os.path.join(self.dir, "tenax.db")] + list(args),
                                    env=e, port=self.port, cwd=self.dir)
        except Exception:
            shutil.rmtree(self.dir, ignore_errors=True)
            raise

    def log(self):
        return self.proc.log()

    def retries(self):
        return retry_lines(self.log())

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        try:
            self.proc.__exit__(*exc)
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


def chat_body(model, sid=None, script=None, stream=False, **extra):
    b = {"model": model, "messages": [{"role": "user", "content": "Say hello to the gateway."}]}
    if stream:
        b["stream"] = True
    if sid is not None:
        b["tenax_mock"] = {"id": sid, "script": list(script)}
    b.update(extra)
    return b


def chat(port, body, headers=None, timeout=30):
    """POST /v1/chat/completions; returns (status, headers lower-cased, parsed JSON or None, raw)."""
    status, hdrs, data = txtest.request(port, "POST", "/v1/chat/completions", body, headers,
                                        timeout)
    try:
        doc = json.loads(data) if data else None
    except ValueError:
        doc = None
    return status, hdrs, doc, data


def is_openai_error(doc):
    return (isinstance(doc, dict) and isinstance(doc.get("error"), dict)
            and isinstance(doc["error"].get("message"), str) and "type" in doc["error"])


def answer_content(doc):
    try:
        c = doc["choices"][0]["message"]["content"]
        return c if isinstance(c, str) else None
    except (KeyError, IndexError, TypeError):
        return None


def mock_stats(mport):
    s, _, doc = txtest.request_json(mport, "GET", "/mock/stats")
    assert s == 200, "mock stats answered %s" % s
    return doc


def endpoint_is(value, index, url):
    """X-Tenax-Endpoint may name the endpoint by index, by URL or both ("1", "http://…/v1")."""
    if value is None:
        return False
    v = value.strip()
    return v == str(index) or v.rstrip("/") == url.rstrip("/") or v.startswith(str(index) + " ") \
        or url.rstrip("/") in v


def wait_log(gw, pred, timeout=5.0, what="log line"):
    return txtest.wait_until(lambda: pred(gw.log()), timeout, what)


def monotonic_ms():
    return time.monotonic() * 1000.0


class RawClient:
    """One HTTP/1.1 request on a raw socket, read incrementally: the head, then the body as it
    arrives (chunked decoded), so a test can see the first SSE event before the last one exists
    and can hang up mid-response."""

    def __init__(self, port, path, body, headers=None, timeout=10, wait_head=True):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        h = {"Host": "127.0.0.1", "Content-Type": "application/json"}
        h.update(headers or {})
        self.s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.s.sendall(("POST %s HTTP/1.1\r\n" % path).encode()
                       + "".join("%s: %s\r\n" % kv for kv in h.items()).encode()
                       + b"Content-Length: %d\r\n\r\n" % len(data) + data)
        self.buf = b""
        self.body = b""
        self.done = False
        self.eof = False
        if wait_head:
            self.read_head()

    def read_head(self):
        """Reads the status line and headers (done by the constructor unless wait_head=False)."""
        while b"\r\n\r\n" not in self.buf:
            if not self._recv():
                raise AssertionError("connection closed before the response head")
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        self.status = int(lines[0].split(" ")[1])
        self.headers = {}
        for ln in lines[1:]:
            k, _, v = ln.partition(":")
            self.headers[k.strip().lower()] = v.strip()
        self.chunked = self.headers.get("transfer-encoding", "").lower() == "chunked"
        self.length = int(self.headers.get("content-length", "-1"))

    def _recv(self):
        try:
            d = self.s.recv(65536)
        except (ConnectionResetError, socket.timeout):
            d = b""
        if not d:
            self.eof = True
            return False
        self.buf += d
        return True

    def _decode(self):
        if not self.chunked:
            self.body += self.buf
            self.buf = b""
            if self.length >= 0 and len(self.body) >= self.length:
                self.done = True
            return
        while b"\r\n" in self.buf:
            line, rest = self.buf.split(b"\r\n", 1)
            size = int(line.split(b";")[0] or b"0", 16)
            if size == 0:
                self.done = True
                self.buf = b""
                return
            if len(rest) < size + 2:
                return
            self.body += rest[:size]
            self.buf = rest[size + 2:]

    def read_until(self, pred, timeout=10):
        """Reads until pred(body so far) holds, the response ends, or the deadline (then
        fails). Returns the body so far."""
        deadline = time.monotonic() + timeout
        self._decode()
        while not pred(self.body) and not self.done and not self.eof:
            if time.monotonic() > deadline:
                raise AssertionError("timed out reading the response; got %r" % self.body[-300:])
            self.s.settimeout(max(0.05, deadline - time.monotonic()))
            self._recv()
            self._decode()
        return self.body

    def read_all(self, timeout=10):
        return self.read_until(lambda b: False, timeout)

    def events(self):
        """The SSE events received so far, each a dict {event, data} (data joined)."""
        out = []
        for block in self.body.decode("utf-8", "replace").split("\n\n"):
            if not block.strip():
                continue
            ev, data = None, []
            for ln in block.split("\n"):
                if ln.startswith("event:"):
                    ev = ln[6:].strip()
                elif ln.startswith("data:"):
                    data.append(ln[5:].lstrip())
            out.append({"event": ev, "data": "\n".join(data)})
        return out

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass
