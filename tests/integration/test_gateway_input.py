#!/usr/bin/env python3
"""Bad client input at the gateway (docs/gateway.md statuses of its own): not JSON, truncated JSON,
invalid UTF-8, wrong types, a body over TENAX_MAX_BODY_BYTES (413), a huge header, request
smuggling (Content-Length + Transfer-Encoding) — each gets an OpenAI-style error and never reaches
the upstream (the mock's request count does not move); the gateway then still serves."""
import json
import socket
import sys

import gwkit
import txtest

F = txtest.Failures()


def raw_exchange(port, data, timeout=10):
    """Sends raw bytes, returns (status, headers, body) of the first response (None on no answer)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        try:
            s.sendall(data)
        except OSError:
            pass  # the server may answer and close before reading everything
        buf = b""
        while b"\r\n\r\n" not in buf:
            try:
                d = s.recv(65536)
            except OSError:
                d = b""
            if not d:
                return None, {}, buf
            buf += d
        head, body = buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        hdrs = {}
        for ln in lines[1:]:
            k, _, v = ln.partition(":")
            hdrs[k.strip().lower()] = v.strip()
        n = int(hdrs.get("content-length", "0"))
        while len(body) < n:
            try:
                d = s.recv(65536)
            except OSError:
                d = b""
            if not d:
                break
            body += d
        return int(lines[0].split(" ")[1]), hdrs, body[:n]
    finally:
        s.close()


def post(path, body, extra=b""):
    return (b"POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" % path.encode()
            + extra + b"Content-Length: %d\r\n\r\n" % len(body) + body)


def main():
    with txtest.mock() as mk, gwkit.Gateway(["http://127.0.0.1:%d/v1" % mk.port],
                                            {"TENAX_MAX_BODY_BYTES": "4096"}) as gw:
        def upstream_requests():
            return gwkit.mock_stats(mk.port)["requests"]

        m = b'"model":"gpt-4o-mini"'
        msgs = b'"messages":[{"role":"user","content":"hi"}]'
        cases = [
            ("not JSON", post("/v1/chat/completions", b"hello, gateway"), (400,)),
            ("empty body", post("/v1/chat/completions", b""), (400,)),
            ("truncated JSON", post("/v1/chat/completions",
                                    b'{"model":"gpt-4o-mini","messages":[{"role":"user"'), (400,)),
            ("a JSON array", post("/v1/chat/completions", b"[1,2,3]"), (400,)),
            ("invalid UTF-8", post("/v1/chat/completions",
                                   b'{' + m + b',"messages":[{"role":"user","content":"\xff\xfe\xc0"}]}'),
             (400,)),
            ("messages a string", post("/v1/chat/completions",
                                       b'{' + m + b',"messages":"hello"}'), (400,)),
            ("model a number", post("/v1/chat/completions", b'{"model":42,' + msgs + b'}'),
             (400,)),
            ("stream \"yes\"", post("/v1/chat/completions",
                                    b'{' + m + b',' + msgs + b',"stream":"yes"}'), (400,)),
            ("messages missing", post("/v1/chat/completions", b'{' + m + b'}'), (400,)),
            ("messages of strings", post("/v1/chat/completions",
                                         b'{' + m + b',"messages":["hi","there"]}'), (400,)),
            ("completions without prompt", post("/v1/completions", b'{' + m + b'}'), (400,)),
            ("embeddings without input", post("/v1/embeddings", b'{' + m + b'}'), (400,)),
            ("body over TENAX_MAX_BODY_BYTES", post(
                "/v1/chat/completions", b'{' + m + b',"messages":[{"role":"user","content":"'
                + b"x" * 8000 + b'"}]}'), (413,)),
            ("huge header", post("/v1/chat/completions", b'{' + m + b',' + msgs + b'}',
                                 b"X-Huge: " + b"h" * 40000 + b"\r\n"), (431, 400)),
            ("CL+TE smuggling",
             b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
             b"Content-Length: 40\r\nTransfer-Encoding: chunked\r\n\r\n"
             b"0\r\n\r\nPOST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n\r\n", (400,)),
            ("TE+CL smuggling",
             b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
             b"Content-Length: 4\r\n\r\n17\r\n{" + m + b"}\r\n0\r\n\r\n", (400,)),
        ]
        for name, data, statuses in cases:
            before = upstream_requests()
            st, h, body = raw_exchange(gw.port, data)
            try:
                doc = json.loads(body)
            except ValueError:
                doc = None
            F.check(st in statuses, "%s: status %s, got %s %r" % (name, statuses, st, body[:200]))
            F.check(gwkit.is_openai_error(doc),
                    "%s: an OpenAI-style error body, got %r" % (name, body[:200]))
            F.check(upstream_requests() == before,
                    "%s: never reaches the upstream (mock requests %d → %d)"
                    % (name, before, upstream_requests()))

        # A nonsense X-Tenax-Deadline-Ms is refused or ignored, never a crash.
        for bad in ("abc", "-5", "99999999999999999999999", ""):
            st, h, doc, raw = gwkit.chat(gw.port, gwkit.chat_body("gpt-4o-mini"),
                                         headers={"X-Tenax-Deadline-Ms": bad})
            F.check(st in (200, 400) and (st == 200 or gwkit.is_openai_error(doc)),
                    "X-Tenax-Deadline-Ms %r: 200 (ignored) or an OpenAI-style 400, got %s %r"
                    % (bad, st, raw[:200]))

        # The gateway is still there and a good request reaches the upstream exactly once.
        before = upstream_requests()
        st, h, doc, raw = gwkit.chat(gw.port, gwkit.chat_body("gpt-4o-mini"))
        F.check(st == 200 and gwkit.answer_content(doc) is not None,
                "after bad input: a good request is answered, got %s %r" % (st, raw[:200]))
        F.check(upstream_requests() == before + 1, "after bad input: the upstream saw it once")
    F.finish()


if __name__ == "__main__":
    try:
        main()
    except AssertionError as e:
        print("FAIL:", e, file=sys.stderr)
        sys.exit(1)
