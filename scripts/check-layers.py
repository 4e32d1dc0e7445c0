#!/usr/bin/env python3
"""The layering check (docs/architecture.md, "Layers"): derives the folder -> folder edges of src/
from every `#include "folder/file.h"` line and fails (exit 1) on an edge that points up the
declared order or on any cycle among folders, naming the include lines behind each.

    core  <-  obs, config  <-  server, upstream  <-  store  <-  gateway, jobs, ops, mock  <-  app  <-  cli

A folder may include its own files, any folder of a lower rank, and a folder of the same rank as
long as the folders stay acyclic. include/tenax/ is core's public face and ranks with core.
Usage: scripts/check-layers.py [SRC_DIR]"""
import os
import re
import sys

RANK = {"core": 0, "tenax": 0, "obs": 1, "config": 1, "server": 2, "upstream": 2, "store": 3,
        "gateway": 4, "jobs": 4, "ops": 4, "mock": 4, "app": 5, "cli": 6}
INCLUDE = re.compile(r'^[ \t]*#[ \t]*include\s+"([a-z_]+)/[^"]+"', re.M)


def edges(src):
    """{(from, to): [where, …]} for every include of another folder."""
    out = {}
    for folder in sorted(os.listdir(src)):
        d = os.path.join(src, folder)
        if not os.path.isdir(d):
            continue
        for name in sorted(os.listdir(d)):
            if not name.endswith((".c", ".h")):
                continue
            text = open(os.path.join(d, name), encoding="utf-8", errors="replace").read()
            for m in INCLUDE.finditer(text):
                to = "core" if m.group(1) == "tenax" else m.group(1)
                if to != folder:
                    line = text.count("\n", 0, m.start()) + 1
                    out.setdefault((folder, to), []).append("src/%s/%s:%d" % (folder, name, line))
    return out


def cycles(graph):
    """Every elementary cycle's folders, found by a depth-first walk from each folder (the graph
    has a dozen nodes)."""
    found = set()

    def walk(start, node, path):
        for nxt in sorted(graph.get(node, ())):
            if nxt == start:
                found.add(tuple(path))
            elif nxt not in path and nxt > start:
                walk(start, nxt, path + [nxt])

    for start in sorted(graph):
        walk(start, start, [start])
    return sorted(found)


def main():
    src = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "../src")
    e = edges(src)
    bad = 0
    for (a, b), where in sorted(e.items()):
        if a not in RANK or b not in RANK:
            print("unknown folder in %s -> %s (add it to RANK and docs/architecture.md): %s"
                  % (a, b, ", ".join(where)))
            bad += 1
        elif RANK[b] > RANK[a]:
            print("upward edge %s -> %s: %s" % (a, b, ", ".join(where)))
            bad += 1
    graph = {}
    for a, b in e:
        graph.setdefault(a, set()).add(b)
    for c in cycles(graph):
        ring = list(c) + [c[0]]
        print("cycle %s: %s" % (" -> ".join(ring), "; ".join(
            "%s -> %s at %s" % (x, y, e[(x, y)][0]) for x, y in zip(ring, ring[1:]))))
        bad += 1
    if bad:
        print("%d layering problem(s) in %d folder edges" % (bad, len(e)))
        return 1
    print("layers ok: %d folder edges, no cycle, none upward" % len(e))
    return 0


if __name__ == "__main__":
    sys.exit(main())
