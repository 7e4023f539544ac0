"""Browser safety (issue 18, item 5): no web page can drive the HTTP API or
open an authenticated socket with its visitor's cookie.

The attacks (main at ec8b61b): without --api-key, a `text/plain` POST with
`Origin: https://evil.example` published; with --jwt-secret, the `token`
cookie was read and any Origin allowed, so any site could open a socket as
its visitor. Now:
- the API answers a request whose Origin is not in --api-allowed-origins
  with 403, and a POST that is not `Content-Type: application/json` with 415
  (what a page may send cross-site without a CORS preflight);
- --api-listen without --api-key is refused at start unless the address is
  loopback;
- the JWT is read from a cookie only when --jwt-cookie names it, and then
  the server refuses to start without --allowed-origins (or
  --allow-any-origin); with a list, another Origin gets 403.
"""
import base64
import hashlib
import hmac
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sss_harness as h  # noqa: E402

SECRET = "browser-test-secret-of-32-bytes-or-more"
APP = "https://app.example"
EVIL = "https://evil.example"


def token(sub):
    def b64(b):
        return base64.urlsafe_b64encode(b).rstrip(b"=").decode()

    head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = b64(json.dumps({"sub": sub, "exp": int(time.time()) + 600}).encode())
    sig = b64(hmac.new(SECRET.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest())
    return f"{head}.{body}.{sig}"


def post(path, body, ctype="application/json", origin=None, method="POST"):
    body = body.encode()
    hs = [("Host", "127.0.0.1"), ("Connection", "close"), ("Content-Length", str(len(body)))]
    if ctype:
        hs.append(("Content-Type", ctype))
    if origin:
        hs.append(("Origin", origin))
    head = f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in hs) + "\r\n"
    return head.encode() + body


async def api_req(port, raw):
    c = await h.RawClient.connect(port)
    try:
        c.send(raw)
        await c.drain()
        return await c.read_http()
    finally:
        c.close()


def start_fails(flags):
    """Run sss-server with flags; (exit status, stderr) when it refuses to start."""
    argv = [h.server_binary(), "--host", "127.0.0.1", "--port", "0", "--workers", "1"] + flags
    env = {k: v for k, v in os.environ.items() if not k.startswith("SSS_")}
    try:
        p = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, env=env,
                           timeout=h.T(20))
    except subprocess.TimeoutExpired as e:
        return None, (e.stderr or b"").decode(errors="replace") + " (still running: it started)"
    return p.returncode, p.stderr.decode(errors="replace")


async def api_cross_site(c):
    """The open API (loopback, no key) refuses what a web page can send."""
    srv = await h.Server(c, flags=["--api-listen", "127.0.0.1:0",
                                   "--api-allowed-origins", "https://ops.example"],
                         workers=1, echo=False, name="open-api").start()
    m = await srv.wait_log(r"api listening on 127\.0\.0\.1:(\d+)", timeout=20)
    if not c.ok(m, "the open API listens on loopback"):
        await srv.stop()
        return
    port = int(m.group(1))
    sub = await h.begun(srv)
    await sub.send(json.dumps({"sys": 1, "channel": "news", "id": 1}))
    await h.rx(sub, heartbeats=True)
    evil = '{"channel":"news","topic":"t","msg":"from evil"}'
    r = await api_req(port, post("/api/publish", evil, "text/plain", EVIL))
    c.eq(r.status, 403, "the issue's text/plain POST from Origin evil.example: 403")
    c.ok("origin" in r.body.decode(), "... saying why", repr(r.body))
    r = await api_req(port, post("/api/publish", evil, "application/json", EVIL))
    c.eq(r.status, 403, "a JSON POST from an Origin not in --api-allowed-origins: 403")
    for ctype in ("text/plain", "application/x-www-form-urlencoded", None):
        r = await api_req(port, post("/api/publish", evil, ctype))
        c.eq(r.status, 415, f"a POST with Content-Type {ctype}: 415")
    r = await api_req(port, post("/api/stats", "", None, EVIL, method="GET"))
    c.eq(r.status, 403, "GET /api/stats from Origin evil.example: 403")
    r = await api_req(port, post("/api/publish", '{"channel":"news","topic":"t","msg":"ops"}',
                                 "application/json; charset=utf-8", "https://ops.example"))
    c.eq(r.status, 200, "a JSON POST from a listed Origin: 200")
    r = await api_req(port, post("/api/publish", '{"channel":"news","topic":"t","msg":"tool"}'))
    c.eq(r.status, 200, "a JSON POST with no Origin (curl, a backend): 200")
    got = [await h.rx(sub, heartbeats=True) for _ in range(2)]
    c.eq([g.get("msg") for g in got], ["ops", "tool"], "the subscriber got only the two allowed")
    await sub.close()
    await srv.stop()


async def api_needs_key_off_loopback(c):
    for spec in ("0.0.0.0:0", ":0", "[::]:0"):
        st, err = start_fails(["--api-listen", spec])
        c.eq(st, 2, f"--api-listen {spec} without --api-key: refused at start (status 2)")
        c.ok("--api-key" in err and "loopback" in err, "... with the reason", err.strip())


async def jwt_cookie(c):
    good = token("alice")
    # Without --jwt-cookie the cookie is not read: a cookie-only token is "missing".
    srv = await h.Server(c, flags=["--jwt-secret", SECRET], workers=1, echo=False,
                         name="no-cookie").start()
    r = await h.raw_http(srv, h.upgrade_request(origin=EVIL, extra=[("Cookie", "token=" + good)]))
    c.eq((r.status, r.body.decode().strip()), (401, "missing token"),
         "the issue's cross-site upgrade with the token cookie: 401 (cookie not read by default)")
    r = await h.raw_http(srv, h.upgrade_request(path="/?token=" + good))
    c.eq(r.status, 101, "the same token in ?token=: 101")
    await srv.stop()

    st, err = start_fails(["--jwt-secret", SECRET, "--jwt-cookie", "token"])
    c.eq(st, 2, "--jwt-cookie without --allowed-origins: refused at start (status 2)")
    c.ok("--allowed-origins" in err and "--allow-any-origin" in err, "... with the reason",
         err.strip())

    srv = await h.Server(c, flags=["--jwt-secret", SECRET, "--jwt-cookie", "token",
                                   "--allowed-origins", APP], workers=1, echo=False,
                         name="cookie").start()
    r = await h.raw_http(srv, h.upgrade_request(origin=EVIL, extra=[("Cookie", "token=" + good)]))
    c.eq(r.status, 403, "--jwt-cookie with --allowed-origins: the cookie from evil.example: 403")
    ws = await h.ws_connect(srv, origin=APP, additional_headers={"Cookie": "token=" + good})
    await ws.send(json.dumps({"sys": 3}))
    b = await h.rx(ws, heartbeats=True)
    c.eq(b.get("channel"), "_u_alice", "... from the listed Origin: the cookie names the user")
    await ws.close()
    await srv.stop()

    srv = await h.Server(c, flags=["--jwt-secret", SECRET, "--jwt-cookie", "token",
                                   "--allow-any-origin"], workers=1, echo=False,
                         name="any-origin").start()
    r = await h.raw_http(srv, h.upgrade_request(origin=EVIL, extra=[("Cookie", "token=" + good)]))
    c.eq(r.status, 101, "--allow-any-origin: the operator's choice, any Origin with the cookie")
    await srv.stop()


async def run(c):
    await c.sections((c,), [
        ("the API refuses cross-site requests", api_cross_site),
        ("an open API only on loopback", api_needs_key_off_loopback),
        ("the JWT cookie", jwt_cookie),
    ])


if __name__ == "__main__":
    h.main(run, "test_browser")
