#!/usr/bin/env python3
"""scripts/check-layers.py on made-up trees: a clean one passes; an include up the declared order
(obs -> upstream), a cycle between same-rank folders (gateway <-> jobs) and an unknown folder each
fail, naming the include line behind them; and the real src/ passes."""
import os
import shutil
import subprocess
import sys
import tempfile

import txtest

F = txtest.Failures()
HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.environ.get("TX_SOURCE_DIR", os.path.join(HERE, "../.."))
SCRIPT = os.path.join(SRC, "scripts/check-layers.py")


def tree(files):
    root = tempfile.mkdtemp(prefix="tenax-layers-")
    for rel, text in files.items():
        os.makedirs(os.path.dirname(os.path.join(root, rel)), exist_ok=True)
        with open(os.path.join(root, rel), "w") as f:
            f.write(text)
    return root


def run(files):
    root = tree(files)
    try:
        p = subprocess.run([sys.executable, SCRIPT, root], capture_output=True, text=True,
                           timeout=60)
        return p.returncode, p.stdout
    finally:
        shutil.rmtree(root, ignore_errors=True)


clean = {"core/a.c": '#include "tenax/error.h"\n', "obs/log.c": '#include "core/utf8.h"\n',
         "gateway/call.c": '#include "jobs/x.h"\n#include "server/host.h"\n',
         "cli/main.c": '#include "app/app.h"\n'}
rc, out = run(clean)
F.check(rc == 0 and "layers ok" in out, "a clean tree passes: %d %s" % (rc, out))

rc, out = run(dict(clean, **{"obs/notify.c": '#include "obs/log.h"\n  #include "upstream/client.h"\n'}))
F.check(rc == 1 and "upward edge obs -> upstream" in out and "obs/notify.c:2" in out,
        "an upward include fails and names its line: %d %s" % (rc, out))

rc, out = run(dict(clean, **{"jobs/engine.c": '#include "gateway/call.h"\n'}))
F.check(rc == 1 and "cycle gateway -> jobs -> gateway" in out and "upward" not in out,
        "a same-rank cycle fails: %d %s" % (rc, out))

rc, out = run(dict(clean, **{"extra/x.c": '#include "core/a.h"\n'}))
F.check(rc == 1 and "unknown folder" in out, "an undeclared folder fails: %d %s" % (rc, out))

p = subprocess.run([sys.executable, SCRIPT, os.path.join(SRC, "src")], capture_output=True,
                   text=True, timeout=60)
F.check(p.returncode == 0, "src/ itself is layered: %s" % p.stdout)
F.finish()
