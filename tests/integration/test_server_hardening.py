#!/usr/bin/env python3
"""Answers a client can read, and clients that cannot starve others (docs/server.md):
- a 6 MiB body sent in full by http.client (which sends the whole body before reading) reads the
  gateway's 413 with its OpenAI-style error, not a reset: the server lingers, reading and
  discarding, until the client is done (lingering close); several times, on fresh connections;
- 300 connections that send half a request head and stall neither stop normal requests from
  being answered nor cost more than a little memory each, and the server closes every one of
  them at the header timeout (TENAX_HEADER_TIMEOUT_MS) with a 408; connections that send
  nothing at all are closed at the header timeout too (not the much longer idle timeout), without
  an answer."""
import http.client
import json
import os
import select
import socket
import time

import gwkit
import txtest

F = txtest.Failures()
BIG = 6 * 1024 * 1024
STALLED = 300
MUTE = 20
HEADER_TIMEOUT_MS = 4000


def under_asan(pid):
    with open("/proc/%d/maps" % pid) as f:
        return "libasan" in f.read()


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def send_big(port):
    """POSTs a 6 MiB chat body with http.client; (status, parsed body) or (None, the error)."""
    body = (b'{"model":"gpt-4o-mini","messages":[{"role":"user","content":"'
            + b"a" * BIG + b'"}]}')
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        c.request("POST", "/v1/chat/completions", body=body,
                  headers={"Content-Type": "application/json"})
        r = c.getresponse()
        data = r.read()
        try:
            return r.status, json.loads(data)
        except ValueError:
            return r.status, data
    except OSError as e:  # a reset while sending or reading: what lingering close prevents
        return None, repr(e)
    finally:
        c.close()


def lingering_close(mk, gw):
    before = gwkit.mock_stats(mk.port)["requests"]
    for i in range(5):
        status, doc = send_big(gw.port)
        F.check(status == 413, "6 MiB body #%d sent in full: the client reads 413 (got %s %r)"
                % (i + 1, status, doc if status is None else ""))
        F.check(gwkit.is_openai_error(doc) and doc["error"].get("code") == "request_too_large",
                "6 MiB body #%d: OpenAI-style error body: %r" % (i + 1, str(doc)[:200]))
    F.check(gwkit.mock_stats(mk.port)["requests"] == before, "no 413'd body reached the upstream")
    status, _, doc, _ = gwkit.chat(gw.port, gwkit.chat_body("gpt-4o-mini"))
    F.check(status == 200 and gwkit.answer_content(doc), "the gateway serves after the 413s")


def half_head(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
              b"Content-Type: application/json\r\nContent-Le")
    return s


def read_to_end(socks, timeout):
    """Reads every socket until EOF or reset (or the deadline). Returns {sock: bytes read} for the
    ones the server ended; the others are missing."""
    got = {s: b"" for s in socks}
    ended = {}
    for s in socks:
        s.setblocking(False)
    deadline = time.monotonic() + timeout
    while len(ended) < len(socks) and time.monotonic() < deadline:
        live = [s for s in socks if s not in ended]
        ready, _, _ = select.select(live, [], [], 0.5)
        for s in ready:
            try:
                d = s.recv(65536)
            except BlockingIOError:
                continue
            except OSError:  # reset: ended too
                d = b""
            if d:
                got[s] += d
            else:
                ended[s] = got[s]
    return ended


def stalled_heads(mk, gw):
    pid = gw.proc.p.pid
    for _ in range(10):  # warm-up: the gateway's own first allocations come before the baseline
        gwkit.chat(gw.port, gwkit.chat_body("gpt-4o-mini"))
    base = rss_kib(pid)
    socks = [half_head(gw.port) for _ in range(STALLED)]
    mute = [socket.create_connection(("127.0.0.1", gw.port), timeout=10) for _ in range(MUTE)]
    ok = 0
    for i in range(20):
        status, _, doc, _ = gwkit.chat(gw.port, gwkit.chat_body("gpt-4o-mini"), timeout=30)
        ok += status == 200 and gwkit.answer_content(doc) is not None
    F.check(ok == 20, "with %d stalled half-sent heads open, normal requests succeed (%d of 20)"
            % (STALLED, ok))
    grown = rss_kib(pid) - base
    print("RSS grew by %d KiB with %d stalled connections" % (grown, STALLED))
    if under_asan(pid):
        print("RSS not checked under ASan (shadow memory and quarantine)")
    else:
        # a connection in its head holds its parser and the head so far, never a read buffer or
        # body room of its own: 16 KiB each would be far more than it takes
        F.check(grown < STALLED * 16, "memory per stalled connection is small: %d KiB for %d"
                % (grown, STALLED))
    ended = read_to_end(socks, HEADER_TIMEOUT_MS / 1000.0 + 60)
    F.check(len(ended) == STALLED, "the server closed every stalled connection (%d of %d)"
            % (len(ended), STALLED))
    n408 = sum(1 for d in ended.values() if d.startswith(b"HTTP/1.1 408 "))
    F.check(n408 == STALLED, "each was answered 408 at the header timeout (%d of %d)"
            % (n408, STALLED))
    ended = read_to_end(mute, 30)
    F.check(len(ended) == MUTE and all(d == b"" for d in ended.values()),
            "connections that sent nothing were closed at the header timeout, unanswered "
            "(%d of %d)" % (len(ended), MUTE))
    for s in socks + mute:
        s.close()
    status, _, _, _ = gwkit.chat(gw.port, gwkit.chat_body("gpt-4o-mini"))
    F.check(status == 200, "the gateway serves afterwards")


def main():
    with txtest.mock() as mk, gwkit.Gateway(
            ["http://127.0.0.1:%d/v1" % mk.port],
            {"TENAX_HEADER_TIMEOUT_MS": str(HEADER_TIMEOUT_MS), "AI_TIMEOUT_MS": "20000",
             # so that only the header timeout can close a connection during the test
             "TENAX_IDLE_TIMEOUT_MS": "600000"}) as gw:
        lingering_close(mk, gw)
        stalled_heads(mk, gw)
    F.finish()


if __name__ == "__main__":
    main()
