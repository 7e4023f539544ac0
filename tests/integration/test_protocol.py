"""The JSON protocol (docs: /work/shared/PROTOCOL.md) against the real
sss-server with two workers: fan-out of client PUBLISHes to 1,000+
subscribers on both workers (each message once, in uid order, byte-exact),
bad input answered while the connection and the server carry on, limits
(subscriptions, message size, message rate), heartbeats, and a drain with
subscribers. SYNC, gaps, slow readers and a killed worker: test_sync.py.

The helpers here (PClient, uid_key, payload_text) are shared with test_sync.py.
"""
import asyncio
import json
import os
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sss_harness as h  # noqa: E402

UNKNOWN_TOPIC_ERR = ('{"name":"Super Scaled Sockets Error",'
                     '"message":"Unknown request topic sent from client"}')


# --------------------------------------------------------------------------
# Protocol client helpers


def uid_key(uid):
    """Order of two uids of one channel, for the test only (the server's "E-O")."""
    e, _, o = uid.partition("-")
    return (int(e), int(o))


def payload_text(i):
    """The exact JSON text of message i's `msg`: odd spacing, escapes, unicode,
    numbers a double can't hold, nesting; a re-serialiser would change most of them."""
    kinds = [
        lambda: '{"i":%d,"n":9007199254740993,"neg":-9007199254740993,"big":123456789012345678901234567890}' % i,
        lambda: '{ "i" : %d , "spaces" : [ 1 , 2 ] , "f": 1.0e+2 , "z": -0.0, "g": 1E400 }' % i,
        lambda: '"%d h\\u00e9llo \\ud83c\\udf89 w\u00f6rld \u2713 \U0001F389 \\"q\\" \\\\ \\/"' % i,
        lambda: '[%d,{"a":{"b":{"c":[null,true,false,{"d":"x\\ty","e":[[[[]]]]}]}}}]' % i,
        lambda: '%d.50' % i,
        lambda: '{"i":%d,"pad":"%s"}' % (i, "\u00e9x" * 700),
    ]
    return kinds[i % len(kinds)]()


class ProtocolError(Exception):
    pass


class PClient:
    """One protocol connection (websockets). Heartbeat `h` frames are counted and
    skipped; frames read while waiting for a reply are kept for later recv()s."""

    def __init__(self, ws):
        self.ws = ws
        self.backlog = []  # (raw, obj) read but not yet consumed
        self.hb = 0
        self.next_id = 1

    @classmethod
    async def open(cls, srv, begin=True, **kw):
        c = cls(await h.ws_connect(srv, **kw))
        if begin:
            c.begin_reply = await c.begin()
        return c

    async def send(self, text):
        await self.ws.send(text if isinstance(text, (str, bytes)) else json.dumps(text))

    async def _read(self, timeout):
        while True:
            m = await asyncio.wait_for(self.ws.recv(), h.T(timeout))
            if m == "h":
                self.hb += 1
                continue
            if isinstance(m, bytes):
                raise ProtocolError(f"binary frame from the server: {m[:60]!r}")
            try:
                return m, json.loads(m)
            except ValueError as e:
                raise ProtocolError(f"frame is not JSON: {m[:100]!r}") from e

    async def recv(self, timeout=20):
        """The next (raw text, parsed object) other than `h`."""
        if self.backlog:
            return self.backlog.pop(0)
        return await self._read(timeout)

    async def reply(self, pred, timeout=20):
        """The first frame satisfying pred (others kept in the backlog)."""
        for k, (raw, obj) in enumerate(self.backlog):
            if pred(obj):
                return self.backlog.pop(k)
        while True:
            raw, obj = await self._read(timeout)
            if pred(obj):
                return raw, obj
            self.backlog.append((raw, obj))

    def new_id(self):
        self.next_id += 1
        return self.next_id

    async def request(self, obj, timeout=20):
        """Send obj (an `id` is added) and return the (raw, obj) that carries the same id."""
        obj = dict(obj)
        obj.setdefault("id", self.new_id())
        await self.send(obj)
        rid = obj["id"]
        return await self.reply(lambda o: isinstance(o, dict) and o.get("id") == rid and o.get("sys") != 8,
                                timeout)

    async def begin(self):
        await self.send('{"sys":3}')
        return (await self.reply(lambda o: o.get("sys") == 3))[1]

    async def subscribe(self, channel, query=None):
        return (await self.request({"sys": 1, "channel": channel, "query": query}))[1]

    async def publish_raw(self, channel, msg_text, topic="t", rid=None):
        """PUBLISH with `msg_text` spliced in verbatim; returns the reply object."""
        rid = rid if rid is not None else self.new_id()
        text = '{"sys":13,"channel":%s,"topic":%s,"msg":%s,"id":%s}' % (
            json.dumps(channel), json.dumps(topic), msg_text, json.dumps(rid))
        await self.send(text)
        return (await self.reply(lambda o: o.get("id") == rid and o.get("sys") == 7))[1]

    async def publish(self, channel, msg_text, topic="t"):
        """PUBLISH and return the uid; raises if the server refused."""
        r = await self.publish_raw(channel, msg_text, topic)
        if not isinstance(r.get("msg"), dict) or "uid" not in r["msg"]:
            raise ProtocolError(f"PUBLISH on {channel} answered {r!r}")
        return r["msg"]["uid"]

    async def ask(self, topic="nosuchtopic"):
        return await self.request({"sys": 5, "topic": topic, "msg": None})

    async def alive(self):
        """True when an ASK still gets its RESPONSE on this connection."""
        try:
            raw, o = await self.ask()
            return o.get("sys") == 7
        except Exception:  # noqa: BLE001
            return False

    async def close(self):
        try:
            await self.ws.close()
        except Exception:  # noqa: BLE001
            pass


async def fresh_client_works(c, srv, what):
    """A new connection: BEGIN, SUBSCRIBE, PUBLISH and receive its own FEED."""
    try:
        cl = await PClient.open(srv)
        try:
            chan = f"pub-fresh-{cl.next_id}-{id(cl) % 100000}"
            s = await cl.subscribe(chan)
            uid = await cl.publish(chan, '"fresh"')
            raw, o = await cl.reply(lambda o: o.get("sys") == 8)
            return c.ok(s.get("result") is True and o.get("uid") == uid and o.get("msg") == "fresh", what,
                        f"subscribe {s!r}, feed {raw!r}")
        finally:
            await cl.close()
    except Exception as e:  # noqa: BLE001
        return c.fail(what, f"{type(e).__name__}: {e}")


async def feed_once(c, cl, uid, what):
    """The next FEED cl gets is uid's, and nothing else waits after it."""
    r, o = await cl.reply(lambda o: o.get("sys") == 8)
    await cl.alive()
    c.ok(o.get("uid") == uid and not cl.backlog, what, f"{r!r} then {cl.backlog!r}")


def check_feed(raw, obj, chan, topic, msg_text):
    """None if the FEED frame is right, else why."""
    if obj.get("sys") != 8 or obj.get("channel") != chan or obj.get("topic") != topic:
        return f"not a FEED of {chan}/{topic}: {raw[:200]!r}"
    if '"msg":' + msg_text not in raw:
        return f"msg not byte-exact: sent {msg_text[:80]!r}, frame {raw[:200]!r}"
    return None


# --------------------------------------------------------------------------
# 1. Fan-out


async def fanout(c, srv, nsubs=1040, npub=5, per_pub=40):
    chans = [f"pub-fan{k}" for k in range(4)]
    mark = len(srv.log_lines())
    pub0 = await PClient.open(srv)
    # Every channel but the last has one message before anyone subscribes.
    first = {ch: await pub0.publish(ch, '{"first":true}') for ch in chans[:-1]}
    first[chans[-1]] = None

    def chans_of(i):
        return [chans[i % 4]] + ([chans[(i + 1) % 4]] if i % 2 == 0 else [])

    sem = asyncio.Semaphore(100)

    async def open_sub(i):
        async with sem:
            cl = await PClient.open(srv)
            replies = {ch: await cl.subscribe(ch) for ch in chans_of(i)}
            return cl, replies

    subs = await h.gather_ok(c, (open_sub(i) for i in range(nsubs)),
                             f"{nsubs} subscribers connected, BEGIN and SUBSCRIBE answered",
                             "subscriber error")
    bad = [(i, rep) for i, (cl, reps) in enumerate(subs) for ch, rep in reps.items()
           if rep.get("result") is not True or rep.get("channel") != ch or rep.get("lastUid") != first[ch]
           or "lastUid" not in rep]
    c.ok(not bad, "every SUBSCRIBE reply: result true, its channel, lastUid = the channel's newest uid "
         "(null for the empty channel)", f"{len(bad)} bad, first {bad[:1]}")
    by_role = srv.upgrades_by_role(mark)
    h.log(f"# 'upgraded' lines per worker: {by_role}")
    c.ok(len(by_role) == 2 and all(v > 0 for v in by_role.values()),
         "subscribers spread over both workers", repr(by_role))

    # Everyone reads until the sentinel of each of its channels.
    async def read_all(cl, reps):
        got = {ch: [] for ch in reps}
        left = set(reps)
        while left:
            raw, o = await cl.recv(timeout=60)
            if o.get("sys") != 8 or o.get("channel") not in got:
                got.setdefault("?", []).append(raw)
                continue
            got[o["channel"]].append((raw, o))
            if o.get("topic") == "end":
                left.discard(o["channel"])
        return got

    readers = [asyncio.ensure_future(read_all(cl, reps)) for cl, reps in subs]

    pubs = [pub0] + [await PClient.open(srv) for _ in range(npub - 1)]
    sent = {ch: [] for ch in chans}  # ch -> [(uid, topic, msg_text)]

    async def publisher(p, k):
        for j in range(per_pub):
            i = k * per_pub + j
            ch = chans[(i * 7 + k) % 4]
            text = payload_text(i)
            topic = "t\u00e9" if i % 3 == 0 else "t"
            uid = await p.publish(ch, text, topic)
            sent[ch].append((uid, topic, text))

    pres = await asyncio.gather(*(publisher(p, k) for k, p in enumerate(pubs)), return_exceptions=True)
    perr = [r for r in pres if isinstance(r, BaseException)]
    c.ok(not perr, f"{npub} publishers: all {npub * per_pub} PUBLISHes answered with a uid", repr(perr[:1]))
    for ch in chans:
        uid = await pub0.publish(ch, '"end"', "end")
        sent[ch].append((uid, "end", '"end"'))
    for ch in chans:
        sent[ch].sort(key=lambda s: uid_key(s[0]))
    uids_all = [s[0] for ch in chans for s in sent[ch]]
    c.eq(len(set(uids_all)), len(uids_all), "PUBLISH replies: no uid given twice within the channels")
    for ch in chans[:-1]:
        c.ok(all(uid_key(s[0]) > uid_key(first[ch]) for s in sent[ch]),
             f"{ch}: uids of later messages are after the first message's uid")

    rres = await asyncio.gather(*readers, return_exceptions=True)
    rerr = [r for r in rres if isinstance(r, BaseException)]
    c.ok(not rerr, "every subscriber received the end sentinel of each of its channels",
         f"{len(rerr)} failed, first {rerr[:1]!r}")
    wrong_seq, wrong_body, stray, total = [], [], [], 0
    for (cl, reps), got in zip(subs, rres):
        if isinstance(got, BaseException):
            continue
        if "?" in got:
            stray.append(got["?"][:2])
        for ch in reps:
            want = [s[0] for s in sent[ch]]
            have = [o.get("uid") for raw, o in got[ch]]
            total += len(have)
            if have != want:
                wrong_seq.append((ch, len(have), len(want), have[:3], want[:3]))
                continue
            for (raw, o), (uid, topic, text) in zip(got[ch], sent[ch]):
                why = check_feed(raw, o, ch, topic, text)
                if why:
                    wrong_body.append(why)
                    break
    h.log(f"# {total} FEEDs received by {len(subs)} subscribers")
    c.ok(not wrong_seq, "every subscriber got exactly its channels' messages, each once, in uid order",
         f"{len(wrong_seq)} wrong, first {wrong_seq[:1]}")
    c.ok(not wrong_body, "every FEED carries its channel, topic and the exact msg text sent (byte-exact)",
         f"{len(wrong_body)} wrong, first {wrong_body[:1]}")
    c.ok(not stray, "no frame other than FEEDs of subscribed channels", repr(stray[:1]))
    await asyncio.gather(*(cl.close() for cl, _ in subs), *(p.close() for p in pubs))


# --------------------------------------------------------------------------
# 5. Bad input


async def expect(c, cl, text, pred, what, raw=False):
    """Send text; the next frame other than `h` satisfies pred; the connection still answers."""
    try:
        await cl.send(text)
        r, o = await cl.recv()
        c.ok(pred(o), what, f"got {r[:300]!r}")
    except Exception as e:  # noqa: BLE001
        c.fail(what, f"{type(e).__name__}: {e}")
    c.ok(await cl.alive(), f"{what}: the connection still answers")


def is_error(id_=None, has_id=True):
    def pred(o):
        e = o.get("err")
        ok = o.get("sys") == 14 and isinstance(e, dict) and isinstance(e.get("name"), str) \
            and isinstance(e.get("message"), str)
        return ok and (o.get("id") == id_ if has_id else "id" not in o)
    return pred


async def bad_input(c, srv):
    # Before BEGIN.
    cl = PClient(await h.ws_connect(srv))
    await cl.send('{"sys":1,"channel":"pub-x","id":"pre"}')
    r, o = await cl.recv()
    c.ok(is_error("pre")(o), "SUBSCRIBE before BEGIN: ERROR with its id", r)
    await cl.send('{"sys":5,"topic":"x","msg":null,"id":77}')
    r, o = await cl.recv()
    c.ok(is_error(77)(o), "ASK before BEGIN: ERROR with its id", r)
    await cl.send('{"sys":3}')
    r, o = await cl.recv()
    c.ok(o.get("sys") == 3 and isinstance(o.get("prot"), dict), "then BEGIN is answered", r)
    c.eq(o.get("prot"), {"hb": True, "hbInterval": 30000, "hbThreshold": 2500},
         "BEGIN prot with the default heartbeat (30 s, 2500 ms threshold)")
    c.ok("channel" not in o and "lastUid" not in o, "BEGIN reply: no user channel without a session parser", r)
    await fresh_client_works(c, srv, "after messages before BEGIN: a fresh client works")

    await expect(c, cl, '{"sys":1,"channel":', is_error(has_id=False), "bad JSON: ERROR")
    await expect(c, cl, 'not json at all', is_error(has_id=False), "not JSON: ERROR")
    await expect(c, cl, '[1,2,3]', is_error(has_id=False), "a JSON array: ERROR")
    await expect(c, cl, '{"id":4}', is_error(4), "no sys: ERROR with the id")
    await expect(c, cl, '{"sys":"1","channel":"pub-x","id":5}', is_error(5), "sys as a string: ERROR with the id")
    await expect(c, cl, '{"sys":99,"id":6}', is_error(6), "unknown sys 99: ERROR with the id")
    await expect(c, cl, '{"sys":8,"channel":"pub-x","msg":1,"uid":"1-1","id":7}', is_error(7),
                 "server-only sys 8 from a client: ERROR with the id")
    await expect(c, cl, '{"sys":1,"id":"s-1"}', is_error("s-1"), "SUBSCRIBE without channel: ERROR with the id")
    await expect(c, cl, '{"sys":1,"id":{"k":[1,"x"]}}', lambda o: o.get("sys") == 14,
                 "an object as id (not a number or string): ERROR")
    for rid in ("1.5e3", "-0", "12345678901234567890123", r'"\u00e9\"x \ud83c\udf89"', '"\u00e9 \U0001F389"'):
        await cl.send('{"sys":1,"channel":"pub-ids","id":%s}' % rid)
        r, o = await cl.recv()
        c.ok(o.get("sys") == 1 and ('"id":%s,' % rid in r or '"id":%s}' % rid in r),
             f"id {rid} echoed verbatim (byte-exact) in the SUBSCRIBE reply", r)
    await expect(c, cl, '{"sys":1,"channel":42,"id":9}',
                 lambda o: o.get("id") == 9 and (o.get("sys") == 14 or o.get("result") is False),
                 "SUBSCRIBE with a number as channel: ERROR or result false, with the id")
    long_name = "a" * 129
    await expect(c, cl, '{"sys":1,"channel":"%s","id":10}' % long_name,
                 lambda o: o.get("sys") == 1 and o.get("id") == 10 and o.get("result") is False
                 and isinstance(o.get("err"), dict),
                 "SUBSCRIBE to a 129-character name: result false with err")
    await cl.send('{"sys":1,"channel":"%s","id":11}' % long_name)
    r, o = await cl.recv()
    c.eq(o.get("channel"), long_name, "[server bug?] SUBSCRIBE reply for an invalid name echoes the channel "
         "asked for (PROTOCOL 3: reply names the channel)")
    await expect(c, cl, '{"sys":1,"channel":"%s","id":12}' % ("b" * 128),
                 lambda o: o.get("sys") == 1 and o.get("id") == 12 and o.get("result") is True,
                 "SUBSCRIBE to a 128-character name: result true")
    for k, name in enumerate(["", "sp ace", "dot.s", "sl/ash", "\u00e9t\u00e9"]):
        await expect(c, cl, json.dumps({"sys": 1, "channel": name, "id": 20 + k}),
                     lambda o, k=k: o.get("sys") == 1 and o.get("id") == 20 + k and o.get("result") is False,
                     f"SUBSCRIBE to invalid name {name!r}: result false")
    for k, name in enumerate(["_bc_", "_u_alice", "_x"]):
        await expect(c, cl, json.dumps({"sys": 1, "channel": name, "id": 30 + k}),
                     lambda o, k=k, name=name: o.get("sys") == 1 and o.get("id") == 30 + k
                     and o.get("result") is False and o.get("channel") == name
                     and isinstance(o.get("err"), dict) and o["err"].get("name") == "Subscription refused",
                     f"SUBSCRIBE to server channel {name!r}: result false, err Subscription refused")
    await expect(c, cl, b"\x00\x01binary", is_error(has_id=False), "binary frame: ERROR")
    deep = "[" * 100 + "]" * 100
    await expect(c, cl, '{"sys":1,"id":40,"channel":"pub-deep","query":%s}' % deep,
                 lambda o: o.get("id") == 40 and o.get("sys") in (1, 14),
                 "SUBSCRIBE with a query nested 100 deep: answered (reply or ERROR) with its id")
    deep_obj = '{"a":' * 100 + "1" + "}" * 100
    await expect(c, cl, '{"sys":13,"id":41,"channel":"pub-deep","topic":"t","msg":%s}' % deep_obj,
                 lambda o: o.get("id") == 41 and o.get("sys") in (7, 14),
                 "PUBLISH with a msg nested 100 deep: answered (uid, err or ERROR) with its id")
    await expect(c, cl, deep, is_error(has_id=False), "a bare array nested 100 deep: ERROR")
    await expect(c, cl, '{"sys":5,"topic":"nosuch","msg":null,"id":"ask-1"}',
                 lambda o: o.get("sys") == 7 and o.get("id") == "ask-1" and "msg" not in o
                 and json.dumps(o.get("err"), separators=(",", ":")) == UNKNOWN_TOPIC_ERR,
                 "ASK unknown topic: RESPONSE with exactly the unknown-topic err")
    await cl.send('{"sys":5,"topic":"nosuch","msg":null,"id":43}')
    r, o = await cl.recv()
    c.ok(('"err":' + UNKNOWN_TOPIC_ERR) in r, "ASK unknown topic: err text byte-exact in the frame", r)
    await expect(c, cl, '{"sys":13,"channel":"other","topic":"t","msg":1,"id":44}',
                 lambda o: o.get("sys") == 7 and o.get("id") == 44 and isinstance(o.get("err"), dict)
                 and "msg" not in o,
                 "PUBLISH where clients may not: RESPONSE with err")
    await expect(c, cl, '{"sys":13,"channel":"_bc_","topic":"t","msg":1,"id":45}',
                 lambda o: o.get("sys") == 7 and o.get("id") == 45 and isinstance(o.get("err"), dict),
                 "PUBLISH to _bc_: RESPONSE with err")
    await expect(c, cl, '{"sys":13,"topic":"t","msg":1,"id":46}',
                 lambda o: o.get("id") == 46 and (o.get("sys") == 14 or isinstance(o.get("err"), dict)),
                 "PUBLISH without channel: an error with the id")
    # TELL gets no reply: the next frame is the ASK's RESPONSE.
    await cl.send('{"sys":6,"topic":"liked","msg":42}')
    r, o = await cl.ask()
    c.ok(o.get("sys") == 7 and not cl.backlog, "TELL from a client: no reply", repr(cl.backlog[:1]))
    # UNSUBSCRIBE: with id a reply, without id none; then no FEEDs of that channel.
    await cl.subscribe("pub-un")
    await cl.subscribe("pub-un2")
    await cl.send('{"sys":2,"channel":"pub-un2"}')
    r, o = await cl.request({"sys": 2, "channel": "pub-un"})
    c.ok(o.get("sys") == 2 and o.get("channel") == "pub-un" and o.get("result") is True,
         "UNSUBSCRIBE with id: reply result true", r)
    c.ok(not cl.backlog, "UNSUBSCRIBE without id: no reply", repr(cl.backlog[:1]))
    p = await PClient.open(srv)
    await p.publish("pub-un", '"gone"')
    await p.publish("pub-un2", '"gone2"')
    await cl.subscribe("pub-un3")
    u3 = await p.publish("pub-un3", '"here"')
    await feed_once(c, cl, u3, "after UNSUBSCRIBE no FEED of the channel arrives")
    await p.close()
    await fresh_client_works(c, srv, "after bad input: a fresh client works")

    # Missing fields in SYNC, SYNC of a server channel.
    await expect(c, cl, '{"sys":4,"id":50}', lambda o: o.get("id") == 50 and o.get("sys") == 14,
                 "SYNC without subscriptions: ERROR with the id")
    await expect(c, cl, '{"sys":4,"id":51,"subscriptions":[{"channel":"_bc_","lastUid":null}]}',
                 lambda o: o.get("sys") == 4 and o.get("id") == 51 and o.get("result") == {"_bc_": False},
                 "SYNC of _bc_: result false")
    await cl.close()

    # More than --max-subscriptions (default 128).
    cl = await PClient.open(srv)
    results = [(await cl.subscribe(f"pub-many{k}")).get("result") for k in range(128)]
    c.eq(results, [True] * 128, "128 subscriptions (the default --max-subscriptions) accepted")
    o = await cl.subscribe("pub-many128")
    c.ok(o.get("result") is False and isinstance(o.get("err"), dict),
         "the 129th SUBSCRIBE: result false with err", repr(o))
    o = await cl.subscribe("pub-many5")
    c.eq(o.get("result"), True, "SUBSCRIBE again to a channel it already has: still result true")
    await cl.send('{"sys":2,"channel":"pub-many0","id":"u"}')
    await cl.reply(lambda o: o.get("id") == "u")
    o = await cl.subscribe("pub-many128")
    c.eq(o.get("result"), True, "after one UNSUBSCRIBE the 129th channel is accepted")
    c.ok(await cl.alive(), "the connection at the subscription limit still answers")
    await cl.close()
    await fresh_client_works(c, srv, "after the subscription limit: a fresh client works")

    # Oversize (--max-message-size 64k): close 1009.
    cl = await PClient.open(srv)
    await cl.send('{"sys":13,"channel":"pub-big","topic":"t","msg":"%s","id":1}' % ("x" * 70000))
    code = await h.ws_close_code(cl.ws)
    c.eq(code, 1009, "a 70000-byte message with --max-message-size 64k: close 1009")
    await fresh_client_works(c, srv, "after close 1009: a fresh client works")
    # Just under the limit passes through intact.
    cl = await PClient.open(srv)
    big = '"%s"' % ("y" * 60000)
    await cl.subscribe("pub-big")
    uid = await cl.publish("pub-big", big)
    r, o = await cl.reply(lambda o: o.get("sys") == 8)
    c.ok(o.get("uid") == uid and check_feed(r, o, "pub-big", "t", big) is None,
         "a 60000-byte msg is published and fanned out intact")
    await cl.close()


async def rate_limit(c):
    srv = await h.Server(c, ["--max-message-rate", "20", "--heartbeat-interval", "0",
                             "--allow-client-publish", "pub-*"], echo=False, name="rate server").start()
    try:
        cl = await PClient.open(srv)
        prot = cl.begin_reply.get("prot")
        c.ok(isinstance(prot, dict) and not prot.get("hb"),
             "--heartbeat-interval 0: BEGIN has prot, prot.hb absent or false", repr(cl.begin_reply))
        oks = [await cl.alive() for _ in range(5)]
        c.ok(all(oks), "a few messages under --max-message-rate 20 are answered")
        code = None
        try:
            for k in range(200):
                await cl.send('{"sys":5,"topic":"x","msg":null,"id":%d}' % k)
        except Exception:  # noqa: BLE001 - closed while sending
            pass
        code = await h.ws_close_code(cl.ws)
        c.eq(code, 1008, "200 messages at once with --max-message-rate 20: close 1008")
        await fresh_client_works(c, srv, "after close 1008: a fresh client works")
    finally:
        await srv.stop()


# --------------------------------------------------------------------------
# 6. Heartbeat


async def heartbeat(c):
    srv = await h.Server(c, ["--heartbeat-interval", "300ms", "--heartbeat-threshold", "1s"], echo=False,
                         name="heartbeat server").start()
    try:
        cl = await PClient.open(srv)
        c.eq(cl.begin_reply.get("prot"), {"hb": True, "hbInterval": 300, "hbThreshold": 1000},
             "BEGIN prot: hb true, hbInterval 300, hbThreshold 1000")
        # Wait (no timing asserted) until 3 `h` frames came, answering each.
        got = []
        try:
            while len(got) < 3:
                m = await asyncio.wait_for(cl.ws.recv(), h.T(20))
                got.append(m)
                if m == "h":
                    await cl.send("h")
            c.ok(True, "the client receives `h` frames")
        except asyncio.TimeoutError:
            c.fail("the client receives `h` frames", f"got {got!r}")
        c.eq(set(got), {"h"}, "nothing but `h` frames while idle (answers `h` raise no ERROR)")
        await cl.send("h")
        c.ok(await cl.alive() and not cl.backlog, "after the client's `h` answer: no ERROR, ASK answered",
             repr(cl.backlog[:1]))
        # A SYNC-first connection gets heartbeats too.
        cl2 = PClient(await h.ws_connect(srv))
        await cl2.send('{"sys":4,"id":1,"subscriptions":[]}')
        r, o = await cl2.recv()
        c.ok(o.get("sys") == 4 and o.get("id") == 1, "SYNC first with no subscriptions: SYNC reply", r)
        try:
            m = await asyncio.wait_for(cl2.ws.recv(), h.T(20))
            c.eq(m, "h", "a connection that began with SYNC receives `h` frames")
        except asyncio.TimeoutError:
            c.fail("a connection that began with SYNC receives `h` frames")
        await cl.close()
        await cl2.close()
    finally:
        await srv.stop()


# --------------------------------------------------------------------------
# 7. Drain with subscribers


async def drain(c, srv, n=30):
    subs = []
    for i in range(n):
        cl = await PClient.open(srv)
        await cl.subscribe(f"pub-drain{i % 3}")
        subs.append(cl)
    p = await PClient.open(srv)
    uid = await p.publish("pub-drain0", '"last"')
    got = [await subs[i].reply(lambda o: o.get("sys") == 8) for i in range(0, n, 3)]
    c.ok(all(o.get("uid") == uid for _, o in got), "subscribers live before the drain")
    srv.send_signal(signal.SIGTERM)
    codes = await asyncio.gather(*(h.ws_close_code(cl.ws, timeout=40) for cl in subs + [p]),
                                 return_exceptions=True)
    c.eq(codes, [1001] * (n + 1), f"SIGTERM: all {n + 1} protocol clients receive close 1001")
    await srv.stop(expect_status=0, sig=None, timeout=60)


# --------------------------------------------------------------------------


async def run(c):
    srv = h.Server(c, ["--log-level", "debug", "--allow-client-publish", "pub-*",
                       "--max-message-size", "64k"], echo=False, name="protocol server")
    await srv.start()
    await c.section("fan-out to 1040 subscribers", fanout, c, srv)
    await c.section("bad input", bad_input, c, srv)
    await fresh_client_works(c, srv, "protocol server still works after all sections")
    await c.section("drain with subscribers", drain, c, srv)
    await c.section("rate limit", rate_limit, c)
    await c.section("heartbeat", heartbeat, c)


if __name__ == "__main__":
    h.main(run, "test_protocol")
