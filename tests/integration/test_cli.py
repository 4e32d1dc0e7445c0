#!/usr/bin/env python3
"""The command line as a whole: `tenax --version` / `tenax version`, -h and --help on every
command with one layout (usage, options, exit status) on stdout and exit 0, `tenax help CMD`,
usage errors exiting 2 with one line prefixed "tenax <command>: ", malformed store URLs as usage
errors (exit 2, readable, no password shown) against unreachable stores (exit 1, password
masked), and `tenax demo --dir` creating its folder while a failed demo leaves no temporary
folder behind."""
import os
import re
import shutil
import subprocess
import tempfile

import txtest

F = txtest.Failures()
TENAX = os.path.abspath(txtest.TENAX)
COMMANDS = ["serve", "run", "stats", "retry", "regenerate", "export", "diag", "config", "mock",
            "demo"]
work = tempfile.mkdtemp(prefix="tenax-cli-")


def tenax(*args, env=None, timeout=60):
    e = dict(os.environ)
    for k in ("TENAX_STORE", "TENAX_CONFIG", "TENAX_LISTEN"):
        e.pop(k, None)
    e.update(env or {})
    p = subprocess.run([TENAX] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       env=e, timeout=timeout, cwd=work)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


try:
    # --- version -----------------------------------------------------------------------------
    for args in (["--version"], ["version"], ["-V"]):
        rc, out, err = tenax(*args)
        first = out.splitlines()[0] if out else ""
        F.check(rc == 0 and re.fullmatch(r"tenax \d+\.\d+\.\d+", first) and err == "",
                "%s: 'tenax X.Y.Z' on stdout, exit 0 (%d): %r %r" % (args, rc, out, err))
        F.check("libuv" in out and "SQLite" in out, "%s names the libraries built with" % args)
    rc, out, err = tenax("version", "extra")
    F.check(rc == 2 and err.startswith("tenax version: "), "version extra: exit 2: %r" % err)

    # --- help on every command, one layout ----------------------------------------------------
    for flag in ("-h", "--help"):
        rc, out, err = tenax(flag)
        F.check(rc == 0 and out.startswith("usage: tenax <command>") and
                all(c in out for c in COMMANDS) and "exit status:" in out,
                "tenax %s lists every command (%d)" % (flag, rc))
    for cmd in COMMANDS:
        outs = []
        for flag in ("-h", "--help"):
            rc, out, err = tenax(cmd, flag)
            outs.append(out)
            F.check(rc == 0 and err == "", "%s %s exits 0, nothing on stderr (%d): %r"
                    % (cmd, flag, rc, err))
            F.check(out.startswith("usage: tenax " + cmd), "%s %s starts with its usage: %r"
                    % (cmd, flag, out[:60]))
            F.check("\noptions:\n" in out and "\nexit status:\n" in out and
                    out.index("options:") < out.index("exit status:"),
                    "%s %s: usage, options, exit status in that order" % (cmd, flag))
            F.check(re.search(r"^  -h, --help ", out, re.M) is not None,
                    "%s %s documents -h, --help" % (cmd, flag))
            F.check(re.search(r"^  2  ", out, re.M) is not None,
                    "%s %s documents exit status 2" % (cmd, flag))
            F.check(re.search(r"\bSP" r"EC\b", out) is None, "%s help cites no outside document" % cmd)
        F.check(outs[0] == outs[1], "%s: -h and --help print the same" % cmd)
        rc, out, err = tenax("help", cmd)
        F.check(rc == 0 and out == outs[0], "tenax help %s is %s --help" % (cmd, cmd))
    rc, out, err = tenax("help", "nope")
    F.check(rc == 2 and err.startswith("tenax help: unknown command 'nope'"), "help nope: %r" % err)

    # --- usage errors: exit 2, one line, "tenax <command>: " ----------------------------------
    rc, out, err = tenax()
    F.check(rc == 2 and err.startswith("usage: tenax"), "no command: usage on stderr, exit 2")
    rc, out, err = tenax("bogus")
    F.check(rc == 2 and err == "tenax: unknown command 'bogus' (see 'tenax --help')\n",
            "unknown command: %r" % err)
    rc, out, err = tenax("--bogus")
    F.check(rc == 2 and err.startswith("tenax: unknown option '--bogus'"), "unknown option")
    for cmd in COMMANDS:
        for bad in (["--bogus"], ["-x"]):
            rc, out, err = tenax(cmd, *bad)
            F.check(rc == 2 and err.startswith("tenax %s: " % cmd) and
                    len(err.strip().splitlines()) == 1 and out == "",
                    "%s %s: exit 2 with one line 'tenax %s: …' (%d): %r" % (cmd, bad, cmd, rc, err))
    cases = [
        (["run"], "run", "--input"),                     # required option missing
        (["run", "--input"], "run", "needs a value"),    # option without its value
        (["retry", "--limit", "x"], "retry", "--limit"),
        (["retry", "--limit", "0"], "retry", "--limit"),
        (["demo", "--seed", "-1"], "demo", "--seed"),
        (["export", "--status", "done"], "export", "--status"),
        (["regenerate", "abc"], "regenerate", "ID"),
        (["stats", "stray"], "stats", "stray"),
        (["config", "check"], "config", "FILE"),
        (["mock", "--latency-ms", "x"], "mock", "--latency-ms"),
        (["serve", "--listen", "0.0.0.0:1"], "serve", "TENAX_ADMIN_TOKEN"),
        (["diag", "extra"], "diag", "extra"),
        (["serve", "--listen", "foo"], "serve", "--listen"),
        (["serve", "--listen", "127.0.0.1:99999"], "serve", "--listen"),
        (["mock", "--listen", "[::1]:80x"], "mock", "--listen"),
    ]
    for args, cmd, needle in cases:
        rc, out, err = tenax(*args, env={"TENAX_ADMIN_TOKEN": ""})
        F.check(rc == 2 and err.startswith("tenax %s: " % cmd) and needle in err and
                len(err.strip().splitlines()) == 1,
                "%s: exit 2, one line 'tenax %s: …' naming %s (%d): %r" % (args, cmd, needle, rc, err))

    # --- store URLs -----------------------------------------------------------------------------
    bad_urls = [("foo:bar", "unsupported store URL scheme 'foo'"),
                ("mysql://u:hunter2@db/x", "unsupported store URL scheme 'mysql'"),
                ("tenax.db", "is not a store URL"),
                ("sqlite:", "empty path"),
                ("postgres://u:hunter2@db:notaport/x", "'notaport' is not a port"),
                ("postgres://u:hunter2@db:70000/x", "'70000' is not a port"),
                ("postgres://u:hunter2@[::1/x", "not a valid PostgreSQL URL: end of string"),
                ("postgres://u:hunter2@db/x?bogusopt=1", "invalid URI query parameter"),
                ("postgres://u:hun/ter2@db:5432/x", "holds '@' or '/'"),
                ("postgres://u:hun@ter2@db:5432/x", "holds '@' or '/'")]
    inp = os.path.join(work, "in.jsonl")
    with open(inp, "w") as f:
        f.write('{"id":"1","text":"hello"}\n')
    for url, needle in bad_urls:
        for cmd in (["stats"], ["retry"], ["export"], ["regenerate", "1"], ["run", "--input", inp],
                    ["serve", "--listen", "127.0.0.1:%d" % txtest.free_port()]):
            rc, out, err = tenax(*cmd, "--store", url, timeout=20)
            F.check(rc == 2 and err.startswith("tenax %s: --store: " % cmd[0]) and needle in err
                    and "expected sqlite:PATH or postgres://" in err and "hunter2" not in err
                    and "hun" not in err.replace("hunter", "") and "ter2" not in err
                    and "store: store" not in err and len(err.strip().splitlines()) == 1,
                    "%s --store %s: exit 2, one readable line (%d): %r" % (cmd[0], url, rc, err))
    # the same URL from TENAX_STORE says where it came from
    rc, out, err = tenax("stats", env={"TENAX_STORE": "postgres://u:hunter2@db:bad/x"})
    F.check(rc == 2 and err.startswith("tenax stats: TENAX_STORE: ") and "hunter2" not in err,
            "TENAX_STORE malformed: exit 2 naming it: %r" % err)
    # well-formed but unreachable: a store error (exit 1), the password masked
    port = txtest.free_port()
    url = "postgres://u:hunter2@127.0.0.1:%d/x?connect_timeout=5" % port
    for cmd in (["stats"], ["export"]):
        rc, out, err = tenax(*cmd, "--store", url)
        F.check(rc == 1 and err.startswith("tenax %s: store postgres://u:***@127.0.0.1:%d/x: "
                                          % (cmd[0], port))
                and "hunter2" not in err and "store: store" not in err,
                "%s on an unreachable server: exit 1, password masked (%d): %r" % (cmd[0], rc, err))
    rc, out, err = tenax("run", "--input", inp, "--store", url)
    F.check(rc == 2 and "u:***@" in err and "hunter2" not in err,
            "run on an unreachable server: exit 2, password masked: %r" % err)
    rc, out, err = tenax("serve", "--listen", "127.0.0.1:%d" % txtest.free_port(), "--store", url)
    F.check(rc == 1 and err.startswith("tenax serve: store postgres://u:***@") and
            "hunter2" not in err and "store: store" not in err,
            "serve on an unreachable server: exit 1, one prefix: %r" % err)

    # --- demo --dir -------------------------------------------------------------------------------
    tmp = os.path.join(work, "tmp")
    os.mkdir(tmp)
    rc, out, err = tenax("demo", "--faults", "bogus:1", env={"TMPDIR": tmp})
    F.check(rc == 2 and "unknown fault kind" in err, "demo with bad faults: exit 2, says why: %r"
            % err[-300:])
    F.check(os.listdir(tmp) == [], "a failed demo leaves no temporary folder: %r" % os.listdir(tmp))
    rc, out, err = tenax("demo", "--input", os.path.join(work, "missing.jsonl"),
                         env={"TMPDIR": tmp})
    F.check(rc == 2 and err.startswith("tenax demo: --input: "), "demo --input missing: %r" % err)
    F.check(os.listdir(tmp) == [], "… and no temporary folder either")
    small = os.path.join(work, "small.jsonl")
    with open(small, "w") as f:
        for i in range(6):
            f.write('{"id":"%d","owner":"o","text":"post number %d about tenax"}\n' % (i, i))
    dest = os.path.join(work, "a", "b", "demo")
    rc, out, err = tenax("demo", "--dir", dest, "--input", small, "--seed", "7",
                         "--faults", "500:0.2", env={"TMPDIR": tmp}, timeout=120)
    F.check(rc == 0, "demo --dir on a missing nested folder: exit 0 (%d): %s" % (rc, err[-500:]))
    F.check(os.path.isfile(os.path.join(dest, "demo.db")), "demo --dir: the store is in DIR")
    F.check(os.listdir(tmp) == [], "demo --dir makes no temporary folder")
    F.check("http://127.0.0.1:8010/dashboard" in out and "tenax serve --store sqlite:" + dest in out,
            "the demo ends saying where the dashboard can be seen: %r" % out[-400:])
    blocker = os.path.join(work, "file")
    open(blocker, "w").close()
    rc, out, err = tenax("demo", "--dir", os.path.join(blocker, "sub"), "--input", small)
    F.check(rc == 2 and err.startswith("tenax demo: --dir: cannot create"),
            "demo --dir under a file: exit 2: %r" % err)
finally:
    shutil.rmtree(work, ignore_errors=True)

F.finish()
