"""permessage-deflate (docs/protocol.md 1, RFC 7692) against the real
sss-server: the negotiation (always server_no_context_takeover; nothing
without --deflate), each FEED compressed once per worker and the same frame
for every subscriber that negotiated it (the sss_messages_deflated_total
metric counts compressions, not deliveries), uncompressed frames for the
rest and for messages under --deflate-min-size, a deflate bomb closed with
1009, RSV1 without negotiation closed with 1002, and others unaffected.
"""
import asyncio
import json
import os
import sys
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sss_harness as h  # noqa: E402
import test_api  # noqa: E402

DEFLATED = "sss_messages_deflated_total"


async def metric(api, name):
    r = await api.req("GET", "/metrics")
    return sum(int(line.rsplit(" ", 1)[1]) for line in r.body.decode().splitlines()
               if line.startswith(name + "{") or line.startswith(name + " "))


def connect(srv, deflate=True, **kw):
    return h.ws_connect(srv, subprotocols=["sss.v1.json"],
                        compression="deflate" if deflate else None, **kw)


async def begun(srv, deflate=True):
    ws = await connect(srv, deflate)
    await ws.send('{"sys":3}')
    await h.rx(ws)
    return ws


class RsvSpy:
    """Records the RSV1 bit of each data frame the server sends to one websockets
    connection, as it arrives (a hook on its permessage-deflate decoder, which
    sees every incoming frame before it clears RSV1; none without deflate)."""

    def __init__(self, ws):
        self.rsv1 = []
        exts = ws.protocol.extensions
        if not exts:
            self.plain = True
            return
        self.plain = False
        ext = exts[0]
        orig = ext.decode

        def decode(frame, *a, **kw):
            if frame.opcode.value in (1, 2):
                self.rsv1.append(bool(frame.rsv1))
            return orig(frame, *a, **kw)

        ext.decode = decode


async def negotiation(c, srv, plain):
    async with connect(srv) as ws:
        c.eq(ws.response.headers.get("Sec-WebSocket-Extensions"),
             "permessage-deflate; server_no_context_takeover",
             "--deflate: the answer always carries server_no_context_takeover")
    async with connect(plain) as ws:
        c.eq(ws.response.headers.get("Sec-WebSocket-Extensions"), None,
             "without --deflate no extension is negotiated")
    async with connect(srv, deflate=False) as ws:
        c.eq(ws.response.headers.get("Sec-WebSocket-Extensions"), None,
             "a client that offers nothing gets nothing")


async def once_per_worker(c, srv, api):
    subs = [await begun(srv) for _ in range(5)]
    plain = [await begun(srv, deflate=False) for _ in range(2)]
    spies = [RsvSpy(ws) for ws in subs + plain]
    for i, ws in enumerate(subs + plain):
        await h.subscribe_ok(ws, "pub-z", 100 + i)
    pub = await begun(srv, deflate=False)
    before = await metric(api, DEFLATED)
    big = "x" * 2000
    await pub.send(json.dumps({"sys": 13, "channel": "pub-z", "topic": "t", "msg": big, "id": 1}))
    got = await asyncio.gather(*(h.rx_until(ws, lambda f: f.get("sys") == 8) for ws in subs + plain))
    c.ok(all(f.get("msg") == big for f in got), "all 7 subscribers get the FEED, compressed or not")
    after = await metric(api, DEFLATED)
    c.eq(after - before, 1, "one worker, five deflate subscribers: the FEED compressed once")
    c.ok(all(s.rsv1[-1] for s in spies[:5]), "deflate subscribers got it with RSV1",
         repr([s.rsv1 for s in spies]))
    c.ok(all(s.plain for s in spies[5:]), "the others negotiated nothing: uncompressed")
    await pub.send(json.dumps({"sys": 13, "channel": "pub-z", "topic": "t", "msg": "tiny",
                               "id": 2}))
    got = await asyncio.gather(*(h.rx_until(ws, lambda f: f.get("sys") == 8) for ws in subs))
    c.ok(all(f.get("msg") == "tiny" for f in got), "a small FEED arrives")
    c.ok(not any(s.rsv1[-1] for s in spies[:5]),
         "under --deflate-min-size it goes uncompressed (RSV1 clear)")
    c.eq(await metric(api, DEFLATED) - after, 0, "... and nothing was compressed")
    # The client's own compressed messages are inflated.
    await subs[0].send(json.dumps({"sys": 13, "channel": "pub-z", "topic": "c", "msg": "y" * 3000,
                                   "id": 3}))
    f = await h.rx_until(subs[1], lambda f: f.get("sys") == 8 and f.get("topic") == "c")
    c.eq(f.get("msg"), "y" * 3000, "a compressed PUBLISH is inflated and delivered")
    for ws in subs + plain + [pub]:
        await ws.close()


def raw_deflate(data):
    z = zlib.compressobj(9, zlib.DEFLATED, -15)
    out = z.compress(data) + z.flush(zlib.Z_SYNC_FLUSH)
    return out[:-4]


async def bad_input(c, srv, plain):
    bystander = await begun(srv)
    # A bomb: 1 MiB of zeros is about 1 KB compressed; --max-message-size is 64k.
    ws = await connect(srv)
    await ws.send(b"\x00" * (1 << 20))
    c.eq(await h.ws_close_code(ws), 1009, "a deflate bomb past --max-message-size: 1009")
    # RSV1 on a connection that negotiated nothing: 1002.
    for s, what in ((srv, "--deflate server, not negotiated"), (plain, "no --deflate")):
        rc = await h.RawClient.upgrade(s)
        await rc.send_frame(1, raw_deflate(b"x" * 300), rsv=4)
        fr = await rc.read_frame()
        code = int.from_bytes(fr.payload[:2], "big") if fr and len(fr.payload) >= 2 else None
        c.eq(code, 1002, f"{what}: a compressed frame closes with 1002")
        rc.close()
    # Not deflate data, on a connection that negotiated it: 1007.
    rc = await h.RawClient.upgrade(srv, extra=[("Sec-WebSocket-Extensions", "permessage-deflate")])
    await rc.send_frame(2, b"\xff\xff\xff\xff", rsv=4)
    fr = await rc.read_frame()
    code = int.from_bytes(fr.payload[:2], "big") if fr and len(fr.payload) >= 2 else None
    c.eq(code, 1007, "bytes that are not deflate: 1007")
    rc.close()
    await h.subscribe_ok(bystander, "pub-by", 9)
    c.ok(True, "a bystander on the same worker is unaffected (its SUBSCRIBE answered)")
    await bystander.close()


async def main(c):
    srv = h.Server(c, ["--deflate", "--allow-client-publish", "pub-*", "--max-message-size", "64k",
                       "--api-listen", "127.0.0.1:0", "--api-key", test_api.KEY],
                   workers=1, echo=False, name="deflate server")
    plain = h.Server(c, [], workers=1, name="plain echo server")
    await srv.start()
    await plain.start()
    try:
        m = await srv.wait_log(r"api listening on 127\.0\.0\.1:(\d+)", timeout=20)
        api = test_api.Api(int(m.group(1)))
        await c.section("negotiation", negotiation, c, srv, plain)
        await c.section("once per worker", once_per_worker, c, srv, api)
        await c.section("bad input", bad_input, c, srv, plain)
    finally:
        await srv.stop()
        await plain.stop()


if __name__ == "__main__":
    h.main(main, "test_deflate")
