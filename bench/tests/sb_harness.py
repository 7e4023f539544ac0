"""Helpers of the sss-bench integration tests: find the binaries, start
sss-server on a kernel-chosen port, run sss-bench and read its JSON line.
Each test is a program: exit 0 pass, 1 fail, 77 skip. SSS_TEST_TIMEOUT_SCALE
stretches every timeout (sanitizer builds)."""
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

SCALE = float(os.environ.get("SSS_TEST_TIMEOUT_SCALE") or 1)
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.environ.get("SSS_SOURCE_DIR") or os.path.abspath(os.path.join(HERE, "..", ".."))


def T(seconds):
    return seconds * SCALE


def binary(env, default):
    path = os.environ.get(env) or os.path.join(ROOT, default)
    if not os.access(path, os.X_OK) and not path.endswith(".so"):
        print(f"SKIP: {path} not built (set {env})")
        sys.exit(77)
    return path


SERVER = None
BENCH = None
APP = None


def init(websockets=False):
    """Find the binaries; with websockets (a test with a fake peer of its own, which imports
    the package after this), skip as well when that package is missing."""
    global SERVER, BENCH, APP
    SERVER = binary("SSS_SERVER", "build/dev/sss-server")
    BENCH = binary("SSS_BENCH", "build/dev/bench/sss-bench")
    APP = os.environ.get("SSS_BENCH_APP") or os.path.join(ROOT, "build/dev/bench/libsss-bench.so")
    if websockets:
        need_websockets()


# The integration tests' Checks: ok/eq/fail count checks, finish() prints the
# summary and exits 0 (all passed) or 1; their read_log, and need_websockets
# (skip, exit 77, without the websockets package).
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
from sss_harness import Checks, need_websockets, read_log  # noqa: E402,F401


class Server:
    """sss-server --host 127.0.0.1 --port 0 with flags; .port, .pid; stop() kills it."""

    def __init__(self, flags, workers=2):
        self.dir = tempfile.mkdtemp(prefix="sss-bench-it-")
        self.log_path = os.path.join(self.dir, "server.log")
        argv = [SERVER, "--host", "127.0.0.1", "--port", "0", "--workers", str(workers)] + flags
        env = {k: v for k, v in os.environ.items() if not k.startswith("SSS_")}
        self.logf = open(self.log_path, "wb")
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self.logf,
                                     stderr=subprocess.STDOUT, env=env, start_new_session=True)
        self.pid = self.proc.pid
        self.port = None
        deadline = time.monotonic() + T(30)
        while True:
            log = self.log()
            m = re.search(r"listening on 127\.0\.0\.1:(\d+)", log)
            if m and len(re.findall(r"worker \d+ started", log)) >= workers:
                self.port = int(m.group(1))
                break
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("sss-server did not start:\n" + log[-3000:])
            time.sleep(0.05)
        time.sleep(0.2)

    @property
    def url(self):
        return f"ws://127.0.0.1:{self.port}/"

    def log(self):
        return read_log(self.log_path)

    def stop(self):
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait()


def bench(args, timeout=60):
    """Run sss-bench; returns (exit status, stdout, stderr, the JSON of the last line or None)."""
    argv = [BENCH] + [str(a) for a in args]
    print("# " + " ".join(argv))
    sys.stdout.flush()
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=T(timeout))
    except subprocess.TimeoutExpired as e:
        return None, e.stdout or "", e.stderr or "", None
    last = p.stdout.strip().splitlines()[-1] if p.stdout.strip() else ""
    try:
        j = json.loads(last)
    except ValueError:
        j = None
    if p.returncode != 0 or j is None:
        print("# stdout: " + p.stdout[-2000:])
        print("# stderr: " + p.stderr[-2000:])
    return p.returncode, p.stdout, p.stderr, j


def refused(c, bad):
    """Each (what, args, want) of bad: sss-bench exits 1 with one stderr line holding want."""
    for what, args, want in bad:
        rc, _, err, _ = bench(args, timeout=60)
        lines = err.strip().splitlines()
        c.ok(rc == 1 and len(lines) == 1 and want in lines[0], f"refused: {what}",
             f"rc={rc} stderr={err[-300:]!r}")
