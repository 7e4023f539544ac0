"""Echo mode against the real sss-server: text and binary messages of the
boundary sizes, fragmented messages, ping/pong, 500 concurrent connections
spread over both workers, the closing handshake."""
import asyncio
import re
import os
import random
import string
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sss_harness as h  # noqa: E402

MAX = 128 * 1024  # --max-message-size 128k
SIZES = [0, 1, 125, 126, 65535, 65536, MAX]


def text_of(n, seed):
    rnd = random.Random(seed)
    return "".join(rnd.choice(string.ascii_letters + string.digits) for _ in range(n))


async def sizes(c, srv):
    async with h.ws_connect(srv) as ws:
        for n in SIZES:
            t = text_of(n, n)
            await ws.send(t)
            got = await asyncio.wait_for(ws.recv(), h.T(30))
            c.ok(isinstance(got, str) and got == t, f"text echo of {n} bytes",
                 f"got {type(got).__name__} len={len(got)}")
            b = os.urandom(n)
            await ws.send(b)
            got = await asyncio.wait_for(ws.recv(), h.T(30))
            c.ok(isinstance(got, bytes) and got == b, f"binary echo of {n} bytes",
                 f"got {type(got).__name__} len={len(got)}")
        u = "héllo wörld ✓ 🎉 \u0000 end"
        await ws.send(u)
        c.eq(await asyncio.wait_for(ws.recv(), h.T(30)), u, "multi-byte UTF-8 text echo")
        # Several messages in flight at once come back in order.
        msgs = [f"m{i}" for i in range(50)]
        for m in msgs:
            await ws.send(m)
        got = [await asyncio.wait_for(ws.recv(), h.T(30)) for _ in msgs]
        c.eq(got, msgs, "50 pipelined messages echoed in order")


async def raw_frames(c, srv):
    """The exact frames the server sends: same opcode, FIN, unmasked."""
    rc = await h.RawClient.upgrade(srv)
    try:
        for op in (h.OP_TEXT, h.OP_BINARY):
            for n in (0, 125, 126, 65535, 65536, MAX):
                p = text_of(n, 7).encode() if op == h.OP_TEXT else os.urandom(n)
                await rc.send_frame(op, p)
                f = await rc.read_frame(30)
                c.ok(f.fin and f.op == op and not f.masked and f.rsv == 0 and f.payload == p,
                     f"raw op {op} {n} bytes: one unmasked FIN frame, same opcode and payload", repr(f))
    finally:
        rc.close()


async def fragments(c, srv):
    rc = await h.RawClient.upgrade(srv)
    try:
        await rc.send_frame(h.OP_TEXT, b"Hel", fin=False)
        await rc.send_frame(h.OP_CONT, b"lo, ", fin=False)
        await rc.send_frame(h.OP_CONT, b"", fin=False)
        await rc.send_frame(h.OP_CONT, b"world", fin=True)
        f = await rc.read_frame()
        c.ok(f.fin and f.op == h.OP_TEXT and f.payload == b"Hello, world",
             "text in 4 fragments (one empty) echoed as one text message", repr(f))

        # Binary in 3 fragments with a ping between them: pong first, then the message.
        parts = [os.urandom(1000), os.urandom(70000), os.urandom(5)]
        await rc.send_frame(h.OP_BINARY, parts[0], fin=False)
        await rc.send_frame(h.OP_PING, b"mid")
        await rc.send_frame(h.OP_CONT, parts[1], fin=False)
        await rc.send_frame(h.OP_CONT, parts[2], fin=True)
        f1 = await rc.read_frame()
        c.ok(f1.op == h.OP_PONG and f1.payload == b"mid", "ping between fragments answered by pong", repr(f1))
        f2 = await rc.read_frame()
        c.ok(f2.fin and f2.op == h.OP_BINARY and f2.payload == b"".join(parts),
             "binary in 3 fragments (71005 bytes) echoed as one binary message", repr(f2))

        # A multi-byte character split across fragments is valid UTF-8.
        await rc.send_frame(h.OP_TEXT, b"ab\xc3", fin=False)
        await rc.send_frame(h.OP_CONT, b"\xa9cd\xf0\x9f", fin=False)
        await rc.send_frame(h.OP_CONT, b"\x8e\x89!", fin=True)
        f = await rc.read_frame()
        c.ok(f.op == h.OP_TEXT and f.payload == "abécd🎉!".encode(),
             "UTF-8 characters split across fragments accepted and echoed", repr(f))

        # Fragments adding up to exactly the limit.
        p = os.urandom(MAX)
        await rc.send_frame(h.OP_BINARY, p[: MAX // 2], fin=False)
        await rc.send_frame(h.OP_CONT, p[MAX // 2:], fin=True)
        f = await rc.read_frame(30)
        c.ok(f.op == h.OP_BINARY and f.payload == p, f"fragments totalling exactly {MAX} bytes echoed", repr(f))
    finally:
        rc.close()


async def pings(c, srv):
    rc = await h.RawClient.upgrade(srv)
    try:
        for p in (b"", b"ping-123", bytes(range(125))):
            await rc.send_frame(h.OP_PING, p)
            f = await rc.read_frame()
            c.ok(f.op == h.OP_PONG and f.fin and f.payload == p and not f.masked,
                 f"ping with {len(p)} bytes gets a pong with the same payload", repr(f))
        # An unsolicited pong is ignored; the connection still echoes.
        await rc.send_frame(h.OP_PONG, b"unsolicited")
        await rc.send_frame(h.OP_TEXT, b"after pong")
        f = await rc.read_frame()
        c.ok(f.op == h.OP_TEXT and f.payload == b"after pong", "unsolicited pong ignored", repr(f))
    finally:
        rc.close()
    async with h.ws_connect(srv) as ws:
        waiter = await ws.ping(b"lib-ping")
        await asyncio.wait_for(waiter, h.T(20))
        c.ok(True, "websockets ping() answered")


async def many(c, srv, n=500, per=5):
    start_line = len(srv.log_lines())
    sem = asyncio.Semaphore(50)
    conns = []

    async def open_one(i):
        async with sem:
            return await h.ws_connect(srv)

    conns = await h.gather_ok(c, (open_one(i) for i in range(n)), f"{n} concurrent connections opened",
                              "open error")

    async def talk(i, ws):
        for j in range(per):
            m = f"client {i} message {j} " + "x" * (i % 300)
            await ws.send(m if j % 2 == 0 else m.encode())
            got = await asyncio.wait_for(ws.recv(), h.T(60))
            if got != (m if j % 2 == 0 else m.encode()):
                return False
        return True

    ok = await asyncio.gather(*(talk(i, ws) for i, ws in enumerate(conns)), return_exceptions=True)
    good = sum(1 for r in ok if r is True)
    c.eq(good, n, f"all {n} connections echoed {per} messages each while all were open")
    bad = [r for r in ok if r is not True]
    if bad:
        h.log(f"# first talk failure: {bad[0]!r}")
    await asyncio.gather(*(ws.close() for ws in conns), return_exceptions=True)

    by_role = srv.upgrades_by_role(start_line)
    h.log(f"# 'upgraded' lines per worker: {by_role}")
    c.eq(sum(by_role.values()), n, f"one 'upgraded' debug line per connection ({n})")
    c.eq(len(by_role), srv.workers, f"connections spread over all {srv.workers} workers")


async def closing(c, srv):
    async with h.ws_connect(srv) as ws:
        await ws.send("hi")
        await asyncio.wait_for(ws.recv(), h.T(20))
        await ws.close(1000, "bye")
        c.eq(ws.close_code, 1000, "websockets close(1000): the server's close frame carries 1000")

    rc = await h.RawClient.upgrade(srv)
    try:
        await rc.send_frame(h.OP_CLOSE, h.close_payload(1000, b"done"))
        f = await rc.read_frame()
        c.ok(f.op == h.OP_CLOSE and f.close_code == 1000 and not f.masked,
             "raw close 1000 answered by close 1000", repr(f))
        c.ok(await rc.at_eof(), "server closes the TCP connection after the closing handshake")
    finally:
        rc.close()


async def browser_origin(c, srv):
    """Regression: an Origin header (every browser sends one) with no
    --allowed-origins list crashed the worker."""
    async with h.ws_connect(srv, origin="http://localhost:8080") as ws:
        await ws.send("from a browser")
        got = await asyncio.wait_for(ws.recv(), h.T(20))
        c.eq(got, "from a browser", "a client sending Origin is served when no list is set")
    c.ok(not re.search(r"worker \d+ exited", srv.log()), "no worker died")


async def run(c):
    srv = h.Server(c, ["--max-message-size", "128k", "--log-level", "debug"], name="echo server")
    await srv.start()
    await c.sections((c, srv), [("sizes", sizes), ("raw frames", raw_frames), ("fragments", fragments),
                                ("ping", pings), ("500 concurrent connections", many),
                                ("closing handshake", closing), ("Origin without a list", browser_origin)])
    await h.check_good_client(c, srv, "server still echoes at the end")
    await srv.stop()


if __name__ == "__main__":
    h.main(run, "test_echo")
