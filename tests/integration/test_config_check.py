"""tenax config check F (docs/cli.md, docs/config.md): a good file exits 0 and shows every key's value and
source; a broken file exits 1 with a clear message; bad usage exits 2; secrets never printed."""
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))
import txtest  # noqa: E402

F = txtest.Failures()
tmp = tempfile.mkdtemp(prefix="tx-config-")


def write(name, text):
    path = os.path.join(tmp, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def run(args, env=None):
    full = {k: v for k, v in os.environ.items()
            if not (k.startswith("AI_") or k.startswith("JOB_") or k.startswith("TENAX_C")
                    or k in ("OPENAI_API_KEY", "TENAX_ADMIN_TOKEN"))}
    full.update(env or {})
    p = subprocess.run([txtest.TENAX] + args, env=full, capture_output=True, text=True, timeout=30)
    return p.returncode, p.stdout, p.stderr


good = write("good.json", json.dumps({
    "aiBaseUrls": ["https://api.openai.com/v1",
                   {"url": "http://127.0.0.1:9999/v1", "name": "local", "api_key_env": "LOCAL_KEY"}],
    "AI_MAX_CONCURRENCY": 16,
    "AI_TIMEOUT_MS": "5000",
    "AI_FALLBACK_MODELS": ["gpt-4o"],
}))
env = {"AI_MODEL": "from-env", "AI_MAX_CONCURRENCY": "2", "AI_API_KEY": "sk-NEVER-PRINT",
       "LOCAL_KEY": "lk-NEVER-PRINT"}

rc, out, err = run(["config", "check", good], env)
F.check(rc == 0, "good file exits 0 (got %d: %s)" % (rc, err))
rows = {}
for line in out.splitlines()[1:]:
    parts = line.split(None, 2)
    if len(parts) >= 2:
        rows[parts[0]] = (parts[1], parts[2] if len(parts) > 2 else "")
F.check(out.splitlines()[0].split() == ["KEY", "SOURCE", "VALUE"], "table header")
F.check(rows.get("AI_MAX_CONCURRENCY") == ("kv", "16"), "file beats env: %r" % (rows.get("AI_MAX_CONCURRENCY"),))
F.check(rows.get("AI_MODEL") == ("env", "from-env"), "env beats default: %r" % (rows.get("AI_MODEL"),))
F.check(rows.get("AI_RETRY_MAX") == ("default", "3"), "default: %r" % (rows.get("AI_RETRY_MAX"),))
F.check(rows.get("AI_TIMEOUT_MS") == ("kv", "5000"), "numeric string in file")
F.check(rows.get("AI_API_KEY") == ("env", "set"), "secret shown as set: %r" % (rows.get("AI_API_KEY"),))
F.check(rows.get("TENAX_ADMIN_TOKEN") == ("default", "unset"), "unset secret")
F.check("NEVER-PRINT" not in out + err, "secrets never printed")
F.check(len(rows) >= 36, "every key listed (%d)" % len(rows))

rc, out, err = run(["config", "check", good, "--json"], env)
F.check(rc == 0, "--json exits 0")
try:
    doc = json.loads(out)
except ValueError:
    doc = {}
F.check(doc.get("AI_MAX_CONCURRENCY") == {"value": 16, "source": "kv"}, "json value and source")
eps = doc.get("AI_BASE_URLS", {}).get("value", [])
F.check(len(eps) == 2 and eps[1].get("name") == "local" and eps[1].get("api_key") == "set",
        "endpoints in json: %r" % (eps,))
F.check("NEVER-PRINT" not in out, "secrets never in json")

for name, text, needle in [
    ("bound.json", '{"AI_MAX_CONCURRENCY": 0}', "AI_MAX_CONCURRENCY=0"),
    ("broken.json", '{"AI_MODEL": ', "not valid JSON"),
    ("array.json", '[1]', "JSON object"),
    ("unknown.json", '{"AI_MODLE": "x"}', "AI_MODLE"),
    ("secret.json", '{"AI_API_KEY": "sk-x"}', "AI_API_KEY"),
]:
    rc, out, err = run(["config", "check", write(name, text)], {})
    F.check(rc == 1, "%s exits 1 (got %d)" % (name, rc))
    F.check(err.startswith("tenax config: ") and needle in err, "%s message: %r" % (name, err))
    F.check(out == "", "%s prints no table" % name)

rc, out, err = run(["config", "check", good], {"AI_RETRY_MAX": "12abc"})
F.check(rc == 1 and "AI_RETRY_MAX" in err and "12abc" in err, "bad env value: %r" % err)
rc, out, err = run(["config", "check", os.path.join(tmp, "missing.json")])
F.check(rc == 1 and "missing.json" in err, "missing file: %r" % err)

for args in (["config", "check", good, "--bogus"], ["config", "check"], ["config"],
             ["config", "frobnicate"], ["config", "check", good, good],
             ["config", "check", good, "--json=1"], ["config", "check", "-x", good]):
    rc, out, err = run(args)
    F.check(rc == 2, "%r exits 2 (got %d)" % (args, rc))
    F.check(len(err.strip().splitlines()) == 1, "%r one-line error: %r" % (args, err))

example = os.path.join(txtest.SRC, "docs", "tenax.example.json")
rc, out, err = run(["config", "check", example])
F.check(rc == 0 and "kv" in out, "docs/tenax.example.json is valid: %r" % err)

rc, out, err = run(["config", "--help"])
F.check(rc == 0 and "config check" in out, "--help")
rc, out, err = run(["config", "check", "--help"])
F.check(rc == 0 and "--json" in out, "check --help")

F.finish()
