#!/usr/bin/env python3
"""docs/classifier.md through the real binary: for every error class, an upstream that produces it on the
first attempt and `ok` after, and what the gateway then does: retried, not retried (the client
gets the provider's status and body), next model at once, counts toward endpoint failover or not;
Retry-After honoured (from the `[ai][retry]` log line) or answered at once when too long; the
client going away cancels the upstream request."""
import json
import socket
import sys
import time

import gwkit
import txtest

F = txtest.Failures()
PRIMARY_FB = "fb-cls"


def retry_for(gw, sid_model, cls):
    """The [ai][retry] line of this case (matched on class; lines carry the model)."""
    try:
        gwkit.wait_log(gw, lambda log: any(r[3] == cls for r in gwkit.retry_lines(log)), 3,
                       "[ai][retry] class=" + cls)
    except AssertionError:
        return None
    rows = [r for r in gw.retries() if r[3] == cls and r[1] in sid_model]
    return rows[-1] if rows else None


def mock_cases(mport, mock_url):
    """Classes the mock's script produces, on one endpoint (failover threshold out of reach)."""
    env = {"AI_FALLBACK_MODELS": json.dumps([PRIMARY_FB]), "AI_RETRY_MAX": "3",
           "AI_TIMEOUT_MS": "1000", "AI_RETRY_AFTER_MAX_MS": "5000"}
    retried = [("500", "server"), ("503", "server"), ("502", "gateway"), ("504", "gateway"),
               ("err200", "gateway"), ("timeout", "timeout"), ("reset", "network"),
               ("empty", "invalid_response"), ("badjson", "invalid_response"),
               ("429", "rate_limit"), ("1302", "concurrency")]
    with gwkit.Gateway([mock_url], env) as gw:
        for kind, cls in retried:
            model = "m-retry-" + kind
            sid = "cls-" + kind
            txtest.request(mport, "POST", "/mock/reset")
            st, h, doc, raw = gwkit.chat(gw.port, gwkit.chat_body(model, sid, [kind, "ok"]))
            what = "%s (%s)" % (kind, cls)
            F.check(st == 200, "%s: retried to a 200, got %s %r" % (what, st, raw[:200]))
            F.check(h.get("x-tenax-attempts") == "2",
                    "%s: X-Tenax-Attempts 2, got %r" % (what, h.get("x-tenax-attempts")))
            F.check(h.get("x-tenax-model") == model,
                    "%s: answered by the primary %s, X-Tenax-Model %r" % (what, model,
                                                                          h.get("x-tenax-model")))
            F.check(gwkit.answer_content(doc) is not None and doc.get("model") == model,
                    "%s: the client gets the ok answer, got %r" % (what, raw[:200]))
            stats = gwkit.mock_stats(mport)
            F.check(stats["by_script"].get(sid) == 2,
                    "%s: the mock saw 2 attempts, saw %r" % (what, stats["by_script"].get(sid)))
            F.check(stats["by_model"].get(PRIMARY_FB) is None,
                    "%s: no fallback used, by_model %r" % (what, stats["by_model"]))
            r = retry_for(gw, (model,), cls)
            F.check(r is not None, "%s: log has [ai][retry] … model=%s class=%s" % (what, model, cls))
            if r and cls in ("rate_limit", "concurrency"):
                # The mock sends Retry-After: 1; the backoff alone would be 10 ms.
                F.check(r[4] >= 1000, "%s: delay_ms %d honours Retry-After 1 s" % (what, r[4]))
            if cls == "timeout":
                F.check("[ai][timeout]" in gw.log(), "timeout: the log says [ai][timeout]")

        # Not retried: the client gets the provider's status and error body, one attempt.
        for kind, status, code in (("quota", 429, "insufficient_quota"),
                                   ("401", 401, "invalid_api_key")):
            model = "m-noretry-" + kind
            sid = "cls-" + kind
            txtest.request(mport, "POST", "/mock/reset")
            st, h, doc, raw = gwkit.chat(gw.port, gwkit.chat_body(model, sid, [kind, "ok"]))
            F.check(st == status, "%s: not retried, status %d, got %s" % (kind, status, st))
            F.check(gwkit.is_openai_error(doc) and doc["error"].get("code") == code,
                    "%s: the provider's error body (code %s), got %r" % (kind, code, raw[:200]))
            F.check(h.get("x-tenax-attempts") == "1",
                    "%s: X-Tenax-Attempts 1, got %r" % (kind, h.get("x-tenax-attempts")))
            stats = gwkit.mock_stats(mport)
            F.check(stats["by_script"].get(sid) == 1,
                    "%s: one upstream attempt, mock saw %r" % (kind, stats["by_script"].get(sid)))

        # bad_request: the mock answers an unknown script entry with a 400 invalid_request_error.
        model, sid = "m-noretry-400", "cls-400"
        txtest.request(mport, "POST", "/mock/reset")
        st, h, doc, raw = gwkit.chat(gw.port, gwkit.chat_body(model, sid, ["no-such-kind", "ok"]))
        F.check(st == 400 and gwkit.is_openai_error(doc)
                and doc["error"].get("code") == "bad_mock_script",
                "bad_request: the provider's 400 and body, got %s %r" % (st, raw[:200]))
        F.check(h.get("x-tenax-attempts") == "1", "bad_request: X-Tenax-Attempts 1, got %r"
                % h.get("x-tenax-attempts"))
        F.check(gwkit.mock_stats(mport)["by_script"].get(sid) == 1, "bad_request: one attempt")

        # model_unavailable: the next model at once.
        model, sid = "m-skip-404", "cls-404"
        txtest.request(mport, "POST", "/mock/reset")
        st, h, doc, raw = gwkit.chat(gw.port, gwkit.chat_body(model, sid, ["404", "ok"]))
        stats = gwkit.mock_stats(mport)
        F.check(st == 200 and h.get("x-tenax-model") == PRIMARY_FB,
                "404 model_unavailable: answered by the fallback, got %s model %r"
                % (st, h.get("x-tenax-model")))
        F.check(h.get("x-tenax-attempts") == "2", "404: X-Tenax-Attempts 2, got %r"
                % h.get("x-tenax-attempts"))
        F.check(stats["by_model"].get(model) == 1 and stats["by_model"].get(PRIMARY_FB) == 1,
                "404: one attempt on %s then one on %s, by_model %r" % (model, PRIMARY_FB,
                                                                       stats["by_model"]))
        r = retry_for(gw, (model, PRIMARY_FB), "model_unavailable")
        F.check(r is not None and r[4] == 0,
                "404: [ai][retry] class=model_unavailable delay_ms=0, got %r" % (r,))


def fake_next_model_cases(mock_url):
    """context_length and content_filter: shapes the mock cannot send, from a scripted upstream."""
    cases = [
        ("context_length", {"kind": "json", "status": 400, "body": {"error": {
            "message": "This model's maximum context length is 8192 tokens. However, your "
                       "messages resulted in 9001 tokens.", "type": "invalid_request_error",
            "param": "messages", "code": "context_length_exceeded"}}}),
        ("content_filter", {"kind": "json", "status": 400, "body": {"error": {
            "code": "content_filter", "param": "prompt", "status": 400,
            "message": "The response was filtered due to the prompt triggering Azure OpenAI's "
                       "content management policy.",
            "innererror": {"code": "ResponsibleAIPolicyViolation"}}}}),
    ]
    for cls, action in cases:
        with gwkit.FakeUpstream([action]) as up, \
                gwkit.Gateway([up.url], {"AI_FALLBACK_MODELS": json.dumps([PRIMARY_FB])}) as gw:
            model = "m-skip-" + cls
            st, h, doc, raw = gwkit.chat(gw.port, gwkit.chat_body(model))
            F.check(st == 200 and h.get("x-tenax-model") == PRIMARY_FB,
                    "%s: next model at once, got %s model %r %r" % (cls, st, h.get("x-tenax-model"),
                                                                   raw[:200]))
            F.check(up.models() == [model, PRIMARY_FB],
                    "%s: attempts went to %r, want [%s, %s]" % (cls, up.models(), model, PRIMARY_FB))
            r = retry_for(gw, (model, PRIMARY_FB), cls)
            F.check(r is not None and r[4] == 0,
                    "%s: [ai][retry] class=%s delay_ms=0, got %r" % (cls, cls, r))
        # Without a fallback: the provider's 400 to the client, one attempt.
        with gwkit.FakeUpstream([action]) as up, gwkit.Gateway([up.url]) as gw:
            st, h, doc, raw = gwkit.chat(gw.port, gwkit.chat_body("m-nofb-" + cls))
            F.check(st == 400 and gwkit.is_openai_error(doc) and up.count() == 1,
                    "%s without fallback: the provider's 400 after 1 attempt, got %s after %d"
                    % (cls, st, up.count()))


def failover_cases(mport, mock_url):
    """Which classes count toward failover: threshold 1, endpoint 0 fails once, endpoint 1 is the
    mock (no faults). network and timeout take the endpoint down (`[ai][failover]`); server and
    gateway take only the (endpoint, model) pair down (`[ai][health]`, no failover line); both
    move the 2nd attempt to endpoint 1. rate_limit counts for nothing but still moves the retry
    off the endpoint that pushed back; the rest stay on endpoint 0."""
    endpoint_wide = [
        ("network (refused)", None),
        ("network (reset)", {"kind": "reset"}),
        ("network (closed mid-body)", {"kind": "cut"}),
        ("timeout", {"kind": "hang"}),
    ]
    model_only = [
        ("server", {"kind": "json", "status": 500, "body": {"error": {
            "message": "The server had an error while processing your request.",
            "type": "server_error", "param": None, "code": None}}}),
        ("gateway", {"kind": "json", "status": 502, "body": b"<html>502 Bad Gateway</html>",
                     "headers": {"Content-Type": "text/html"}}),
    ]
    moves_only = [
        ("rate_limit", {"kind": "json", "status": 429, "headers": {"Retry-After": "0"},
                        "body": {"error": {"message": "Rate limit reached. Please try again in 0s.",
                                           "type": "requests", "param": None,
                                           "code": "rate_limit_exceeded"}}}),
    ]
    neutral = [
        ("invalid_response", {"kind": "json", "status": 200, "body": {
            "id": "x", "object": "chat.completion", "choices": []}}),
        ("invalid_response (17 MiB body)", {"kind": "json", "status": 200,
                                            "body": json.dumps(gwkit.ok_completion(
                                                "m-fo", "x" * (17 << 20))).encode()}),
    ]
    env = {"AI_ENDPOINT_FAILOVER_THRESHOLD": "1", "AI_ENDPOINT_COOLDOWN_MS": "60000",
           "AI_TIMEOUT_MS": "1000"}
    for name, action in endpoint_wide + model_only + moves_only + neutral:
        up = gwkit.FakeUpstream([action]) if action else None
        url0 = up.url if up else gwkit.refused_url()
        try:
            txtest.request(mport, "POST", "/mock/reset")
            with gwkit.Gateway([url0, mock_url], env) as gw:
                st, h, doc, raw = gwkit.chat(gw.port, gwkit.chat_body("m-fo"))
                F.check(st == 200 and h.get("x-tenax-attempts") == "2",
                        "%s: retried to a 200 in 2 attempts, got %s attempts %r %r"
                        % (name, st, h.get("x-tenax-attempts"), raw[:200]))
                mock_n = gwkit.mock_stats(mport)["requests"]
                ep = h.get("x-tenax-endpoint")
                if (name, action) not in neutral:
                    F.check(mock_n == 1 and gwkit.endpoint_is(ep, 1, mock_url),
                            "%s moves the retry: 2nd attempt on endpoint 1, got "
                            "X-Tenax-Endpoint %r, endpoint 1 saw %d" % (name, ep, mock_n))
                    if up:
                        F.check(up.count() == 1, "%s: endpoint 0 saw 1 attempt, saw %d"
                                % (name, up.count()))
                if (name, action) in endpoint_wide:
                    try:
                        gwkit.wait_log(gw, lambda log: (0, 1) in gwkit.failover_lines(log), 3)
                        F.check(True, "")
                    except AssertionError:
                        F.check(False, "%s: log has [ai][failover] from=0 to=1" % name)
                elif (name, action) in model_only:
                    try:
                        gwkit.wait_log(gw, lambda log: "[ai][health] endpoint=0 model=m-fo down"
                                       in log, 3)
                        F.check(True, "")
                    except AssertionError:
                        F.check(False, "%s: log has [ai][health] endpoint=0 model=m-fo down" % name)
                    F.check(not gwkit.failover_lines(gw.log()),
                            "%s: only the pair is down, no [ai][failover] line" % name)
                elif (name, action) in moves_only:
                    F.check(not gwkit.failover_lines(gw.log()) and "[ai][health]" not in gw.log(),
                            "%s: nothing goes down" % name)
                else:
                    F.check(mock_n == 0 and up.count() == 2 and gwkit.endpoint_is(ep, 0, url0),
                            "%s does not count: both attempts on endpoint 0, got X-Tenax-Endpoint "
                            "%r, endpoint 0 saw %d, endpoint 1 saw %d" % (name, ep, up.count(),
                                                                         mock_n))
                    F.check(not gwkit.failover_lines(gw.log()),
                            "%s: no [ai][failover] line" % name)
        finally:
            if up:
                up.close()


def retry_after_cases():
    # A Retry-After above AI_RETRY_AFTER_MAX_MS: answered at once with the status and header.
    action = {"kind": "json", "status": 429, "headers": {"Retry-After": "30"},
              "body": {"error": {"message": "Rate limit reached. Please try again in 30s.",
                                 "type": "requests", "param": None, "code": "rate_limit_exceeded"}}}
    with gwkit.FakeUpstream([action]) as up, \
            gwkit.Gateway([up.url], {"AI_RETRY_AFTER_MAX_MS": "5000"}) as gw:
        t0 = time.monotonic()
        st, h, doc, raw = gwkit.chat(gw.port, gwkit.chat_body("m-ra-long"), timeout=40)
        took = time.monotonic() - t0
        F.check(st == 429 and h.get("retry-after") == "30",
                "Retry-After 30 s > max 5 s: 429 with Retry-After 30, got %s %r" % (st,
                                                                                  h.get("retry-after")))
        F.check(gwkit.is_openai_error(doc) and doc["error"].get("code") == "rate_limit_exceeded",
                "Retry-After too long: the provider's error body, got %r" % raw[:200])
        F.check(up.count() == 1 and took < 20,
                "Retry-After too long: not waited out (1 attempt, %.1f s), upstream saw %d"
                % (took, up.count()))
    # retry-after-ms (Azure) is honoured too.
    action = {"kind": "json", "status": 429, "headers": {"retry-after-ms": "700"},
              "body": {"error": {"message": "Requests to the ChatCompletions_Create Operation "
                                            "have exceeded call rate limit.", "code": "429"}}}
    with gwkit.FakeUpstream([action]) as up, gwkit.Gateway([up.url]) as gw:
        st, h, doc, raw = gwkit.chat(gw.port, gwkit.chat_body("m-ra-ms"))
        r = retry_for(gw, ("m-ra-ms",), "rate_limit")
        F.check(st == 200 and r is not None and r[4] >= 700,
                "retry-after-ms 700 honoured: got %s, retry line %r" % (st, r))


def retry_after_sources():
    """Where a wait comes from (docs/classifier.md precedence), read from [ai][retry] delay_ms."""
    from email.utils import formatdate
    rl = {"message": "Rate limit reached.", "type": "requests", "code": "rate_limit_exceeded"}
    cases = [
        ("HTTP-date Retry-After", 429, {"Retry-After": formatdate(time.time() + 3, usegmt=True)},
         {"error": rl}, "rate_limit", 1000, 4000),
        ("x-ratelimit-reset-requests", 429, {"x-ratelimit-remaining-requests": "0",
                                             "x-ratelimit-reset-requests": "1s"},
         {"error": rl}, "rate_limit", 1000, 1100),
        ("'try again in 1.2s' in the message", 429, {},
         {"error": dict(rl, message="Rate limit reached. Please try again in 1.2s.")},
         "rate_limit", 1200, 1300),
        ("Retry-After on a 503", 503, {"Retry-After": "1"},
         {"error": {"message": "overloaded", "type": "server_error"}}, "server", 1000, 1100),
        ("garbage Retry-After ignored", 503, {"Retry-After": "soon"},
         {"error": {"message": "overloaded", "type": "server_error"}}, "server", 0, 100),
    ]
    for name, status, hdrs, body, cls, lo, hi in cases:
        action = {"kind": "json", "status": status, "headers": hdrs, "body": body}
        with gwkit.FakeUpstream([action]) as up, \
                gwkit.Gateway([up.url], {"AI_RETRY_AFTER_MAX_MS": "10000"}) as gw:
            st, h, doc, raw = gwkit.chat(gw.port, gwkit.chat_body("m-ra-src"))
            r = retry_for(gw, ("m-ra-src",), cls)
            F.check(st == 200 and r is not None and lo <= r[4] <= hi,
                    "%s: retried after %d..%d ms, got %s, retry line %r" % (name, lo, hi, st, r))


def aborted_case():
    """The client goes away while the upstream is working: the upstream request is closed."""
    with gwkit.FakeUpstream([{"kind": "hang"}]) as up, \
            gwkit.Gateway([up.url], {"AI_TIMEOUT_MS": "30000"}) as gw:
        body = json.dumps(gwkit.chat_body("m-abort")).encode()
        s = socket.create_connection(("127.0.0.1", gw.port), timeout=5)
        s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: "
                  b"application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
        try:
            txtest.wait_until(lambda: up.inflight == 1, 5, "the request to reach the upstream")
            s.close()
            txtest.wait_until(lambda: up.peer_closed == 1, 5,
                              "the gateway to close the upstream request after the client left")
            F.check(True, "")
        except AssertionError as e:
            s.close()
            F.check(False, "aborted: %s (upstream in flight %d, closed %d)" % (e, up.inflight,
                                                                                up.peer_closed))
        F.check(up.count() == 1, "aborted: no retry after the client left, upstream saw %d"
                % up.count())
        F.check(not any(r[3] == "aborted" for r in gw.retries()),
                "aborted: never retried (no [ai][retry] class=aborted)")


def aborted_in_backoff(mport, mock_url):
    """The client leaves while the gateway waits out a Retry-After: no further attempt."""
    with gwkit.Gateway([mock_url], {"AI_RETRY_AFTER_MAX_MS": "5000"}) as gw:
        txtest.request(mport, "POST", "/mock/reset")
        c = gwkit.RawClient(gw.port, "/v1/chat/completions",
                            gwkit.chat_body("m-abort-wait", "abort-wait", ["429", "ok"]),
                            wait_head=False)
        try:
            gwkit.wait_log(gw, lambda log: any(r[1] == "m-abort-wait" for r in
                                               gwkit.retry_lines(log)), 5,
                           "the [ai][retry] line of the 429 (the wait began)")
        except AssertionError as e:
            F.check(False, "abort in backoff: %s" % e)
        c.close()
        # A marker request that itself waits out a 1 s Retry-After: when it is answered, the
        # left request's retry would have been sent already.
        st, h, doc, raw = gwkit.chat(gw.port, gwkit.chat_body("m-marker", "abort-marker",
                                                              ["429", "ok"]))
        F.check(st == 200, "abort in backoff: the marker request is served, got %s" % st)
        F.check(gwkit.mock_stats(mport)["by_script"].get("abort-wait") == 1,
                "abort in backoff: no attempt after the client left, mock saw %r"
                % gwkit.mock_stats(mport)["by_script"].get("abort-wait"))


def main():
    with txtest.mock() as m:
        mock_url = "http://127.0.0.1:%d/v1" % m.port
        mock_cases(m.port, mock_url)
        fake_next_model_cases(mock_url)
        failover_cases(m.port, mock_url)
        aborted_in_backoff(m.port, mock_url)
    retry_after_cases()
    retry_after_sources()
    aborted_case()
    F.finish()


if __name__ == "__main__":
    try:
        main()
    except AssertionError as e:
        print("FAIL:", e, file=sys.stderr)
        sys.exit(1)
