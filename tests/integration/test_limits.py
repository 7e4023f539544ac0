"""Every limit of sss-server crossed, with the exact HTTP status or close
code; after each bad client, a good client is still served. Also the
configuration surface: bad flags exit 2, --help, SSS_* environment."""
import asyncio
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sss_harness as h  # noqa: E402

MAX = 64 * 1024        # --max-message-size 64k
SENDQ = 64 * 1024      # --max-send-queue 64k
PATH = "/ws"


async def expect_close(c, srv, what, frames, code):
    """Send raw `frames` [(op, payload, fin)] on a new connection; expect close `code`, then TCP close."""
    rc = await h.RawClient.upgrade(srv)
    try:
        try:
            for op, payload, fin in frames:
                await rc.send_frame(op, payload, fin=fin)
        except ConnectionError:
            pass  # the server may close before reading all of it: its close frame is what counts
        f, skipped = await rc.read_until_close()
        c.ok(f is not None and f.close_code == code, f"{what}: close {code}",
             f"got {f!r} after {skipped[:3]!r}")
        c.ok(await rc.at_eof(), f"{what}: server then closes the TCP connection")
    finally:
        rc.close()
    await h.check_good_client(c, srv, f"after {what}: a good client still echoes")


async def message_limits(c, srv):
    await expect_close(c, srv, f"binary of {MAX + 1} bytes", [(h.OP_BINARY, os.urandom(MAX + 1), True)], 1009)
    await expect_close(c, srv, f"text of {MAX + 1} bytes", [(h.OP_TEXT, b"a" * (MAX + 1), True)], 1009)
    half = MAX // 2
    await expect_close(c, srv, f"fragments totalling {MAX + 1} bytes",
                       [(h.OP_BINARY, b"x" * half, False), (h.OP_CONT, b"y" * (half + 1), True)], 1009)
    # With websockets: the library sees the same close code.
    async with h.ws_connect(srv) as ws:
        await ws.send(b"z" * (MAX + 1))
        c.eq(await h.ws_close_code(ws), 1009, "websockets client: oversize message closed with 1009")
    # Exactly the limit still passes.
    async with h.ws_connect(srv) as ws:
        p = os.urandom(MAX)
        await ws.send(p)
        c.eq(await asyncio.wait_for(ws.recv(), h.T(20)), p, f"exactly {MAX} bytes still echoed")


async def utf8(c, srv):
    await expect_close(c, srv, "text with invalid UTF-8 (ff fe)", [(h.OP_TEXT, b"ok\xff\xfe", True)], 1007)
    await expect_close(c, srv, "text with an overlong encoding (c0 af)", [(h.OP_TEXT, b"\xc0\xaf", True)], 1007)
    await expect_close(c, srv, "text with a UTF-16 surrogate (ed a0 80)", [(h.OP_TEXT, b"\xed\xa0\x80", True)], 1007)
    await expect_close(c, srv, "invalid UTF-8 across fragments (c3 | 28)",
                       [(h.OP_TEXT, b"ab\xc3", False), (h.OP_CONT, b"\x28cd", True)], 1007)
    await expect_close(c, srv, "text ending in a truncated character (e2 82 | end)",
                       [(h.OP_TEXT, b"ab", False), (h.OP_CONT, b"\xe2\x82", True)], 1007)
    # Binary messages are not UTF-8 checked.
    async with h.ws_connect(srv) as ws:
        await ws.send(b"\xff\xfe\xc0")
        c.eq(await asyncio.wait_for(ws.recv(), h.T(20)), b"\xff\xfe\xc0", "binary with invalid UTF-8 bytes echoed")


async def http_statuses(c, srv):
    # 426: wrong or missing version, with Sec-WebSocket-Version: 13.
    for what, req in (("version 8", h.upgrade_request(PATH, version="8")),
                      ("no version", h.upgrade_request(PATH, omit=["Sec-WebSocket-Version"]))):
        r = await h.raw_http(srv, req)
        c.eq(r.status, 426, f"upgrade with {what}: 426")
        c.eq(r.header("Sec-WebSocket-Version"), "13", f"upgrade with {what}: header Sec-WebSocket-Version: 13")
        await h.check_good_client(c, srv, f"after {what}: a good client still echoes")
    r = await h.raw_http(srv, h.upgrade_request(PATH, method="POST", extra=[("Content-Length", "0")]))
    c.eq(r.status, 405, "POST upgrade: 405")
    r = await h.raw_http(srv, h.upgrade_request("/nope"))
    c.eq(r.status, 404, "upgrade on a wrong path: 404")
    r = await h.raw_http(srv, h.upgrade_request(PATH, omit=["Sec-WebSocket-Key"]))
    c.eq(r.status, 400, "upgrade without Sec-WebSocket-Key: 400")
    ctype = (r.header("Content-Type") or "").split(";")[0].strip().lower()
    c.eq(ctype, "text/plain", "400: Content-Type text/plain")
    body = r.body.decode("utf-8", "replace")
    c.ok(body.strip() and "\n" not in body.strip(), "400: a one-line reason in the body", repr(body))
    r = await h.raw_http(srv, b"BLAH\r\n\r\n")
    c.eq(r.status, 400, "garbage request line: 400")
    # 431: headers over --max-handshake-size 1k.
    r = await h.raw_http(srv, h.upgrade_request(PATH, extra=[("X-Pad", "p" * 2000)]))
    c.eq(r.status, 431, "upgrade with 2000-byte header over a 1k limit: 431")
    await h.check_good_client(c, srv, "after the bad upgrades: a good client still echoes")
    # A request just under the limit is accepted.
    rc = await h.RawClient.upgrade(srv, extra=[("X-Pad", "p" * 500)])
    await rc.send_frame(h.OP_TEXT, b"padded")
    f = await rc.read_frame()
    c.ok(f.op == h.OP_TEXT and f.payload == b"padded", "upgrade with ~700 bytes of headers under a 1k limit: 101", repr(f))
    rc.close()


async def handshake_timeout(c, srv):
    rc = await h.RawClient.connect(srv.port)
    rc.send(b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n")  # never finished
    await rc.drain()
    c.ok(await rc.at_eof(timeout=30), "unfinished upgrade request: connection closed by the server")
    rc.close()
    rc = await h.RawClient.connect(srv.port)  # sends nothing at all
    c.ok(await rc.at_eof(timeout=30), "silent new connection: closed by the server")
    rc.close()
    await h.check_good_client(c, srv, "after handshake timeouts: a good client still echoes")


async def send_queue(c, srv, rounds=3):
    """A client that never reads while the server queues more than --max-send-queue for it."""
    for i in range(rounds):
        rc = await h.RawClient.upgrade(srv, rcvbuf=4096)
        msg = os.urandom(60000)
        sent = 0
        try:
            for _ in range(600):  # at most 36 MB
                rc.send(h.encode_frame(h.OP_BINARY, msg))
                await asyncio.wait_for(rc.w.drain(), h.T(3))
                sent += 1
        except (asyncio.TimeoutError, ConnectionError):
            pass  # the server stopped reading or closed: either way, now read
        f, skipped = await rc.read_until_close(timeout=60)
        h.log(f"# round {i}: sent {sent} messages of 60000 bytes without reading, "
              f"then read {len(skipped)} echoes and {f!r}")
        c.ok(f is not None and f.close_code == 4008, f"slow reader {i}: close 4008",
             f"got {f!r} after {len(skipped)} data frames")
        data = [s for s in skipped if s.op not in (h.OP_PING, h.OP_PONG)]
        bad = [k for k, s in enumerate(data) if s.op != h.OP_BINARY or not s.fin or s.payload != msg]
        c.ok(not bad, f"slow reader {i}: every frame before the close is an intact echo",
             f"{len(bad)} bad, first #{bad[:1]}: {data[bad[0]] if bad else ''!r}")
        c.ok(await rc.at_eof(), f"slow reader {i}: then the TCP connection is closed")
        rc.close()
        await h.check_good_client(c, srv, f"after slow reader {i}: a good client still echoes")


async def max_connections(c):
    srv = await h.Server(c, ["--max-connections", "3"], name="max-connections server").start()
    held = []
    try:
        for i in range(3):
            held.append(await h.open_retry(srv))
        c.eq(len(held), 3, "3 connections under --max-connections 3")
        r = await h.raw_http(srv, h.upgrade_request("/"))
        c.eq(r.status, 503, "the 4th upgrade: 503")
        from websockets.exceptions import InvalidStatus
        try:
            ws = await h.ws_connect(srv)
            await ws.close()
            c.fail("websockets: the 4th connection refused", "it opened")
        except InvalidStatus as e:
            c.eq(e.response.status_code, 503, "websockets: the 4th connection gets 503")
        for ws in held:  # the ones held still work
            await ws.send("held")
            c.eq(await asyncio.wait_for(ws.recv(), h.T(20)), "held", "a held connection still echoes")
        await held.pop().close()
        ws = await h.open_retry(srv, timeout=30)
        held.append(ws)
        await ws.send("new")
        c.eq(await asyncio.wait_for(ws.recv(), h.T(20)), "new", "after closing one, a new connection succeeds")
        r = await h.raw_http(srv, h.upgrade_request("/"))
        c.eq(r.status, 503, "at the limit again: 503")
    finally:
        for ws in held:
            await ws.close()
    await srv.stop()


async def origins(c):
    srv = await h.Server(c, ["--allowed-origins", "http://a.example,http://b.example"],
                         origin="http://b.example", name="origins server").start()
    r = await h.raw_http(srv, h.upgrade_request("/", origin="http://evil.example"))
    c.eq(r.status, 403, "Origin http://evil.example: 403")
    r = await h.raw_http(srv, h.upgrade_request("/", origin="http://a.example.evil"))
    c.eq(r.status, 403, "Origin http://a.example.evil (prefix match): 403")
    from websockets.exceptions import InvalidStatus
    try:
        ws = await h.ws_connect(srv, origin="http://c.example")
        await ws.close()
        c.fail("websockets with Origin http://c.example refused", "it opened")
    except InvalidStatus as e:
        c.eq(e.response.status_code, 403, "websockets with Origin http://c.example: 403")
    for o in ("http://a.example", "http://b.example"):
        async with h.ws_connect(srv, origin=o) as ws:
            await ws.send(o)
            c.eq(await asyncio.wait_for(ws.recv(), h.T(20)), o, f"allowed Origin {o}: connects and echoes")
    await srv.stop()


async def idle(c):
    srv = await h.Server(c, ["--idle-timeout", "2s", "--ping-interval", "500ms"], name="idle server").start()
    rc = await h.RawClient.upgrade(srv)
    await rc.send_frame(h.OP_TEXT, b"one message, then silence")
    f = await rc.read_frame()
    c.ok(f.op == h.OP_TEXT, "idle client: first message echoed", repr(f))
    f, skipped = await rc.read_until_close(timeout=30)
    pings = [s for s in skipped if s.op == h.OP_PING]
    c.ok(pings, "silent client: the server sent a ping first", f"frames before the close: {skipped!r}")
    c.ok(f is not None and f.close_code == 1001, "silent client past --idle-timeout: close 1001", repr(f))
    c.ok(await rc.at_eof(), "silent client: then the TCP connection is closed")
    rc.close()
    # A client that answers pings (websockets does, by itself) is not idle.
    async with h.ws_connect(srv) as ws:
        await asyncio.sleep(5)  # 2.5 x --idle-timeout, answering the server's pings only
        await ws.send("still alive")
        got = await asyncio.wait_for(ws.recv(), h.T(20))
        c.eq(got, "still alive", "client answering pings stays connected past --idle-timeout")
    await h.check_good_client(c, srv, "after the idle client: a good client still echoes")
    await srv.stop()


def run_binary(args, env=None, timeout=20):
    e = {k: v for k, v in os.environ.items() if not k.startswith("SSS_")}
    e.update(env or {})
    try:
        p = subprocess.run([h.server_binary()] + args, env=e, capture_output=True, timeout=h.T(timeout),
                           stdin=subprocess.DEVNULL)
        return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")
    except subprocess.TimeoutExpired as x:
        return None, (x.stdout or b"").decode("utf-8", "replace"), (x.stderr or b"").decode("utf-8", "replace")


async def bad_config(c):
    base = ["--host", "127.0.0.1", "--port", "0", "--workers", "1", "--echo"]
    cases = [
        (["--port", "abc"], {}),
        (["--port", "70000"], {}),
        (["--max-message-size", "12q"], {}),
        (["--handshake-timeout", "5x"], {}),
        (["--workers", "-1"], {}),
        (["--log-level", "loud"], {}),
        (["--no-such-flag"], {}),
        (["--max-connections"], {}),  # missing value
        ([], {"SSS_PORT": "abc"}),
        ([], {"SSS_MAX_MESSAGE_SIZE": "12q"}),
    ]
    for extra, env in cases:
        # Bad flags come after the good ones: the server must not start.
        args = base + extra
        what = " ".join(extra) or " ".join(f"{k}={v}" for k, v in env.items())
        rc, out, err = run_binary(args, env)
        lines = [l for l in err.splitlines() if l.strip()]
        c.eq(rc, 2, f"bad config '{what}': exit status 2")
        c.ok(len(lines) == 1, f"bad config '{what}': one line on stderr", repr(err[:300]))
    # What the scaler needs is checked before anything starts (not in --echo).
    scaler = ["--host", "127.0.0.1", "--port", "0", "--workers", "1"]
    for extra in (["--engine", "kafka"], ["--store", "nosql"], ["--redis", "http://127.0.0.1:6379"],
                  ["--engine", "redis", "--redis", "redis://127.0.0.1:notaport/0"],
                  ["--engine", "redis", "--redis", "redis://no-such-host.invalid:6379/0"],
                  ["--mongo", "postgres://x"],
                  ["--store", "mongodb", "--mongo", "mongodb://"]):
        what = " ".join(extra)
        rc, out, err = run_binary(scaler + extra)
        lines = [l for l in err.splitlines() if l.strip()]
        c.eq(rc, 2, f"bad config '{what}': exit status 2")
        c.ok(len(lines) == 1 and "sss-server:" in lines[0],
             f"bad config '{what}': one line on stderr", repr(err[:300]))
    rc, out, err = run_binary(["--help"])
    c.eq(rc, 0, "--help: exit status 0")
    flags = ["host", "port", "workers", "path", "echo", "max-connections", "handshake-timeout",
             "max-handshake-size", "allowed-origins", "max-message-size", "max-send-queue",
             "idle-timeout", "ping-interval", "drain-timeout", "log-level"]
    missing = [f for f in flags if f"--{f}" not in out]
    c.ok(not missing, "--help lists every flag", f"missing {missing}")
    missing = [f for f in flags if "SSS_" + f.upper().replace("-", "_") not in out]
    c.ok(not missing, "--help names every SSS_* variable", f"missing {missing}")
    c.ok(out.count("default") >= len(flags), "--help gives a default for every flag", out[:300])


async def env_config(c):
    srv = await h.Server(c, [], env={"SSS_MAX_MESSAGE_SIZE": "100"}, name="env server").start()
    async with h.ws_connect(srv) as ws:
        await ws.send(b"e" * 100)
        c.eq(await asyncio.wait_for(ws.recv(), h.T(20)), b"e" * 100, "SSS_MAX_MESSAGE_SIZE=100: 100 bytes echoed")
        await ws.send(b"e" * 101)
        c.eq(await h.ws_close_code(ws), 1009, "SSS_MAX_MESSAGE_SIZE=100: 101 bytes closed with 1009")
    await srv.stop()
    srv = await h.Server(c, ["--max-message-size", "200"], env={"SSS_MAX_MESSAGE_SIZE": "100"},
                         name="env+flag server").start()
    async with h.ws_connect(srv) as ws:
        await ws.send(b"f" * 200)
        c.eq(await asyncio.wait_for(ws.recv(), h.T(20)), b"f" * 200,
             "SSS_MAX_MESSAGE_SIZE=100 with --max-message-size 200: the flag wins (200 echoed)")
        await ws.send(b"f" * 201)
        c.eq(await h.ws_close_code(ws), 1009, "flag 200 over env 100: 201 bytes closed with 1009")
    await srv.stop()
    srv = await h.Server(c, [], env={"SSS_PATH": PATH}, path=PATH, name="SSS_PATH server").start()
    await h.check_good_client(c, srv, f"SSS_PATH={PATH}: a client on {PATH} echoes")
    r = await h.raw_http(srv, h.upgrade_request("/"))
    c.eq(r.status, 404, f"SSS_PATH={PATH}: upgrade on / gets 404")
    await srv.stop()


async def run(c):
    srv = h.Server(c, ["--path", PATH, "--max-message-size", "64k", "--max-handshake-size", "1k",
                       "--handshake-timeout", "2s", "--max-send-queue", "64k"],
                   path=PATH, name="limits server")
    await srv.start()
    await c.sections((c, srv), [("message size", message_limits), ("UTF-8", utf8),
                                ("HTTP statuses", http_statuses), ("handshake timeout", handshake_timeout),
                                ("send queue", send_queue)])
    await h.check_good_client(c, srv, "limits server still echoes at the end")
    await srv.stop()
    await c.sections((c,), [("max connections", max_connections), ("origins", origins),
                            ("idle timeout", idle), ("bad configuration", bad_config),
                            ("environment", env_config)])


if __name__ == "__main__":
    h.main(run, "test_limits")
