"""The HTTP API keeps room for its operator (issue 18, item 1).

The attack (main at ec8b61b): 64 sockets sending `GET /healthz` on keep-alive
took every API slot, so the operator's `/api/stats` with the key got no
answer. Reproduced here without timing: the attackers' connections are held
open (`--handshake-timeout 60s`, longer than any wait of the test), and the
server's own counters (/metrics) say what it did.

- An answer to a request without the key closes its connection
  (Connection: close), so such requests never extend a connection's life.
- At most --api-open-connections connections that have not shown the key at
  once, at most --api-max-per-address of them from one address: one more
  closes the oldest, so a new connection is always accepted and a request
  with the key always gets a slot; proven connections are never closed for
  others.

Addresses: every 127.x.y.z is loopback on Linux, so clients bind 127.0.0.N
to be N different addresses.
"""
import asyncio
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sss_harness as h  # noqa: E402

KEY = "operator-key"
FLAGS = ["--api-listen", "127.0.0.1:0", "--api-key", KEY, "--handshake-timeout", "60s"]
PARTIAL = b"GET /healthz HTTP/1.1\r\nHost: x\r\n"  # a head that never ends


async def connect_from(port, addr="127.0.0.1"):
    r, w = await asyncio.wait_for(
        asyncio.open_connection("127.0.0.1", port, local_addr=(addr, 0)), h.T(20))
    return h.RawClient(r, w)


def request(path, key=None, close=False):
    hs = [("Host", "127.0.0.1")]
    if key:
        hs.append(("Authorization", f"Bearer {key}"))
    if close:
        hs.append(("Connection", "close"))
    return (f"GET {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in hs) + "\r\n").encode()


async def metric(port, name):
    """The value of an unlabelled metric in /metrics, asked with the key on a new connection."""
    c = await connect_from(port)
    try:
        c.send(request("/metrics", KEY, close=True))
        r = await c.read_http()
    finally:
        c.close()
    m = re.search(rf"^{name} (\d+)$", r.body.decode(), re.M)
    return int(m.group(1)) if m else None


async def settle(c, port):
    """Wait until the server has seen every earlier client close: no keyless connection left."""
    for _ in range(2000):
        if await metric(port, "sss_api_open_connections") == 0:
            return True
        await asyncio.sleep(0.01)
    return c.fail("the server saw the earlier connections close")


async def hold(port, addrs):
    """One connection from each address, each with a request head that never ends."""
    held = []
    for a in addrs:
        c = await connect_from(port, a)
        c.send(PARTIAL)
        await c.drain()
        held.append(c)
    return held


def close_all(cs):
    for c in cs:
        c.close()


async def keyless_requests_close(c, port):
    """The issue's keep-alive /healthz no longer holds a slot: each answer closes."""
    cl = await connect_from(port)
    try:
        cl.send(request("/healthz"))
        r = await cl.read_http()
        c.eq((r.status, r.header("Connection")), (200, "close"),
             "GET /healthz without the key on keep-alive: 200 with Connection: close")
        c.ok(await cl.at_eof(10), "... and the server closes the connection")
    finally:
        cl.close()
    cl = await connect_from(port)
    try:
        for i in range(3):
            cl.send(request("/healthz", KEY) if i else request("/api/stats", KEY))
            r = await cl.read_http()
            c.eq((r.status, r.header("Connection")), (200, "keep-alive"),
                 f"with the key, request {i + 1} on one connection: keep-alive")
    finally:
        cl.close()


async def operator_gets_a_slot(c, port):
    """64 keyless connections from 64 addresses hold requests open; the operator is still served."""
    await settle(c, port)
    before = await metric(port, "sss_api_evicted_total")
    attackers = await hold(port, [f"127.0.0.{i}" for i in range(2, 66)])
    try:
        op = await connect_from(port)
        try:
            op.send(request("/api/stats", KEY))
            r = await op.read_http(timeout=20)
            c.eq(r.status, 200, "64 connections hold keyless requests open: the operator's "
                 "/api/stats with the key is answered")
            c.eq(r.header("Connection"), "keep-alive", "... and its connection is kept")
        finally:
            op.close()
        # 64 attackers and the operator against 16 open slots: the 49 oldest were closed.
        after = await metric(port, "sss_api_evicted_total")
        c.eq(after - before if after is not None else None, 64 + 1 - 16,
             "sss_api_evicted_total: the 49 oldest keyless connections were closed")
        c.ok(await attackers[0].at_eof(10), "the oldest keyless connection was closed")
    finally:
        close_all(attackers)


async def per_address(c, port):
    """One address holds at most --api-max-per-address (8) keyless connections; others keep theirs."""
    await settle(c, port)
    other = await hold(port, ["127.0.1.1"])
    before = await metric(port, "sss_api_evicted_total")
    flood = await hold(port, ["127.0.1.2"] * 12)
    try:
        after = await metric(port, "sss_api_evicted_total")
        c.eq(after - before if after is not None else None, 4,
             "12 keyless connections from one address: its 4 oldest were closed")
        for i in range(4):
            c.ok(await flood[i].at_eof(10), f"flood connection {i + 1} (of the 4 oldest) closed")
        other[0].send(b"\r\n")  # the probe of another address completes its request
        r = await other[0].read_http()
        c.eq(r.status, 200, "a keyless probe of another address kept its connection and is answered")
    finally:
        close_all(other + flood)


async def proven_kept(c, port):
    """Connections that showed the key are never closed for newer ones."""
    await settle(c, port)
    ops = []
    try:
        for _ in range(20):
            o = await connect_from(port)
            o.send(request("/healthz", KEY))
            r = await o.read_http()
            c.ok(r.status == 200 and r.header("Connection") == "keep-alive",
                 "an operator connection with the key", repr(r))
            ops.append(o)
        attackers = await hold(port, [f"127.0.2.{i}" for i in range(1, 65)])
        try:
            answered = 0
            for o in ops:
                o.send(request("/api/stats", KEY))
                answered += (await o.read_http()).status == 200
            c.eq(answered, 20, "after 64 more keyless connections, all 20 kept connections "
                 "with the key are still served")
        finally:
            close_all(attackers)
    finally:
        close_all(ops)


async def run(c):
    srv, port = await h.api_server(c, flags=FLAGS, workers=1, echo=False, name="api-slots")
    if not srv:
        return
    await c.sections((c, port), [
        ("requests without the key never extend a connection", keyless_requests_close),
        ("the operator gets a slot", operator_gets_a_slot),
        ("per-address limit", per_address),
        ("connections with the key are kept", proven_kept),
    ])
    r = await connect_from(port)
    try:
        r.send(request("/healthz", close=True))
        c.eq((await r.read_http()).status, 200, "the API still answers at the end")
    finally:
        r.close()
    await srv.stop()


if __name__ == "__main__":
    h.main(run, "test_api_slots")
