"""Shared helpers for the integration tests: they start the real sss-server
binary on loopback (port 0, temp dir), talk to it with the `websockets`
library or with hand-made frames on a raw socket, and count checks.

Each test program ends with `checks.finish()`, which prints
"N passed, N failed" and exits 0 (all passed), 1 (any failed) or 77 (skip).

Environment: SSS_SERVER (the binary), SSS_SOURCE_DIR, SSS_VENV (set by ctest),
SSS_TEST_TIMEOUT_SCALE (stretches every timeout; default 1).
"""
import asyncio
import base64
import hashlib
import json
import os
import re
import resource
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.request

SCALE = float(os.environ.get("SSS_TEST_TIMEOUT_SCALE") or 1)
GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA


def T(seconds):
    """A timeout, stretched by SSS_TEST_TIMEOUT_SCALE (sanitizer builds)."""
    return seconds * SCALE


def log(msg):
    print(msg, flush=True)


def server_binary():
    """The sss-server to test, or None (the test then skips)."""
    path = os.environ.get("SSS_SERVER")
    if not path:
        here = os.path.dirname(os.path.abspath(__file__))
        path = os.path.join(here, "..", "..", "build", "dev", "sss-server")
    path = os.path.abspath(path)
    return path if os.access(path, os.X_OK) else None


def raise_fd_limit():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and (hard == resource.RLIM_INFINITY or soft < hard):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


# --------------------------------------------------------------------------
# Checks


class Checks:
    """Counts checks; each failed one prints why. finish() exits."""

    def __init__(self, name):
        self.name = name
        self.passed = 0
        self.failed = 0
        self.failures = []

    def ok(self, cond, what, detail=""):
        if cond:
            self.passed += 1
            log(f"ok   - {what}")
        else:
            self.failed += 1
            self.failures.append(what)
            log(f"FAIL - {what}" + (f": {detail}" if detail else ""))
        return bool(cond)

    def eq(self, actual, expected, what):
        return self.ok(actual == expected, what, f"got {_short(actual)!s}, expected {_short(expected)!s}")

    def fail(self, what, detail=""):
        return self.ok(False, what, detail)

    async def section(self, name, coro_fn, *args):
        """Run one part of the test; an exception counts as one failure."""
        log(f"# {name}")
        try:
            await coro_fn(*args)
        except Exception as e:  # noqa: BLE001 - any error is a failed check
            self.fail(f"{name}: unexpected {type(e).__name__}", f"{e}\n{traceback.format_exc()}")

    async def sections(self, args, parts):
        """section() of each (name, coro_fn) in parts, in order, each called with *args."""
        for name, coro_fn in parts:
            await self.section(name, coro_fn, *args)

    def finish(self):
        if self.failures:
            log("# failed checks:")
            for f in self.failures:
                log(f"#   {f}")
        print(f"{self.passed} passed, {self.failed} failed", flush=True)
        sys.exit(1 if self.failed or not self.passed else 0)


def _short(v):
    if isinstance(v, (bytes, bytearray, str)) and len(v) > 80:
        return f"{type(v).__name__}[len={len(v)}]{v[:40]!r}..."
    return repr(v)


def http_get(url):
    """GET url (blocking); the body as text."""
    with urllib.request.urlopen(url, timeout=T(20)) as r:
        return r.read().decode()


async def metric_sum(port, name):
    """The sum over every label set (workers, ...) of a sample of GET /metrics on port."""
    text = await asyncio.to_thread(http_get, f"http://127.0.0.1:{port}/metrics")
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith(name + "{") or line.startswith(name + " "))


async def metric_wait(port, name, want, timeout=30):
    """Poll metric_sum until it equals want (or the deadline); its last value."""
    deadline = time.monotonic() + T(timeout)
    while True:
        v = await metric_sum(port, name)
        if v == want or time.monotonic() > deadline:
            return v
        await asyncio.sleep(0.05)


def skip(reason):
    log(f"SKIP: {reason}")
    print("0 passed, 0 failed", flush=True)
    sys.exit(77)


# --------------------------------------------------------------------------
# The server process


_SERVERS = []  # every Server started, killed at exit if still running


def read_log(path):
    """The text of a process's log file so far (bad UTF-8 replaced); "" while it cannot be read
    (not created yet)."""
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "replace")
    except OSError:
        return ""


async def testmod_server(checks, flags=(), name="testmod"):
    """A started one-worker server, without --echo, running the test module
    (modules/testmod.c, which SSS_TESTMOD names) with `flags`; None after a
    failed check when SSS_TESTMOD is not set."""
    mod = os.environ.get("SSS_TESTMOD")
    if not mod:
        checks.fail("SSS_TESTMOD names the test module")
        return None
    return await Server(checks, flags=["--app", mod, *flags], echo=False, workers=1,
                        name=name).start()


class TestCA:
    """A certificate authority made with the `openssl` command at run time
    (no key is ever committed), and server certificates it signs for
    localhost and 127.0.0.1. `ca` is the path of its certificate (PEM)."""

    def __init__(self, dir=None):
        self.dir = dir or tempfile.mkdtemp(prefix="sss-ca-")
        self.ca = os.path.join(self.dir, "ca.pem")
        self.ca_key = os.path.join(self.dir, "ca.key")
        self.serial = 0
        self._openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                      "-nodes", "-keyout", self.ca_key, "-out", self.ca, "-days", "2",
                      "-subj", "/CN=sss test CA")

    def _openssl(self, *args):
        subprocess.run(["openssl", *args], check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE)

    def issue(self, name="server", san="DNS:localhost,IP:127.0.0.1"):
        """A new key and certificate signed by the CA for the names of `san`
        (subjectAltName): (cert path, key path)."""
        self.serial += 1
        cert = os.path.join(self.dir, f"{name}.pem")
        key = os.path.join(self.dir, f"{name}.key")
        csr = os.path.join(self.dir, f"{name}.csr")
        ext = os.path.join(self.dir, f"{name}.ext")
        with open(ext, "w") as f:
            f.write(f"subjectAltName={san}\n")
        self._openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                      "-keyout", key, "-out", csr, "-subj", f"/CN=localhost {name}")
        self._openssl("x509", "-req", "-in", csr, "-CA", self.ca, "-CAkey", self.ca_key,
                      "-set_serial", str(1000 + self.serial), "-days", "2", "-out", cert,
                      "-extfile", ext)
        return cert, key

    def client_context(self, **kw):
        """An ssl.SSLContext that trusts this CA (and checks the host name)."""
        ctx = ssl.create_default_context(cafile=self.ca)
        for k, v in kw.items():
            setattr(ctx, k, v)
        return ctx


class Server:
    """One sss-server run: `--host 127.0.0.1 --port 0 --workers N [--echo]`
    plus `flags`, its stderr in a file of a temp dir. With tls=(cert, key)
    it also gets --tls-cert and --tls-key, and url is wss://."""

    def __init__(self, checks, flags=(), workers=2, echo=True, env=None, path="/",
                 origin=None, name="server", tls=None):
        self.checks = checks
        self.binary = server_binary()
        self.flags = list(flags)
        self.workers = workers
        self.echo = echo
        self.extra_env = dict(env or {})
        self.path = path
        self.origin = origin
        self.name = name
        self.tls = tls
        self.dir = tempfile.mkdtemp(prefix="sss-it-")
        self.log_path = os.path.join(self.dir, "server.log")
        self.proc = None
        self.port = None
        self.failed_before = checks.failed
        self.stopped = False
        _SERVERS.append(self)

    @property
    def url(self):
        return f"{'wss' if self.tls else 'ws'}://127.0.0.1:{self.port}{self.path}"

    def argv(self):
        a = [self.binary, "--host", "127.0.0.1", "--port", "0", "--workers", str(self.workers)]
        if self.echo:
            a.append("--echo")
        if self.tls:
            a += ["--tls-cert", self.tls[0], "--tls-key", self.tls[1]]
        return a + self.flags

    async def start(self):
        env = {k: v for k, v in os.environ.items() if not k.startswith("SSS_")}
        env.update(self.extra_env)
        self.logf = open(self.log_path, "wb")
        self.failed_before = self.checks.failed
        log(f"# start {self.name}: {' '.join(self.argv()[1:])}"
            + (f" env {self.extra_env}" if self.extra_env else ""))
        self.proc = subprocess.Popen(self.argv(), stdin=subprocess.DEVNULL, stdout=self.logf,
                                     stderr=subprocess.STDOUT, env=env, start_new_session=True,
                                     cwd=self.dir)
        deadline = time.monotonic() + T(30)
        while self.port is None:
            m = re.search(r"listening on 127\.0\.0\.1:(\d+)", self.log())
            if m:
                self.port = int(m.group(1))
                break
            if self.proc.poll() is not None:
                self._abort(f"exited with status {self.proc.returncode} before listening")
            if time.monotonic() > deadline:
                self._abort("no 'listening on 127.0.0.1:PORT' line in time")
            await asyncio.sleep(0.05)
        # Every worker started, then one request answered.
        while len(re.findall(r"worker \d+ started", self.log())) < self.workers:
            if self.proc.poll() is not None:
                self._abort(f"exited with status {self.proc.returncode} while starting workers")
            if time.monotonic() > deadline:
                self._abort(f"fewer than {self.workers} 'worker N started' lines in time")
            await asyncio.sleep(0.05)
        while not await self._probe():
            if self.proc.poll() is not None:
                self._abort(f"exited with status {self.proc.returncode} while starting")
            if time.monotonic() > deadline:
                self._abort("does not answer on its port")
            await asyncio.sleep(0.1)
        return self

    async def _probe(self):
        """A plain GET (not an upgrade): any answer means a worker serves."""
        tls = None
        if self.tls:  # the probe only needs an answer, not the certificate's word
            tls = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            tls.check_hostname = False
            tls.verify_mode = ssl.CERT_NONE
        try:
            r, w = await asyncio.wait_for(
                asyncio.open_connection("127.0.0.1", self.port, ssl=tls), T(2))
        except (OSError, asyncio.TimeoutError):
            return False
        try:
            w.write(b"GET /__probe HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            data = await asyncio.wait_for(r.read(12), T(2))
            return data.startswith(b"HTTP/1.1 ")
        except (OSError, asyncio.TimeoutError):
            return False
        finally:
            w.close()

    def _abort(self, why):
        self.stopped = True
        self.kill()
        self.dump_log()
        raise RuntimeError(f"{self.name} did not start: {why}")

    def log(self):
        return read_log(self.log_path)

    def log_lines(self):
        return self.log().splitlines()

    def dump_log(self, last=80):
        lines = self.log_lines()
        log(f"# ---- {self.name} log ({self.log_path}), last {min(last, len(lines))} of {len(lines)} lines")
        for l in lines[-last:]:
            log(f"#   {l}")
        log("# ----")

    async def wait_log(self, pattern, timeout=10, start=0):
        """Wait for a log line matching `pattern` among lines[start:]; the match or None."""
        deadline = time.monotonic() + T(timeout)
        rx = re.compile(pattern)
        while True:
            for l in self.log_lines()[start:]:
                m = rx.search(l)
                if m:
                    return m
            if time.monotonic() > deadline:
                return None
            await asyncio.sleep(0.02)

    async def api_port(self, timeout=20):
        """The HTTP API's port (--api-listen 127.0.0.1:0), from its 'api listening on
        127.0.0.1:PORT' line; None when that line does not come within timeout."""
        m = await self.wait_log(r"api listening on 127\.0\.0\.1:(\d+)", timeout)
        return int(m.group(1)) if m else None

    async def checked_api_port(self, checks, what="the API listens", timeout=20):
        """api_port, checked as `what`; None after a failed check, the server stopped."""
        port = await self.api_port(timeout)
        if not checks.ok(port, what):
            await self.stop()
        return port

    def worker_pids(self):
        """{worker index: pid} from the latest 'worker N started pid=P' lines."""
        pids = {}
        for m in re.finditer(r"worker (\d+) started pid=(\d+)", self.log()):
            pids[int(m.group(1))] = int(m.group(2))
        return pids

    def role_of_last_upgrade(self):
        """The role (w0, w1...) of the worker that logged the latest 'upgraded' line."""
        return [l.split()[1] for l in self.log_lines() if "upgraded" in l][-1]

    def role_pids(self):
        """{role: pid} from each worker's own 'started pid=P' line."""
        roles = {}
        for l in self.log_lines():
            m = re.match(r"\S+ (w\d+) \S+ .*started pid=(\d+)", l)
            if m:
                roles[m.group(1)] = int(m.group(2))
        return roles

    def upgrades_by_role(self, start=0):
        """{role: count} of debug 'upgraded' lines (the role is the 2nd token)."""
        counts = {}
        for l in self.log_lines()[start:]:
            if "upgraded" in l:
                parts = l.split()
                if len(parts) > 1:
                    counts[parts[1]] = counts.get(parts[1], 0) + 1
        return counts

    def send_signal(self, sig):
        self.proc.send_signal(sig)

    async def wait_exit(self, timeout):
        deadline = time.monotonic() + T(timeout)
        while self.proc.poll() is None and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        return self.proc.poll()

    async def stop(self, expect_status=0, sig=signal.SIGTERM, timeout=40):
        """SIGTERM (drain), wait, check the exit status and the log for sanitizer reports.
        sig=None: the test already signalled the master; only wait and check."""
        if self.stopped:
            return self.proc.returncode
        self.stopped = True
        if self.proc.poll() is None and sig is not None:
            self.proc.send_signal(sig)
        signame = signal.Signals(sig).name if sig is not None else "the signal sent"
        status = await self.wait_exit(timeout)
        if status is None:
            self.checks.fail(f"{self.name} exits after {signame}", "still running; killed")
            self.kill()
        else:
            if expect_status is not None:
                self.checks.eq(status, expect_status, f"{self.name} exit status after {signame}")
            left = [p for p in self.worker_pids().values() if _running(p)]
            self.checks.ok(not left, f"{self.name}: no worker left running after the master exited",
                           f"pids {left}")
        self.check_sanitizers()
        self.kill()  # leftover workers, if the master left any
        if self.checks.failed > self.failed_before:
            self.dump_log()
        else:
            shutil.rmtree(self.dir, ignore_errors=True)
        return status

    def check_sanitizers(self):
        text = self.log()
        bad = [l for l in text.splitlines()
               if "ERROR: AddressSanitizer" in l or "runtime error:" in l
               or "ERROR: LeakSanitizer" in l]
        self.checks.ok(not bad, f"{self.name} log has no sanitizer report", "; ".join(bad[:3]))

    def kill(self):
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.proc.wait(timeout=T(10))
        except subprocess.TimeoutExpired:
            pass

    async def __aenter__(self):
        return await self.start()

    async def __aexit__(self, *exc):
        if not self.stopped:
            await self.stop()


async def api_server(checks, what="the API listens", **kw):
    """A started Server(checks, **kw) whose flags open the HTTP API, and the API's port
    (Server.api_port), checked as `what`: (None, None), the server stopped, without it."""
    srv = await Server(checks, **kw).start()
    port = await srv.checked_api_port(checks, what)
    return (srv, port) if port else (None, None)


def _running(pid):
    """True if `pid` exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False


# --------------------------------------------------------------------------
# `websockets` client helpers


def ws_connect(server_or_url, **kw):
    """websockets' asyncio client with no proxy, no compression, no size limit,
    no client pings (so that only the test's own traffic is on the wire)."""
    from websockets.asyncio.client import connect

    url = server_or_url if isinstance(server_or_url, str) else server_or_url.url
    if not isinstance(server_or_url, str) and server_or_url.origin and "origin" not in kw:
        kw["origin"] = server_or_url.origin
    opts = dict(proxy=None, compression=None, max_size=None, ping_interval=None,
                open_timeout=T(20), close_timeout=T(20))
    opts.update(kw)
    return connect(url, **opts)


async def ws_close_code(ws, timeout=20):
    """Wait until the server closes `ws`; the code of its close frame (None if none came)."""
    from websockets.exceptions import ConnectionClosed

    try:
        while True:
            await asyncio.wait_for(ws.recv(), T(timeout))
    except ConnectionClosed as e:
        return e.rcvd.code if e.rcvd else None


async def rx(ws, timeout=20, heartbeats=False):
    """The next frame of `ws`, decoded from JSON; with heartbeats=True, skip "h" frames."""
    while True:
        m = await asyncio.wait_for(ws.recv(), T(timeout))
        if not (heartbeats and m == "h"):
            return json.loads(m)


async def rx_until(ws, pred, timeout=20, heartbeats=False):
    """Read frames of `ws` until one satisfies pred(frame); that frame."""
    while True:
        f = await rx(ws, timeout, heartbeats)
        if pred(f):
            return f


async def begun(server_or_url, timeout=20, **kw):
    """A connection that has sent BEGIN ({"sys":3}) and read its reply; kw go
    to ws_connect (e.g. subprotocols=["sss.v1.json"])."""
    ws = await ws_connect(server_or_url, **kw)
    await ws.send(json.dumps({"sys": 3}))
    await asyncio.wait_for(ws.recv(), T(timeout))
    return ws


async def begin_session(srv, session, user=None):
    """A client of the test module's session parser (?user=) that BEGINs with session;
    (ws, the BEGIN reply: sent once every resumed channel is subscribed again)."""
    ws = await ws_connect(srv.url + (f"?user={user}" if user else ""))
    await ws.send(json.dumps({"sys": 3, "session": session}))
    return ws, await rx_until(ws, lambda f: f.get("sys") == 3)


async def subscribe_ok(ws, chan, id_):
    """SUBSCRIBE chan and assert the server said yes."""
    await ws.send(json.dumps({"sys": 1, "channel": chan, "id": id_}))
    r = await rx_until(ws, lambda f: f.get("id") == id_)
    assert r.get("result") is True, r


async def publish_ok(ws, chan, id_):
    """A client PUBLISH of id_ (topic t) on chan; asserts it was accepted."""
    await ws.send(json.dumps({"sys": 13, "channel": chan, "topic": "t", "msg": id_, "id": id_}))
    r = await rx_until(ws, lambda f: f.get("sys") == 7 and f.get("id") == id_)
    assert "err" not in r, r


async def gather_ok(checks, coros, what, failure="error"):
    """Run coros at once and check that every one returned (`what`); log the
    first exception as "# first <failure>: ...". The results that returned."""
    res = await asyncio.gather(*coros, return_exceptions=True)
    good = [r for r in res if not isinstance(r, BaseException)]
    bad = [r for r in res if isinstance(r, BaseException)]
    checks.eq(len(good), len(res), what)
    if bad:
        log(f"# first {failure}: {bad[0]!r}")
    return good


async def open_retry(server, timeout=20, **kw):
    """Open a connection, retrying while the server refuses it (restarts, limits)."""
    deadline = time.monotonic() + T(timeout)
    while True:
        try:
            return await ws_connect(server, **kw)
        except Exception:  # noqa: BLE001
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.1)


# --------------------------------------------------------------------------
# Raw socket: HTTP upgrade requests and hand-made frames


def ws_key():
    return base64.b64encode(os.urandom(16)).decode()


def ws_accept(key):
    return base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()


def upgrade_request(path="/", host="127.0.0.1", key=None, version="13", origin=None,
                    method="GET", extra=(), omit=()):
    """Bytes of an upgrade request; `omit` names headers to leave out."""
    headers = [("Host", host), ("Upgrade", "websocket"), ("Connection", "Upgrade"),
               ("Sec-WebSocket-Key", key or ws_key()), ("Sec-WebSocket-Version", version)]
    if origin:
        headers.append(("Origin", origin))
    headers = [(k, v) for k, v in headers if k.lower() not in {o.lower() for o in omit}]
    headers += list(extra)
    text = f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers) + "\r\n"
    return text.encode("latin1")


class HttpResponse:
    def __init__(self, status, reason, headers, body, raw):
        self.status, self.reason, self.headers, self.body, self.raw = status, reason, headers, body, raw

    def header(self, name):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def __repr__(self):
        return f"<HTTP {self.status} {self.reason} {self.headers} body={self.body!r}>"


def encode_frame(op, payload=b"", fin=True, mask=True, rsv=0, length=None):
    """A frame as a client sends it (masked unless told); `length` forges the length field."""
    payload = bytes(payload)
    n = len(payload) if length is None else length
    head = bytes([(0x80 if fin else 0) | (rsv << 4) | op])
    mbit = 0x80 if mask else 0
    if n < 126:
        head += bytes([mbit | n])
    elif n < 65536:
        head += bytes([mbit | 126]) + struct.pack("!H", n)
    else:
        head += bytes([mbit | 127]) + struct.pack("!Q", n)
    if not mask:
        return head + payload
    key = os.urandom(4)
    return head + key + _xor(payload, key)


def _xor(data, key):
    if not data:
        return b""
    k = (key * (len(data) // 4 + 1))[: len(data)]
    return (int.from_bytes(data, "big") ^ int.from_bytes(k, "big")).to_bytes(len(data), "big")


def close_payload(code, reason=b""):
    return struct.pack("!H", code) + reason


class Frame:
    def __init__(self, fin, rsv, op, masked, payload):
        self.fin, self.rsv, self.op, self.masked, self.payload = fin, rsv, op, masked, payload

    @property
    def close_code(self):
        return struct.unpack("!H", self.payload[:2])[0] if len(self.payload) >= 2 else None

    def __repr__(self):
        return f"<Frame fin={self.fin} op={self.op} len={len(self.payload)} {self.payload[:20]!r}>"


class RawClient:
    """A TCP connection driven by hand (asyncio streams)."""

    def __init__(self, reader, writer):
        self.r, self.w = reader, writer

    @classmethod
    async def connect(cls, port, rcvbuf=None):
        if rcvbuf is None:
            r, w = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), T(20))
        else:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
            s.setblocking(False)
            await asyncio.wait_for(asyncio.get_running_loop().sock_connect(s, ("127.0.0.1", port)), T(20))
            r, w = await asyncio.open_connection(sock=s, limit=1 << 24)
        return cls(r, w)

    @classmethod
    async def upgrade(cls, server, path=None, origin=None, rcvbuf=None, **kw):
        """Connect and complete a WebSocket handshake; raises if it is not 101."""
        c = await cls.connect(server.port, rcvbuf=rcvbuf)
        key = ws_key()
        c.send(upgrade_request(path or server.path, key=key, origin=origin or server.origin, **kw))
        resp = await c.read_http()
        if resp.status != 101:
            c.close()
            raise AssertionError(f"upgrade answered {resp!r}")
        if resp.header("Sec-WebSocket-Accept") != ws_accept(key):
            c.close()
            raise AssertionError(f"bad Sec-WebSocket-Accept in {resp!r}")
        return c

    def send(self, data):
        self.w.write(data)

    async def drain(self, timeout=20):
        await asyncio.wait_for(self.w.drain(), T(timeout))

    async def send_frame(self, op, payload=b"", **kw):
        self.w.write(encode_frame(op, payload, **kw))
        await self.drain()

    async def read_http(self, timeout=20):
        """Read one HTTP response head, and its body (Content-Length) unless it is 101."""
        head = await asyncio.wait_for(self.r.readuntil(b"\r\n\r\n"), T(timeout))
        lines = head.decode("latin1").split("\r\n")
        parts = lines[0].split(" ", 2)
        status = int(parts[1])
        reason = parts[2] if len(parts) > 2 else ""
        headers = []
        for l in lines[1:]:
            if l:
                k, _, v = l.partition(":")
                headers.append((k.strip(), v.strip()))
        resp = HttpResponse(status, reason, headers, b"", head)
        if status == 101:
            return resp
        cl = resp.header("Content-Length")
        if cl is not None:
            resp.body = await asyncio.wait_for(self.r.readexactly(int(cl)), T(timeout))
        else:
            try:
                resp.body = await asyncio.wait_for(self.r.read(65536), T(timeout))
            except (ConnectionError, asyncio.TimeoutError):
                pass
        return resp

    async def read_frame(self, timeout=20):
        """One frame; raises asyncio.IncompleteReadError on EOF."""
        async def rd():
            h = await self.r.readexactly(2)
            fin, rsv, op = bool(h[0] & 0x80), (h[0] >> 4) & 7, h[0] & 0xF
            masked, n = bool(h[1] & 0x80), h[1] & 0x7F
            if n == 126:
                n = struct.unpack("!H", await self.r.readexactly(2))[0]
            elif n == 127:
                n = struct.unpack("!Q", await self.r.readexactly(8))[0]
            key = await self.r.readexactly(4) if masked else None
            p = await self.r.readexactly(n) if n else b""
            if key:
                p = _xor(p, key)
            return Frame(fin, rsv, op, masked, p)

        return await asyncio.wait_for(rd(), T(timeout))

    async def read_until_close(self, timeout=30, skip_ops=(OP_TEXT, OP_BINARY, OP_CONT, OP_PING, OP_PONG)):
        """Read frames (ignoring `skip_ops`) until a close frame: (close frame or None, frames read).
        None when the connection ends, or nothing comes in time, without a close frame."""
        skipped = []
        deadline = time.monotonic() + T(timeout)
        while True:
            left = max(0.1, (deadline - time.monotonic()) / SCALE)
            try:
                f = await self.read_frame(timeout=left)
            except (asyncio.IncompleteReadError, ConnectionError, asyncio.TimeoutError):
                return None, skipped  # EOF, reset or nothing in time: no close frame
            if f.op == OP_CLOSE:
                return f, skipped
            if f.op not in skip_ops:
                skipped.append(f)
                return None, skipped
            skipped.append(f)

    async def at_eof(self, timeout=20):
        """True when the peer closes the TCP connection (EOF or reset) in time; data before it is discarded."""
        deadline = time.monotonic() + T(timeout)
        try:
            while time.monotonic() < deadline:
                data = await asyncio.wait_for(self.r.read(65536), max(0.05, deadline - time.monotonic()))
                if not data:
                    return True
        except ConnectionError:
            return True
        except asyncio.TimeoutError:
            return False
        return False

    def close(self):
        try:
            self.w.close()
        except Exception:  # noqa: BLE001
            pass


async def raw_http(server, request, timeout=20):
    """Send raw request bytes, return the HttpResponse (connection then closed)."""
    c = await RawClient.connect(server.port)
    try:
        c.send(request)
        await c.drain()
        return await c.read_http(timeout)
    finally:
        c.close()


# --------------------------------------------------------------------------
# Common checks


async def check_good_client(checks, server, what="a good client still echoes"):
    """One new connection echoes a text and a binary message."""
    try:
        async with ws_connect(server) as ws:
            await ws.send("still here")
            t = await asyncio.wait_for(ws.recv(), T(20))
            await ws.send(b"\x00\x01bin")
            b = await asyncio.wait_for(ws.recv(), T(20))
            return checks.ok(t == "still here" and b == b"\x00\x01bin", what, f"got {t!r}, {b!r}")
    except Exception as e:  # noqa: BLE001
        return checks.fail(what, f"{type(e).__name__}: {e}")


def need_websockets():
    """Skip (exit 77) unless the websockets package imports."""
    try:
        import websockets  # noqa: F401
    except ImportError:
        skip("python package 'websockets' is missing (use SSS_VENV's python)")


def main(test_fn, name, timeout=800, server=True):
    """Run `async test_fn(checks)` (or each of a sequence of them, in order)
    within timeout s (scaled) and exit with the result; skip without the
    websockets library or, unless server is False, without a server binary."""
    if server and server_binary() is None:
        skip("no sss-server binary (set SSS_SERVER)")
    need_websockets()
    raise_fd_limit()
    checks = Checks(name)
    log(f"# {name}: server {server_binary()}, timeout scale {SCALE}")
    parts = test_fn if isinstance(test_fn, (list, tuple)) else (test_fn,)

    async def run_parts():
        for part in parts:
            await part(checks)

    try:
        asyncio.run(asyncio.wait_for(run_parts(), T(timeout)))
    except asyncio.TimeoutError:
        checks.fail(f"{name} finished within {T(timeout):.0f}s")
    except Exception as e:  # noqa: BLE001
        checks.fail(f"{name}: unexpected {type(e).__name__}", traceback.format_exc())
    for s in _SERVERS:
        if s.proc is not None and not s.stopped:
            s.kill()
            s.dump_log()
    checks.finish()
