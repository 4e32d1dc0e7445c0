#!/usr/bin/env python3
"""The official OpenAI SDK for Node (openai@^6), unchanged, with baseURL pointed at tenax serve in
front of the mock: non-stream, a retried call, a retried stream, models, responses.create (plain
and streamed, each retried), and errors surfacing as
the SDK's APIError with the right status. The SDK is installed with npm into a cache folder under
the build dir the first time (npm's registry must be reachable then); without node/npm the test
fails and says so (scripts/deps.sh installs them)."""
import json
import os
import shutil
import subprocess
import sys

import gwkit
import txtest

F = txtest.Failures()
HERE = os.path.dirname(os.path.abspath(__file__))


def install():
    for tool in ("node", "npm"):
        if shutil.which(tool) is None:
            print("FAIL: %s is not installed; run scripts/deps.sh (Node.js 18+ and npm are needed "
                  "for the OpenAI SDK test)" % tool, file=sys.stderr)
            sys.exit(1)
    build = os.environ.get("TX_BUILD_DIR", os.path.join(HERE, "../../build"))
    dest = os.path.join(build, "sdk-node")
    os.makedirs(dest, exist_ok=True)
    for f in ("package.json", "sdk_test.mjs"):
        shutil.copyfile(os.path.join(HERE, "sdk", f), os.path.join(dest, f))
    if not os.path.isfile(os.path.join(dest, "node_modules", "openai", "package.json")):
        p = subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--no-package-lock"],
                           cwd=dest, capture_output=True, text=True, timeout=240)
        if p.returncode != 0:
            print("FAIL: npm install of the OpenAI SDK failed (is the npm registry reachable?):\n"
                  + p.stderr[-2000:], file=sys.stderr)
            sys.exit(1)
    with open(os.path.join(dest, "node_modules", "openai", "package.json")) as f:
        version = json.load(f)["version"]
    F.check(version.split(".")[0] == "6", "the SDK is openai@6, got %s" % version)
    return dest


def main():
    dest = install()
    with txtest.mock() as mk, gwkit.Gateway(["http://127.0.0.1:%d/v1" % mk.port]) as gw:
        p = subprocess.run(["node", os.path.join(dest, "sdk_test.mjs"),
                            "http://127.0.0.1:%d/v1" % gw.port],
                           capture_output=True, text=True, timeout=60)
        lines = [ln for ln in p.stdout.splitlines() if ln.startswith("{")]
        if p.returncode != 0 or not lines:
            print("FAIL: the SDK script failed (exit %d):\n%s\n%s" % (p.returncode, p.stdout[-2000:],
                                                                   p.stderr[-3000:]), file=sys.stderr)
            sys.exit(1)
        out = json.loads(lines[-1])
        ns = out.get("nonstream") or {}
        F.check(isinstance(ns.get("content"), str) and ns["content"] and ns.get("finish") == "stop",
                "non-stream: content and finish_reason stop, got %r" % ns)
        rt = out.get("retried") or {}
        F.check(rt.get("attempts") == "2" and isinstance(rt.get("content"), str),
                "retried: the SDK gets the answer, X-Tenax-Attempts 2, got %r" % rt)
        F.check(gwkit.mock_stats(mk.port)["by_script"].get("sdk-retry") == 2,
                "retried: the mock saw 2 attempts")
        st = out.get("stream") or {}
        F.check(st.get("chunks", 0) >= 2 and st.get("text"),
                "stream (after a 503 before the first byte): chunks with text, got %r" % st)
        F.check("gpt-4o-mini" in (out.get("models") or []),
                "models: the list has gpt-4o-mini, got %r" % out.get("models"))
        rs = out.get("responses") or {}
        F.check(rs.get("status") == "completed" and isinstance(rs.get("text"), str) and rs["text"]
                and rs.get("attempts") == "2" and (rs.get("inputTokens") or 0) > 0,
                "responses.create: retried after a 500, output_text and usage, got %r" % rs)
        rss = out.get("responsesStream") or {}
        F.check(rss.get("completed") == "completed" and rss.get("text") and
                "response.failed" not in (rss.get("types") or []) and
                "response.output_text.delta" in (rss.get("types") or []),
                "responses.create stream: retried past response.failed, deltas then completed, "
                "got %r" % rss)
        F.check(gwkit.mock_stats(mk.port)["by_script"].get("sdk-resp-stream") == 2,
                "responses stream: the mock saw 2 attempts")
        er = out.get("error") or {}
        F.check(er.get("isApiError") and er.get("status") == 400,
                "bad input: APIError with status 400 (the gateway's own), got %r" % er)
        ue = out.get("upstreamError") or {}
        F.check(ue.get("isApiError") and ue.get("status") == 401
                and ue.get("name") == "AuthenticationError" and ue.get("code") == "invalid_api_key",
                "upstream 401: AuthenticationError 401 invalid_api_key, not retried, got %r" % ue)
        F.check(gwkit.mock_stats(mk.port)["by_script"].get("sdk-401") == 1,
                "upstream 401: one attempt")
    F.finish()


if __name__ == "__main__":
    try:
        main()
    except AssertionError as e:
        print("FAIL:", e, file=sys.stderr)
        sys.exit(1)
