#!/usr/bin/env python3
"""Smoke check of one peer's bench contract (what sss-bench speaks as a client).

    check.py PEER PORT [PORT2]

Two subscribers (the second on PORT2 when given: a cluster check) subscribe to
bench-0, a publisher publishes "x", both must receive it; then ask and echo
where the peer has them. Prints every frame seen (for bench/peers/README.md).
Needs the Python `websockets` package (/work/main/.venv).
"""
import asyncio
import json
import sys

import websockets

VERBOSE = True
TIMEOUT = 5


def show(tag, frame):
    if VERBOSE:
        print(f"  {tag}: {frame!r}")


async def recv(ws, tag):
    f = await asyncio.wait_for(ws.recv(), TIMEOUT)
    show(tag, f)
    return f


async def connect(url):
    return await websockets.connect(url, compression=None, max_size=None, open_timeout=TIMEOUT)


# ---------------------------------------------------------------- socket.io
async def sio_open(port):
    ws = await connect(f"ws://127.0.0.1:{port}/socket.io/?EIO=4&transport=websocket")
    f = await recv(ws, "open")
    assert f.startswith("0{"), f
    await ws.send("40")
    f = await recv(ws, "nsp")
    assert f.startswith("40"), f
    return ws


async def sio_until(ws, tag, pred):
    while True:
        f = await recv(ws, tag)
        if f == "2":  # engine.io ping from the server
            await ws.send("3")
            continue
        if pred(f):
            return f


async def check_socketio(port, port2):
    a = await sio_open(port)
    b = await sio_open(port2)
    for i, s in enumerate((a, b)):
        await s.send('421["sub","bench-0"]')
        await sio_until(s, "sub-ack", lambda f: f.startswith("431"))
    p = await sio_open(port)
    await p.send('42["pub","bench-0","x"]')
    for s, tag in ((a, "sub-a"), (b, "sub-b")):
        f = await sio_until(s, tag, lambda f: f.startswith("42"))
        assert f == '42["m","x"]', f
    await p.send('427["ask","hello"]')
    f = await sio_until(p, "ask", lambda f: f.startswith("437"))
    assert f == '437["hello"]', f
    await p.send('42["echo","e1"]')
    f = await sio_until(p, "echo", lambda f: f.startswith("42"))
    assert f == '42["echo","e1"]', f


# ---------------------------------------------------------------- centrifugo
async def cf_open(port):
    ws = await connect(f"ws://127.0.0.1:{port}/connection/websocket")
    await ws.send('{"id":1,"connect":{}}')
    f = await recv(ws, "connect")
    assert '"connect"' in f and '"id":1' in f, f
    return ws


async def cf_until(ws, tag, pred):
    while True:
        f = await recv(ws, tag)
        for line in f.split("\n"):
            if line == "{}":  # server ping; answer with a pong
                await ws.send("{}")
                continue
            if pred(json.loads(line)):
                return line


async def check_centrifugo(port, port2):
    a = await cf_open(port)
    b = await cf_open(port2)
    for s in (a, b):
        await s.send('{"id":2,"subscribe":{"channel":"bench-0"}}')
        await cf_until(s, "subscribe", lambda m: m.get("id") == 2)
    p = await cf_open(port)
    await p.send('{"id":3,"publish":{"channel":"bench-0","data":"x"}}')
    await cf_until(p, "publish-reply", lambda m: m.get("id") == 3)
    for s, tag in ((a, "push-a"), (b, "push-b")):
        line = await cf_until(s, tag, lambda m: "push" in m)
        m = json.loads(line)
        assert m["push"]["channel"] == "bench-0" and m["push"]["pub"]["data"] == "x", line
    # several commands in one frame, separated by newlines
    await p.send('{"id":4,"publish":{"channel":"bench-0","data":"y"}}\n{"id":5,"publish":{"channel":"bench-0","data":"z"}}')
    await cf_until(p, "batched-replies", lambda m: m.get("id") == 5)


# ---------------------------------------------------------------- nchan
async def check_nchan(port, port2):
    a = await connect(f"ws://127.0.0.1:{port}/sub/bench-0")
    b = await connect(f"ws://127.0.0.1:{port2}/sub/bench-0")
    await asyncio.sleep(0.2)
    p = await connect(f"ws://127.0.0.1:{port}/pub/bench-0")
    await p.send("x")
    try:
        await recv(p, "publisher-reply")
    except asyncio.TimeoutError:
        print("  publisher-reply: (none within timeout)")
    for s, tag in ((a, "sub-a"), (b, "sub-b")):
        f = await recv(s, tag)
        assert f == "x", f
    await p.send("y")
    for s, tag in ((a, "sub-a"), (b, "sub-b")):
        f = await recv(s, tag)
        assert f == "y", f


# ---------------------------------------------------------------- uws
async def check_uws(port, port2):
    a = await connect(f"ws://127.0.0.1:{port}/")
    b = await connect(f"ws://127.0.0.1:{port2}/")
    for s in (a, b):
        await s.send("s bench-0")
        assert await recv(s, "sub") == "ok"
    p = await connect(f"ws://127.0.0.1:{port}/")
    await p.send("p bench-0 x y")
    for s, tag in ((a, "sub-a"), (b, "sub-b")):
        f = await recv(s, tag)
        assert f == "x y", f
    await p.send("a hello")
    assert await recv(p, "ask") == "hello"
    e = await connect(f"ws://127.0.0.1:{port}/echo")
    await e.send("e1")
    assert await recv(e, "echo") == "e1"


# ---------------------------------------------------------------- sss
async def sss_until(ws, tag, pred):
    while True:
        f = await recv(ws, tag)
        if f == "h":
            await ws.send("h")
            continue
        m = json.loads(f)
        if pred(m):
            return m


async def check_sss(port, port2):
    subs = []
    for pt in (port, port2):
        s = await connect(f"ws://127.0.0.1:{pt}/")
        await s.send('{"sys":3}')
        await sss_until(s, "begin", lambda m: m.get("sys") == 3)
        await s.send('{"sys":1,"channel":"bench-0","query":null,"id":1}')
        m = await sss_until(s, "sub", lambda m: m.get("sys") == 1)
        assert m["result"] is True, m
        subs.append(s)
    p = await connect(f"ws://127.0.0.1:{port}/")
    await p.send('{"sys":3}')
    await sss_until(p, "begin", lambda m: m.get("sys") == 3)
    await p.send('{"sys":13,"channel":"bench-0","topic":"t","msg":"x","id":2}')
    m = await sss_until(p, "publish-reply", lambda m: m.get("sys") == 7)
    assert "err" not in m, m
    for s, tag in zip(subs, ("sub-a", "sub-b")):
        m = await sss_until(s, tag, lambda m: m.get("sys") == 8)
        assert m["msg"] == "x", m
    await p.send('{"sys":5,"topic":"echo","msg":"hello","id":3}')
    m = await sss_until(p, "ask", lambda m: m.get("sys") == 7)
    print("  ask answered:", "ok" if m.get("msg") == "hello" else f"no echo module? {m}")


CHECKS = {
    "socketio": check_socketio,
    "centrifugo": check_centrifugo,
    "nchan": check_nchan,
    "uws": check_uws,
    "sss": check_sss,
}


def main():
    if len(sys.argv) < 3 or sys.argv[1] not in CHECKS:
        print(__doc__)
        sys.exit(2)
    port = int(sys.argv[2])
    port2 = int(sys.argv[3]) if len(sys.argv) > 3 else port
    asyncio.run(CHECKS[sys.argv[1]](port, port2))
    print(f"{sys.argv[1]}: OK")


if __name__ == "__main__":
    main()
