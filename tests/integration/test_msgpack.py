"""The sss.v1.msgpack encoding (docs/protocol.md 1) against the real
sss-server with two workers: negotiation, every message the same map in a
binary frame, the heartbeat a text h, one channel shared by JSON and
msgpack publishers and subscribers on both workers (a msgpack bin reaches
JSON subscribers as base64), and bad msgpack input answered with ERROR (or
1009 past --max-message-size) while the connection and others carry on.
"""
import asyncio
import base64
import json
import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mpack  # noqa: E402
import sss_harness as h  # noqa: E402

MP = "sss.v1.msgpack"


class MClient:
    """One sss.v1.msgpack connection; heartbeats counted and answered."""

    def __init__(self, ws):
        self.ws = ws
        self.hb = 0
        self.texts = []  # text frames other than h (there must be none)

    @classmethod
    async def open(cls, srv, begin=True, protocols=(MP,)):
        c = cls(await h.ws_connect(srv, subprotocols=list(protocols)))
        if begin:
            await c.send({"sys": 3})
            c.begin_reply = await c.recv()
        return c

    async def send(self, obj):
        await self.ws.send(obj if isinstance(obj, (bytes, str)) else mpack.pack(obj))

    async def recv(self, timeout=20):
        while True:
            m = await asyncio.wait_for(self.ws.recv(), h.T(timeout))
            if m == "h":
                self.hb += 1
                await self.ws.send("h")
                continue
            if isinstance(m, str):
                self.texts.append(m)
                continue
            return mpack.unpack(m)

    async def until(self, pred, timeout=20):
        while True:
            f = await self.recv(timeout)
            if pred(f):
                return f


async def json_client(srv):
    ws = await h.ws_connect(srv, subprotocols=["sss.v1.json"])
    await ws.send('{"sys":3}')
    await h.rx(ws)
    return ws


async def negotiation(c, srv):
    for offer, want in (([MP], MP), (["sss.v1.json"], "sss.v1.json"),
                        ([MP, "sss.v1.json"], MP), (["sss.v1.json", MP], MP)):
        ws = await h.ws_connect(srv, subprotocols=offer)
        c.eq(ws.subprotocol, want, f"offering {offer}: the server picks {want}")
        await ws.close()
    cl = await MClient.open(srv)
    br = cl.begin_reply
    c.ok(isinstance(br, dict) and br.get("sys") == 3 and isinstance(br.get("prot"), dict),
         "BEGIN over msgpack: the reply is a binary map with sys 3 and a prot map", repr(br))
    await cl.send({"sys": 1, "channel": "neg", "query": None, "id": 7})
    r = await cl.recv()
    c.ok(r.get("sys") == 1 and r.get("id") == 7 and r.get("result") is True
         and r.get("channel") == "neg" and "lastUid" in r,
         "SUBSCRIBE over msgpack: the reply map echoes the integer id", repr(r))
    await cl.send({"sys": 1, "channel": "neg2", "id": "abc"})
    r = await cl.recv()
    c.eq(r.get("id"), "abc", "a string id comes back as the same string")
    await cl.send({"sys": 5, "topic": "nobody", "msg": {"a": [1, 2.5, None]}, "id": 9})
    r = await cl.recv()
    c.ok(r.get("sys") == 7 and r.get("id") == 9 and isinstance(r.get("err"), dict),
         "ASK of an unknown topic: RESPONSE with err, as a map", repr(r))
    await cl.ws.close()


async def mixed_channel(c, srv):
    # Subscribers of both encodings, enough connections to land on both workers.
    mps = [await MClient.open(srv) for _ in range(6)]
    jss = [await json_client(srv) for _ in range(6)]
    for m in mps:
        await m.send({"sys": 1, "channel": "pub-mix", "id": 1})
        await m.until(lambda f: f.get("sys") == 1)
    for ws in jss:
        await ws.send('{"sys":1,"channel":"pub-mix","id":1}')
        await h.rx_until(ws, lambda f: f.get("sys") == 1)
    payload = {"i": 1, "big": 18446744073709551615, "neg": -9223372036854775808,
               "f": 0.5, "s": "h\u00e9llo \U0001F389", "bin": b"\x00\x01\xfe\xff",
               "deep": [[[{"x": None, "t": True}]]], "e": [], "m": {}}
    pub = await MClient.open(srv)
    await pub.send({"sys": 13, "channel": "pub-mix", "topic": "t", "msg": payload, "id": 11})
    r = await pub.until(lambda f: f.get("sys") == 7)
    c.ok(isinstance(r.get("msg"), dict) and isinstance(r["msg"].get("uid"), str),
         "a msgpack PUBLISH gets its uid in a RESPONSE map", repr(r))
    want_mp = dict(payload, bin=base64.b64encode(payload["bin"]).decode())
    got = [await m.until(lambda f: f.get("sys") == 8) for m in mps]
    c.ok(all(g.get("channel") == "pub-mix" and g.get("topic") == "t" and g.get("msg") == want_mp
             and g.get("uid") == r["msg"]["uid"] for g in got),
         "every msgpack subscriber gets the FEED map with the same msg (bin as base64)",
         repr(got[0]))
    gotj = [await h.rx_until(ws, lambda f: f.get("sys") == 8) for ws in jss]
    c.ok(all(g.get("msg") == want_mp for g in gotj),
         "every JSON subscriber gets the msg, the bin as a base64 string", repr(gotj[0]))
    # A JSON publisher: msgpack subscribers get the map (integers stay integers,
    # floats floats, beyond 64 bits a float).
    jp = await json_client(srv)
    await jp.send('{"sys":13,"channel":"pub-mix","topic":"j","msg":'
                  '{"n":-5,"u":300,"f":1.0,"huge":123456789012345678901234567890,"s":"\\u00e9"},'
                  '"id":2}')
    got = [await m.until(lambda f: f.get("sys") == 8) for m in mps]
    g = got[0].get("msg", {})
    c.ok(g.get("n") == -5 and g.get("u") == 300 and isinstance(g.get("f"), float)
         and g.get("f") == 1.0 and isinstance(g.get("huge"), float) and g.get("s") == "\u00e9",
         "a JSON FEED reaches msgpack subscribers as the same values", repr(g))
    c.ok(all(x.get("msg") == g for x in got), "the same FEED map at every msgpack subscriber")
    c.eq([m.texts for m in mps], [[]] * len(mps), "no text frame but h to msgpack clients")
    for m in mps + [pub]:
        await m.ws.close()
    for ws in jss + [jp]:
        await ws.close()


async def still_works(c, cl, what):
    await cl.send({"sys": 1, "channel": "alive", "id": 99})
    r = await cl.until(lambda f: f.get("id") == 99)
    c.ok(r.get("result") is True, what, repr(r))


async def bad_input(c, srv):
    other = await MClient.open(srv)
    await other.send({"sys": 1, "channel": "pub-bad", "id": 1})
    await other.recv()
    cl = await MClient.open(srv)
    bad = [
        (mpack.pack({"sys": 1, "n": 70000})[:-1], "malformed msgpack", "truncated"),
        (mpack.pack({"sys": 1, "channel": "xyz"})[:-1], "msgpack length beyond the frame",
         "a str cut short"),
        (b"\xc1", "malformed msgpack", "the byte 0xc1"),
        (mpack.pack([1, 2]), "message must be a msgpack map", "an array at the top"),
        (mpack.pack({"sys": 3}) + b"\x00", "bytes after the msgpack message", "trailing bytes"),
        (b"\x81\xa3msg\xdd\xff\xff\xff\xff", "msgpack length beyond the frame",
         "an array of 2^32-1 elements in a 10-byte frame"),
        (b"\x81\xa3msg\xdb\x7f\xff\xff\xff", "msgpack length beyond the frame",
         "a str of 2^31-1 bytes in a 10-byte frame"),
        (b"\x81\xa3msg" + b"\x91" * 40 + b"\xc0", "nesting too deep", "40 nested arrays"),
        (mpack.pack({"sys": 1, 5: "x"}), "msgpack map keys must be strings", "an integer key"),
        (mpack.pack({"sys": 1, "channel": 5, "id": 3}), "channel must be a string",
         "a wrong type for a known key"),
        (mpack.pack({"sys": "one"}), None, "sys a string"),
        (mpack.pack({"sys": 13, "channel": "pub-bad", "topic": "t",
                     "msg": {"e": mpack.Ext(1, b"abcd")}, "id": 4}),
         "msgpack ext values are not accepted", "an ext in a PUBLISH's msg"),
        (b"\x81\xa3msg\xcb" + struct.pack(">d", float("nan")), "NaN and infinity are not accepted",
         "a NaN"),
        ('{"sys":1,"channel":"x"}', "text frames are not part of sss.v1.msgpack (but h)",
         "a JSON text frame on a msgpack connection"),
    ]
    for frame, msg, what in bad:
        await cl.send(frame)
        r = await cl.until(lambda f: f.get("sys") in (14, 1))
        ok = r.get("sys") == 14 and isinstance(r.get("err"), dict)
        if msg:
            ok = ok and r["err"].get("message") == msg
        c.ok(ok, f"{what}: ERROR {msg or ''}", repr(r))
    await still_works(c, cl, "after every bad frame the connection still works")
    # Nothing of it reached the channel: the next FEED the other client gets is this one.
    await cl.send({"sys": 13, "channel": "pub-bad", "topic": "t", "msg": 1, "id": 5})
    await cl.until(lambda f: f.get("id") == 5)  # its reply, read before what follows
    f = await other.until(lambda f: f.get("sys") == 8)
    c.eq(f.get("msg"), 1, "the refused PUBLISH (ext) delivered nothing; the next one arrives")
    # 32 nested containers (the top map included) are the limit: accepted.
    deep = b"\x83\xa3sys\x06\xa5topic\xa1t\xa3msg" + b"\x91" * 30 + b"\x90"
    await cl.send(deep)
    await cl.send({"sys": 1, "channel": "alive", "id": 98})
    r = await cl.recv()
    c.ok(r.get("sys") == 1 and r.get("id") == 98,
         "a TELL nested 32 deep is accepted: the next frame is the next reply, no ERROR", repr(r))
    # Past --max-message-size (64k): 1009, and the others carry on.
    await cl.send(mpack.pack({"sys": 13, "channel": "pub-bad", "topic": "t",
                              "msg": b"x" * 70000, "id": 6}))
    code = await h.ws_close_code(cl.ws)
    c.eq(code, 1009, "a 70000-byte msgpack frame with --max-message-size 64k: close 1009")
    await still_works(c, other, "another client on the server is unaffected")
    await other.ws.close()


async def heartbeat(c):
    srv = await h.Server(c, ["--heartbeat-interval", "300ms", "--heartbeat-threshold", "1s"],
                         echo=False, name="heartbeat server").start()
    try:
        cl = await MClient.open(srv)
        c.ok(cl.begin_reply.get("prot", {}).get("hb") is True, "prot.hb true in the BEGIN map")
        raw = await asyncio.wait_for(cl.ws.recv(), h.T(10))
        c.eq(raw, "h", "the heartbeat is the text frame h on a msgpack connection")
        await cl.ws.send("h")
        await asyncio.sleep(h.T(1.5))
        await still_works(c, cl, "a client that answers h is kept past the threshold")
        await cl.ws.close()
    finally:
        await srv.stop()


async def main(c):
    srv = h.Server(c, ["--allow-client-publish", "pub-*", "--max-message-size", "64k"],
                   echo=False, name="msgpack server")
    await srv.start()
    try:
        await c.section("negotiation", negotiation, c, srv)
        await c.section("one channel, both encodings", mixed_channel, c, srv)
        await c.section("bad input", bad_input, c, srv)
    finally:
        await srv.stop()
    await c.section("heartbeat", heartbeat, c)


if __name__ == "__main__":
    h.main(main, "test_msgpack")
