#!/usr/bin/env python3
"""Dead surface: every non-static function defined in src/ that nothing outside its own file
(and its own header) calls — tests, benchmarks and fuzz targets do not count as callers, and
include/tenax/ (the public API) is left out. Prints one "file: name" line each; exit 1 when any
is found (so it can gate), 0 when none.
Usage: scripts/dead-surface.py [SRC_DIR] [--allow NAME ...]"""
import os
import re
import sys

DEF = re.compile(r"^(?!static\b)(?!typedef\b)[A-Za-z_][\w \t\*]*?\b(tx_\w+)\s*\([^;{]*\)\s*\{",
                 re.M | re.S)


def main():
    args = sys.argv[1:]
    allow = set()
    if "--allow" in args:
        i = args.index("--allow")
        allow = set(args[i + 1:])
        args = args[:i]
    src = args[0] if args else os.path.join(os.path.dirname(__file__), "../src")
    inc = os.path.join(src, "../include/tenax")
    public = set()
    if os.path.isdir(inc):
        for n in os.listdir(inc):
            public |= set(re.findall(r"\b(tx_\w+)\s*\(", open(os.path.join(inc, n)).read()))
    texts = {}
    for folder, _, names in os.walk(src):
        for n in names:
            if n.endswith((".c", ".h")):
                p = os.path.join(folder, n)
                texts[os.path.relpath(p, src)] = open(p, encoding="utf-8").read()
    dead = []
    for rel, text in sorted(texts.items()):
        if not rel.endswith(".c"):
            continue
        own = {rel, rel[:-2] + ".h"}
        for m in DEF.finditer(text):
            name = m.group(1)
            if name in public or name in allow or name == "main":
                continue
            word = re.compile(r"\b%s\b" % re.escape(name))
            decl = re.compile(r"\b%s\s*\([^;{]*\)\s*;" % re.escape(name))
            # a header's prototype is not a use; anything else in another file is
            if not any(word.search(decl.sub("", t) if r.endswith(".h") else t)
                       for r, t in texts.items() if r not in own):
                # used inside its own file other than at its definition: still file-local
                uses = len(word.findall(text))
                dead.append((rel, name, uses > 1))
    for rel, name, local in dead:
        print("%s: %s%s" % (rel, name, " (used only in its own file: make it static)" if local
                                         else " (never called)"))
    print("%d function(s) with no caller outside their own file" % len(dead))
    return 1 if dead else 0


if __name__ == "__main__":
    sys.exit(main())
