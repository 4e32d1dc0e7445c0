"""tenax mock end to end: every fault kind answers its documented shape, seeds repeat, scripts
control outcomes, SSE framing, and the HTTP server over real sockets (pipelining order, 413, 431,
smuggling 400, header timeout, Connection: close, HTTP/1.0, graceful stop)."""
import json
import os
import signal
import socket
import subprocess
import sys
import threading

sys.path.insert(0, os.path.dirname(__file__))
from txtest import (TENAX, Failures, free_port, mock, request, request_json,  # noqa: E402
                    wait_until)

F = Failures()
MODEL = "gpt-4o-mini"


def chat(port, script_id=None, script=None, stream=False, model=MODEL, text="hello there",
         system=None, timeout=30):
    body = {"model": model, "messages": []}
    if system:
        body["messages"].append({"role": "system", "content": system})
    body["messages"].append({"role": "user", "content": text})
    if stream:
        body["stream"] = True
    if script is not None:
        body["tenax_mock"] = {"id": script_id, "script": script}
    return request(port, "POST", "/v1/chat/completions", body, timeout=timeout)


def jload(data):
    try:
        return json.loads(data)
    except ValueError:
        return None


class Raw:
    """A raw client connection that reads HTTP/1.1 responses one at a time."""

    def __init__(self, port, timeout=10):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.f = self.s.makefile("rb")

    def send(self, data):
        self.s.sendall(data if isinstance(data, bytes) else data.encode())

    def response(self):
        """(status, headers lower-cased, body bytes); None at EOF before a status line."""
        line = self.f.readline()
        if not line:
            return None
        status = int(line.split()[1])
        headers = {}
        while True:
            h = self.f.readline()
            if h in (b"\r\n", b""):
                break
            k, v = h.decode().split(":", 1)
            headers[k.strip().lower()] = v.strip()
        body = b""
        if headers.get("transfer-encoding") == "chunked":
            while True:
                size = int(self.f.readline().split(b";")[0], 16)
                if size == 0:
                    self.f.readline()
                    break
                body += self.f.read(size)
                self.f.readline()
        elif "content-length" in headers:
            body = self.f.read(int(headers["content-length"]))
        else:
            body = self.f.read()
        return status, headers, body

    def at_eof(self):
        try:
            return self.f.read(1) == b""
        except (ConnectionResetError, socket.timeout):
            return False

    def close(self):
        self.f.close()
        self.s.close()


def error_shape(doc):
    return isinstance(doc, dict) and isinstance(doc.get("error"), dict) and "message" in doc["error"]


def test_fault_shapes():
    with mock(args=["--retry-after", "7", "--slow-ms", "5"]) as m:
        p = m.port
        cases = {
            "500": (500, "server_error", None), "502": (502, None, "bad_gateway"),
            "503": (503, "server_error", None), "504": (504, None, "gateway_timeout"),
            "429": (429, "requests", "rate_limit_exceeded"),
            "quota": (429, "insufficient_quota", "insufficient_quota"),
            "401": (401, "invalid_request_error", "invalid_api_key"),
            "404": (404, "invalid_request_error", "model_not_found"),
        }
        for kind, (status, etype, code) in cases.items():
            st, hdrs, data = chat(p, "shape-" + kind, [kind])
            doc = jload(data)
            F.check(st == status, "%s: status %s" % (kind, st))
            F.check(error_shape(doc), "%s: OpenAI error shape: %r" % (kind, data[:200]))
            if etype:
                F.check(doc and doc["error"].get("type") == etype, "%s: type" % kind)
            if code:
                F.check(doc and doc["error"].get("code") == code, "%s: code" % kind)
            F.check(hdrs.get("content-type") == "application/json", "%s: content type" % kind)
            if kind == "429":
                F.check(hdrs.get("retry-after") == "7", "429 carries Retry-After: 7")
                F.check("try again in 7s" in doc["error"]["message"], "429 message says 7s")
            if kind == "404":
                F.check(MODEL in doc["error"]["message"], "404 names the model")
        st, hdrs, data = chat(p, "shape-1302", ["1302"])
        doc = jload(data)
        F.check(st == 429 and doc and doc["error"].get("code") == "1302", "1302: Z.AI shape in a 429")
        F.check(hdrs.get("retry-after") == "7", "1302 carries Retry-After")
        st, _, data = chat(p, "shape-err200", ["err200"])
        doc = jload(data)
        F.check(st == 200 and doc and doc["error"]["code"] == 502, "err200: 502 error inside a 200")
        st, _, data = chat(p, "shape-empty", ["empty"])
        doc = jload(data)
        F.check(st == 200 and doc and doc["choices"] == [], "empty: choices []")
        st, _, data = chat(p, "shape-bad", ["badjson"])
        F.check(st == 200 and jload(data) is None and len(data) > 0, "badjson: 200 with garbage")
        st, hdrs, data = chat(p, "shape-slow", ["slow"])
        doc = jload(data)
        F.check(st == 200 and doc and doc["choices"][0]["message"]["content"], "slow: a full answer")
        F.check(hdrs.get("transfer-encoding") == "chunked", "slow: dribbled in chunks")
        # timeout: never answers; the client gives up and the mock stays healthy
        try:
            chat(p, "shape-timeout", ["timeout"], timeout=0.5)
            F.check(False, "timeout: should not answer")
        except (socket.timeout, TimeoutError):
            F.check(True, "timeout")
        F.check(request(p, "GET", "/healthz")[0] == 200, "mock healthy after a timeout")
        # reset: an RST mid-response
        r = Raw(p)
        body = json.dumps({"model": MODEL, "messages": [{"role": "user", "content": "x"}],
                           "tenax_mock": {"id": "shape-reset", "script": ["reset"]}})
        r.send("POST /v1/chat/completions HTTP/1.1\r\nContent-Type: application/json\r\n"
               "Content-Length: %d\r\n\r\n%s" % (len(body), body))
        got, reset = b"", False
        try:
            while True:
                chunk = r.s.recv(4096)
                if not chunk:
                    break
                got += chunk
        except ConnectionResetError:
            reset = True
        F.check(reset, "reset: connection reset by peer (got %r)" % got[:80])
        r.close()
        # every outcome counted
        st, _, stats = request_json(p, "GET", "/mock/stats")
        for kind in list(cases) + ["1302", "err200", "empty", "badjson", "slow", "timeout", "reset"]:
            F.check(stats["by_outcome"].get(kind) == 1, "stats count %s" % kind)


def sse_events(data):
    events = [e for e in data.decode().split("\n\n") if e.strip()]
    return [e[len("data: "):] for e in events if e.startswith("data: ")], events


def test_stream():
    with mock() as m:
        p = m.port
        st, hdrs, data = chat(p, stream=True, text="streaming framing check")
        F.check(st == 200 and hdrs.get("content-type") == "text/event-stream", "stream: SSE headers")
        F.check(hdrs.get("transfer-encoding") == "chunked", "stream: chunked")
        datas, events = sse_events(data)
        F.check(len(datas) == len(events), "stream: every event is a data: line")
        F.check(datas and datas[-1] == "[DONE]", "stream: ends with [DONE]")
        chunks = [jload(d) for d in datas[:-1]]
        F.check(len(chunks) >= 4 and all(c and c["object"] == "chat.completion.chunk" for c in chunks),
                "stream: several JSON chunks")
        text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
        st2, _, data2 = chat(p, text="streaming framing check")
        F.check(text == jload(data2)["choices"][0]["message"]["content"],
                "stream content equals the non-stream content")
        F.check(all("usage" not in c for c in chunks), "stream: no usage chunk unless asked")
        st3, _, data3 = request(p, "POST", "/v1/chat/completions", {
            "model": MODEL, "stream": True, "stream_options": {"include_usage": True},
            "messages": [{"role": "user", "content": "streaming framing check"}]})
        datas3, _ = sse_events(data3)
        last = jload(datas3[-2]) if len(datas3) >= 2 else None
        F.check(st3 == 200 and last and last["choices"] == [] and
                last.get("usage", {}).get("completion_tokens", 0) > 0,
                "stream_options.include_usage: a last chunk with no choices and the usage")
        # midstream: a first chunk, then the connection is cut
        r = Raw(p)
        body = json.dumps({"model": MODEL, "stream": True, "messages": [{"role": "user", "content": "x"}],
                           "tenax_mock": {"id": "mid", "script": ["midstream"]}})
        r.send("POST /v1/chat/completions HTTP/1.1\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
        got, reset = b"", False
        try:
            while True:
                c = r.s.recv(4096)
                if not c:
                    break
                got += c
        except ConnectionResetError:
            reset = True
        F.check(not reset and b"chat.completion.chunk" in got and b"[DONE]" not in got
                and not got.endswith(b"0\r\n\r\n"),
                "midstream: the first chunks arrive, then a cut (no [DONE], no last chunk), got "
                "reset=%s %r" % (reset, got[-120:]))
        r.close()
        # non-chat endpoints
        st, _, doc = request_json(p, "POST", "/v1/completions", {"model": MODEL, "prompt": "say hi"})
        F.check(st == 200 and doc["object"] == "text_completion" and doc["choices"][0]["text"],
                "completions")
        st, _, doc = request_json(p, "POST", "/v1/embeddings", {"model": "text-embedding-3-small",
                                                                "input": ["a", "b"]})
        F.check(st == 200 and len(doc["data"]) == 2 and len(doc["data"][0]["embedding"]) == 8,
                "embeddings")
        st, _, doc = request_json(p, "GET", "/v1/models")
        F.check(st == 200 and any(x["id"] == MODEL for x in doc["data"]), "models")
        st, _, doc = request_json(p, "POST", "/v1/chat/completions", "{not json")
        F.check(st == 400 and error_shape(doc), "bad JSON: 400 OpenAI error")
        st, _, doc = request_json(p, "POST", "/v1/chat/completions", {"messages": []})
        F.check(st == 400 and "model" in doc["error"]["message"], "missing model: 400")
        st, _, doc = request_json(p, "GET", "/v1/nothing")
        F.check(st == 404 and error_shape(doc), "unknown route: 404")
        st, hdrs, doc = request_json(p, "GET", "/v1/chat/completions")
        F.check(st == 405 and hdrs.get("allow") == "POST", "wrong method: 405 with Allow")


def test_tags():
    with mock() as m:
        text = "Kubernetes operators reconcile custom resources across clusters automatically"
        seen = []
        for _ in range(2):
            st, _, data = chat(m.port, text=text, system="Return 3 to 5 tags for the text as a JSON array.")
            content = jload(data)["choices"][0]["message"]["content"]
            seen.append(content)
        F.check(seen[0] == seen[1], "tags deterministic per text")
        raw = seen[0].strip()
        if raw.startswith("```"):
            raw = raw.split("\n", 1)[1].rsplit("```", 1)[0]
        tags = jload(raw)
        F.check(isinstance(tags, list) and 1 <= len(tags) <= 5, "tags: a JSON array: %r" % seen[0])
        F.check(tags and all(t in text.lower() for t in tags), "tags drawn from the text")
        fenced = 0
        for i in range(12):
            _, _, data = chat(m.port, text="topic number %d about databases and indexing %d" % (i, i),
                              system="Tag this post")
            fenced += jload(data)["choices"][0]["message"]["content"].startswith("```json")
        F.check(0 < fenced < 12, "some tag replies come in a ```json fence (%d/12)" % fenced)


def outcomes(seed):
    with mock(args=["--faults", "500:0.3,429:20%", "--seed", str(seed)]) as m:
        return [chat(m.port)[0] for _ in range(30)]


def test_seed_and_script():
    a, b = outcomes(42), outcomes(42)
    F.check(a == b, "same seed, same outcomes")
    F.check({200, 500, 429} <= set(a), "faults drawn at roughly their rates: %r" % a)
    with mock(args=["--down-models", "dead-model,other"]) as m:
        p = m.port
        got = [chat(p, "case-1", ["500", "429", "ok"])[0] for _ in range(4)]
        F.check(got == [500, 429, 200, 200], "script in order, last repeats: %r" % got)
        F.check(chat(p, "case-2", ["quota"])[0] == 429, "second script id independent")
        for _ in range(2):
            st, _, data = chat(p, model="dead-model")
            F.check(st == 503 and jload(data)["error"]["code"] == "model_unavailable", "down model 503")
        st, _, stats = request_json(p, "GET", "/mock/stats")
        F.check(stats["requests"] == 7, "stats: requests %r" % stats)
        F.check(stats["by_script"] == {"case-1": 4, "case-2": 1}, "stats: by script")
        F.check(stats["by_model"] == {MODEL: 5, "dead-model": 2}, "stats: by model")
        F.check(stats["by_outcome"].get("down") == 2 and stats["by_outcome"].get("ok") == 2,
                "stats: by outcome")
        st, _, data = chat(p, "bad", ["nope"])
        F.check(st == 400 and b"nope" in data, "unknown script entry: 400 naming it")
        F.check(request_json(p, "POST", "/mock/reset")[0] == 200, "reset")
        st, _, stats = request_json(p, "GET", "/mock/stats")
        F.check(stats["requests"] == 0 and stats["by_script"] == {}, "stats cleared")
        F.check(chat(p, "case-1", ["500", "ok"])[0] == 500, "script restarts after reset")


def test_server_sockets():
    port = free_port()
    with mock(port=port, args=["--max-body-bytes", "1000", "--header-timeout-ms", "300",
                               "--slow-ms", "20"]) as m:
        # pipelining: a slow answer first holds the later ones back, answers stay in order
        body = json.dumps({"model": MODEL, "messages": [{"role": "user", "content": "first"}],
                           "tenax_mock": {"id": "pipe", "script": ["slow"]}})
        r = Raw(port)
        r.send("POST /v1/chat/completions HTTP/1.1\r\nContent-Length: %d\r\n\r\n%s"
               "GET /healthz HTTP/1.1\r\n\r\nGET /v1/models HTTP/1.1\r\n\r\n"
               "GET /mock/stats HTTP/1.1\r\n\r\n" % (len(body), body))
        first, second, third, fourth = r.response(), r.response(), r.response(), r.response()
        F.check(first[0] == 200 and jload(first[2])["object"] == "chat.completion", "pipelined #1 slow")
        F.check(second[0] == 200 and jload(second[2]) == {"status": "ok"}, "pipelined #2 healthz")
        F.check(third[0] == 200 and jload(third[2])["object"] == "list", "pipelined #3 models")
        F.check(fourth[0] == 200 and "requests" in jload(fourth[2]), "pipelined #4 stats")
        # keep-alive: the same connection keeps working
        r.send("GET /healthz HTTP/1.1\r\n\r\n")
        F.check(r.response()[0] == 200, "keep-alive")
        r.send("GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n")
        resp = r.response()
        F.check(resp[0] == 200 and resp[1].get("connection") == "close", "Connection: close honoured")
        F.check(r.at_eof(), "closed after Connection: close")
        r.close()
        r = Raw(port)
        r.send("GET /healthz HTTP/1.0\r\n\r\n")
        resp = r.response()
        F.check(resp[0] == 200 and r.at_eof(), "HTTP/1.0 answered and closed")
        r.close()
        # 413 as soon as Content-Length says so (no body sent)
        r = Raw(port)
        r.send("POST /v1/chat/completions HTTP/1.1\r\nContent-Length: 5000\r\n\r\n")
        resp = r.response()
        F.check(resp and resp[0] == 413 and error_shape(jload(resp[2])), "413 on Content-Length")
        F.check(r.at_eof(), "closed after 413")
        r.close()
        r = Raw(port)
        r.send("POST /v1/chat/completions HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
               + "".join("100\r\n" + "x" * 256 + "\r\n" for _ in range(5)))
        resp = r.response()
        F.check(resp and resp[0] == 413, "413 when a chunked body grows too large")
        r.close()
        # 431
        r = Raw(port)
        r.send("GET /healthz HTTP/1.1\r\nX-Big: " + "a" * 20000 + "\r\n\r\n")
        resp = r.response()
        F.check(resp and resp[0] == 431 and error_shape(jload(resp[2])), "431 on 20 KB of headers")
        r.close()
        # smuggling
        for name, req in [
            ("CL+TE", "POST /v1/chat/completions HTTP/1.1\r\nContent-Length: 5\r\n"
                      "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
            ("two CL", "POST /v1/chat/completions HTTP/1.1\r\nContent-Length: 5\r\n"
                       "Content-Length: 6\r\n\r\nabcdef"),
            ("TE gzip", "POST /v1/chat/completions HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\nabc"),
        ]:
            r = Raw(port)
            r.send(req)
            resp = r.response()
            F.check(resp and resp[0] == 400 and error_shape(jload(resp[2])), "smuggling %s: 400" % name)
            F.check(r.at_eof(), "smuggling %s: closed" % name)
            r.close()
        # header timeout (slowloris): a request line and then nothing
        r = Raw(port, timeout=10)
        r.send("GET /healthz HTTP/1.1\r\nX-Slow: ")
        resp = r.response()
        F.check(resp and resp[0] == 408, "header timeout: 408")
        F.check(r.at_eof(), "header timeout: closed")
        r.close()
        F.check(request(port, "GET", "/healthz")[0] == 200, "still serving after the abuse")
    # idle keep-alive timeout and the connection limit (excess connections accepted and closed)
    port = free_port()
    with mock(port=port, args=["--idle-timeout-ms", "1000", "--max-connections", "2"]):
        def served():
            """A connection that got an answer (the readiness probe may still hold a slot
            for a moment, so retry until it is gone)."""
            r = Raw(port)
            try:
                r.send("GET /healthz HTTP/1.1\r\n\r\n")
                if (r.response() or (0,))[0] == 200:
                    return r
            except OSError:
                pass
            r.close()
            return None
        a = wait_until(served, 10, "first connection served")
        b = wait_until(served, 10, "second connection served")
        c = Raw(port)
        try:
            c.send("GET /healthz HTTP/1.1\r\n\r\n")
            third = c.response()
        except OSError:
            third = None
        F.check(third is None, "connection over the limit closed without an answer")
        c.close()
        F.check(a.at_eof() and b.at_eof(), "idle keep-alive connections closed by the server")
        a.close()
        b.close()
        r = wait_until(served, 10, "a slot free again once the server closed them")
        F.check(r is not None, "a slot is free again")
        r.close()


def test_cli_and_stop():
    port = free_port()
    with mock(port=port) as m:
        F.check("tenax mock listening on http://127.0.0.1:%d (faults: none)\n" % port in m.log(),
                "startup line: %r" % m.log()[:200])
        p = subprocess.run([TENAX, "mock", "--listen", "127.0.0.1:%d" % port], capture_output=True,
                           text=True, timeout=10)
        F.check(p.returncode == 1 and "already in use" in p.stderr, "port taken: clear error")
    for args, what in [(["--faults", "700:0.1"], "unknown kind"), (["--faults", "500:2"], "prob"),
                       (["--faults", "500:0.7,429:0.7"], "sum"), (["--bogus"], "flag"),
                       (["--latency-ms", "x"], "number"), (["--listen", "nohostport"], "listen")]:
        p = subprocess.run([TENAX, "mock"] + args, capture_output=True, text=True, timeout=10)
        rc_ok = p.returncode == 2  # a malformed --listen is a usage error too
        F.check(rc_ok and p.stderr.count("\n") == 1, "bad %s: one-line error, rc %d: %r"
                % (what, p.returncode, p.stderr))
    p = subprocess.run([TENAX, "mock", "--help"], capture_output=True, text=True, timeout=10)
    F.check(p.returncode == 0 and "--faults" in p.stdout, "--help")
    # IPv6 when the machine has it
    try:
        s = socket.socket(socket.AF_INET6)
        s.bind(("::1", 0))
        p6 = s.getsockname()[1]
        s.close()
        proc = subprocess.Popen([TENAX, "mock", "--listen", "[::1]:%d" % p6], stderr=subprocess.PIPE)

        def v6_up():
            try:
                socket.create_connection(("::1", p6), timeout=0.2).close()
                return True
            except OSError:
                return False
        wait_until(v6_up, 10, "IPv6 listener")
        F.check(request(p6, "GET", "/healthz", host="::1")[0] == 200, "IPv6 listen")
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)
        proc.stderr.close()
    except OSError:
        print("IPv6 not available: skipped")
    # graceful stop: a request in flight still gets its answer
    with mock(args=["--latency-ms", "400"]) as m:
        out = {}

        def slow():
            out["resp"] = chat(m.port)
        t = threading.Thread(target=slow)
        t.start()
        wait_until(lambda: request_json(m.port, "GET", "/mock/stats")[2]["requests"] == 1, 10,
                   "request in flight")
        m.p.send_signal(signal.SIGTERM)
        t.join(10)
        F.check(out.get("resp", (0,))[0] == 200, "in-flight request answered during graceful stop")
        F.check(m.p.wait(10) == 0, "mock exits 0 after SIGTERM")


def test_provider_options_and_responses():
    """--expect-key / --expect-header / --expect-query / --models make the mock one provider
    among several; /v1/responses answers plain and streamed like OpenAI's Responses API."""
    r = subprocess.run([TENAX, "mock", "--expect-header", "no-colon"], capture_output=True,
                       text=True, timeout=10)
    F.check(r.returncode == 2 and "--expect-header" in r.stderr,
            "a bad --expect-header exits 2 saying why: %r" % r.stderr)
    args = ["--expect-key", "k-1", "--expect-header", "X-Org: acme", "--expect-query", "v=2",
            "--models", "m-a,m-b"]
    with mock(args=args) as m:
        p = m.port
        good = {"Authorization": "Bearer k-1", "X-Org": "acme"}
        body = {"model": "m-a", "messages": [{"role": "user", "content": "hi"}]}
        st, _, _ = request(p, "POST", "/v1/chat/completions?v=2", body, good)
        F.check(st == 200, "provider: the right key, header and query: 200 (%s)" % st)
        st, _, doc = request_json(p, "POST", "/v1/chat/completions?v=2", body,
                                  {"api-key": "k-1", "X-Org": "acme"})
        F.check(st == 200, "provider: the key as api-key: 200 (%s)" % st)
        st, _, doc = request_json(p, "POST", "/v1/chat/completions?v=2", body,
                                  {"Authorization": "Bearer nope", "X-Org": "acme"})
        F.check(st == 401 and doc["error"]["code"] == "invalid_api_key", "provider: wrong key 401")
        st, _, doc = request_json(p, "POST", "/v1/chat/completions?v=2", body,
                                  {"Authorization": "Bearer k-1"})
        F.check(st == 400 and doc["error"]["code"] == "missing_header", "provider: header 400")
        st, _, doc = request_json(p, "POST", "/v1/chat/completions?v=3", body, good)
        F.check(st == 400 and doc["error"]["code"] == "missing_query", "provider: query 400")
        st, _, doc = request_json(p, "POST", "/v1/chat/completions?v=2",
                                  dict(body, model="other"), good)
        F.check(st == 404 and doc["error"]["code"] == "model_not_found",
                "provider: a model it does not serve: 404 model_not_found")
        st, _, doc = request_json(p, "GET", "/v1/models")
        F.check([d["id"] for d in doc["data"]] == ["m-a", "m-b"], "provider: /v1/models lists --models")
        stats = request_json(p, "GET", "/mock/stats")[2]["by_outcome"]
        F.check(stats.get("bad_key") == 1 and stats.get("bad_header") == 1 and
                stats.get("bad_query") == 1 and stats.get("model_not_found") == 1,
                "provider: refusals counted: %r" % stats)
        # the Responses API
        rb = {"model": "m-b", "input": "Say hello"}
        st, _, doc = request_json(p, "POST", "/v1/responses?v=2", rb, good)
        out = (doc or {}).get("output") or [{}]
        F.check(st == 200 and doc["object"] == "response" and doc["status"] == "completed" and
                out[0].get("content", [{}])[0].get("type") == "output_text" and
                doc["usage"]["input_tokens"] > 0 and doc["usage"]["output_tokens"] > 0,
                "responses: a completed response with output_text and usage: %r" % doc)
        st, _, doc = request_json(p, "POST", "/v1/responses?v=2",
                                  dict(rb, tenax_mock={"id": "rf", "script": ["err200"]}), good)
        F.check(st == 200 and doc["status"] == "failed" and doc["error"]["code"] == "server_error",
                "responses: err200 is a failed response: %r" % doc)
        st, h, data = request(p, "POST", "/v1/responses?v=2", dict(rb, stream=True), good)
        evs = [ln[7:] for ln in data.decode().split("\n") if ln.startswith("event: ")]
        F.check(evs and st == 200 and evs[0] == "response.created" and
                "response.output_text.delta" in evs and evs[-1] == "response.completed",
                "responses stream: created, deltas, completed: %r" % evs)


for t in [test_fault_shapes, test_stream, test_tags, test_seed_and_script, test_server_sockets,
          test_cli_and_stop, test_provider_options_and_responses]:
    try:
        t()
    except Exception as e:  # one broken test must not hide the others
        import traceback
        traceback.print_exc()
        F.check(False, "%s raised %r" % (t.__name__, e))
F.finish()
