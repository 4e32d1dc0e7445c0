#!/usr/bin/env python3
"""GET /admin/stats against the real `tenax serve` and `tenax mock`: admin-protected; the
limiter's numbers while requests wait (in flight at the limit, queued, the oldest wait growing);
then the window's counts after known traffic: requests, client successes, first attempts and
their successes, a call rescued by a retry, a failed call, retries, latency percentiles no lower
than the mock's latency, what tenax added below the whole; failures by endpoint and class; items
by status from the job engine."""
import json
import threading

import gwkit
import txtest

F = txtest.Failures()
TOKEN = "stats-token-77"
AUTH = {"Authorization": "Bearer " + TOKEN}
LATENCY_MS = 300


def stats(port):
    st, _, doc = txtest.request_json(port, "GET", "/admin/stats", headers=AUTH)
    assert st == 200, st
    return doc


with txtest.mock(args=["--latency-ms", str(LATENCY_MS)]) as mk:
    env = {"TENAX_ADMIN_TOKEN": TOKEN, "AI_MAX_CONCURRENCY": "1", "AI_QUEUE_MAX_SIZE": "8",
           "AI_RETRY_MAX": "2", "JOB_BATCH_SIZE": "1"}
    with gwkit.Gateway(["http://127.0.0.1:%d/v1" % mk.port], env=env) as gw:
        st, _, doc = txtest.request_json(gw.port, "GET", "/admin/stats")
        F.check(st == 401, "/admin/stats without the token: 401 (%d)" % st)
        st, hdrs, _ = txtest.request(gw.port, "GET", "/admin/stats", headers=AUTH)
        F.check(st == 200 and hdrs.get("cache-control") == "no-store" and
                hdrs.get("content-type", "").startswith("application/json"), "200 JSON, no-store")
        s0 = stats(gw.port)
        F.check(s0["limit"] == 1 and s0["inFlight"] == 0 and s0["queued"] == 0 and
                s0["oldestWaitMs"] == 0 and s0["sinceBoot"]["requests"] == 0 and
                s0["clientSuccessRate"] is None and s0["latencyMs"]["p50"] is None,
                "idle: nothing in flight, rates and latencies null: %r" % s0)

        # --- 4 plain calls, one rescued by a retry (503 then ok), one that fails twice -------------
        results = []

        def call(body):
            results.append(gwkit.chat(gw.port, body)[0])

        bodies = [gwkit.chat_body("gpt-4o-mini", "plain-%d" % i, ["ok"]) for i in range(4)]
        bodies.append(gwkit.chat_body("gpt-4o-mini", "rescued", ["503", "ok"]))
        bodies.append(gwkit.chat_body("gpt-4o-mini", "failed", ["404"]))
        threads = [threading.Thread(target=call, args=(b,)) for b in bodies]
        for t in threads:
            t.start()
        # while they wait for the one slot: the limiter is visible
        seen = txtest.wait_until(lambda: (lambda s: s if s["queued"] >= 2 and s["inFlight"] == 1
                                          and s["oldestWaitMs"] > 0 else None)(stats(gw.port)),
                                 15, "requests queued behind the limit")
        F.check(seen["queued"] <= 5 and seen["limit"] == 1, "queued while one is in flight: %r"
                % {k: seen[k] for k in ("inFlight", "limit", "queued", "oldestWaitMs")})
        for t in threads:
            t.join(30)
        F.check(sorted(results) == [200] * 5 + [404], "answers: five 200 and one 404: %r" % results)
        s = txtest.wait_until(lambda: (lambda d: d if d["sinceBoot"]["requests"] == 6 else None)(
            stats(gw.port)), 10, "six requests counted")
        w = s["window"]
        F.check(w == s["sinceBoot"], "everything is inside the 60 s window: %r vs %r"
                % (w, s["sinceBoot"]))
        F.check(w["requests"] == 6 and w["succeeded"] == 5, "requests 6, succeeded 5: %r" % w)
        F.check(w["firstAttempts"] == 6 and w["firstAttemptOk"] == 4,
                "first attempts 6, of them ok 4 (the 503 and the 404 were not): %r" % w)
        F.check(w["rescued"] == 1 and w["retries"] == 1, "one rescued by one retry: %r" % w)
        F.check(abs(s["clientSuccessRate"] - 5 / 6) < 1e-6 and
                abs(s["firstAttemptSuccessRate"] - 4 / 6) < 1e-6,
                "client success 5/6 against first-attempt success 4/6: %r / %r"
                % (s["clientSuccessRate"], s["firstAttemptSuccessRate"]))
        lat = s["latencyMs"]
        F.check(lat["samples"] == 6 and lat["p50"] >= LATENCY_MS and lat["p95"] >= lat["p50"],
                "p50/p95 over 6 samples, none faster than the mock's %d ms: %r" % (LATENCY_MS, lat))
        F.check(0 <= lat["addedP50"] <= lat["addedP95"] < lat["p95"],
                "what tenax added is below the whole: %r" % lat)
        F.check(s["requestsPerSecond"] > 0 and s["inFlight"] == 0 and s["queued"] == 0,
                "a rate, and the limiter idle again")
        ep = s["endpoints"]
        F.check(len(ep) == 1 and ep[0]["attempts"] == 7 and ep[0]["ok"] == 5 and
                ep[0]["failures"] == {"server": 1, "model_unavailable": 1},
                "endpoint 0: 7 attempts, 5 ok, failures by class: %r" % ep)

        # --- items by status, from the job engine --------------------------------------------------
        items = [{"owner": "o", "id": "i%d" % i, "text": "item %d" % i} for i in range(3)]
        items.append({"owner": "o", "id": "blank", "text": ""})
        st, _, _ = txtest.request_json(gw.port, "POST", "/v1/items", items, headers=AUTH)
        F.check(st == 201, "items imported (%d)" % st)
        s = txtest.wait_until(lambda: (lambda d: d if (d["items"] or {}).get("success") == 3 else None)(
            stats(gw.port)), 20, "three items done")
        F.check(s["items"].get("skipped") == 1 and s["jobsPaused"] is False,
                "items by status: %r" % s["items"])
        F.check(s["sinceBoot"]["requests"] == 6 and s["sinceBoot"]["firstAttempts"] == 6,
                "job attempts are not gateway requests or first attempts: %r" % s["sinceBoot"])
        F.check(stats(gw.port)["endpoints"][0]["ok"] == 8, "… but count on their endpoint")
        F.check(stats(gw.port)["endpoints"][0]["lastRetryAfterMs"] is None,
                "no Retry-After seen yet (the 503 had none)")

        # --- a 429 with Retry-After: 1 (the mock's --retry-after) -----------------------------------
        st = gwkit.chat(gw.port, gwkit.chat_body("gpt-4o-mini", "limited", ["429", "ok"]))[0]
        e0 = stats(gw.port)["endpoints"][0]
        F.check(st == 200 and e0["lastRetryAfterMs"] == 1000 and e0["lastRetryAfterAgoMs"] >= 0
                and e0["failures"].get("rate_limit") == 1,
                "the endpoint's last Retry-After: 1000 ms: %r" % e0)

F.finish()
