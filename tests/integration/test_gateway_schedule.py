#!/usr/bin/env python3
"""docs/retry-engine.md through the real binary: attempts 1…AI_RETRY_MAX on the primary, then each fallback
AI_FALLBACK_ATTEMPTS times, in order (the mock's per-model counts, the order seen by a scripted
upstream, the `[ai][retry]` lines); model_unavailable / context_length / content_filter move on at
once; a request never outlives AI_DEADLINE_MS or X-Tenax-Deadline-Ms (a 429 keeps Retry-After)."""
import json
import sys
import time

import gwkit
import txtest

F = txtest.Failures()
FB = ["fb-a", "fb-b"]
ENV = {"AI_RETRY_MAX": "3", "AI_FALLBACK_MODELS": json.dumps(FB), "AI_FALLBACK_ATTEMPTS": "2"}
E500 = {"kind": "json", "status": 500, "body": {"error": {
    "message": "The server had an error while processing your request.", "type": "server_error",
    "param": None, "code": None}}}
MARGIN_S = 1.5  # generous: two loaded cores, sanitizers


def with_mock():
    with txtest.mock() as mk, gwkit.Gateway(["http://127.0.0.1:%d/v1" % mk.port], ENV) as gw:
        # Every attempt fails: 3 on the primary, 2 on each fallback, then the last error.
        st, h, doc, raw = gwkit.chat(gw.port, gwkit.chat_body("m-sched", "sched-all", ["500"]))
        stats = gwkit.mock_stats(mk.port)
        F.check(st == 500 and gwkit.is_openai_error(doc),
                "exhausted: the last upstream status and error (500), got %s %r" % (st, raw[:200]))
        F.check(h.get("x-tenax-attempts") == "7", "exhausted: X-Tenax-Attempts 7, got %r"
                % h.get("x-tenax-attempts"))
        want = {"m-sched": 3, "fb-a": 2, "fb-b": 2}
        F.check(stats["by_model"] == want, "exhausted: per-model counts %r, want %r"
                % (stats["by_model"], want))
        try:
            gwkit.wait_log(gw, lambda log: len(gwkit.retry_lines(log)) >= 6, 3)
        except AssertionError:
            pass
        rows = gw.retries()
        F.check([r[0] for r in rows] == [2, 3, 4, 5, 6, 7],
                "exhausted: [ai][retry] attempt=2…7 (6 lines), got %r" % [r[0] for r in rows])
        F.check([r[1] for r in rows] == ["m-sched", "m-sched", "fb-a", "fb-a", "fb-b", "fb-b"],
                "exhausted: [ai][retry] model= follows the schedule, got %r" % [r[1] for r in rows])
        F.check(all(r[3] == "server" for r in rows), "exhausted: every line class=server")
        # No jitter, base 10 ms, cap 100 ms: 10 · 2^(n-1) after attempt n, capped.
        F.check([r[4] for r in rows] == [10, 20, 40, 80, 100, 100],
                "exhausted: delay_ms 10·2^(n-1) capped at 100, got %r" % [r[4] for r in rows])
        F.check(all(r[2] in ("0", "http://127.0.0.1:%d/v1" % mk.port) for r in rows),
                "exhausted: endpoint=0 on every line, got %r" % [r[2] for r in rows])

        # Answered by the first fallback on attempt 5.
        txtest.request(mk.port, "POST", "/mock/reset")
        st, h, doc, raw = gwkit.chat(gw.port, gwkit.chat_body("m-sched2", "sched-5",
                                                              ["500", "500", "500", "500", "ok"]))
        F.check(st == 200 and h.get("x-tenax-model") == "fb-a" and h.get("x-tenax-attempts") == "5",
                "attempt 5: answered by fb-a, got %s model %r attempts %r" % (
                    st, h.get("x-tenax-model"), h.get("x-tenax-attempts")))
        F.check(doc is not None and doc.get("model") == "fb-a",
                "attempt 5: the body is fb-a's answer, got %r" % raw[:200])
        F.check(gwkit.mock_stats(mk.port)["by_model"] == {"m-sched2": 3, "fb-a": 2},
                "attempt 5: per-model counts %r" % gwkit.mock_stats(mk.port)["by_model"])

        # model_unavailable on the primary: the first fallback at once, no backoff.
        txtest.request(mk.port, "POST", "/mock/reset")
        st, h, doc, raw = gwkit.chat(gw.port, gwkit.chat_body("m-sched3", "sched-404",
                                                              ["404", "ok"]))
        F.check(st == 200 and h.get("x-tenax-model") == "fb-a",
                "404: fb-a answers at once, got %s %r" % (st, h.get("x-tenax-model")))
        F.check(gwkit.mock_stats(mk.port)["by_model"] == {"m-sched3": 1, "fb-a": 1},
                "404: one attempt on the primary, per-model counts %r"
                % gwkit.mock_stats(mk.port)["by_model"])


def order_and_skips():
    # The exact order of models, as the upstream saw them.
    with gwkit.FakeUpstream(default=E500) as up, gwkit.Gateway([up.url], ENV) as gw:
        st, h, doc, raw = gwkit.chat(gw.port, gwkit.chat_body("m-order"))
        want = ["m-order"] * 3 + ["fb-a"] * 2 + ["fb-b"] * 2
        F.check(up.models() == want, "order: upstream saw %r, want %r" % (up.models(), want))
        F.check(st == 500, "order: the last error's status 500, got %s" % st)
        sent = gwkit.chat_body("m-order")
        with up.lock:
            bodies = [b for _, b in up.requests]
        F.check(all(isinstance(b, dict) and {k: v for k, v in b.items() if k != "model"}
                    == {k: v for k, v in sent.items() if k != "model"} for b in bodies),
                "forwarding: every attempt's body is the client's except `model`, got %r"
                % bodies[:1])

    # Each skip class moves on at once, whatever AI_RETRY_MAX says.
    ctx = {"kind": "json", "status": 400, "body": {"error": {
        "message": "This model's maximum context length is 8192 tokens.",
        "type": "invalid_request_error", "param": "messages", "code": "context_length_exceeded"}}}
    flt = {"kind": "json", "status": 200, "body": {
        "id": "x", "object": "chat.completion", "created": 1, "model": "m",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": None},
                     "finish_reason": "content_filter"}]}}
    noep = {"kind": "json", "status": 404, "body": {"error": {
        "message": "No endpoints found for m-skip.", "code": 404}}}
    with gwkit.FakeUpstream([flt, noep, ctx]) as up, gwkit.Gateway([up.url], ENV) as gw:
        st, h, doc, raw = gwkit.chat(gw.port, gwkit.chat_body("m-skip"))
        F.check(up.models() == ["m-skip", "fb-a", "fb-b"],
                "skips: content_filter, model_unavailable, context_length each move on at once; "
                "upstream saw %r" % up.models())
        F.check(st == 400 and gwkit.is_openai_error(doc)
                and doc["error"].get("code") == "context_length_exceeded",
                "skips: no model left, the last error (400 context_length_exceeded), got %s %r"
                % (st, raw[:200]))
        try:
            gwkit.wait_log(gw, lambda log: len(gwkit.retry_lines(log)) >= 2, 3)
        except AssertionError:
            pass
        rows = gw.retries()
        F.check([r[3] for r in rows] == ["content_filter", "model_unavailable"]
                and all(r[4] == 0 for r in rows),
                "skips: [ai][retry] lines with delay_ms=0, got %r" % rows)


def deadlines():
    # AI_DEADLINE_MS: waits of 400 ms, a 1.5 s budget, 20 attempts allowed.
    env = {"AI_DEADLINE_MS": "1500", "AI_RETRY_DELAY_MS": "400", "AI_RETRY_MAX_DELAY_MS": "400",
           "AI_RETRY_MAX": "20"}
    with gwkit.FakeUpstream(default=E500) as up, gwkit.Gateway([up.url], env) as gw:
        t0 = time.monotonic()
        st, h, doc, raw = gwkit.chat(gw.port, gwkit.chat_body("m-deadline"))
        took = time.monotonic() - t0
        F.check(took < 1.5 + MARGIN_S, "AI_DEADLINE_MS 1500: answered after %.2f s" % took)
        F.check(st in (500, 504) and gwkit.is_openai_error(doc),
                "deadline: the last error (500) or 504, got %s %r" % (st, raw[:200]))
        F.check(2 <= up.count() <= 5, "deadline: a few attempts, not 20: %d" % up.count())

    # X-Tenax-Deadline-Ms shortens it for one request, even while an attempt hangs.
    env = {"AI_DEADLINE_MS": "60000", "AI_TIMEOUT_MS": "20000"}
    with gwkit.FakeUpstream(default={"kind": "hang"}) as up, gwkit.Gateway([up.url], env) as gw:
        t0 = time.monotonic()
        st, h, doc, raw = gwkit.chat(gw.port, gwkit.chat_body("m-hdr-deadline"),
                                     headers={"X-Tenax-Deadline-Ms": "1200"}, timeout=30)
        took = time.monotonic() - t0
        F.check(took < 1.2 + MARGIN_S, "X-Tenax-Deadline-Ms 1200: answered after %.2f s" % took)
        F.check(st == 504 and gwkit.is_openai_error(doc),
                "X-Tenax-Deadline-Ms: 504 with an OpenAI-style error, got %s %r" % (st, raw[:200]))
        try:
            txtest.wait_until(lambda: up.peer_closed >= 1, 3, "the hanging attempt to be closed")
            F.check(True, "")
        except AssertionError as e:
            F.check(False, "X-Tenax-Deadline-Ms: %s" % e)

    # A 429 cut by the deadline keeps its Retry-After (the mock sends Retry-After: 1).
    with txtest.mock() as mk, gwkit.Gateway(["http://127.0.0.1:%d/v1" % mk.port],
                                            {"AI_DEADLINE_MS": "1500"}) as gw:
        t0 = time.monotonic()
        st, h, doc, raw = gwkit.chat(gw.port, gwkit.chat_body("m-dl-429", "dl-429", ["429"]))
        took = time.monotonic() - t0
        F.check(took < 1.5 + MARGIN_S, "429 + deadline: answered after %.2f s" % took)
        F.check(st == 429 and h.get("retry-after") is not None,
                "429 + deadline: 429 with Retry-After, got %s %r" % (st, h.get("retry-after")))
        F.check(gwkit.is_openai_error(doc) and doc["error"].get("code") == "rate_limit_exceeded",
                "429 + deadline: the provider's error, got %r" % raw[:200])


def main():
    with_mock()
    order_and_skips()
    deadlines()
    F.finish()


if __name__ == "__main__":
    try:
        main()
    except AssertionError as e:
        print("FAIL:", e, file=sys.stderr)
        sys.exit(1)
