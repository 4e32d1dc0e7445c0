"""Shared helpers for integration tests: start the real tenax binary (serve, mock, run ...),
wait for conditions with deadlines (never bare sleeps), and talk HTTP with the stdlib only."""
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

TENAX = os.environ.get("TENAX_BIN", os.path.join(os.path.dirname(__file__), "../../build/tenax"))
SRC = os.environ.get("TX_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "../.."))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_until(pred, timeout=10.0, what="condition", interval=0.01):
    """Polls pred() until it returns a truthy value or the deadline passes (then fails)."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for " + what)
        time.sleep(interval)


def peak_rss_kib(pid):
    """The peak resident set (VmHWM) of process `pid`, in KiB; 0 when /proc does not say."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def port_open(port, host="127.0.0.1"):
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


class Proc:
    """A tenax subprocess whose stderr goes to a file we can read (log assertions)."""

    def __init__(self, args, env=None, port=None, cwd=None):
        self.logf = tempfile.NamedTemporaryFile(prefix="tenax-log-", suffix=".txt", delete=False)
        full_env = dict(os.environ)
        full_env.update(env or {})
        self.args = [TENAX] + list(args)
        self.p = subprocess.Popen(self.args, stdout=subprocess.PIPE, stderr=self.logf, env=full_env,
                                  cwd=cwd)
        self.port = port
        if port is not None:
            wait_until(lambda: port_open(port) or self.p.poll() is not None, 15, "port %d" % port)
            if self.p.poll() is not None:
                raise AssertionError("%s exited %s:\n%s" % (self.args, self.p.returncode, self.log()))

    def log(self):
        with open(self.logf.name, "r", errors="replace") as f:
            return f.read()

    def stop(self, sig=signal.SIGTERM, timeout=10):
        if self.p.poll() is None:
            self.p.send_signal(sig)
            try:
                self.p.wait(timeout)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        return self.p.returncode

    def kill9(self):
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        rc = self.stop()
        # A sanitizer report makes the process exit non-zero; surface it.
        if rc not in (0, -signal.SIGTERM, -signal.SIGKILL) and "Sanitizer" in self.log():
            raise AssertionError("sanitizer report:\n" + self.log())
        os.unlink(self.logf.name)


def mock(port=None, args=(), env=None):
    port = port or free_port()
    return Proc(["mock", "--listen", "127.0.0.1:%d" % port] + list(args), env=env, port=port)


def request(port, method, path, body=None, headers=None, timeout=30, host="127.0.0.1"):
    """Returns (status, headers dict lower-cased, body bytes)."""
    c = http.client.HTTPConnection(host, port, timeout=timeout)
    h = dict(headers or {})
    if body is not None and not isinstance(body, (bytes, str)):
        body = json.dumps(body)
        h.setdefault("Content-Type", "application/json")
    c.request(method, path, body=body, headers=h)
    r = c.getresponse()
    data = r.read()
    hdrs = {k.lower(): v for k, v in r.getheaders()}
    c.close()
    return r.status, hdrs, data


def request_json(port, method, path, body=None, headers=None, timeout=30):
    status, hdrs, data = request(port, method, path, body, headers, timeout)
    try:
        doc = json.loads(data) if data else None
    except ValueError:
        doc = None
    return status, hdrs, doc


class Failures:
    """Collects check results so one run reports every failing check, then exits non-zero."""

    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, cond, what):
        if cond:
            self.passed += 1
        else:
            self.failed += 1
            print("FAIL:", what, file=sys.stderr)

    def finish(self):
        print("%d passed, %d failed" % (self.passed, self.failed))
        sys.exit(1 if self.failed else 0)
