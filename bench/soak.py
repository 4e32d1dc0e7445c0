#!/usr/bin/env python3
"""`make soak` (not part of `make test`): tenax under a bad provider, killed and restarted.

Phase 1 (faults): SOAK_ITEMS job items (10,000) and a gateway load (SOAK_CLIENTS clients) at the
same time against a `tenax mock` answering with SOAK_FAULTS (30% 5xx, 10% 429, 5% hang, 5% reset,
5% error-in-200, 5% empty answers). `tenax serve` is SIGKILLed SOAK_KILLS times (10), spread over
the items' progress, and restarted on the same store each time; with the PostgreSQL store
(TX_TEST_PG_URL, as tests/with_pg.sh sets it) the database is restarted half-way as well.
Printed: items lost (must be 0), items written twice (must be 0), retry amplification (upstream
attempts per client request or item) and the gateway's p99.

Phase 2 (outage): the provider answers 503 to everything for SOAK_OUTAGE_S seconds under the same
gateway load, tenax with its default retry budget (20 % + 10/s): the amplification must stay at
most 1.2 plus the floor's share (10 retries a second over the requests of that time).

Knobs (environment): SOAK_ITEMS, SOAK_KILLS, SOAK_CLIENTS, SOAK_FAULTS, SOAK_OUTAGE_S,
SOAK_BUDGET_PERCENT (phase 1's AI_RETRY_BUDGET_PERCENT, 300: a provider failing 60 % of the time
needs 1.5 retries per answer), SOAK_ADAPTIVE (on|off), TENAX_BIN. Exit status 1 when an item was
lost or written twice or the outage bound was broken."""
import http.client
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
import txtest  # noqa: E402

ITEMS = int(os.environ.get("SOAK_ITEMS", "10000"))
KILLS = int(os.environ.get("SOAK_KILLS", "10"))
CLIENTS = int(os.environ.get("SOAK_CLIENTS", "8"))
FAULTS = os.environ.get("SOAK_FAULTS",
                        "503:0.3,429:0.1,timeout:0.05,reset:0.05,err200:0.05,empty:0.05")
OUTAGE_S = float(os.environ.get("SOAK_OUTAGE_S", "10"))
BUDGET_PERCENT = os.environ.get("SOAK_BUDGET_PERCENT", "300")
ADAPTIVE = os.environ.get("SOAK_ADAPTIVE", "off")
PG_URL = os.environ.get("TX_TEST_PG_URL")
OWNERS = 10
MODEL = "gpt-4o-mini"

for k in list(os.environ):  # only the settings given here
    if k.startswith(("AI_", "JOB_", "TAGGING_", "NOTIFY_", "CLIENT_", "CACHE_")) or \
            (k.startswith("TENAX_") and k != "TENAX_BIN") or k == "OPENAI_API_KEY":
        del os.environ[k]


def log(msg):
    print("[soak %s] %s" % (time.strftime("%H:%M:%S"), msg), flush=True)


class Serve:
    """`tenax serve` that can be SIGKILLed and started again on the same port and store."""

    def __init__(self, mock_port, store, env):
        self.port = txtest.free_port()
        self.store = store
        self.dir = tempfile.mkdtemp(prefix="tenax-soak-")
        self.env = {"AI_BASE_URLS": json.dumps(["http://127.0.0.1:%d/v1" % mock_port]),
                    "AI_API_KEY": "sk-soak", "AI_MODEL": MODEL, "AI_TIMEOUT_MS": "1000",
                    "AI_DEADLINE_MS": "15000", "AI_RETRY_DELAY_MS": "50",
                    "AI_RETRY_MAX_DELAY_MS": "1000", "AI_RETRY_AFTER_MAX_MS": "5000",
                    "AI_MAX_CONCURRENCY": "32", "AI_QUEUE_MAX_SIZE": "1000",
                    "AI_ENDPOINT_FAILOVER_THRESHOLD": "100", "JOB_LEASE_MS": "4000",
                    "JOB_PARK_BASE_MS": "500", "JOB_PARK_MAX_MS": "2000", "JOB_MAX_ATTEMPTS": "10",
                    "JOB_BATCH_SIZE": "50", "AI_RETRY_MAX": "10", "AI_ADAPTIVE_CONCURRENCY": ADAPTIVE,
                    "TENAX_LOG_LEVEL": "warn"}
        self.env.update(env)
        self.proc = None
        self.starts = 0
        self.start()

    def start(self):
        self.proc = txtest.Proc(["serve", "--listen", "127.0.0.1:%d" % self.port, "--store",
                                 self.store], env=self.env, port=self.port, cwd=self.dir)
        self.starts += 1

    def kill_restart(self):
        self.proc.kill9()
        self.start()

    def stop(self):
        if self.proc is not None:
            self.proc.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def api(port, method, path, body=None, timeout=30):
    """JSON request that rides over tenax restarts: retried on connection errors (bounded)."""
    deadline = time.monotonic() + 60
    while True:
        try:
            return txtest.request_json(port, method, path, body, None, timeout)
        except (OSError, http.client.HTTPException):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


class Load:
    """SOAK_CLIENTS gateway clients in a loop until stop(); latencies of answered requests."""

    def __init__(self, port):
        self.port = port
        self.stopping = False
        self.lock = threading.Lock()
        self.lat = []
        self.statuses = {}
        self.conn_errors = 0
        self.threads = [threading.Thread(target=self.run, daemon=True) for _ in range(CLIENTS)]
        for t in self.threads:
            t.start()

    def run(self):
        body = json.dumps({"model": MODEL, "messages": [{"role": "user", "content": "soak"}]})
        while not self.stopping:
            t0 = time.monotonic()
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                c.request("POST", "/v1/chat/completions", body=body,
                          headers={"Content-Type": "application/json"})
                r = c.getresponse()
                r.read()
                c.close()
                ms = (time.monotonic() - t0) * 1000.0
                with self.lock:
                    self.lat.append(ms)
                    self.statuses[r.status] = self.statuses.get(r.status, 0) + 1
            except (OSError, http.client.HTTPException):
                with self.lock:
                    self.conn_errors += 1  # tenax was being killed: not a request it answered
                time.sleep(0.02)

    def stop(self):
        self.stopping = True
        for t in self.threads:
            t.join()

    def answered(self):
        with self.lock:
            return len(self.lat)

    def p99(self):
        with self.lock:
            v = sorted(self.lat)
        return v[min(len(v) - 1, int(len(v) * 0.99))] if v else 0.0


def counts(port):
    tot = {"total": 0}
    for o in range(OWNERS):
        st, _, doc = api(port, "GET", "/v1/owners/soak%d/stats" % o)
        if st != 200 or not isinstance(doc, dict):
            raise RuntimeError("stats answered %s" % st)
        tot["total"] += doc.get("total", 0)
        for k, v in (doc.get("by_status") or {}).items():
            tot[k] = tot.get(k, 0) + v
    tot["terminal"] = tot.get("success", 0) + tot.get("failed", 0) + tot.get("skipped", 0)
    return tot


def mock_requests(mport):
    st, _, doc = txtest.request_json(mport, "GET", "/mock/stats")
    return doc["requests"]


def pg_restart():
    pgsh, pgdir = os.environ.get("TX_TEST_PG_SH"), os.environ.get("TX_TEST_PG_DIR")
    if not pgsh or not pgdir:
        return False
    subprocess.run([pgsh, "restart", pgdir], check=True, stdout=subprocess.DEVNULL)
    return True


def written_twice(port):
    """Items whose history holds more than one successful attempt (a result written twice)."""
    ids = []
    for o in range(OWNERS):
        after = ""
        while True:
            st, _, doc = api(port, "GET", "/v1/owners/soak%d/items?limit=1000%s" % (o, after))
            page = doc.get("data") or doc.get("items") or []
            ids += [it["id"] for it in page]
            nxt = doc.get("next_after")
            if not page or not nxt:
                break
            after = "&after=%s" % nxt
    twice = [0]
    lock = threading.Lock()
    chunks = [ids[i::8] for i in range(8)]

    def worker(part):
        for i in part:
            st, _, it = api(port, "GET", "/v1/items/%s" % i)
            ok = sum(1 for h in (it or {}).get("history") or [] if h.get("class") == "ok")
            if ok > 1:
                with lock:
                    twice[0] += 1

    ts = [threading.Thread(target=worker, args=(c,)) for c in chunks]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return twice[0], len(ids)


def phase_faults(store):
    log("phase 1: %d items + %d gateway clients, faults %s, %d SIGKILLs%s"
        % (ITEMS, CLIENTS, FAULTS, KILLS, ", a database restart" if PG_URL else ""))
    m = txtest.mock(args=["--faults", FAULTS, "--retry-after", "1"])
    s = Serve(m.port, store, {"AI_RETRY_BUDGET_PERCENT": BUDGET_PERCENT})
    t0 = time.monotonic()
    try:
        batch = []
        for i in range(ITEMS):
            batch.append({"owner": "soak%d" % (i % OWNERS), "id": str(i), "text": "soak item %d" % i})
            if len(batch) == 500 or i + 1 == ITEMS:
                st, _, _ = api(s.port, "POST", "/v1/items", batch)
                if st != 201:
                    raise RuntimeError("import answered %s" % st)
                batch = []
        log("imported %d items" % ITEMS)
        load = Load(s.port)
        kills, pg_done = 0, False
        while True:
            c = counts(s.port)
            if c["terminal"] >= ITEMS:
                break
            # the k-th kill once k/(KILLS+1) of the items are done
            if kills < KILLS and c["terminal"] >= ITEMS * (kills + 1) // (KILLS + 1):
                s.kill_restart()
                kills += 1
                log("SIGKILL %d at %d/%d items done" % (kills, c["terminal"], ITEMS))
            if PG_URL and not pg_done and c["terminal"] >= ITEMS // 2:
                pg_done = pg_restart()
                log("database restarted at %d/%d items done" % (c["terminal"], ITEMS))
            if time.monotonic() - t0 > 1800:
                log("giving up after 30 minutes: %r" % c)
                break
            time.sleep(0.5)
        load.stop()
        c = counts(s.port)
        twice, listed = written_twice(s.port)
        upstream = mock_requests(m.port)
        clients = load.answered()
        res = {"items": ITEMS, "stored": c["total"], "listed": listed,
               "lost": ITEMS - c["total"] + (ITEMS - c["terminal"] if c["terminal"] < ITEMS else 0),
               "success": c.get("success", 0), "failed": c.get("failed", 0), "twice": twice,
               "kills": kills, "pg_restart": pg_done, "gw_requests": clients,
               "gw_statuses": dict(load.statuses), "gw_conn_errors": load.conn_errors,
               "upstream": upstream, "amplification": upstream / max(1, clients + ITEMS),
               "p99_ms": load.p99(), "seconds": time.monotonic() - t0}
        return res
    finally:
        s.stop()
        m.stop()


def phase_outage(store):
    log("phase 2: 100%% 503 for %.0f s, %d gateway clients, default retry budget" % (OUTAGE_S, CLIENTS))
    m = txtest.mock(args=["--faults", "503:1"])
    s = Serve(m.port, store, {})
    try:
        load = Load(s.port)
        t0 = time.monotonic()
        txtest.wait_until(lambda: time.monotonic() - t0 >= OUTAGE_S, OUTAGE_S + 5, "the outage", 0.1)
        load.stop()
        secs = time.monotonic() - t0
        clients = load.answered()
        upstream = mock_requests(m.port)
        floor = 10.0 * (int(secs // 10) + 1) * 10 / max(1, clients)  # floor retries per request
        return {"gw_requests": clients, "upstream": upstream,
                "amplification": upstream / max(1, clients), "floor_share": floor,
                "bound": 1.2 + floor, "p99_ms": load.p99(), "seconds": secs,
                "statuses": dict(load.statuses)}
    finally:
        s.stop()
        m.stop()


def main():
    d = tempfile.mkdtemp(prefix="tenax-soak-db-")
    store = PG_URL if PG_URL else "sqlite:" + os.path.join(d, "soak.db")
    try:
        r1 = phase_faults(store)
        store2 = (PG_URL + ("&" if "?" in PG_URL else "?") + "schema=soak_outage") if PG_URL \
            else "sqlite:" + os.path.join(d, "outage.db")
        r2 = phase_outage(store2)
    finally:
        shutil.rmtree(d, ignore_errors=True)
    print()
    print("tenax soak, %s, store %s" % (time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                                       "postgresql" if PG_URL else "sqlite"))
    print("faults %s; %d SIGKILLs of tenax (restarted each time)%s; %.0f s"
          % (FAULTS, r1["kills"], ", database restarted mid-run" if r1["pg_restart"] else "",
             r1["seconds"]))
    print("  items                  %d (%d success, %d failed after JOB_MAX_ATTEMPTS)"
          % (r1["items"], r1["success"], r1["failed"]))
    print("  items lost             %d" % r1["lost"])
    print("  items written twice    %d" % r1["twice"])
    print("  gateway requests       %d answered (%s), %d connection errors while tenax was down"
          % (r1["gw_requests"], ", ".join("%s: %d" % kv for kv in sorted(r1["gw_statuses"].items())),
             r1["gw_conn_errors"]))
    print("  upstream attempts      %d" % r1["upstream"])
    print("  retry amplification    %.2f upstream attempts per client request or item"
          % r1["amplification"])
    print("  gateway p99            %.0f ms" % r1["p99_ms"])
    print("outage: 100%% 503 for %.0f s, default retry budget (20 %% + 10/s)" % r2["seconds"])
    print("  gateway requests       %d answered (%s)"
          % (r2["gw_requests"], ", ".join("%s: %d" % kv for kv in sorted(r2["statuses"].items()))))
    print("  upstream attempts      %d" % r2["upstream"])
    print("  retry amplification    %.3f (bound 1.2 + floor %.3f = %.3f)"
          % (r2["amplification"], r2["floor_share"], r2["bound"]))
    print("  gateway p99            %.0f ms" % r2["p99_ms"])
    ok = r1["lost"] == 0 and r1["twice"] == 0 and r2["amplification"] <= r2["bound"]
    print("result: %s" % ("ok" if ok else "FAILED"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
