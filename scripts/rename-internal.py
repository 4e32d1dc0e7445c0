#!/usr/bin/env python3
"""The naming convention applied (docs/architecture.md, "Names"): every function named tx_… that
src/ declares or defines without `static` and include/tenax/ does not declare is internal and
becomes tx__…; the two file-local call_t become gw_call_t (gateway) and api_call_t (jobs API);
the store's history row tx_attempt_t becomes tx_history_row_t, and the gateway's tx_attempt_*
functions and types tx__gw_attempt_* and tx_gw_attempt_*_t. Word-boundary replacement over src/, tests/, bench/, fuzz/,
examples/, docs/*.md and README.md. Idempotent. --dry-run prints the map only."""
import os
import re
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
PROTO = re.compile(r"^(?!\s*(?:typedef|static|#|return|else|if|while|for)\b)[ \t]*[A-Za-z_][\w \t\*]*?"
                   r"\b(tx_[a-z0-9]\w*)\s*\(", re.M)


def files(dirs, exts):
    for d in dirs:
        for folder, _, names in os.walk(os.path.join(ROOT, d)):
            if "/corpus" in folder:
                continue
            for n in names:
                if n.endswith(exts):
                    yield os.path.join(folder, n)


def main():
    public = set()
    for p in files(["include"], (".h",)):
        public |= set(re.findall(r"\b(tx_\w+)\b", open(p).read()))
    internal = set()
    for p in files(["src"], (".c", ".h")):
        for m in PROTO.finditer(open(p).read()):
            name = m.group(1)
            if name not in public:
                internal.add(name)
    mapping = {}
    for name in sorted(internal):
        if name.startswith("tx_attempt_"):
            mapping[name] = "tx__gw_attempt_" + name[len("tx_attempt_"):]
        else:
            mapping[name] = "tx__" + name[3:]
    mapping["tx_attempt_t"] = "tx_history_row_t"
    for t in ("tx_attempt_req_t", "tx_attempt_result_t", "tx_attempt_cb_t"):
        mapping[t] = "tx_gw_" + t[3:]
    if "--dry-run" in sys.argv:
        for a, b in sorted(mapping.items()):
            print(a, "->", b)
        print(len(mapping), "names", file=sys.stderr)
        return 0
    word = re.compile(r"\b(%s)\b" % "|".join(sorted(map(re.escape, mapping), key=len, reverse=True)))
    targets = list(files(["src", "tests", "bench", "fuzz", "examples"], (".c", ".h", ".py")))
    targets += [os.path.join(ROOT, "docs", n) for n in os.listdir(os.path.join(ROOT, "docs"))
                if n.endswith(".md")] + [os.path.join(ROOT, "README.md")]
    changed = 0
    for p in targets:
        s = open(p, encoding="utf-8").read()
        t = word.sub(lambda m: mapping[m.group(1)], s)
        if p.endswith(os.path.join("gateway", "call.c")):
            t = re.sub(r"\bcall_t\b", "gw_call_t", t)
        if p.endswith(os.path.join("jobs", "api.c")):
            t = re.sub(r"\bcall_t\b", "api_call_t", t)
        if t != s:
            open(p, "w", encoding="utf-8").write(t)
            changed += 1
    print("renamed %d names in %d files" % (len(mapping), changed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
