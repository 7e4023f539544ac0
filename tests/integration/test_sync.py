"""SYNC against the real sss-server with two workers (PROTOCOL.md 3 SYNC,
DESIGN.md 8): a reconnecting client gets exactly the messages it missed, then
live FEEDs with no repeat and no gap, also while others publish during the
SYNC; a gap beyond --history-size is reported (result false); a slow reader
is cut off with 4008 and recovers everything by SYNC; after kill -9 of one
worker the other worker's subscribers miss nothing and the dead worker's
clients recover by SYNC."""
import asyncio
import json
import os
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sss_harness as h  # noqa: E402
from test_protocol import PClient, check_feed, feed_once, payload_text, uid_key  # noqa: E402


class Published:
    """What was published per channel: uid -> (topic, msg text), in uid order on demand."""

    def __init__(self):
        self.by_chan = {}

    def add(self, chan, uid, topic, text):
        self.by_chan.setdefault(chan, {})[uid] = (topic, text)

    def after(self, chan, uid):
        """Uids of chan after uid (None: all), in uid order."""
        uids = sorted(self.by_chan.get(chan, {}), key=uid_key)
        return [u for u in uids if uid is None or uid_key(u) > uid_key(uid)]

    def newest(self, chan):
        uids = self.after(chan, None)
        return uids[-1] if uids else None

    def check(self, chan, raw, obj):
        topic, text = self.by_chan[chan].get(obj.get("uid"), (None, None))
        if text is None:
            return f"uid {obj.get('uid')} was never published on {chan}: {raw[:200]!r}"
        return check_feed(raw, obj, chan, topic, text)


async def publish_many(p, pub, chan, n, start=0, topic="t", pipelined=True):
    """n PUBLISHes of payload_text(start..start+n) on chan; sent all at once when pipelined."""
    if not pipelined:
        for i in range(start, start + n):
            pub.add(chan, await p.publish(chan, payload_text(i), topic), topic, payload_text(i))
        return
    ids = []
    for i in range(start, start + n):
        rid = f"{chan}-{i}"
        ids.append((rid, payload_text(i)))
        await p.send('{"sys":13,"channel":%s,"topic":"%s","msg":%s,"id":"%s"}'
                     % (json.dumps(chan), topic, payload_text(i), rid))
    for rid, text in ids:
        r, o = await p.reply(lambda o, rid=rid: o.get("id") == rid)
        if not isinstance(o.get("msg"), dict) or "uid" not in o["msg"]:
            raise AssertionError(f"PUBLISH {rid} answered {r!r}")
        pub.add(chan, o["msg"]["uid"], topic, text)


async def end_all(p, pub, chans):
    for ch in chans:
        pub.add(ch, await p.publish(ch, '"end"', "end"), "end", '"end"')


async def read_until_ends(cl, chans, timeout=30, into=None):
    """FEEDs per channel until each channel's "end" FEED; other frames under '?'."""
    got = into if into is not None else {}
    for ch in chans:
        got.setdefault(ch, [])
    left = {ch for ch in chans if not any(o.get("topic") == "end" for _, o in got[ch])}
    while left:
        raw, o = await cl.recv(timeout)
        ch = o.get("channel")
        if o.get("sys") != 8 or ch not in got:
            got.setdefault("?", []).append(raw)
            continue
        got[ch].append((raw, o))
        if o.get("topic") == "end":
            left.discard(ch)
    return got


def check_sequence(c, pub, chan, last, frames, what):
    """frames (raw, obj) of chan are exactly the published messages after `last`, in order, intact."""
    have = [o.get("uid") for _, o in frames]
    want = pub.after(chan, last)
    ok = c.ok(have == want, f"{what}: exactly the {len(want)} messages after {last}, each once, in order",
              f"got {len(have)} {have[:4]}..{have[-2:]}, expected {len(want)} {want[:4]}..{want[-2:]}"
              + _diff(have, want))
    bad = [why for raw, o in frames for why in [pub.check(chan, raw, o)] if why]
    c.ok(not bad, f"{what}: every FEED intact (channel, topic, byte-exact msg)", f"{len(bad)} bad: {bad[:1]}")
    return ok


def _diff(have, want):
    dup = sorted({u for u in have if have.count(u) > 1}, key=uid_key)
    missing = [u for u in want if u not in have]
    extra = [u for u in have if u not in want]
    return f"; duplicates {dup[:5]}, missing {missing[:5]} ({len(missing)}), extra {extra[:5]}"


async def sync(cl, subs, rid="sync"):
    """Send SYNC with [(channel, lastUid)]; the reply (raw, obj)."""
    await cl.send(json.dumps({"sys": 4, "id": rid, "subscriptions": [
        {"channel": ch, "lastUid": uid, "query": None} for ch, uid in subs]}))
    return await cl.reply(lambda o: o.get("id") == rid)


def records_of(c, reply_obj, chans, what):
    """The SYNC reply's records split per channel; checks they are FEEDs of those channels."""
    recs = reply_obj.get("records")
    if not c.ok(isinstance(recs, list), f"{what}: SYNC reply has a records list", repr(reply_obj)[:300]):
        return {ch: [] for ch in chans}
    per = {ch: [] for ch in chans}
    stray = []
    for r in recs:
        if isinstance(r, dict) and r.get("sys") == 8 and r.get("channel") in per:
            per[r["channel"]].append(r)
        else:
            stray.append(r)
    c.ok(not stray, f"{what}: every record is a FEED of a synced channel", repr(stray[:1]))
    return per


def raw_records(raw, per):
    """(raw text of the reply, obj) pairs for each record so that byte-exact checks can look at the frame."""
    return {ch: [(raw, o) for o in recs] for ch, recs in per.items()}


# --------------------------------------------------------------------------
# SYNC after a reconnect


async def reconnect(c, srv):
    chans = ["sync-a", "sync-b"]
    pub = Published()
    p = await PClient.open(srv)
    for ch in chans:
        pub.add(ch, await p.publish(ch, '"before"'), "t", '"before"')
    a = await PClient.open(srv)
    last = {}
    for ch in chans:
        o = await a.subscribe(ch)
        c.eq(o.get("lastUid"), pub.newest(ch), f"SUBSCRIBE {ch}: lastUid is the newest uid")
        last[ch] = o.get("lastUid")
    for ch in chans:
        await publish_many(p, pub, ch, 5, pipelined=False)
    got = {ch: [] for ch in chans}
    while sum(len(v) for v in got.values()) < 10:
        raw, o = await a.recv()
        got.setdefault(o.get("channel"), []).append((raw, o))
    for ch in chans:
        check_sequence(c, pub, ch, last[ch], got[ch], f"live before the disconnect, {ch}")
        last[ch] = got[ch][-1][1]["uid"] if got[ch] else last[ch]
    await a.close()

    # Missed while away.
    await publish_many(p, pub, "sync-a", 20, start=100)
    await publish_many(p, pub, "sync-b", 10, start=200)

    # Reconnect with SYNC first while a second publisher publishes on both channels.
    p2 = await PClient.open(srv)
    b = PClient(await h.ws_connect(srv))
    # Publish one at a time on both channels from two connections; the SYNC goes out
    # once each channel has had its first 6 (acknowledged), so that publishing goes
    # on while it is answered. Each channel has its own event: the two publishers
    # run at whatever pace the scheduler gives them.
    started = {ch: asyncio.Event() for ch in chans}

    async def keep_publishing(pc, ch, start):
        for i in range(start, start + 60):
            await publish_many(pc, pub, ch, 1, start=i, pipelined=False)
            if i == start + 5:
                started[ch].set()

    concurrent = asyncio.ensure_future(asyncio.gather(keep_publishing(p2, "sync-a", 300),
                                                      keep_publishing(p, "sync-b", 400)))
    for ev in started.values():
        await ev.wait()
    await b.send(json.dumps({"sys": 4, "id": 3, "subscriptions": [
        {"channel": ch, "lastUid": last[ch], "query": None} for ch in chans]}))
    raw, first = await b.recv()
    c.ok(first.get("sys") == 4 and first.get("id") == 3,
         "SYNC as the first message: the first frame is the SYNC reply (no BEGIN reply)", raw[:200])
    c.eq(first.get("result"), {"sync-a": True, "sync-b": True}, "SYNC result: true for both channels")
    per = records_of(c, first, chans, "SYNC after reconnect")
    await concurrent
    await end_all(p, pub, chans)
    live = await read_until_ends(b, chans)
    c.ok("?" not in live, "after the SYNC reply: only FEEDs of the synced channels (no BEGIN reply)",
         repr(live.get("?", [])[:2]))
    for ch in chans:
        n_missed = (20 if ch == "sync-a" else 10) + 6
        rec_uids = [r.get("uid") for r in per[ch]]
        want = pub.after(ch, last[ch])
        c.ok(rec_uids == want[:len(rec_uids)] and len(rec_uids) >= n_missed,
             f"{ch}: records are the missed messages in uid order (at least the {n_missed} published "
             "before the SYNC was sent)", f"records {rec_uids[:3]}.. ({len(rec_uids)}), want {want[:3]}..")
        check_sequence(c, pub, ch, last[ch], raw_records(raw, per)[ch] + live[ch],
                       f"{ch}: records + live FEEDs after SYNC")
        h.log(f"# {ch}: {len(rec_uids)} records, {len(live[ch])} live FEEDs")

    # SYNC after BEGIN, from the middle of history and from the newest uid.
    cl = await PClient.open(srv)
    mid = pub.after("sync-a", None)[10]
    newest_b = pub.newest("sync-b")
    raw, o = await sync(cl, [("sync-a", mid), ("sync-b", newest_b)], rid=7)
    c.eq(o.get("result"), {"sync-a": True, "sync-b": True}, "SYNC after BEGIN: result true for both")
    per = records_of(c, o, chans, "SYNC after BEGIN")
    check_sequence(c, pub, "sync-a", mid, raw_records(raw, per)["sync-a"],
                   "SYNC after BEGIN from the middle of history")
    c.eq(per["sync-b"], [], "SYNC from the newest uid: no records")
    u = await p.publish("sync-b", '"one more"')
    pub.add("sync-b", u, "t", '"one more"')
    raw, o = await cl.reply(lambda o: o.get("sys") == 8)
    c.ok(o.get("uid") == u and o.get("channel") == "sync-b",
         "then the next message arrives live", raw[:200])
    await cl.alive()
    c.ok(not cl.backlog, "and nothing else", repr(cl.backlog[:2]))

    # A second SYNC of a channel the connection already has: no duplicate live FEEDs afterwards.
    raw, o = await sync(cl, [("sync-b", u)], rid=8)
    c.eq(o.get("result"), {"sync-b": True}, "SYNC again of a channel already subscribed: result true")
    u2 = await p.publish("sync-b", '"after resync"')
    raw, o = await cl.reply(lambda o: o.get("sys") == 8)
    await cl.alive()
    c.ok(o.get("uid") == u2 and not cl.backlog, "after a repeated SYNC each live FEED arrives once",
         f"{raw[:120]!r} then {cl.backlog[:2]!r}")
    for x in (p, p2, b, cl):
        await x.close()


async def edge_cases(c, srv):
    p = await PClient.open(srv)
    u = await p.publish("sync-e", '"e1"')
    cl = await PClient.open(srv)
    await cl.subscribe("sync-e")
    await cl.subscribe("sync-e")
    u2 = await p.publish("sync-e", '"e2"')
    await feed_once(c, cl, u2, "SUBSCRIBE twice to a channel: each FEED still arrives once")
    for lu, what in (("abc", "a malformed lastUid"), ("99999999999999-5", "a lastUid newer than any message")):
        raw, o = await sync(cl, [("sync-e", lu)], rid=lu)
        c.ok(o.get("sys") == 4 and o.get("result") == {"sync-e": False}, f"SYNC with {what}: result false",
             raw[:200])
    raw, o = await sync(cl, [("sync-e", u), ("sync-e", u)], rid="dup")
    c.eq(raw.count('"sync-e":'), 1, "[server bug?] SYNC naming a channel twice: the result object has "
         "the channel once (no duplicate JSON keys)")
    raw, o = await sync(cl, [("sync-empty", None)], rid="empty")
    c.ok(o.get("result") == {"sync-empty": True} and o.get("records") == [],
         "SYNC of an empty channel with lastUid null: result true, no records", raw[:200])
    await cl.close()
    await p.close()


# --------------------------------------------------------------------------
# Gap: history shorter than what was missed


async def gap(c):
    srv = await h.Server(c, ["--history-size", "5", "--allow-client-publish", "sync-*"], echo=False,
                         name="history-5 server").start()
    try:
        pub = Published()
        p = await PClient.open(srv)
        cases = {"sync-gap10": 10, "sync-gap6": 6, "sync-gap5": 5, "sync-gap3": 3, "sync-gap0": 0}
        last = {}
        a = await PClient.open(srv)
        for ch in cases:
            pub.add(ch, await p.publish(ch, '"first"'), "t", '"first"')
            last[ch] = (await a.subscribe(ch)).get("lastUid")
        c.ok(all(last[ch] == pub.newest(ch) for ch in cases), "SUBSCRIBE lastUids are the newest uids")
        await a.close()
        for ch, n in cases.items():
            await publish_many(p, pub, ch, n)
        b = PClient(await h.ws_connect(srv))
        raw, o = await sync(b, list(last.items()), rid="g")
        want = {"sync-gap10": False, "sync-gap6": False, "sync-gap5": True, "sync-gap3": True,
                "sync-gap0": True}
        c.eq(o.get("result"), want, "--history-size 5: SYNC result false after missing 10 or 6, "
             "true after missing 5, 3 or 0")
        per = records_of(c, o, list(cases), "SYNC with gaps")
        for ch in ("sync-gap5", "sync-gap3", "sync-gap0"):
            check_sequence(c, pub, ch, last[ch], raw_records(raw, per)[ch], f"{ch}: records")
        for ch in ("sync-gap10", "sync-gap6"):
            recs = [r.get("uid") for r in per[ch]]
            c.ok(recs == pub.after(ch, last[ch])[-len(recs):] if recs else True,
                 f"{ch}: any records given for a gapped channel are the newest ones in order", repr(recs))
        c.ok(await b.alive(), "the connection that got result false still works")
        await b.close()
        await p.close()
    finally:
        await srv.stop()


# --------------------------------------------------------------------------
# Slow reader: 4008, then SYNC recovers everything


def parse_text_frames(frames):
    out = []
    for f in frames:
        if f.op != h.OP_TEXT or f.payload == b"h":
            continue
        t = f.payload.decode()
        out.append((t, json.loads(t)))
    return out


async def slow_reader(c):
    # The kernel takes megabytes for a reader that does not read (socket buffers on
    # loopback): 300 messages of 60 KB (18 MB) overflow 256 KB of send queue after them.
    srv = await h.Server(c, ["--max-send-queue", "256k", "--slow-grace", "300ms", "--history-size", "1000",
                             "--max-message-size", "128k", "--allow-client-publish", "sync-*"],
                         echo=False, name="slow-reader server").start()
    try:
        ch = "sync-slow"
        pub = Published()
        p = await PClient.open(srv)
        pub.add(ch, await p.publish(ch, '"first"'), "t", '"first"')
        fast = await PClient.open(srv)
        fast_last = (await fast.subscribe(ch)).get("lastUid")

        rc = await h.RawClient.upgrade(srv, rcvbuf=4096)
        await rc.send_frame(h.OP_TEXT, b'{"sys":3}')
        f = await rc.read_frame()
        c.ok(f.op == h.OP_TEXT and json.loads(f.payload).get("sys") == 3, "raw client: BEGIN answered", repr(f))
        await rc.send_frame(h.OP_TEXT, b'{"sys":1,"channel":"sync-slow","id":1}')
        f = await rc.read_frame()
        sub = json.loads(f.payload)
        c.ok(sub.get("result") is True and sub.get("lastUid") == pub.newest(ch),
             "raw client: SUBSCRIBE answered with the newest uid", repr(sub))
        slow_last = sub.get("lastUid")
        # Stop reading: neither asyncio nor the kernel take more than a few KB.
        rc.w.transport.pause_reading()

        fast_reader = asyncio.ensure_future(read_until_ends(fast, [ch], timeout=60))
        big = "z" * 60000
        n = 300
        # One at a time (each waits for its uid): a reader that keeps up never has
        # more than a frame or two queued; bursts are the subject of burst_to_fast_reader.
        for i in range(n):
            text = '{"i":%d,"pad":"%s"}' % (i, big)
            pub.add(ch, await p.publish(ch, text), "t", text)
        await end_all(p, pub, [ch])
        h.log(f"# published {n} messages of ~60 KB and the end sentinel on {ch}")

        fast_got = await fast_reader
        check_sequence(c, pub, ch, fast_last, fast_got[ch],
                       "a fast subscriber of the same channel (backpressure is per connection)")

        rc.w.transport.resume_reading()
        closef, frames = await rc.read_until_close(timeout=60)
        c.ok(closef is not None and closef.close_code == 4008, "the slow reader receives close 4008",
             f"got {closef!r} after {len(frames)} frames")
        processed = [(t, o) for t, o in parse_text_frames(frames) if o.get("sys") == 8]
        h.log(f"# the slow reader processed {len(processed)} FEEDs before the close")
        want = pub.after(ch, slow_last)
        have = [o.get("uid") for _, o in processed]
        c.ok(have == want[:len(have)], "the FEEDs before the close are a prefix of the channel, in order",
             f"{have[:3]}..{have[-2:]} vs {want[:3]}.." + _diff(have, want[:len(have)]))
        c.ok(len(have) < len(want), "the slow reader did not get everything before the close",
             f"{len(have)} of {len(want)}")
        rc.close()
        if have:
            slow_last = have[-1]

        # Reconnect and SYNC from the last processed uid.
        cl = PClient(await h.ws_connect(srv))
        raw, o = await sync(cl, [(ch, slow_last)], rid="again")
        c.eq(o.get("result"), {ch: True}, "after 4008: SYNC from the last processed uid, result true")
        per = records_of(c, o, [ch], "SYNC after 4008")
        got = raw_records(raw, per)
        if pub.after(ch, slow_last) and not any(x.get("topic") == "end" for x in per[ch]):
            got = await read_until_ends(cl, [ch], into=got)
        check_sequence(c, pub, ch, slow_last, got[ch], "after 4008: records (+ live) complete the channel")
        u = await p.publish(ch, '"live"')
        pub.add(ch, u, "t", '"live"')
        raw, o = await cl.reply(lambda o: o.get("sys") == 8)
        await cl.alive()
        c.ok(o.get("uid") == u and not cl.backlog, "then live FEEDs continue, each once",
             f"{raw[:100]!r}, then {cl.backlog[:1]!r}")
        for x in (cl, p, fast):
            await x.close()
    finally:
        await srv.stop()


async def burst_to_fast_reader(c):
    """A reader that keeps reading, a burst bigger than --max-send-queue: is it cut off?
    (--max-send-queue is for slow connections; DESIGN 8: backpressure per connection.)"""
    # --slow-grace 60s: the subject is the queue limit, which must not act as a byte cap;
    # a reader stalled by a busy machine for more than the default grace of 1 s would
    # rightly count as slow, so the grace is taken out of the picture.
    srv = await h.Server(c, ["--max-send-queue", "32k", "--slow-grace", "60s", "--allow-client-publish",
                             "sync-*"], echo=False, name="burst server").start()
    try:
        ch = "sync-burst"
        pub = Published()
        p = await PClient.open(srv)
        fast = await PClient.open(srv)
        last = (await fast.subscribe(ch)).get("lastUid")
        reader = asyncio.ensure_future(read_until_ends(fast, [ch], timeout=60))
        await asyncio.sleep(0)
        big = "q" * 3000
        ids = []
        for i in range(50):
            text = '{"i":%d,"pad":"%s"}' % (i, big)
            ids.append((f"b{i}", text))
            await p.send('{"sys":13,"channel":"sync-burst","topic":"t","msg":%s,"id":"b%d"}' % (text, i))
        for rid, text in ids:
            r, o = await p.reply(lambda o, rid=rid: o.get("id") == rid)
            pub.add(ch, o["msg"]["uid"], "t", text)
        await end_all(p, pub, [ch])
        try:
            got = await reader
            check_sequence(c, pub, ch, last, got[ch], "burst of 50 x 3 KB to a reader that keeps up")
        except Exception as e:  # noqa: BLE001
            c.fail("[server bug?] a reader that keeps reading is not cut off by a burst of 50 x 3 KB "
                   "pipelined publishes with --max-send-queue 32k", f"{type(e).__name__}: {e}")
        await p.close()
        await fast.close()
    finally:
        await srv.stop()


# --------------------------------------------------------------------------
# kill -9 of one worker


async def open_on_worker(srv, mark, seen):
    """Open and BEGIN a connection; its worker role from the next 'upgraded' line after mark."""
    cl = await PClient.open(srv)
    for _ in range(int(h.T(200))):
        ups = [l.split()[1] for l in srv.log_lines()[mark:] if "upgraded" in l]
        if len(ups) > seen[0]:
            role = ups[seen[0]]
            seen[0] += 1
            return cl, role
        await asyncio.sleep(0.05)
    raise AssertionError("no 'upgraded' line for a new connection")


async def kill_worker(c, srv, nsubs=24):
    chans = ["sync-k0", "sync-k1"]
    pub = Published()
    mark = len(srv.log_lines())
    seen = [0]
    p, p_role = await open_on_worker(srv, mark, seen)
    for ch in chans:
        pub.add(ch, await p.publish(ch, '"k-first"'), "t", '"k-first"')
    subs = []  # (client, role, {chan: lastUid})
    for _ in range(nsubs):
        cl, role = await open_on_worker(srv, mark, seen)
        subs.append((cl, role, {ch: (await cl.subscribe(ch)).get("lastUid") for ch in chans}))
    roles = {r for _, r, _ in subs}
    h.log(f"# publisher on {p_role}; subscribers per worker: "
          f"{ {r: sum(1 for _, x, _ in subs if x == r) for r in roles} }")
    if not c.ok(len(roles) == 2, "subscribers on both workers", repr(roles)):
        return
    victim = next(r for r in roles if r != p_role)
    pids = srv.role_pids()
    victim_pid = pids.get(victim)
    if not c.ok(victim_pid, f"pid of {victim} found in the log", repr(pids)):
        return

    for ch in chans:
        await publish_many(p, pub, ch, 10, start=500)
    # Everyone has read phase 1 (so each has a lastUid to SYNC from).
    processed = []
    for cl, role, last in subs:
        got = {ch: [] for ch in chans}
        while sum(len(v) for v in got.values()) < 20:
            raw, o = await cl.recv()
            got[o["channel"]].append((raw, o))
        processed.append(got)

    # Phase 2: publish while the victim dies.
    async def phase2():
        for i in range(20):
            for ch in chans:
                await publish_many(p, pub, ch, 1, start=600 + i, pipelined=False)
            if i == 4:
                h.log(f"# kill -9 {victim} pid={victim_pid}")
                os.kill(victim_pid, signal.SIGKILL)
        await end_all(p, pub, chans)

    from websockets.exceptions import ConnectionClosed

    async def follow(k):
        cl, role, last = subs[k]
        got = processed[k]
        try:
            await read_until_ends(cl, chans, timeout=60, into=got)
            return "complete"
        except ConnectionClosed:
            return "closed"

    results = await asyncio.gather(phase2(), *(follow(k) for k in range(nsubs)), return_exceptions=True)
    if not c.ok(not isinstance(results[0], BaseException), "publishing on the surviving worker carried on",
                repr(results[0])):
        return
    outcomes = results[1:]
    surv = [k for k in range(nsubs) if subs[k][1] != victim]
    dead = [k for k in range(nsubs) if subs[k][1] == victim]
    c.ok(all(outcomes[k] == "complete" for k in surv),
         f"all {len(surv)} subscribers of the surviving worker read to the end",
         repr([outcomes[k] for k in surv]))
    c.ok(all(outcomes[k] == "closed" for k in dead),
         f"all {len(dead)} subscribers of the killed worker lost their connection",
         repr([outcomes[k] for k in dead]))
    bad = []
    for k in surv:
        for ch in chans:
            have = [o.get("uid") for _, o in processed[k][ch]]
            want = pub.after(ch, subs[k][2][ch])
            if have != want:
                bad.append((k, ch, _diff(have, want)))
    c.ok(not bad, "surviving subscribers got every message of both channels once, in order, across the kill",
         repr(bad[:2]))

    # The killed worker's clients reconnect (any worker) and SYNC from what they processed.
    async def recover(k):
        cl, role, last = subs[k]
        mine = {ch: ([o.get("uid") for _, o in processed[k][ch]] or [last[ch]])[-1] for ch in chans}
        ws = await h.open_retry(srv, timeout=30)
        n = PClient(ws)
        try:
            raw, o = await sync(n, list(mine.items()), rid=f"r{k}")
            per = {ch: [r for r in o.get("records") or [] if isinstance(r, dict) and r.get("channel") == ch]
                   for ch in chans}
            got = raw_records(raw, per)
            if o.get("result") and not all(any(x.get("topic") == "end" for x in per[ch]) for ch in chans):
                got = await read_until_ends(n, chans, into=got)
            return mine, o.get("result"), got
        finally:
            await n.close()

    rec = await asyncio.gather(*(recover(k) for k in dead), return_exceptions=True)
    errs = [r for r in rec if isinstance(r, BaseException)]
    c.ok(not errs, f"all {len(dead)} clients of the killed worker reconnected and SYNCed", repr(errs[:1]))
    wrong_res, wrong_seq = [], []
    for r in rec:
        if isinstance(r, BaseException):
            continue
        mine, result, got = r
        if result != {ch: True for ch in chans}:
            wrong_res.append(result)
            continue
        for ch in chans:
            have = [o.get("uid") for _, o in got[ch]]
            want = pub.after(ch, mine[ch])
            if have != want:
                wrong_seq.append((ch, mine[ch], _diff(have, want)))
    c.ok(not wrong_res, "their SYNC: result true for both channels", repr(wrong_res[:2]))
    c.ok(not wrong_seq, "their SYNC records + live FEEDs are exactly what they missed, in order",
         repr(wrong_seq[:2]))
    for cl, role, _ in subs:
        await cl.close()
    await p.close()


async def run(c):
    srv = h.Server(c, ["--log-level", "debug", "--allow-client-publish", "sync-*"], echo=False,
                   name="sync server")
    await srv.start()
    await c.section("SYNC after a reconnect", reconnect, c, srv)
    await c.section("SYNC edge cases", edge_cases, c, srv)
    await c.section("kill -9 of a worker with subscribers", kill_worker, c, srv)
    await srv.stop()
    await c.section("gap beyond --history-size 5", gap, c)
    await c.section("slow reader: 4008 then SYNC", slow_reader, c)
    await c.section("burst to a reader that keeps up", burst_to_fast_reader, c)


if __name__ == "__main__":
    h.main(run, "test_sync")
