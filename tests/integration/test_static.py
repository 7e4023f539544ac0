"""--static DIR: plain HTTP GETs on the WebSocket port get files from DIR
(404 for what is not there, nothing outside DIR), while upgrades on the same
path still become WebSockets; without --static a plain GET gets 426."""
import asyncio
import json
import os
import tempfile

from sss_harness import Server, main, raw_http, ws_connect, T


def get(path):
    return f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()


async def test(checks):
    d = tempfile.mkdtemp(prefix="sss-static-")
    with open(os.path.join(d, "index.html"), "w") as f:
        f.write("<!doctype html><title>sss</title>")
    os.symlink("/etc/hostname", os.path.join(d, "escape"))
    with open(os.path.join(d, "big.bin"), "wb") as f:
        f.write(b"x" * 5000)
    with open(os.path.join(d, "small.bin"), "wb") as f:
        f.write(b"y" * 4096)
    srv = await Server(checks, flags=["--static", d, "--static-max-file", "4k"], echo=False,
                       name="static").start()
    r = await raw_http(srv, get("/small.bin"))
    checks.ok(r.status == 200 and len(r.body) == 4096, "a file of exactly --static-max-file is served")
    r = await raw_http(srv, get("/big.bin"))
    checks.eq(r.status, 404, "a file over --static-max-file: 404")
    r = await raw_http(srv, get("/"))
    checks.ok(r.status == 200 and r.body == b"<!doctype html><title>sss</title>"
              and "text/html" in (r.header("content-type") or ""), "GET / serves index.html", repr(r))
    for path in ("/nope.js", "/../../etc/hostname", "/escape", "/%2e%2e/etc/passwd"):
        r = await raw_http(srv, get(path))
        checks.eq(r.status, 404, f"GET {path}: 404")
    ws = await ws_connect(srv.url)
    await ws.send(json.dumps({"sys": 3}))
    r = json.loads(await asyncio.wait_for(ws.recv(), T(20)))
    checks.eq(r.get("sys"), 3, "an upgrade on the same path is still a WebSocket")
    await ws.close()
    await srv.stop()
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
