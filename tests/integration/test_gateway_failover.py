#!/usr/bin/env python3
"""Endpoint failover (docs/gateway.md) through the real binary: AI_ENDPOINT_FAILOVER_THRESHOLD consecutive network failures switch
the active endpoint (`[ai][failover] from=0 to=1`, failoverCounts), the cooldown keeps the failed
endpoint out, then one probe goes to it: a failed probe re-arms the cooldown, a good one makes
the preferred endpoint active again. With every endpoint down the one whose cooldown ends first
still serves: never a blanket refusal."""
import sys
import time

import gwkit
import txtest

F = txtest.Failures()
E500 = {"kind": "json", "status": 500, "body": {"error": {
    "message": "The server had an error while processing your request.", "type": "server_error",
    "param": None, "code": None}}}
COOLDOWN_MS = 1000


def send(gw, model="m-fo"):
    return gwkit.chat(gw.port, gwkit.chat_body(model))


RESET = {"kind": "reset"}


def switch_cooldown_probe_recover():
    # Endpoint 0: connections reset (network: the endpoint as a whole) twice (threshold 2), then
    # a failed probe, then a good probe, then ok. Each failed attempt's retry moves to endpoint 1
    # at once.
    with gwkit.FakeUpstream([RESET, RESET, RESET]) as ep0, gwkit.FakeUpstream() as ep1, \
            gwkit.Gateway([ep0.url, ep1.url], {
                "AI_ENDPOINT_FAILOVER_THRESHOLD": "2",
                "AI_ENDPOINT_COOLDOWN_MS": str(COOLDOWN_MS), "AI_RETRY_MAX": "3"}) as gw:
        for i in range(2):
            # the cooldown starts inside this request's life: after t_fail, before its answer
            t_fail = time.monotonic()
            st, h, doc, raw = send(gw)
            F.check(st == 200 and h.get("x-tenax-attempts") == "2",
                    "switch: request %d fails on endpoint 0 and moves to 1, got %s attempts %r"
                    % (i + 1, st, h.get("x-tenax-attempts")))
            F.check(gwkit.endpoint_is(h.get("x-tenax-endpoint"), 1, ep1.url),
                    "switch: X-Tenax-Endpoint names endpoint 1, got %r" % h.get("x-tenax-endpoint"))
        F.check(ep0.count() == 2 and ep1.count() == 2,
                "switch: endpoint 0 saw 2 attempts, endpoint 1 saw 2; got %d, %d"
                % (ep0.count(), ep1.count()))
        try:
            gwkit.wait_log(gw, lambda log: (0, 1) in gwkit.failover_lines(log), 3)
            F.check(True, "")
        except AssertionError:
            F.check(False, "switch: the log says [ai][failover] from=0 to=1")
        s, _, diag = txtest.request_json(gw.port, "GET", "/admin/diag?q=ai-queue")
        fc = diag.get("failoverCounts") if isinstance(diag, dict) else None
        F.check(s == 200 and isinstance(fc, dict) and fc.get("endpoint_0") == 1,
                "switch: /admin/diag failoverCounts.endpoint_0 == 1, got %s %r" % (s, fc))

        # Within the cooldown: straight to endpoint 1.
        st, h, doc, raw = send(gw)
        F.check(st == 200 and ep0.count() == 2 and gwkit.endpoint_is(h.get("x-tenax-endpoint"), 1,
                                                                     ep1.url),
                "cooldown: the next request goes to endpoint 1 only (endpoint 0 saw %d)"
                % ep0.count())

        # After the cooldown one probe goes to endpoint 0; it fails, the request is still served.
        probe = {}

        def probed(n):
            def pred():
                t = time.monotonic()
                r = send(gw)
                if ep0.count() >= n:  # the probe went out between t and t_end
                    probe.update(t=t, t_end=time.monotonic(), st=r[0], h=r[1])
                    return True
                return False
            return pred
        try:
            txtest.wait_until(probed(3), 10, "a probe to endpoint 0 after the cooldown", 0.05)
            F.check(probe["t_end"] - t_fail >= COOLDOWN_MS / 1000.0,
                    "probe: not before the cooldown (by %.2f s after the failing request was sent)"
                    % (probe["t_end"] - t_fail))
            F.check(probe["st"] == 200 and gwkit.endpoint_is(probe["h"].get("x-tenax-endpoint"),
                                                             1, ep1.url),
                    "failed probe: the request is retried on endpoint 1, got %s %r"
                    % (probe["st"], probe["h"].get("x-tenax-endpoint")))
        except AssertionError as e:
            F.check(False, "probe: %s" % e)
            return
        t_probe1 = probe["t"]
        st, h, doc, raw = send(gw)
        F.check(ep0.count() == 3 and gwkit.endpoint_is(h.get("x-tenax-endpoint"), 1, ep1.url),
                "failed probe re-arms the cooldown: endpoint 0 saw %d (want 3)" % ep0.count())

        # The next probe succeeds: endpoint 0 is active again and keeps the traffic.
        try:
            txtest.wait_until(probed(4), 10, "a second probe to endpoint 0", 0.05)
            F.check(probe["t_end"] - t_probe1 >= COOLDOWN_MS / 1000.0,
                    "second probe: one cooldown after the first (%.2f s)"
                    % (probe["t_end"] - t_probe1))
            F.check(probe["st"] == 200 and gwkit.endpoint_is(probe["h"].get("x-tenax-endpoint"),
                                                             0, ep0.url),
                    "good probe: answered by endpoint 0, got %s %r"
                    % (probe["st"], probe["h"].get("x-tenax-endpoint")))
        except AssertionError as e:
            F.check(False, "recovery: %s" % e)
            return
        n1 = ep1.count()
        for _ in range(3):
            st, h, doc, raw = send(gw)
            F.check(st == 200 and gwkit.endpoint_is(h.get("x-tenax-endpoint"), 0, ep0.url),
                    "recovered: the preferred endpoint 0 answers, got %s %r"
                    % (st, h.get("x-tenax-endpoint")))
        F.check(ep1.count() == n1, "recovered: endpoint 1 gets nothing more (%d → %d)"
                % (n1, ep1.count()))


def all_down():
    # Threshold 1, one attempt per request: request 1 downs endpoint 0, request 2 endpoint 1.
    with gwkit.FakeUpstream(default=E500) as ep0, gwkit.FakeUpstream(default=E500) as ep1, \
            gwkit.Gateway([ep0.url, ep1.url], {
                "AI_ENDPOINT_FAILOVER_THRESHOLD": "1", "AI_ENDPOINT_COOLDOWN_MS": "60000",
                "AI_RETRY_MAX": "1"}) as gw:
        send(gw)
        send(gw)
        F.check(ep0.count() == 1 and ep1.count() == 1,
                "all down: one failure each, got %d, %d" % (ep0.count(), ep1.count()))
        st, h, doc, raw = send(gw)
        F.check(st == 500 and gwkit.is_openai_error(doc) and doc["error"].get("type") ==
                "server_error", "all down: still served by an upstream (its 500), not refused; "
                "got %s %r" % (st, raw[:200]))
        F.check(ep0.count() == 2 and ep1.count() == 1,
                "all down: endpoint 0, whose cooldown ends first, is used; got %d, %d"
                % (ep0.count(), ep1.count()))


def main():
    switch_cooldown_probe_recover()
    all_down()
    F.finish()


if __name__ == "__main__":
    try:
        main()
    except AssertionError as e:
        print("FAIL:", e, file=sys.stderr)
        sys.exit(1)
