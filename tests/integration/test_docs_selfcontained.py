#!/usr/bin/env python3
"""The repository stands on its own: no tracked file names a document outside it (the word the
outside contract went by, its section signs, a path into the folder of notes beside it); docs/ is the reference.
C's AF_UNSPEC and the like are not words of their own and do not count."""
import os
import re
import subprocess
import sys

import txtest

F = txtest.Failures()
HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.environ.get("TX_SOURCE_DIR", os.path.join(HERE, "../.."))
if not os.path.isdir(os.path.join(SRC, ".git")) and not os.path.isfile(os.path.join(SRC, ".git")):
    print("skipped: not a git checkout")
    sys.exit(77)
files = subprocess.run(["git", "-C", SRC, "ls-files"], capture_output=True, text=True,
                       check=True).stdout.split()
OUTSIDE = re.compile(r"\bSP" r"EC\b|\u00a7|\.\./sh" r"ared|/work/sh" r"ared|\bsh" r"ared/[A-Z]|PROVIDER_" r"ERRORS|\bARCHI" r"TECTURE\.md|\bST" r"YLE\.md")
hits = []
for rel in files:
    path = os.path.join(SRC, rel)
    if not os.path.isfile(path) or rel.endswith((".png", ".jsonl", ".html")):
        continue
    try:
        text = open(path, encoding="utf-8").read()
    except UnicodeDecodeError:
        continue
    for n, line in enumerate(text.splitlines(), 1):
        if OUTSIDE.search(line):
            hits.append("%s:%d: %s" % (rel, n, line.strip()[:100]))
F.check(len(files) > 100, "git ls-files lists the tree (%d files)" % len(files))
F.check(not hits, "no reference outside the repository:\n  " + "\n  ".join(hits[:20]))
F.finish()
