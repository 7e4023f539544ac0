"""--static DIR: plain HTTP GETs on the WebSocket port get files from DIR
(404 for what is not there, nothing outside DIR, no dotfiles unless
--static-dotfiles, no FIFO or device), with a Content-Security-Policy, while
upgrades on the same path still become WebSockets; without --static a plain
GET gets 426. Files are streamed one chunk at a time: clients that ask for a
big file and never read cost the worker one chunk each, not the file."""
import asyncio
import json
import os
import re
import socket
import tempfile
import time

from sss_harness import Server, main, metric_sum, raw_http, ws_connect, T

BIG = 8 << 20      # bytes of the big file (--static-max-file), over what the kernel buffers
READERS = 40       # clients that ask for it and never read
CHUNK = 16384      # SSS_STATIC_CHUNK


def get(path):
    return f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(r"VmRSS:\s+(\d+) kB", f.read()).group(1))


async def basics(checks, d):
    srv = await Server(checks, flags=["--static", d, "--static-max-file", "4k"], echo=False,
                       name="static").start()
    r = await raw_http(srv, get("/small.bin"))
    checks.ok(r.status == 200 and len(r.body) == 4096, "a file of exactly --static-max-file is served")
    r = await raw_http(srv, get("/big.bin"))
    checks.eq(r.status, 404, "a file over --static-max-file: 404")
    r = await raw_http(srv, get("/"))
    checks.ok(r.status == 200 and r.body == b"<!doctype html><title>sss</title>"
              and "text/html" in (r.header("content-type") or ""), "GET / serves index.html", repr(r))
    csp = r.header("content-security-policy") or ""
    checks.ok("default-src 'self'" in csp and "frame-ancestors 'none'" in csp,
              "the answer carries the default Content-Security-Policy", csp)
    for path in ("/nope.js", "/../../etc/hostname", "/escape", "/%2e%2e/etc/passwd"):
        r = await raw_http(srv, get(path))
        checks.eq(r.status, 404, f"GET {path}: 404")
    for path in ("/.env", "/%2eenv", "/.git/config"):
        r = await raw_http(srv, get(path))
        checks.ok(r.status == 404 and b"SECRET" not in r.body and b"cfg" not in r.body,
                  f"GET {path}: a dotfile is 404 without --static-dotfiles", repr(r))
    # A FIFO opened for reading would wait for a writer: the worker must not.
    r = await raw_http(srv, get("/fifo"))
    checks.eq(r.status, 404, "GET of a FIFO: 404")
    r = await raw_http(srv, get("/small.bin"))
    checks.eq(r.status, 200, "the worker that met the FIFO still serves")
    ws = await ws_connect(srv.url)
    await ws.send(json.dumps({"sys": 3}))
    r = json.loads(await asyncio.wait_for(ws.recv(), T(20)))
    checks.eq(r.get("sys"), 3, "an upgrade on the same path is still a WebSocket")
    await ws.close()
    await srv.stop()
    srv = await Server(checks, flags=["--static", d, "--static-dotfiles", "--static-csp", ""],
                       echo=False, name="static-dotfiles").start()
    r = await raw_http(srv, get("/.env"))
    checks.ok(r.status == 200 and r.body == b"SECRET=1", "--static-dotfiles serves .env", repr(r))
    checks.ok(r.header("content-security-policy") is None, "--static-csp '': no policy header")
    await srv.stop()


async def not_reading(checks, d):
    """READERS clients ask for a BIG file and read nothing: the worker's memory
    grows by about a chunk each, not by the file (before: the whole file each)."""
    srv = await Server(checks, flags=["--static", d, "--api-listen", "127.0.0.1:0",
                                      "--handshake-timeout", "10m"],
                       workers=1, echo=False, name="static-slow").start()
    m = await srv.wait_log(r"api listening on 127\.0\.0\.1:(\d+)", timeout=T(30))
    port = int(m.group(1))
    pid = list(srv.worker_pids().values())[0]
    r = await raw_http(srv, get("/huge.bin"))
    checks.ok(r.status == 200 and len(r.body) == BIG and r.body == bytes(range(256)) * (BIG // 256),
              "a reading client gets the whole big file, byte for byte", f"{r.status} {len(r.body)}")
    base_in = await metric_sum(port, "sss_bytes_in_total")
    before = rss_kb(pid)
    socks, req = [], get("/huge.bin")
    loop = asyncio.get_running_loop()
    for _ in range(READERS):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.setblocking(False)
        await asyncio.wait_for(loop.sock_connect(s, ("127.0.0.1", srv.port)), T(20))
        await loop.sock_sendall(s, req)
        socks.append(s)
    # The controlled point: every request was received (and so answered: the
    # worker handles a request in the completion that counts its bytes), and
    # the bytes sent stopped moving (the sockets' buffers are full).
    deadline = time.monotonic() + T(60)
    while (await metric_sum(port, "sss_bytes_in_total")) < base_in + READERS * len(req):
        if time.monotonic() > deadline:
            break
        await asyncio.sleep(0.05)
    got_in = await metric_sum(port, "sss_bytes_in_total")
    checks.ok(got_in >= base_in + READERS * len(req), "the worker received every request",
              f"{got_in - base_in}")
    last = -1
    while time.monotonic() < deadline:
        out = await metric_sum(port, "sss_bytes_out_total")
        if out == last:
            break
        last = out
        await asyncio.sleep(0.2)
    grown = rss_kb(pid) - before
    checks.ok(grown < 24 * 1024,
              f"{READERS} clients not reading a {BIG >> 20} MiB file grow the worker by less than "
              f"24 MiB (a file each would be {READERS * BIG >> 20} MiB)", f"grew {grown} kB")
    for s in socks:
        s.close()
    await srv.stop()


async def test(checks):
    d = tempfile.mkdtemp(prefix="sss-static-")
    with open(os.path.join(d, "index.html"), "w") as f:
        f.write("<!doctype html><title>sss</title>")
    os.symlink("/etc/hostname", os.path.join(d, "escape"))
    with open(os.path.join(d, "big.bin"), "wb") as f:
        f.write(b"x" * 5000)
    with open(os.path.join(d, "small.bin"), "wb") as f:
        f.write(b"y" * 4096)
    with open(os.path.join(d, "huge.bin"), "wb") as f:
        f.write(bytes(range(256)) * (BIG // 256))
    with open(os.path.join(d, ".env"), "w") as f:
        f.write("SECRET=1")
    os.mkdir(os.path.join(d, ".git"))
    with open(os.path.join(d, ".git", "config"), "w") as f:
        f.write("cfg")
    os.mkfifo(os.path.join(d, "fifo"))
    await checks.section("basics", basics, checks, d)
    await checks.section("not reading", not_reading, checks, d)
    bad = Server(checks, flags=["--static", "/nonexistent/dir"], echo=False, name="static-bad")
    try:
        await bad.start()
        checks.fail("--static with a missing folder stops the server")
    except RuntimeError:
        checks.ok(bad.proc.returncode == 2, "--static with a missing folder: exit 2")
    plain = await Server(checks, echo=False, name="no-static").start()
    r = await raw_http(plain, get("/"))
    checks.eq(r.status, 426, "without --static a plain GET gets 426")
    await plain.stop()


if __name__ == "__main__":
    main(test, "test_static")
