"""sss-bench's protocol adapters against small fake servers written here to
the contracts of bench/README.md (Socket.IO v5 / Engine.IO v4, Centrifugo
JSON with several newline-separated pushes per frame and {} pings, nchan's
/sub and /pub locations, the uWS peer's s/p/a lines), plus the cluster
workload against sss-server: exact delivery counts, asks and echoes, and
that the pings were answered."""
import asyncio
import json
import re
import threading

import sb_harness as h
from sb_harness import T

h.init(websockets=True)
from websockets.asyncio.server import serve  # noqa: E402

c = h.Checks("test_bench_protos")
subs = {}      # channel -> set of send callables
pongs = {"socketio": 0, "centrifugo": 0}
batched = [0]  # centrifugo frames that held several pushes/replies


def publish(ch, make):
    for send in list(subs.get(ch, ())):
        send(make)


async def socketio(ws):
    q = asyncio.Queue()
    mine = []

    def push(payload):
        q.put_nowait('42["m",%s]' % json.dumps(payload))

    async def writer():
        while True:
            await ws.send(await q.get())

    wt = asyncio.ensure_future(writer())
    await ws.send('0{"sid":"s1","upgrades":[],"pingInterval":25000,"pingTimeout":20000,'
                  '"maxPayload":1000000}')
    try:
        async for msg in ws:
            if msg == "40":
                await ws.send('40{"sid":"n1"}')
                await ws.send("2")  # an Engine.IO ping right away: must be answered with 3
            elif msg == "3":
                pongs["socketio"] += 1
            else:
                m = re.match(r"42(\d*)(\[.*\])$", msg, re.S)
                if not m:
                    continue
                ack, args = m.group(1), json.loads(m.group(2))
                if args[0] == "sub":
                    subs.setdefault(args[1], set()).add(push)
                    mine.append(args[1])
                    await ws.send("43%s[true]" % ack)
                elif args[0] == "pub":
                    publish(args[1], args[2])
                elif args[0] == "ask":
                    await ws.send("43%s[%s]" % (ack, json.dumps(args[1])))
                elif args[0] == "echo":
                    await ws.send(msg)
    finally:
        wt.cancel()
        for ch in mine:
            subs[ch].discard(push)


async def centrifugo(ws):
    out = []
    mine = []

    def push(payload):
        out.append(json.dumps({"push": {"channel": "x", "pub": {"data": payload,
                                                                 "info": {"client": "c"}}}}))

    async def flusher():  # batches whatever piled up: several pushes per frame
        while True:
            await asyncio.sleep(0.02)
            if len(out) > 1:
                batched[0] += 1
            if out:
                frame = "\n".join(out)
                out.clear()
                await ws.send(frame)

    ft = asyncio.ensure_future(flusher())
    try:
        async for frame in ws:
            for line in frame.split("\n"):
                if line == "{}":
                    pongs["centrifugo"] += 1
                    continue
                cmd = json.loads(line)
                if "connect" in cmd:
                    await ws.send(json.dumps({"id": cmd["id"], "connect": {"client": "c",
                                                                           "ping": 25, "pong": True}}))
                    await ws.send("{}")
                elif "subscribe" in cmd:
                    ch = cmd["subscribe"]["channel"]
                    subs.setdefault(ch, set()).add(push)
                    mine.append(ch)
                    await ws.send(json.dumps({"id": cmd["id"], "subscribe": {}}))
                elif "publish" in cmd:
                    publish(cmd["publish"]["channel"], cmd["publish"]["data"])
                    out.append(json.dumps({"id": cmd["id"], "publish": {}}))
    finally:
        ft.cancel()
        for ch in mine:
            subs[ch].discard(push)


async def nchan(ws):
    path = ws.request.path
    m = re.match(r"/(sub|pub)/(.+)$", path)
    q = asyncio.Queue()

    def push(payload):
        q.put_nowait(payload)

    if m.group(1) == "sub":
        subs.setdefault(m.group(2), set()).add(push)
        try:
            while True:
                await ws.send(await q.get())
        finally:
            subs[m.group(2)].discard(push)
    else:
        async for msg in ws:
            publish(m.group(2), msg)
            await ws.send('{"status":"ok"}')


async def uws(ws):
    if ws.request.path == "/echo":
        async for msg in ws:
            await ws.send(msg)
        return
    q = asyncio.Queue()
    mine = []

    def push(payload):
        q.put_nowait(payload)

    async def writer():
        while True:
            await ws.send(await q.get())

    wt = asyncio.ensure_future(writer())
    try:
        async for msg in ws:
            if msg.startswith("s "):
                subs.setdefault(msg[2:], set()).add(push)
                mine.append(msg[2:])
                await ws.send("ok")
            elif msg.startswith("p "):
                _, ch, payload = msg.split(" ", 2)
                publish(ch, payload)
            elif msg.startswith("a "):
                await ws.send(msg[2:])
    finally:
        wt.cancel()
        for ch in mine:
            subs[ch].discard(push)


ports = {}
ready = threading.Event()


async def main():
    servers = []
    for name, fn in (("socketio", socketio), ("centrifugo", centrifugo), ("nchan", nchan),
                     ("uws", uws)):
        s = await serve(fn, "127.0.0.1", 0, ping_interval=None, max_size=None)
        ports[name] = s.sockets[0].getsockname()[1]
        servers.append(s)
    ready.set()
    await asyncio.Future()


threading.Thread(target=lambda: asyncio.run(main()), daemon=True).start()
ready.wait(T(10))

common = ["--duration", "1s", "--warmup", 0, "--tail", T(10), "--timeout", T(20)]
for proto in ("socketio", "centrifugo", "nchan", "uws"):
    S, C, P, K = 12, 2, 2, 60
    url = f"ws://127.0.0.1:{ports[proto]}/"
    rc, out, err, j = h.bench(["fanout", "--proto", proto, "--url", url, "--subscribers", S,
                               "--channels", C, "--publishers", P, "--messages", K, "--rate", 200,
                               "--procs", 2] + common)
    members = [len([i for i in range(S) if i % C == ch]) for ch in range(C)]
    want = 0
    for p in range(P):
        for n in range(K // P + (1 if p < K % P else 0)):
            want += members[p % C] if proto == "nchan" else members[(p + n) % C]
    c.ok(rc == 0 and j is not None, f"{proto}: fanout runs", f"rc={rc}")
    if j:
        c.ok(j["sent"] == K and j["expected"] == want and j["delivered"] == want,
             f"{proto}: every delivery counted", f"sent={j['sent']} expected={j['expected']} "
             f"delivered={j['delivered']} want={want}")
        c.ok(j["lost"] == 0 and j["duplicates"] == 0 and j["out_of_order"] == 0 and j["gaps"] == 0,
             f"{proto}: no loss, duplicate or reordering")
        if proto == "centrifugo":
            c.ok(j["acked"] == K, "centrifugo: publish replies counted", f"acked={j['acked']}")
    if proto in ("socketio", "uws"):
        for wl, extra in (("ask", ["--askers", 4]), ("echo", ["--connections", 4])):
            rc, out, err, j = h.bench([wl, "--proto", proto, "--url", url] + extra + common)
            c.ok(rc == 0 and j is not None and j["sent"] > 0 and j["delivered"] == j["sent"]
                 and j["bad_payloads"] == 0, f"{proto}: {wl} answered", f"rc={rc}")
c.ok(pongs["socketio"] > 0, "socketio: Engine.IO pings answered with 3", str(pongs))
c.ok(pongs["centrifugo"] > 0, "centrifugo: {} pings answered with {}", str(pongs))
c.ok(batched[0] > 0, "centrifugo: frames with several lines were sent (and counted right)")

# A protocol violation from the server: a subscribe answered with something else.
rc, out, err, j = h.bench(["fanout", "--proto", "uws", "--url", f"ws://127.0.0.1:{ports['socketio']}/",
                           "--subscribers", 2, "--timeout", T(5), "--duration", "1s"])
c.ok(rc == 1 and "refused" in err, "uws against a socket.io server: a clear setup error",
     err.strip())

# cluster: publishers on the first URL, subscribers on the others (here the same sss-server).
srv = h.Server(["--app", h.APP, "--allow-client-publish", "bench-*", "--max-message-rate", "0"])
try:
    rc, out, err, j = h.bench(["cluster", "--url", f"{srv.url},{srv.url}", "--subscribers", 10,
                               "--publishers", 2, "--messages", 50] + common)
    c.ok(rc == 0 and j is not None and j["delivered"] == 500 and j["expected"] == 500
         and j["lost"] == 0, "cluster: every delivery", f"rc={rc}")
finally:
    srv.stop()
c.finish()
