#!/usr/bin/env python3
"""docs/upstream.md through the real binary: with AI_MAX_CONCURRENCY=1 and AI_QUEUE_MAX_SIZE=1 and an
upstream that holds every request until the test releases it, one request is in flight, one
waits, and the next is dropped at once with 503, Retry-After and an error of type `queue_full`
(droppedSinceBoot grows); after the release the others complete; the upstream never sees more
than one request at a time."""
import json
import sys
import threading
import time

import gwkit
import txtest

F = txtest.Failures()


class Call(threading.Thread):
    """One request on its own thread; `sent` is set once the whole request is on the wire."""

    def __init__(self, port, model):
        super().__init__(daemon=True)
        self.port, self.model, self.result = port, model, None
        self.sent = threading.Event()

    def run(self):
        c = None
        try:
            c = gwkit.RawClient(self.port, "/v1/chat/completions", gwkit.chat_body(self.model),
                                timeout=30, wait_head=False)
            self.sent.set()
            c.read_head()
            raw = c.read_all(30)
            try:
                doc = json.loads(raw)
            except ValueError:
                doc = None
            self.result = (c.status, c.headers, doc, raw)
        except Exception as e:  # reported by the checks below
            self.sent.set()
            self.result = (None, {}, None, repr(e).encode())
        finally:
            if c:
                c.close()


def main():
    env = {"AI_MAX_CONCURRENCY": "1", "AI_QUEUE_MAX_SIZE": "1", "AI_TIMEOUT_MS": "30000"}
    with gwkit.FakeUpstream(default={"kind": "hang"}) as up, gwkit.Gateway([up.url], env) as gw:
        a = Call(gw.port, "m-adm-a")
        a.start()
        txtest.wait_until(lambda: up.inflight == 1, 10, "request A in flight at the upstream")
        b = Call(gw.port, "m-adm-b")
        b.start()
        F.check(b.sent.wait(10), "admission: request B sent")
        # B waits for the slot. When diag is there, wait until it shows B queued.
        s, _, diag = txtest.request_json(gw.port, "GET", "/admin/diag?q=ai-queue")
        if s == 200 and isinstance(diag, dict) and "queued" in diag:
            try:
                txtest.wait_until(lambda: txtest.request_json(
                    gw.port, "GET", "/admin/diag?q=ai-queue")[2].get("queued") == 1, 5,
                    "diag queued == 1")
            except AssertionError as e:
                F.check(False, "admission: %s" % e)
        c = Call(gw.port, "m-adm-c")
        c.start()
        # One of B and C is dropped at once (while A still holds the only slot).
        txtest.wait_until(lambda: b.result is not None or c.result is not None, 10,
                          "one of the two waiting requests to be dropped")
        dropped, kept = (c, b) if c.result is not None else (b, c)
        st, h, doc, raw = dropped.result
        F.check(dropped is c, "admission: the third request is the one dropped (not B)")
        F.check(st == 503, "queue full: 503, got %s %r" % (st, raw[:200]))
        F.check(h.get("retry-after", "").strip().isdigit(),
                "queue full: a Retry-After in seconds, got %r" % h.get("retry-after"))
        F.check(gwkit.is_openai_error(doc) and doc["error"].get("type") == "queue_full",
                "queue full: an OpenAI-style error of type queue_full, got %r" % raw[:200])
        F.check(a.result is None and kept.result is None and up.count() == 1,
                "queue full: dropped while A still holds the slot (upstream saw %d)" % up.count())

        up.release()
        txtest.wait_until(lambda: a.result is not None and kept.result is not None, 15,
                          "A and the waiting request to complete after the release")
        for name, call in (("A", a), ("the waiting one", kept)):
            st, h, doc, raw = call.result
            F.check(st == 200 and gwkit.answer_content(doc) == "released",
                    "admission: %s completes with the upstream's answer, got %s %r"
                    % (name, st, raw[:200]))
        F.check(up.count() == 2, "admission: the upstream saw 2 requests (A and B), saw %d"
                % up.count())
        F.check(up.max_inflight == 1, "admission: never more than 1 in flight upstream, saw %d"
                % up.max_inflight)
        s, _, diag = txtest.request_json(gw.port, "GET", "/admin/diag?q=ai-queue")
        F.check(s == 200 and isinstance(diag, dict) and diag.get("droppedSinceBoot") == 1,
                "diag: droppedSinceBoot == 1, got %s %r" % (
                    s, diag.get("droppedSinceBoot") if isinstance(diag, dict) else diag))

    # Several concurrent requests with AI_MAX_CONCURRENCY=2 and a big queue: all complete, never
    # more than 2 at the upstream.
    env = {"AI_MAX_CONCURRENCY": "2", "AI_QUEUE_MAX_SIZE": "16", "AI_TIMEOUT_MS": "30000"}
    with gwkit.FakeUpstream(default={"kind": "hang"}) as up, gwkit.Gateway([up.url], env) as gw:
        calls = [Call(gw.port, "m-adm-%d" % i) for i in range(6)]
        for cl in calls:
            cl.start()
        txtest.wait_until(lambda: up.inflight == 2, 10, "2 requests in flight upstream")
        up.release()
        txtest.wait_until(lambda: all(cl.result is not None for cl in calls), 20,
                          "all 6 requests to complete")
        F.check(all(cl.result[0] == 200 for cl in calls),
                "queue: all 6 complete, statuses %r" % [cl.result[0] for cl in calls])
        F.check(up.max_inflight == 2, "queue: at most 2 in flight upstream, saw %d"
                % up.max_inflight)

    # Waiting counts against the deadline: a queued request with a 1 s budget is answered 504
    # in about 1 s and never reaches the upstream.
    env = {"AI_MAX_CONCURRENCY": "1", "AI_QUEUE_MAX_SIZE": "4", "AI_TIMEOUT_MS": "30000"}
    with gwkit.FakeUpstream(default={"kind": "hang"}) as up, gwkit.Gateway([up.url], env) as gw:
        a = Call(gw.port, "m-adm-hold")
        a.start()
        txtest.wait_until(lambda: up.inflight == 1, 10, "request A in flight at the upstream")
        t0 = time.monotonic()
        st, h, doc, raw = gwkit.chat(gw.port, gwkit.chat_body("m-adm-queued"),
                                     headers={"X-Tenax-Deadline-Ms": "1000"}, timeout=30)
        took = time.monotonic() - t0
        F.check(st == 504 and gwkit.is_openai_error(doc),
                "queued past its deadline: 504 with an OpenAI-style error, got %s %r"
                % (st, raw[:200]))
        F.check(took < 1.0 + 1.5, "queued past its deadline: answered after %.2f s" % took)
        F.check(up.count() == 1, "queued past its deadline: never reached the upstream (%d)"
                % up.count())
        up.release()
        txtest.wait_until(lambda: a.result is not None, 15, "A to complete")
        F.check(a.result[0] == 200, "A completes after the release, got %s" % a.result[0])

    # A client that leaves while queued gives its place back: nothing leaks, later requests pass.
    env = {"AI_MAX_CONCURRENCY": "1", "AI_QUEUE_MAX_SIZE": "1", "AI_TIMEOUT_MS": "30000"}
    with gwkit.FakeUpstream(default={"kind": "hang"}) as up, gwkit.Gateway([up.url], env) as gw:
        a = Call(gw.port, "m-adm-hold2")
        a.start()
        txtest.wait_until(lambda: up.inflight == 1, 10, "request A in flight at the upstream")
        b = gwkit.RawClient(gw.port, "/v1/chat/completions", gwkit.chat_body("m-adm-leaver"),
                            wait_head=False)

        def queued_is(n):
            s, _, d = txtest.request_json(gw.port, "GET", "/admin/diag?q=ai-queue")
            return s == 200 and isinstance(d, dict) and d.get("queued") == n
        try:
            txtest.wait_until(lambda: queued_is(1), 5, "diag queued == 1 (B waiting)")
            b.close()
            txtest.wait_until(lambda: queued_is(0), 5, "diag queued == 0 after B left")
            F.check(True, "")
        except AssertionError as e:
            b.close()
            F.check(False, "leaving the queue: %s" % e)
        up.release()
        txtest.wait_until(lambda: a.result is not None, 15, "A to complete")
        results = []
        for i in range(3):
            st, h, doc, raw = gwkit.chat(gw.port, gwkit.chat_body("m-adm-after-%d" % i))
            results.append(st)
        F.check(results == [200, 200, 200] and up.count() == 4,
                "after a client left the queue: later requests all pass (%r), the upstream saw "
                "A and them (%d, want 4)" % (results, up.count()))
        s, _, d = txtest.request_json(gw.port, "GET", "/admin/diag?q=ai-queue")
        F.check(s == 200 and d.get("inFlight") == 0 and d.get("queued") == 0,
                "after all: diag inFlight 0 and queued 0, got %r" % (
                    {k: d.get(k) for k in ("inFlight", "queued")} if isinstance(d, dict) else d))
    F.finish()


if __name__ == "__main__":
    try:
        main()
    except AssertionError as e:
        print("FAIL:", e, file=sys.stderr)
        sys.exit(1)
