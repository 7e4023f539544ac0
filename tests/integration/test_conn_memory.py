"""What an idle connection holds (issue 12): wslay's context (about 8.5 KB)
exists only while a frame is part-read or a fragmented message is open, so
begun and subscribed clients hold none, during a connection storm as well
as after it. Read from the sss_ws_contexts gauge of /metrics; every wait
is for a state the server reports, never for a time."""
import asyncio
import json
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sss_harness as h  # noqa: E402

N = 40  # clients begun and subscribed at once


async def metric(api_port, name):
    """Sum over the workers of one /metrics sample."""
    c = await h.RawClient.connect(api_port)
    try:
        c.send(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        await c.drain()
        r = await c.read_http()
    finally:
        c.close()
    total = None  # no sample: a server without the gauge fails every check
    for line in r.body.decode().splitlines():
        m = re.match(r"^%s(\{[^}]*\})? (\S+)$" % re.escape(name), line)
        if m:
            total = (total or 0) + float(m.group(2))
    return total


async def wait_metric(api_port, name, want, timeout=20):
    """Poll until the gauge reads want; the last value read."""
    deadline = time.monotonic() + h.T(timeout)
    while True:
        v = await metric(api_port, name)
        if v == want or time.monotonic() > deadline:
            return v
        await asyncio.sleep(0.02)


async def reply(ws, sys_code, want_id=None):
    """Frames until the reply of that sys (and id) (heartbeats and others skipped)."""
    while True:
        f = await ws.read_frame()
        if f.op == h.OP_TEXT and f.payload != b"h":
            m = json.loads(f.payload)
            if m.get("sys") == sys_code and m.get("id") == want_id:
                return m


async def begun_subscribed(srv, i):
    ws = await h.RawClient.upgrade(srv)
    await ws.send_frame(h.OP_TEXT, json.dumps({"sys": 3}).encode())
    await reply(ws, 3)
    sub = {"sys": 1, "id": 2, "channel": f"room-{i % 7}"}
    await ws.send_frame(h.OP_TEXT, json.dumps(sub).encode())
    await reply(ws, 1, 2)
    return ws


async def storm(c, srv, api):
    clients = await asyncio.gather(*(begun_subscribed(srv, i) for i in range(N)))
    c.eq(await metric(api, "sss_websockets"), N, "every client is upgraded")
    # Each client's SUBSCRIBE reply came after the server read its whole frame:
    # no context may be left, with no second of silence needed.
    c.eq(await metric(api, "sss_ws_contexts"), 0,
         f"{N} begun and subscribed clients hold no wslay context")
    return clients


async def partial_frames(c, srv, api, ws):
    sub = h.encode_frame(h.OP_TEXT, json.dumps({"sys": 1, "id": 3, "channel": "part"}).encode())
    ws.send(sub[:5])  # the header and one byte of the mask: a frame part-read
    await ws.drain()
    c.eq(await wait_metric(api, "sss_ws_contexts", 1), 1, "a part-read frame holds one context")
    ws.send(sub[5:])
    await ws.drain()
    await reply(ws, 1, 3)
    c.eq(await metric(api, "sss_ws_contexts"), 0, "the rest of the frame: the context is given up")

    # A fragmented message: whole frames, but the message is open between them.
    body = json.dumps({"sys": 1, "id": 4, "channel": "frag"}).encode()
    ws.send(h.encode_frame(h.OP_TEXT, body[:10], fin=False))
    await ws.drain()
    c.eq(await wait_metric(api, "sss_ws_contexts", 1), 1,
         "an open fragmented message holds one context")
    ws.send(h.encode_frame(h.OP_CONT, body[10:], fin=True))
    await ws.drain()
    await reply(ws, 1, 4)
    c.eq(await metric(api, "sss_ws_contexts"), 0, "its last fragment: the context is given up")

    # A ping gets wslay's pong, and nothing is kept after it.
    await ws.send_frame(h.OP_PING, b"p1")
    f = await ws.read_frame()
    while f.op == h.OP_TEXT:
        f = await ws.read_frame()
    c.ok(f.op == h.OP_PONG and f.payload == b"p1", "a ping is answered with its pong", repr(f))
    c.eq(await metric(api, "sss_ws_contexts"), 0, "after the pong no context is held")


async def closes(c, srv, api, clients):
    # A close frame makes a fresh context for the closing handshake: answered, then gone.
    for ws in clients:
        await ws.send_frame(h.OP_CLOSE, h.close_payload(1000))
        f, _ = await ws.read_until_close()
        if not c.ok(f is not None and f.close_code == 1000, "an idle client's close is answered",
                    repr(f)):
            break
        ws.close()
    c.eq(await wait_metric(api, "sss_websockets", 0), 0, "every client gone")
    c.eq(await metric(api, "sss_ws_contexts"), 0, "no context left behind")


async def run(c):
    srv = await h.Server(c, flags=["--api-listen", "127.0.0.1:0"], workers=2, echo=False,
                         name="conn-memory").start()
    m = await srv.wait_log(r"api listening on 127\.0\.0\.1:(\d+)", timeout=20)
    if not c.ok(m, "the API listens"):
        await srv.stop()
        return
    api = int(m.group(1))
    clients = await storm(c, srv, api)
    await c.section("part-read frames and fragments hold a context", partial_frames, c, srv, api,
                    clients[0])
    await c.section("idle clients get their close answered", closes, c, srv, api, clients)
    await srv.stop()


if __name__ == "__main__":
    h.main(run, "test_conn_memory")
