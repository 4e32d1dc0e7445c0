#!/usr/bin/env python3
"""`tenax mock --max-inflight N` (docs/mock.md): with N completions in flight, the next one is
refused at once with Z.AI's concurrency error (HTTP 429, code 1302, Retry-After), counted in
/mock/stats; once one finishes a new one is served again. Requests are held in flight with the
`timeout` script (answered never: in flight until the client hangs up), so every step waits for
an observable count, not for time. Then a burst of concurrent slow requests: the cap holds."""
import json
import socket
import threading

import txtest

F = txtest.Failures()
MODEL = "gpt-4o-mini"
CAP = 3


def body(script_id=None, script=None):
    b = {"model": MODEL, "messages": [{"role": "user", "content": "hello there"}]}
    if script_id:
        b["tenax_mock"] = {"id": script_id, "script": script}
    return json.dumps(b)


def hold(port, i):
    """A completion the mock never answers: in flight until this socket closes."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    b = body("hold-%d" % i, ["timeout"])
    s.sendall(("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
               "\r\nContent-Length: %d\r\n\r\n%s" % (len(b), b)).encode())
    return s


def stats(port):
    st, _, doc = txtest.request_json(port, "GET", "/mock/stats")
    assert st == 200
    return doc


def chat(port, b):
    st, hdrs, data = txtest.request(port, "POST", "/v1/chat/completions", b,
                                    {"Content-Type": "application/json"}, timeout=30)
    try:
        doc = json.loads(data)
    except ValueError:
        doc = None
    return st, hdrs, doc


def is_1302(st, hdrs, doc):
    return (st == 429 and isinstance(doc, dict) and isinstance(doc.get("error"), dict)
            and doc["error"].get("code") == "1302" and hdrs.get("retry-after") == "2")


def held_in_flight():
    with txtest.mock(args=["--max-inflight", str(CAP), "--retry-after", "2"]) as m:
        holders = [hold(m.port, i) for i in range(CAP)]
        txtest.wait_until(lambda: stats(m.port)["inflight"] == CAP, 10, "%d held in flight" % CAP)
        st, hdrs, doc = chat(m.port, body())
        F.check(is_1302(st, hdrs, doc), "one over the cap: 429 with Z.AI's 1302 and Retry-After "
                "(%s %r)" % (st, doc))
        st, hdrs, doc = chat(m.port, body("scripted", ["500"]))
        F.check(is_1302(st, hdrs, doc), "over the cap even a scripted request gets 1302")
        s = stats(m.port)
        F.check(s["over_capacity"] == 2 and s["by_outcome"].get("1302") == 2,
                "counted: over_capacity and by_outcome 1302: %r" % s)
        F.check(s["by_script"].get("scripted") is None, "a refused request uses no script step")
        F.check(s["inflight_peak"] == CAP, "peak in flight = the cap (%r)" % s["inflight_peak"])
        holders.pop().close()  # the client gives up: one slot frees
        txtest.wait_until(lambda: stats(m.port)["inflight"] == CAP - 1, 10, "a slot freed")
        st, _, doc = chat(m.port, body())
        F.check(st == 200 and doc and doc.get("object") == "chat.completion",
                "under the cap again: served (%s)" % st)
        for h in holders:
            h.close()
        txtest.wait_until(lambda: stats(m.port)["inflight"] == 0, 10, "all released")
        st, _, _ = txtest.request_json(m.port, "POST", "/mock/reset")
        s = stats(m.port)
        F.check(st == 200 and s["over_capacity"] == 0 and s["inflight_peak"] == 0,
                "/mock/reset clears the counts: %r" % s)


def burst():
    n = 12
    with txtest.mock(args=["--max-inflight", str(CAP), "--retry-after", "2",
                           "--latency-ms", "200"]) as m:
        results = [None] * n

        def one(i):
            try:
                results[i] = chat(m.port, body())
            except OSError as e:
                results[i] = (None, {}, repr(e))
        threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        ok = sum(1 for st, _, doc in results if st == 200)
        refused = sum(1 for r in results if is_1302(*r))
        F.check(ok + refused == n, "each answer is a completion or a 1302 (%r)"
                % [r[0] for r in results])
        F.check(ok >= 1, "some are served (%d)" % ok)
        s = stats(m.port)
        F.check(s["inflight_peak"] <= CAP, "never more than %d in flight (peak %d)"
                % (CAP, s["inflight_peak"]))
        F.check(s["over_capacity"] == refused, "every refusal counted (%d, %d)"
                % (s["over_capacity"], refused))


held_in_flight()
burst()
F.finish()
