"""A real redis-server (Debian's) for the integration tests: started on a
free loopback port in a temp dir, with append-only persistence so that a
restart keeps the streams, and stopped (or restarted on the same port and
data) on request. With tls (svc_tls.Pki) it also listens for TLS on
.tls_port (the plain port stays, for the test's own commands); args are
more redis-server flags. The test fails, never skips, when redis-server is
missing: tools/bootstrap.sh installs it."""
import os
import random
import shutil
import socket
import subprocess
import tempfile
import time


def ephemeral_range():
    """The kernel's ephemeral ports (ip_local_port_range): where bind(0) and
    connect() pick a socket's local port."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            lo, hi = map(int, f.read().split())
        return lo, hi
    except (OSError, ValueError):
        return 32768, 60999


def bindable(port):
    """Nothing holds 127.0.0.1:port now (no listener, no connection, no TIME_WAIT)."""
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def free_port():
    """A loopback port nothing holds now, for a server the test starts with it.

    Outside the ephemeral range: a port there can be handed, between this
    check and the server's bind, to any socket of the tests running at once
    (an outgoing connection, a server on port 0), and the server then fails
    with EADDRINUSE (seen under ctest -j4). Outside it only explicit binds
    compete; the pick is random so that tests running at once rarely choose
    the same port."""
    lo, hi = ephemeral_range()
    ports = [p for a, b in ((10000, lo - 1), (hi + 1, 65535)) for p in range(a, b + 1)]
    rng = random.SystemRandom()
    for _ in range(500 if ports else 0):
        port = rng.choice(ports)
        if bindable(port):
            return port
    with socket.socket() as s:  # no room outside the range: the kernel's choice
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def resp_command(*args):
    """A command as RESP bytes (an array of bulk strings)."""
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out


class Redis:
    def __init__(self, persist=True, tls=None, args=()):
        self.binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        if not os.access(self.binary, os.X_OK):
            raise RuntimeError("redis-server is not installed (tools/bootstrap.sh installs it)")
        self.dir = tempfile.mkdtemp(prefix="sss-redis-")
        self.port = free_port()
        self.persist = persist
        self.tls = tls
        self.tls_port = free_port() if tls else None
        self.args = list(args)
        self.proc = None
        self.start()

    @property
    def url(self):
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self):
        argv = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1",
                "--dir", self.dir, "--save", "", "--daemonize", "no",
                "--logfile", os.path.join(self.dir, "redis.log")]
        if self.persist:
            argv += ["--appendonly", "yes", "--appendfsync", "always"]
        else:
            argv += ["--appendonly", "no"]
        if self.tls:
            argv += ["--tls-port", str(self.tls_port), "--tls-cert-file", self.tls.server_cert,
                     "--tls-key-file", self.tls.server_key, "--tls-ca-cert-file", self.tls.ca,
                     "--tls-auth-clients", "yes"]
        argv += self.args
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 20
        while time.time() < deadline:
            if self.ping():
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise RuntimeError(f"redis-server did not start on port {self.port}: "
                           + self.log_tail())

    def ping(self):
        try:
            return self.command("PING") == b"+PONG\r\n"
        except OSError:
            return False

    def command(self, *args):
        """One command, its raw reply (enough for tests: PING, INFO, KEYS...)."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
            s.sendall(resp_command(*args))
            data = b""
            s.settimeout(0.5)
            try:
                while True:
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    data += chunk
                    if data.endswith(b"\r\n") and not data.startswith((b"*", b"$")):
                        break
            except socket.timeout:
                pass
            return data

    def stop(self, sig_kill=False):
        if self.proc and self.proc.poll() is None:
            if sig_kill:
                self.proc.kill()
            else:
                self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def restart(self):
        self.stop()
        self.start()

    def log_tail(self):
        try:
            with open(os.path.join(self.dir, "redis.log")) as f:
                return f.read()[-2000:]
        except OSError:
            return ""

    def close(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
