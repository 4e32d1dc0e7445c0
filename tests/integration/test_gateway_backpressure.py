#!/usr/bin/env python3
"""Back-pressure on a relayed stream: a client that reads slower than the provider streams makes
the gateway stop reading the provider (logged `[ai][stream] paused`) instead of queueing the
whole answer in memory; the pause outlasts AI_TIMEOUT_MS without a timeout or a retry; once the
client reads again the gateway resumes (`resumed`) and the client gets every event, in order,
exactly once. A client that hangs up while the provider is paused closes the upstream request."""
import os
import socket
import time

import gwkit
import txtest

F = txtest.Failures()
MODEL = "m-big"
PIECE = 64 * 1024
N = 400  # about 26 MB of events


def dechunk(data):
    """The body of a chunked HTTP/1.1 message (whole, in `data` after the head)."""
    out = bytearray()
    i = 0
    while True:
        j = data.index(b"\r\n", i)
        size = int(bytes(data[i:j]).split(b";")[0], 16)
        if size == 0:
            return bytes(out)
        out += data[j + 2:j + 2 + size]
        i = j + 2 + size + 2


def under_asan(pid):
    with open("/proc/%d/maps" % pid) as f:
        return "libasan" in f.read()


piece = "".join(chr(ord("a") + i % 26) for i in range(PIECE))
events = ([gwkit.chunk_event(MODEL, piece)] * N
          + [gwkit.chunk_event(MODEL, None, "stop"), "data: [DONE]\n\n"])
with gwkit.FakeUpstream([{"kind": "sse", "events": events}]) as up, \
        gwkit.Gateway([up.url], env={"TENAX_LOG_LEVEL": "info", "AI_TIMEOUT_MS": "1000"}) as gw:
    pid = gw.proc.p.pid
    base_kib = txtest.peak_rss_kib(pid)
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32 * 1024)
    s.connect(("127.0.0.1", gw.port))
    body = b'{"model":"%s","stream":true,"messages":[{"role":"user","content":"go"}]}' % \
        MODEL.encode()
    s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
    # the client reads nothing until the gateway has paused the provider
    txtest.wait_until(lambda: "[ai][stream] paused" in gw.log(), 30, "the gateway to pause")
    time.sleep(1.5)  # the scenario: a client slower than AI_TIMEOUT_MS (1 s); not a synchronisation
    data = bytearray()
    s.settimeout(30)
    while not data.endswith(b"0\r\n\r\n"):
        d = s.recv(1 << 20)
        if not d:
            break
        data += d
    s.close()
    head, _, rest = bytes(data).partition(b"\r\n\r\n")
    F.check(head.startswith(b"HTTP/1.1 200"), "stream answered 200: %r" % head[:40])
    text = dechunk(rest).decode()
    blocks = [b for b in text.split("\n\n") if b.strip()]
    want = gwkit.chunk_event(MODEL, piece).strip()
    F.check(len(blocks) == N + 2, "every event arrived once (%d of %d)" % (len(blocks), N + 2))
    F.check(all(b == want for b in blocks[:N]), "the events arrived whole and in order")
    F.check(blocks[-1] == "data: [DONE]", "the stream ends with [DONE]: %r" % blocks[-1][:40])
    log = gw.log()
    F.check("[ai][stream] resumed" in log, "the gateway resumed reading the provider")
    F.check(not gw.retries() and "timeout" not in log,
            "no timeout or retry while paused longer than AI_TIMEOUT_MS")
    F.check(up.count() == 1, "one upstream request (%d)" % up.count())
    hwm = txtest.peak_rss_kib(pid)
    print("peak RSS %d KiB, %d KiB before the stream" % (hwm, base_kib))
    if under_asan(pid):
        # ASan keeps freed blocks in quarantine: peak RSS says nothing about what was queued
        print("peak RSS not checked under ASan (%d KiB)" % hwm)
    else:
        F.check(hwm - base_kib < 12 * 1024,
                "peak RSS grew by %d KiB while streaming %d KiB to a slow client (bounded)"
                % (hwm - base_kib, N * PIECE // 1024))

# a client that hangs up while the provider is paused: the upstream request is closed too
with gwkit.FakeUpstream([{"kind": "sse", "events": events}]) as up, \
        gwkit.Gateway([up.url], env={"TENAX_LOG_LEVEL": "info"}) as gw:
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32 * 1024)
    s.connect(("127.0.0.1", gw.port))
    s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
    txtest.wait_until(lambda: "[ai][stream] paused" in gw.log(), 30, "the gateway to pause")
    F.check(up.inflight == 1, "the provider is still sending (blocked on a full socket)")
    s.close()
    txtest.wait_until(lambda: up.inflight == 0, 10, "the upstream request to be closed")
    F.check(up.count() == 1, "no retry after the client left (%d requests)" % up.count())

F.finish()
