"""sss-bench's latency figures against a known delay: a Python echo server
that answers every message 200 ms late. p50 must be at least 200 ms (and
below 200 ms plus a generous 2 s), and every message must come back."""
import asyncio
import os
import threading

import sb_harness as h
from sb_harness import T

h.init(websockets=True)
import websockets  # noqa: E402
from websockets.asyncio.server import serve  # noqa: E402

DELAY = 0.2
c = h.Checks("test_bench_latency")
ready = threading.Event()
port = [None]


async def handler(ws):
    async def later(msg):
        await asyncio.sleep(DELAY)
        try:
            await ws.send(msg)
        except websockets.ConnectionClosed:
            pass

    tasks = set()
    async for msg in ws:
        t = asyncio.ensure_future(later(msg))
        tasks.add(t)
        t.add_done_callback(tasks.discard)


async def main():
    async with serve(handler, "127.0.0.1", 0, ping_interval=None, max_size=None) as server:
        port[0] = server.sockets[0].getsockname()[1]
        ready.set()
        await asyncio.Future()


threading.Thread(target=lambda: asyncio.run(main()), daemon=True).start()
ready.wait(T(10))
url = f"ws://127.0.0.1:{port[0]}/"

rc, out, err, j = h.bench(["echo", "--proto", "echo", "--url", url, "--connections", 5,
                           "--duration", "1.5s", "--warmup", 0, "--tail", T(5),
                           "--timeout", T(10)])
c.ok(rc == 0 and j is not None, "echo against the slow server runs", f"rc={rc}")
if j:
    p50 = j["latency_us"]["p50"]
    c.ok(j["sent"] >= 5 and j["delivered"] == j["sent"], "every message came back",
         f"sent={j['sent']} delivered={j['delivered']}")
    c.ok(p50 >= DELAY * 1e6, "p50 >= 200 ms", f"p50={p50} us")
    c.ok(p50 < (DELAY + 2) * 1e6 * max(1, h.SCALE), "p50 < 200 ms + 2 s", f"p50={p50} us")
    c.ok(j["latency_us"]["max"] >= p50 >= j["latency_us"]["count"] * 0,
         "max >= p50")
    # With one outstanding message a connection can echo at most 1/0.2 s = 5 per second.
    c.ok(j["deliveries_per_s"] <= 5 * 5 * 1.2, "round trips bounded by the delay",
         f"{j['deliveries_per_s']}/s")
c.finish()
