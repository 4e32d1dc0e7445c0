#!/usr/bin/env python3
"""The install: `cmake --install` of this build into a temporary prefix (what `make install
PREFIX=… DESTDIR=…` runs) puts the binary, the man page, the systemd unit, the example config
and env file and the demo's posts where they belong; the installed binary runs; the unit names
the installed binary and has the hardening the docs promise, and passes `systemd-analyze verify`
where that exists (that one check is skipped, and says so, where it does not); the man page
renders with `man -l` without a warning; `tenax serve` survives the SIGHUP of `systemctl reload`
when it has no config file to reload."""
import os
import shutil
import signal
import subprocess
import tempfile

import txtest

F = txtest.Failures()
HERE = os.path.dirname(os.path.abspath(__file__))
BUILD = os.environ.get("TX_BUILD_DIR", os.path.join(HERE, "../../build"))
prefix = tempfile.mkdtemp(prefix="tenax-install-")

try:
    p = subprocess.run(["cmake", "--install", BUILD, "--prefix", prefix], capture_output=True,
                       text=True, timeout=120)
    F.check(p.returncode == 0, "cmake --install exits 0: %s" % p.stderr[-1000:])
    want = ["bin/tenax", "share/man/man1/tenax.1", "lib/systemd/system/tenax.service",
            "share/tenax/tenax.example.json", "share/tenax/tenax.env.example",
            "share/tenax/posts.jsonl"]
    for rel in want:
        F.check(os.path.isfile(os.path.join(prefix, rel)), "installed: " + rel)
    exe = os.path.join(prefix, "bin/tenax")
    F.check(os.access(exe, os.X_OK), "the binary is executable")
    p = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=10)
    F.check(p.returncode == 0 and p.stdout.startswith("tenax "), "installed tenax --version")

    # --- the systemd unit ----------------------------------------------------------------------
    unit_path = os.path.join(prefix, "lib/systemd/system/tenax.service")
    unit = open(unit_path).read() if os.path.isfile(unit_path) else ""
    lines = set(ln.strip() for ln in unit.splitlines())
    F.check("ExecStart=%s serve" % exe in lines, "ExecStart names the installed binary")
    for d in ("DynamicUser=yes", "StateDirectory=tenax", "ProtectSystem=strict",
              "NoNewPrivileges=yes", "EnvironmentFile=-/etc/tenax/tenax.env",
              "ExecReload=/bin/kill -HUP $MAINPID", "Restart=on-failure",
              "Environment=TENAX_STORE=sqlite:/var/lib/tenax/tenax.db"):
        F.check(d in lines, "the unit has " + d)
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        print("skipped: systemd-analyze verify (systemd-analyze is not installed here)")
    else:
        env = dict(os.environ, MANPATH=os.path.join(prefix, "share/man") + ":")
        p = subprocess.run([analyze, "verify", unit_path], capture_output=True, text=True,
                           timeout=60, env=env)
        F.check(p.returncode == 0 and p.stderr.strip() == "" and p.stdout.strip() == "",
                "systemd-analyze verify: clean (%d): %s%s" % (p.returncode, p.stdout, p.stderr))

    # --- the man page -------------------------------------------------------------------------
    env = dict(os.environ, MANWIDTH="100", MANPAGER="cat", PAGER="cat", LC_ALL="C.UTF-8")
    p = subprocess.run(["man", "--warnings", "-l", os.path.join(prefix, "share/man/man1/tenax.1")],
                       capture_output=True, text=True, timeout=60, env=env)
    page = p.stdout
    F.check(p.returncode == 0 and p.stderr.strip() == "",
            "man -l renders without warnings (%d): %s" % (p.returncode, p.stderr[-500:]))
    for section in ("NAME", "SYNOPSIS", "COMMANDS", "CONFIGURATION KEYS", "ENVIRONMENT", "FILES",
                    "SIGNALS", "EXIT STATUS"):
        F.check("\n" + section + "\n" in page, "the man page has " + section)
    for cmd in ("serve", "run", "stats", "retry", "regenerate", "export", "diag", "config check",
                "mock", "demo"):
        F.check("\n       " + cmd + " " in page or "\n       " + cmd + "\n" in page,
                "the man page documents " + cmd)
    for word in ("SIGHUP", "SIGTERM", "AI_MAX_CONCURRENCY", "TENAX_ADMIN_TOKEN", "tenax.service",
                 "/var/lib/tenax"):
        F.check(word in page, "the man page names " + word)

    # --- SIGHUP without a config file: nothing to reload, and the server keeps running ---------
    port = txtest.free_port()
    with txtest.Proc(["serve", "--listen", "127.0.0.1:%d" % port, "--store",
                      "sqlite:" + os.path.join(prefix, "t.db")],
                     env={"TENAX_CONFIG": ""}, port=port) as srv:
        srv.p.send_signal(signal.SIGHUP)
        st, _, _ = txtest.request(port, "GET", "/healthz")
        F.check(srv.p.poll() is None and st == 200, "serve survives SIGHUP without a config file")
        rc = srv.stop()
        F.check(rc == 0, "then stops cleanly on SIGTERM (%s)" % rc)
finally:
    shutil.rmtree(prefix, ignore_errors=True)

F.finish()
