"""sss-bench's --proto centrifugo --encoding protobuf against a small fake
Centrifugo written here to the contract of bench/proto_centrifugo_pb.c
(centrifugal/protocol's client.proto: Command, Reply, Push, Publication;
every frame a sequence of varint-length-prefixed messages): exact delivery
counts with several messages per frame, publish replies counted,
the empty-Reply pings answered with empty Commands, unknown fields skipped,
and a frame whose length prefixes do not add up failing the run."""
import asyncio
import threading

import sb_harness as h
from sb_harness import T

h.init(websockets=True)
from websockets.asyncio.server import serve  # noqa: E402

c = h.Checks("test_bench_centrifugo_pb")


def varint(v):
    out = bytearray()
    while v >= 0x80:
        out.append(v & 0x7F | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


def field(num, value):
    """A protobuf field: int -> varint, bytes -> length-delimited."""
    if isinstance(value, int):
        return varint(num << 3) + varint(value)
    return varint(num << 3 | 2) + varint(len(value)) + value


def read_varint(b, i):
    v = shift = 0
    while True:
        x = b[i]
        i += 1
        v |= (x & 0x7F) << shift
        if not x & 0x80:
            return v, i
        shift += 7


def parse(b):
    """A message's fields: {number: value} (the last of each)."""
    out, i = {}, 0
    while i < len(b):
        key, i = read_varint(b, i)
        if key & 7 == 0:
            out[key >> 3], i = read_varint(b, i)
        else:
            n, i = read_varint(b, i)
            out[key >> 3] = b[i:i + n]
            i += n
    return out


def delimited(msgs):
    return b"".join(varint(len(m)) + m for m in msgs)


subs = {}           # channel -> set of push callables
state = {"pongs": 0, "garbage": False}


async def centrifugo(ws):
    out, mine = [], []

    def push(channel, data):
        # a Push with fields sss-bench does not read (an id, ClientInfo) around the payload
        pub = field(4, data) + field(5, field(2, b"client-1")) + field(6, 7)
        out.append(field(4, field(1, 0) + field(2, channel) + field(4, pub)))

    async def flusher():  # batches what piled up: several replies and pushes per frame
        while True:
            await asyncio.sleep(0.02)
            if out:
                frame = delimited(out)
                out.clear()
                await ws.send(frame)

    ft = asyncio.ensure_future(flusher())
    try:
        async for frame in ws:
            i = 0
            while i < len(frame):
                n, i = read_varint(frame, i)
                cmd, i = frame[i:i + n], i + n
                if not cmd:
                    state["pongs"] += 1
                    continue
                f = parse(cmd)
                if 4 in f:  # connect: the result, then a ping (an empty Reply)
                    await ws.send(delimited([field(1, f[1]) + field(5, field(1, b"c1")
                                                                     + field(7, 25)), b""]))
                elif 5 in f:
                    ch = parse(f[5])[1]
                    if state["garbage"]:
                        await ws.send(b"\x05\x08")  # says 5 bytes, holds 1
                        continue
                    subs.setdefault(ch, set()).add(push)
                    mine.append(ch)
                    await ws.send(delimited([field(1, f[1]) + field(6, b"")]))
                elif 7 in f:
                    p = parse(f[7])
                    for s in list(subs.get(p[1], ())):
                        s(p[1], p[2])
                    out.append(field(1, f[1]) + field(8, b""))
    finally:
        ft.cancel()
        for ch in mine:
            subs[ch].discard(push)


port = []
ready = threading.Event()


async def main():
    s = await serve(centrifugo, "127.0.0.1", 0, ping_interval=None, max_size=None,
                    subprotocols=["centrifuge-protobuf"])
    port.append(s.sockets[0].getsockname()[1])
    ready.set()
    await asyncio.Future()


threading.Thread(target=lambda: asyncio.run(main()), daemon=True).start()
ready.wait(T(10))
url = f"ws://127.0.0.1:{port[0]}/"
common = ["--duration", "1s", "--warmup", 0, "--tail", T(10), "--timeout", T(20)]

S, C, P, K = 12, 2, 2, 60
rc, out, err, j = h.bench(["fanout", "--proto", "centrifugo", "--encoding", "protobuf", "--url",
                           url, "--subscribers", S, "--channels", C, "--publishers", P,
                           "--messages", K, "--rate", 200, "--procs", 2, "--json-only"] + common)
c.ok(rc == 0 and j is not None, "fanout runs", f"rc={rc} err={err[-300:]}")
if j:
    c.eq(j["encoding"], "protobuf", "the JSON line names the encoding")
    c.ok(j["sent"] == K and j["acked"] == K, "every publish reply counted",
         f"sent={j['sent']} acked={j['acked']}")
    expected = sum(len([i for i in range(S) if i % C == ch]) * (K // C) for ch in range(C))
    c.ok(j["delivered"] == expected and j["expected"] == expected and j["lost"] == 0
         and j["duplicates"] == 0 and j["out_of_order"] == 0 and j["bad_payloads"] == 0
         and j["errors"] == 0, "every delivery, once, in order",
         f"delivered={j['delivered']}/{expected} {j['error']}")
# Every connection's connect reply and first ping come in one frame (two messages), so each
# connection reads a frame of several messages whatever the timing; pushes and publish
# replies that pile up within 20 ms share frames too.
c.ok(state["pongs"] >= S + P, "every ping (an empty Reply, in the connect reply's frame) "
     "answered with an empty Command", str(state["pongs"]))

state["garbage"] = True
rc, out, err, j = h.bench(["fanout", "--proto", "centrifugo", "--encoding", "protobuf", "--url",
                           url, "--subscribers", 1, "--timeout", T(10)] + common[:4])
c.ok(rc == 1 and "length prefixes do not add up" in err,
     "a frame whose length prefixes do not add up fails the run with one line",
     f"rc={rc} {err[-300:]!r}")
c.finish()
