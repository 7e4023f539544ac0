"""FerretDB (a MongoDB-wire-compatible server on SQLite) for the integration
tests, run through tools/ferretdb.sh: start on a free loopback port in a temp
dir, stop (SIGTERM, then SIGKILL), start again on the same port and data.

FerretDB missing is a failure, not a skip: tools/bootstrap.sh installs it
(tools/ferretdb.sh install)."""
import atexit
import os
import shutil
import signal
import subprocess
import tempfile
import time

from svc_redis import free_port

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.environ.get("SSS_SOURCE_DIR") or os.path.join(HERE, "..", "..")
SCRIPT = os.path.join(ROOT, "tools", "ferretdb.sh")

_ALL = []  # every FerretDB started, stopped at exit by stop_all()



class FerretDB:
    """One FerretDB: .port, .dir, .url(db); start() / stop() / kill() / restart()."""

    def __init__(self, args=()):
        self.args = list(args)  # more ferretdb flags (e.g. its TLS listener)
        self.dir = tempfile.mkdtemp(prefix="sss-ferretdb-")
        self.port = None
        self.pid = None
        _ALL.append(self)

    def url(self, db):
        return f"mongodb://127.0.0.1:{self.port}/{db}"

    def client(self, timeout_ms=5000):
        """A pymongo client of this server (its own timeout scaled like the tests')."""
        import pymongo
        from sss_harness import T
        return pymongo.MongoClient(self.url(""), serverSelectionTimeoutMS=int(T(timeout_ms)))

    def start(self, timeout=60):
        """Start (again, on the same port and data dir). Raises if it cannot."""
        first = self.port is None
        if first:
            self.port = free_port()
        deadline = time.monotonic() + timeout
        while True:
            r = subprocess.run([SCRIPT, "start", str(self.port), self.dir] + self.args,
                               capture_output=True,
                               text=True, timeout=timeout)
            if r.returncode == 0:
                self.pid = int(r.stdout.strip().splitlines()[-1])
                return self
            if r.returncode == 2 and first:  # another process took the port meanwhile
                self.port = free_port()
                continue
            # The old process's port may linger a moment after a stop.
            if "not installed" in r.stderr or time.monotonic() > deadline:
                raise RuntimeError(f"FerretDB did not start on port {self.port}: "
                                   f"{r.stderr.strip()} (log: {self.dir}/ferretdb.log)")
            time.sleep(0.5)

    def stop(self):
        """SIGTERM, then SIGKILL after 5 s."""
        if self.pid:
            subprocess.run([SCRIPT, "stop", str(self.pid)], capture_output=True, timeout=30)
            self._reap()
            self.pid = None

    def kill(self):
        if self.pid:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self._reap()
            self.pid = None

    def restart(self):
        self.stop()
        return self.start()

    def _reap(self):
        for _ in range(100):
            try:
                os.kill(self.pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)

    def remove(self):
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


def installed():
    """The binary's path, or None."""
    r = subprocess.run([SCRIPT, "path"], capture_output=True, text=True)
    return r.stdout.strip() if r.returncode == 0 else None


def start_checked(c):
    """A started FerretDB for a test (stopped at exit), with .client() (pymongo);
    None, with a failed check, when FerretDB is not installed."""
    if not c.ok(installed(), "FerretDB is installed (tools/ferretdb.sh install; tools/bootstrap.sh)"):
        return None
    atexit.register(stop_all)
    ferret = FerretDB()
    ferret.start()
    return ferret


def stop_all():
    for f in _ALL:
        f.remove()
