#!/usr/bin/env python3
"""GET /dashboard in a real browser: Debian's chromium, headless, driven by playwright-core
(installed with npm into the build folder the first time, like the OpenAI SDK test), against
`tenax serve` with an admin token in front of two `tenax mock`s with faults. The page loads with
every request to anything but tenax aborted, asks for the token and keeps it in session storage
only (never in a URL), its numbers move as traffic flows, an endpoint whose mock is killed shows
as down, and the bulk retry works with the token and is refused without it. The page's own
requests are not counted as gateway traffic. Skips (exit 77) only when chromium is installed but
cannot start here; a missing chromium, node or npm is a failure (scripts/deps.sh installs them).
The screenshot goes to the build folder (and to $TX_DASHBOARD_SCREENSHOT when set)."""
import json
import os
import shutil
import subprocess
import sys
import tempfile

import gwkit
import txtest

F = txtest.Failures()
HERE = os.path.dirname(os.path.abspath(__file__))
BUILD = os.environ.get("TX_BUILD_DIR", os.path.join(HERE, "../../build"))
TOKEN = "dash-token-5f1c2a"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]


def chromium():
    path = os.environ.get("TX_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if not os.path.isfile(path):
        print("FAIL: chromium is not installed; run scripts/deps.sh", file=sys.stderr)
        sys.exit(1)
    # Can it run here at all (a container without the kernel features it needs cannot)?
    profile = tempfile.mkdtemp(prefix="tenax-chromium-probe-")
    try:
        p = subprocess.run([path] + CHROMIUM_ARGS + ["--user-data-dir=" + profile, "--dump-dom",
                                                     "about:blank"],
                           capture_output=True, text=True, timeout=90)
        if p.returncode != 0 or "<html" not in p.stdout:
            print("SKIP: chromium cannot run here (exit %d): %s" % (p.returncode, p.stderr[-800:]),
                  file=sys.stderr)
            sys.exit(77)
    except subprocess.TimeoutExpired:
        print("SKIP: chromium did not start within 90 s here", file=sys.stderr)
        sys.exit(77)
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    return path


def install():
    for tool in ("node", "npm"):
        if shutil.which(tool) is None:
            print("FAIL: %s is not installed; run scripts/deps.sh" % tool, file=sys.stderr)
            sys.exit(1)
    dest = os.path.join(BUILD, "dashboard-node")
    os.makedirs(dest, exist_ok=True)
    for f in ("package.json", "dashboard_test.mjs"):
        shutil.copyfile(os.path.join(HERE, "dashboard", f), os.path.join(dest, f))
    if not os.path.isfile(os.path.join(dest, "node_modules", "playwright-core", "package.json")):
        p = subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--no-package-lock"],
                           cwd=dest, capture_output=True, text=True, timeout=300,
                           env=dict(os.environ, PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD="1"))
        if p.returncode != 0:
            print("FAIL: npm install of playwright-core failed (is the npm registry reachable?):\n"
                  + p.stderr[-2000:], file=sys.stderr)
            sys.exit(1)
    return dest


# A diag with `providers`: the first provider's endpoint reports everything, the second's only
# its URL and index (the rest comes from the flat list, and what nobody reports shows "—").
PROVIDERS_DIAG = {
    "maxConcurrency": 8, "inFlight": 2, "queued": 0,
    "endpoints": {"list": [
        {"index": 0, "url": "http://p1.example/v1", "health": "down", "cooldownLeftMs": 4000},
        {"index": 1, "url": "http://p2.example/v1", "name": "p2", "health": "healthy"}]},
    "providers": [
        {"name": "alpha", "retryBudget": {"left": 7.5},
         "endpoints": [{"index": 0, "url": "http://p1.example/v1", "healthy": False,
                        "cooldownMs": 5000, "concurrencyLimit": 8, "inFlight": 3,
                        "lastRetryAfterMs": 2000}],
         "downPairs": [{"model": "m-big", "endpoint": 0, "cooldownLeftMs": 900}]},
        {"name": "beta", "endpoints": [{"index": 1, "url": "http://p2.example/v1"}],
         "downModels": [{"model": "m-small", "endpoint": 1}]}],
    "jobs": {"paused": False, "counts": {}},
}


def stats(port, token=TOKEN):
    h = {"Authorization": "Bearer " + token} if token else {}
    return txtest.request_json(port, "GET", "/admin/stats", headers=h)


def main():
    browser = chromium()
    dest = install()
    auth = {"Authorization": "Bearer " + TOKEN}
    with txtest.mock(args=["--faults", "500:0.15,429:0.1", "--latency-ms", "15",
                           "--retry-after", "1"]) as good, \
            txtest.mock(args=["--latency-ms", "15"]) as doomed:
        down_url = "http://127.0.0.1:%d/v1" % doomed.port
        urls = [{"url": down_url, "name": "doomed"},
                {"url": "http://127.0.0.1:%d/v1" % good.port, "name": "steady"}]
        env = {"TENAX_ADMIN_TOKEN": TOKEN, "AI_ENDPOINT_FAILOVER_THRESHOLD": "2",
               "AI_ENDPOINT_COOLDOWN_MS": "120000", "AI_MAX_CONCURRENCY": "6",
               "AI_RETRY_MAX": "4"}
        with gwkit.Gateway(urls, env=env) as gw:
            # --- the page itself, and its requests not counted ----------------------------------
            st, hdrs, body = txtest.request(gw.port, "GET", "/dashboard")
            html = body.decode("utf-8", "replace")
            F.check(st == 200 and hdrs.get("content-type", "").startswith("text/html"),
                    "/dashboard answers 200 text/html without a token (the page holds no data)")
            F.check("<script src" not in html and "<link" not in html and "http://" not in html
                    and "https://" not in html and "@import" not in html,
                    "the page loads nothing from elsewhere (no CDN)")
            F.check("'self'" in hdrs.get("content-security-policy", ""), "a CSP keeps it to tenax")
            st, _, doc = stats(gw.port, token=None)
            F.check(st == 401, "/admin/stats needs the admin token (%d)" % st)
            for _ in range(3):
                txtest.request(gw.port, "GET", "/dashboard")
                stats(gw.port)
                txtest.request(gw.port, "GET", "/admin/diag?q=ai-queue", headers=auth)
            st, _, doc = stats(gw.port)
            F.check(st == 200 and doc["sinceBoot"]["requests"] == 0 and doc["window"]["requests"] == 0,
                    "the dashboard's own requests are not gateway traffic: %r" % (doc or {}).get("sinceBoot"))
            st, _, body = txtest.request(gw.port, "GET", "/metrics")
            F.check(st == 200 and "tenax_requests_total{" not in body.decode(),
                    "… nor in /metrics (no tenax_requests_total series yet)")
            items = [{"owner": "o1", "id": "p%d" % i, "text": "post %d for the dashboard" % i}
                     for i in range(12)]
            st, _, _ = txtest.request_json(gw.port, "POST", "/v1/items", items, headers=auth)
            F.check(st == 201, "items imported (%d)" % st)

            # --- the browser -----------------------------------------------------------------------
            shot = os.path.join(BUILD, "dashboard.png")
            profile = tempfile.mkdtemp(prefix="tenax-chromium-")
            cfg = {"base": "http://127.0.0.1:%d" % gw.port,
                   "chatUrl": "http://127.0.0.1:%d/v1/chat/completions" % gw.port,
                   "token": TOKEN, "killPid": doomed.p.pid, "downUrl": down_url, "owner": "o1",
                   "screenshot": shot, "chromium": browser, "userDataDir": profile,
                   "providersDiag": PROVIDERS_DIAG}
            try:
                p = subprocess.run(["node", os.path.join(dest, "dashboard_test.mjs"), json.dumps(cfg)],
                                   capture_output=True, text=True, timeout=180)
            finally:
                shutil.rmtree(profile, ignore_errors=True)
            lines = [ln for ln in p.stdout.splitlines() if ln.startswith("{")]
            out = json.loads(lines[-1]) if lines else {}
            if p.returncode != 0 or not lines:
                print("FAIL: the browser script failed (exit %d):\n%s\n%s" %
                      (p.returncode, p.stdout[-3000:], p.stderr[-3000:]), file=sys.stderr)
                print("gateway log tail:\n" + gw.log()[-2000:], file=sys.stderr)
                sys.exit(1)
            F.check(out.get("status") == 200, "the page loaded in chromium")
            F.check(out.get("blocked") == [], "the page asked for nothing but tenax: %r" % out.get("blocked"))
            F.check(not any(s.startswith("pageerror") for s in out.get("steps", [])),
                    "no script error on the page: %r" % out.get("steps"))
            F.check(out.get("inflightBeforeToken") == "—", "no data shown before the token")
            F.check(out.get("sessionToken") == TOKEN and out.get("localToken") == 0,
                    "the token is in session storage only")
            F.check(out.get("tokenInUrl") is False and out.get("requestsWithToken", 0) > 0,
                    "the token goes as a bearer header, never in a URL")
            before, during = out.get("before", {}), out.get("during", {})
            F.check(before.get("rpsS", "").startswith("0 requests"), "no traffic at first: %r" % before)
            F.check(during.get("rps") not in (None, "0.0", "—") and during.get("rps") != before.get("rps"),
                    "requests per second moved: %r -> %r" % (before.get("rps"), during.get("rps")))
            F.check("%" in during.get("success", "") and during.get("latency") != "— / —"
                    and "ms" in during.get("latency", ""),
                    "success rates and latency are shown: %r" % during)
            F.check(out.get("healthBefore") == "healthy", "the endpoint was healthy before its mock died")
            F.check("down" in out.get("downRow", "") and "doomed" in out.get("downRow", ""),
                    "the dead endpoint shows as down: %r" % out.get("downRow"))
            F.check(out.get("downPillColor", "").startswith("rgb(192, 50, 43"),
                    "down is shown in red: %r" % out.get("downPillColor"))
            F.check(out.get("upRows", 0) >= 1, "the other endpoint stays healthy")
            F.check((out.get("retryWithToken") or "").startswith("queued: ") and
                    "owner o1" in out.get("retryWithToken", ""),
                    "bulk retry with the token: %r" % out.get("retryWithToken"))
            F.check(len(out.get("retryDialogs", [])) == 1 and "'o1'" in out["retryDialogs"][0]
                    and "failed items" in out["retryDialogs"][0],
                    "the bulk retry asks for confirmation first: %r" % out.get("retryDialogs"))
            F.check("401" in (out.get("retryWithoutToken") or ""),
                    "bulk retry without the token is refused: %r" % out.get("retryWithoutToken"))
            F.check("refused" in (out.get("wrongTokenMessage") or "") and
                    "401" in (out.get("retryWrongToken") or "") and out.get("otherShowsData") == "—",
                    "a wrong token shows nothing and retries nothing: %r" % out)
            F.check(os.path.isfile(shot) and os.path.getsize(shot) > 10000, "a screenshot was taken")
            rows = out.get("providerRows") or []
            F.check(len(rows) == 2, "providers: one row per provider endpoint: %r" % rows)
            if len(rows) == 2:
                a, b = rows[0]["cells"], rows[1]["cells"]
                F.check(rows[0]["health"] == "down" and a[0] == "alpha" and a[2].startswith("down")
                        and "1 model down" in a[2] and a[3] == "5.0 s" and a[4] == "8" and a[5] == "3"
                        and a[8] == "2.0 s", "providers: every reported field shown: %r" % a)
                # (the last Retry-After may come from the real server's stats for index 1)
                F.check(rows[1]["health"] == "healthy" and b[0] == "beta" and b[1].startswith("p2 · ")
                        and "1 model down" in b[2] and b[3] == "—" and b[4] == "—" and b[5] == "—"
                        and (b[8] == "—" or b[8].endswith(" ago")),
                        "providers: missing fields from the flat list or '—': %r" % b)
            F.check(out.get("providerBudget") == "7.5" and "alpha 7.5" in out.get("providerBudgetS", ""),
                    "the retry budget left is shown when the diag has one: %r"
                    % [out.get("providerBudget"), out.get("providerBudgetS")])
            F.check((during.get("budget") or "").isdigit(),
                    "… and the real server's budget left (providers[].retryBudget.available): %r"
                    % during.get("budget"))
            extra = os.environ.get("TX_DASHBOARD_SCREENSHOT")
            if extra:
                shutil.copyfile(shot, extra)
            # every chat request the script sent is counted, and nothing of the page's polling
            st, _, doc = stats(gw.port)
            answered = out.get("chatAnswered", -1)
            F.check(st == 200 and answered >= 20 and doc["sinceBoot"]["requests"] == answered,
                    "gateway requests counted = the chat requests answered (%s vs %d), the page's "
                    "polls not counted" % ((doc or {}).get("sinceBoot"), answered))
            F.check(doc["sinceBoot"]["failovers"] >= 1, "the failover was counted")
    F.finish()


if __name__ == "__main__":
    main()
