#!/usr/bin/env python3
"""libtenax as a user gets it: `cmake --install` of this build into a temporary prefix puts the
shared library (with its versioned SONAME), the static archive, the public headers and tenax.pc
there; examples/retry_call.c builds against that prefix with nothing but
`pkg-config --cflags --libs tenax` (shared) and `pkg-config --static` (static), and both programs
run: three attempts, the last one a success."""
import os
import shutil
import subprocess
import sys
import tempfile

import txtest

F = txtest.Failures()
HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.environ.get("TX_SOURCE_DIR", os.path.join(HERE, "../.."))
BUILD = os.environ.get("TX_BUILD_DIR", os.path.join(SRC, "build"))
CC = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
if CC is None or shutil.which("pkg-config") is None:
    print("skipped: no C compiler or pkg-config here")
    sys.exit(77)
# An ASan build's library calls into the sanitizer runtime: the program must link it too.
SAN = ["-fsanitize=address,undefined"] if os.environ.get("TX_SANITIZE") == "ON" else []
prefix = tempfile.mkdtemp(prefix="tenax-lib-")


def pkg(*args):
    env = dict(os.environ, PKG_CONFIG_PATH=os.path.join(prefix, "lib/pkgconfig"))
    p = subprocess.run(["pkg-config"] + list(args) + ["tenax"], capture_output=True, text=True,
                       env=env, timeout=30)
    F.check(p.returncode == 0, "pkg-config %s tenax: %s" % (" ".join(args), p.stderr))
    return p.stdout.split()


def build_and_run(name, flags, env=None):
    exe = os.path.join(prefix, name)
    p = subprocess.run([CC, "-o", exe, os.path.join(SRC, "examples/retry_call.c")] + SAN + flags,
                       capture_output=True, text=True, timeout=120)
    F.check(p.returncode == 0, "%s builds with pkg-config's flags: %s" % (name, p.stderr[-1500:]))
    if p.returncode != 0:
        return
    p = subprocess.run([exe], capture_output=True, text=True, timeout=60, env=env)
    F.check(p.returncode == 0, "%s exits 0 (%d): %s" % (name, p.returncode, p.stderr[-500:]))
    F.check("attempt 3 on gpt-4o-mini" in p.stdout and "result: success" in p.stdout
            and "attempts=3 " in p.stdout, "%s retried twice and succeeded: %r" % (name, p.stdout))
    return exe


try:
    p = subprocess.run(["cmake", "--install", BUILD, "--prefix", prefix], capture_output=True,
                       text=True, timeout=120)
    F.check(p.returncode == 0, "cmake --install exits 0: %s" % p.stderr[-1000:])
    lib = os.path.join(prefix, "lib")
    for rel in ("libtenax.a", "libtenax.so", "pkgconfig/tenax.pc"):
        F.check(os.path.exists(os.path.join(lib, rel)), "installed: lib/" + rel)
    for h in ("retry_call.h", "policy.h", "classify.h", "extract.h", "error.h"):
        F.check(os.path.isfile(os.path.join(prefix, "include/tenax", h)), "installed: tenax/" + h)
    # The SONAME names the major.minor file that the unversioned link points at.
    so = os.path.realpath(os.path.join(lib, "libtenax.so"))
    p = subprocess.run(["readelf", "-d", so], capture_output=True, text=True, timeout=30)
    soname = [ln.split("[")[1].rstrip("]") for ln in p.stdout.splitlines() if "(SONAME)" in ln]
    F.check(len(soname) == 1 and soname[0].startswith("libtenax.so.")
            and os.path.exists(os.path.join(lib, soname[0])), "a versioned SONAME: %r" % soname)
    needed = [ln.split("[")[1].rstrip("]") for ln in p.stdout.splitlines() if "(NEEDED)" in ln]
    for other in ("libuv", "libsqlite3", "libpq", "libssl", "libcrypto", "libhttp_parser"):
        F.check(not any(n.startswith(other) for n in needed),
                "the library does not pull in %s: %r" % (other, needed))

    p = subprocess.run(["nm", "-D", "--defined-only", so], capture_output=True, text=True,
                       timeout=30)
    exported = [ln.split()[-1] for ln in p.stdout.splitlines() if " T " in ln]
    F.check(any(n == "tx_retry_call" for n in exported) and
            all(n.startswith("tx_") and not n.startswith("tx__") for n in exported),
            "the library exports its public tx_ functions only: %r" %
            [n for n in exported if not n.startswith("tx_") or n.startswith("tx__")][:10])
    cflags = pkg("--cflags")
    F.check("-I" + os.path.join(prefix, "include") in cflags, "Cflags point into the prefix")
    libs = pkg("--libs")
    F.check("-ltenax" in libs, "Libs name -ltenax: %r" % libs)
    exe = build_and_run("retry_shared", cflags + libs,
                        env=dict(os.environ, LD_LIBRARY_PATH=lib))
    if exe:
        p = subprocess.run(["ldd", exe], capture_output=True, text=True, timeout=30,
                           env=dict(os.environ, LD_LIBRARY_PATH=lib))
        F.check(os.path.join(lib, soname[0] if soname else "libtenax.so") in p.stdout,
                "the program loads the installed library: %s" % p.stdout)
    static_libs = pkg("--libs", "--static")
    # -l:libtenax.a picks the archive over the shared object of the same directory.
    build_and_run("retry_static", cflags + ["-l:libtenax.a" if f == "-ltenax" else f
                                            for f in static_libs])
finally:
    shutil.rmtree(prefix, ignore_errors=True)

F.finish()
