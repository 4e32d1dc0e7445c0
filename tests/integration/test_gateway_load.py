#!/usr/bin/env python3
"""Many clients at once through a faulty mock (seeded 500/502/429/reset/empty/badjson faults):
every answer is either the ok answer or an OpenAI-style error, streams end with [DONE] or an SSE
error event, and the books balance — the sum of X-Tenax-Attempts over all answers equals the
requests the mock received. Never more than AI_MAX_CONCURRENCY at once (checked via diag)."""
import json
import sys
import threading

import gwkit
import txtest

F = txtest.Failures()
N_THREADS, PER_THREAD = 12, 15


def main():
    faults = "500:0.15,502:0.05,429:0.05,reset:0.05,empty:0.05,badjson:0.05"
    env = {"AI_MAX_CONCURRENCY": "4", "AI_QUEUE_MAX_SIZE": "1000", "AI_RETRY_MAX": "4",
           "AI_FALLBACK_MODELS": json.dumps(["fb-load"]), "AI_FALLBACK_ATTEMPTS": "2",
           "AI_RETRY_AFTER_MAX_MS": "5000"}
    with txtest.mock(args=["--faults", faults, "--seed", "7", "--retry-after", "0"]) as mk, \
            gwkit.Gateway(["http://127.0.0.1:%d/v1" % mk.port], env) as gw:
        results, lock = [], threading.Lock()
        peak = {"inFlight": 0}
        stop = threading.Event()

        def watch():
            while not stop.is_set():
                s, _, d = txtest.request_json(gw.port, "GET", "/admin/diag?q=ai-queue")
                if s == 200 and isinstance(d, dict) and isinstance(d.get("inFlight"), int):
                    peak["inFlight"] = max(peak["inFlight"], d["inFlight"])
                stop.wait(0.005)

        def worker(t):
            for i in range(PER_THREAD):
                stream = (i % 3 == 2)
                body = gwkit.chat_body("m-load-%d" % (t % 3), stream=stream)
                try:
                    if stream:
                        c = gwkit.RawClient(gw.port, "/v1/chat/completions", body, timeout=30)
                        c.read_all(30)
                        c.close()
                        r = ("stream", c.status, c.headers, c.events(), c.body)
                    else:
                        st, h, doc, raw = gwkit.chat(gw.port, body)
                        r = ("json", st, h, doc, raw)
                except Exception as e:  # counted as a failure below
                    r = ("exc", None, {}, None, repr(e).encode())
                with lock:
                    results.append(r)

        w = threading.Thread(target=watch, daemon=True)
        w.start()
        threads = [threading.Thread(target=worker, args=(t,), daemon=True) for t in range(N_THREADS)]
        for t in threads:
            t.start()
        txtest.wait_until(lambda: len(results) == N_THREADS * PER_THREAD, 60, "all answers", 0.05)
        stop.set()
        w.join(5)

        attempts, bad, ok = 0, [], 0
        for kind, st, h, payload, raw in results:
            a = h.get("x-tenax-attempts")
            attempts += int(a) if a and a.isdigit() else 0
            if kind == "json":
                good = (st == 200 and gwkit.answer_content(payload)) or \
                    (st != 200 and gwkit.is_openai_error(payload))
            elif kind == "stream":
                evs = payload
                good = st == 200 and evs and (evs[-1]["data"] == "[DONE]" or evs[-1]["event"] ==
                                              "error" or '"error"' in evs[-1]["data"])
                try:
                    doc = json.loads(raw) if st != 200 else None
                except ValueError:
                    doc = None
                good = good or (st != 200 and gwkit.is_openai_error(doc))
            else:
                good = False
            ok += st == 200
            if not good:
                bad.append((kind, st, raw[:160]))
        F.check(not bad, "load: every answer well-formed; %d bad, e.g. %r" % (len(bad), bad[:3]))
        F.check(ok >= len(results) * 0.9, "load: most requests succeed after retries (%d/%d)"
                % (ok, len(results)))
        mreq = gwkit.mock_stats(mk.port)["requests"]
        F.check(attempts == mreq, "load: sum of X-Tenax-Attempts %d == requests at the mock %d"
                % (attempts, mreq))
        F.check(0 < peak["inFlight"] <= 4, "load: diag inFlight peaked at %d (max 4)"
                % peak["inFlight"])
    F.finish()


if __name__ == "__main__":
    try:
        main()
    except AssertionError as e:
        print("FAIL:", e, file=sys.stderr)
        sys.exit(1)
