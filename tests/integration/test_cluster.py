"""Many hosts through one real Redis (--engine redis), issue "Many hosts":

- a publish at host 1 reaches 1,200 subscribers spread over hosts 1, 2 and
  3 exactly once, in uid order, and broadcast and boot cross hosts too;
- a client subscribed at host 1 keeps its stream while host 1 is killed
  with SIGKILL: it reconnects to host 3, SYNCs, and has every message
  published meanwhile, none twice;
- Redis is restarted in the middle of a publishing stream: every subscriber
  has every acknowledged message, in order, once, and publishes made while
  Redis is away wait for it (--redis-wait) or fail with a clear error;
- with Redis gone for longer than --redis-wait, a publish fails with 503
  and says why, and delivery resumes when Redis comes back.
"""
import asyncio
import json
import os
import re
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sss_harness as h  # noqa: E402
from sss_cluster import (Collector, in_order_once, start_hosts, uid_key, ws_begin,  # noqa: E402
                         ws_subscribe)
from sss_harness import T  # noqa: E402
from svc_redis import Redis  # noqa: E402

FANOUT_SUBS = 1200   # spread over the three hosts
FANOUT_MSGS = 40


def numsub(redis, chan):
    """How many Redis connections are subscribed to sss:{chan} (PUBSUB NUMSUB)."""
    raw = redis.command("PUBSUB", "NUMSUB", f"sss:{{{chan}}}")
    return int(raw.rsplit(b":", 1)[1].split(b"\r\n")[0])


async def others_of(subs, sys_, pred, timeout=20):
    """Wait (each up to timeout) until every sub has had a non-FEED frame of
    kind sys_; the subs that have had one that also satisfies pred."""
    for s in subs:
        deadline = asyncio.get_event_loop().time() + T(timeout)
        while (not any(o.get("sys") == sys_ for o in s.others)
               and asyncio.get_event_loop().time() < deadline):
            await asyncio.sleep(0.05)
    return [s for s in subs if any(o.get("sys") == sys_ and pred(o) for o in s.others)]


async def fanout(c, hosts, redis):
    """1,200 subscribers on 3 hosts, 40 publishes at host 1."""
    subs = []
    for i in range(FANOUT_SUBS):
        srv, _ = hosts[i % 3]
        # sss.v1.json: the channel boot below reaches them as BOOTCHANNEL (a
        # client that offers no sub-protocol would get BOOT and 4001).
        ws, _ = await ws_begin(srv.url, subprotocols=["sss.v1.json"])
        r = await ws_subscribe(ws, "fan")
        if i == 0:
            c.ok(r.get("result") is True, "SUBSCRIBE on a Redis host is accepted", str(r))
        subs.append(Collector(ws))
    api1 = hosts[0][1]
    acked = []
    for i in range(FANOUT_MSGS):
        status, uid, text = await api1.publish_value("fan", i)
        if status != 200:
            c.fail(f"publish {i} at host 1", text)
            continue
        acked.append(uid)
    c.ok(len(acked) == FANOUT_MSGS, f"host 1 acknowledged {FANOUT_MSGS} publishes with uids")
    c.ok(in_order_once(acked)[0], "the uids host 1 gave grow one by one", str(acked[:5]))
    epochs = {uid_key(u)[0] for u in acked}
    offsets = [uid_key(u)[1] for u in acked]
    c.ok(len(epochs) == 1 and offsets == list(range(offsets[0], offsets[0] + len(offsets))),
         "one epoch, offsets +1 per message", str(acked[:3]))
    for s in subs:
        await s.wait_count(FANOUT_MSGS, 60)
    bad = [i for i, s in enumerate(subs) if s.msgs != list(range(FANOUT_MSGS)) or s.uids != acked]
    c.ok(not bad, f"all {FANOUT_SUBS} subscribers on 3 hosts got the {FANOUT_MSGS} messages "
         "exactly once, in uid order",
         f"{len(bad)} wrong, e.g. #{bad[0] if bad else ''} (host {bad[0] % 3 + 1 if bad else ''}): "
         f"{subs[bad[0]].msgs[:10] if bad else ''}")
    await asyncio.sleep(0.5)
    extra = [i for i, s in enumerate(subs) if len(s.msgs) != FANOUT_MSGS]
    c.ok(not extra, "no subscriber got anything more afterwards", str(extra[:5]))
    c.eq(numsub(redis, "fan"), 3, "each of the 3 hosts is subscribed once to the channel in Redis")

    # Broadcast and boot travel on the control channel to every host.
    r = await hosts[1][1].req("POST", "/api/broadcast",
                              json.dumps({"topic": "news", "msg": "hello all"}))
    c.eq(r.status, 200, "broadcast at host 2 is accepted")
    got = await others_of(subs, 11, lambda o: o.get("msg") == "hello all")
    c.eq(len(got), FANOUT_SUBS, "a broadcast at host 2 reaches the clients of all 3 hosts")
    r = await hosts[2][1].req("POST", "/api/boot",
                              json.dumps({"channel": "fan", "reason": "cluster boot"}))
    c.eq(r.status, 200, "boot of a channel at host 3 is accepted")
    booted = await others_of(subs, 10, lambda o: o.get("channel") == "fan")
    c.eq(len(booted), FANOUT_SUBS, "a channel boot at host 3 reaches the clients of all 3 hosts")
    # The boot emptied the channel on every host: each unsubscribed it in Redis.
    deadline = asyncio.get_event_loop().time() + T(20)
    while numsub(redis, "fan") and asyncio.get_event_loop().time() < deadline:
        await asyncio.sleep(0.05)
    c.eq(numsub(redis, "fan"), 0, "after its last local subscriber left, no host listens to it")
    ws, _ = await ws_begin(hosts[0][0].url)
    await ws_subscribe(ws, "fan")
    c.eq(numsub(redis, "fan"), 1, "a new first subscriber makes its host subscribe in Redis")
    await ws.close()
    for s in subs:
        s.stop()
        await s.ws.close()


async def publish_stream(api, channel, n, acked, failures, pause=0.01):
    for i in range(n):
        status, uid, text = await api.publish_value(channel, i, timeout=60)
        if status == 200:
            acked.append((i, uid))
        else:
            failures.append((i, status, text))
        await asyncio.sleep(pause)


async def host_killed(c, hosts):
    """A client on host 1 moves to host 3 after host 1 is SIGKILLed."""
    (h1, _), (h2, api2), (h3, _) = hosts
    ws, _ = await ws_begin(h1.url)
    await ws_subscribe(ws, "move")
    col = Collector(ws)
    acked, failures = [], []
    pub = asyncio.ensure_future(publish_stream(api2, "move", 300, acked, failures))
    while len(col.msgs) < 50 and not pub.done():
        await asyncio.sleep(0.02)
    c.ok(len(col.msgs) >= 50, "the client on host 1 receives host 2's publishes")
    os.killpg(h1.proc.pid, signal.SIGKILL)
    h1.stopped = True
    await asyncio.wait_for(col.task, T(20))
    before = list(col.msgs)
    last_uid = col.uids[-1]
    await asyncio.sleep(0.3)  # messages keep coming while the client is away
    ws3, _ = await ws_begin(h3.url)
    await ws3.send(json.dumps({"sys": 4, "id": 9, "subscriptions": [
        {"channel": "move", "lastUid": last_uid, "query": None}]}))
    reply = None
    live = []
    while reply is None:
        m = json.loads(await asyncio.wait_for(ws3.recv(), T(30)))
        if m.get("sys") == 4 and m.get("id") == 9:
            reply = m
        elif m.get("sys") == 8:
            live.append(m)
    c.ok(reply.get("result", {}).get("move") is True, "SYNC at host 3 is complete (no gap)",
         json.dumps(reply)[:300])
    records = [r["msg"] for r in reply.get("records", [])]
    col3 = Collector(ws3)
    await asyncio.wait_for(pub, T(120))
    c.ok(not failures, "host 2 published all 300 while host 1 died", str(failures[:3]))
    await col3.wait_count(300 - len(before) - len(records) - len(live), 30)
    await asyncio.sleep(0.3)
    got = before + records + [m["msg"] for m in live] + col3.msgs
    c.ok(got == list(range(300)), "the client has every message once, in order, across the move",
         f"{len(got)} messages; first differences: "
         f"{[(i, x) for i, x in enumerate(got) if i >= 300 or x != i][:5]}")
    col3.stop()
    await ws3.close()


async def redis_restart(c, hosts, redis):
    """Restart Redis while host 1 publishes: hosts 2 and 3 miss nothing."""
    (_, api1), (h2, _), (h3, _) = hosts[0], hosts[1], hosts[2]
    cols = []
    for srv in (h2, h3):
        for _ in range(3):
            ws, _ = await ws_begin(srv.url)
            await ws_subscribe(ws, "stream")
            cols.append(Collector(ws))
    acked, failures = [], []
    pub = asyncio.ensure_future(publish_stream(api1, "stream", 400, acked, failures, pause=0.005))
    while len(acked) < 100 and not pub.done():
        await asyncio.sleep(0.01)
    marks = [len(srv.log_lines()) for srv, _ in hosts]
    redis.restart()
    await asyncio.wait_for(pub, T(300))
    h.log(f"# across the Redis restart: {len(acked)} acknowledged, {len(failures)} failed")
    for (srv, _), mark in zip(hosts, marks):
        c.ok(await srv.wait_log(r"subscriptions connection to .* lost", 20, mark)
             and await srv.wait_log(r"subscriptions connection to .* is back", 20, mark),
             f"{srv.name} lost Redis and reconnected")
    c.ok(len(acked) >= 300, "most publishes made across the Redis restart were acknowledged",
         f"{len(acked)} acknowledged, failures {failures[:3]}")
    unclear = [f for f in failures if f[1] != 503]
    c.ok(not unclear, "a publish that failed during the restart got 503 with a reason",
         str(unclear[:3]))
    reasons = {f[2] for f in failures}
    c.ok(all("Redis" in r for r in reasons), "the failures name Redis", str(reasons))
    want = [i for i, _ in acked]
    for col in cols:
        await col.wait_count(len(want), 60)
    await asyncio.sleep(0.5)
    for n, col in enumerate(cols):
        ok_order, why = in_order_once(col.uids)
        missing = sorted(set(want) - set(col.msgs))
        c.ok(ok_order and not missing,
             f"subscriber {n} (host {2 + n // 3}) has every acknowledged message, in order, once",
             f"order: {why}; missing {missing[:10]} of {len(want)}")
    for col in cols:
        col.stop()
        await col.ws.close()


async def redis_wiped(c, hosts, redis):
    """Redis comes back empty: a subscriber that may have missed messages is
    told (4008), and its SYNC reports the gap instead of hiding it."""
    (_, api1), (h2, _) = hosts[0], hosts[1]
    ws, _ = await ws_begin(h2.url)
    await ws_subscribe(ws, "wiped")
    col = Collector(ws)
    for i in range(3):
        await api1.publish_value("wiped", i)
    c.ok(await col.wait_count(3, 20), "host 2's subscriber has the 3 messages before the wipe")
    redis.persist = False
    redis.restart()  # without its append-only file: every stream is gone
    redis.persist = True
    await asyncio.wait_for(col.task, T(30))
    code = getattr(getattr(col.closed, "rcvd", None), "code", None)
    c.eq(code, 4008, "the subscriber is closed with 4008 (missed messages)")
    ws2, _ = await ws_begin(h2.url)
    await ws2.send(json.dumps({"sys": 4, "id": 5, "subscriptions": [
        {"channel": "wiped", "lastUid": col.uids[-1], "query": None}]}))
    reply = None
    while reply is None:
        m = json.loads(await asyncio.wait_for(ws2.recv(), T(30)))
        if m.get("sys") == 4:
            reply = m
    c.ok(reply.get("result", {}).get("wiped") is False, "its SYNC says the channel has a gap",
         json.dumps(reply)[:200])
    await ws2.close()


async def scaler_killed(c, hosts):
    """Host 3's scaler dies: its replacement subscribes the host's channels again."""
    (_, api1), (h2, _) = hosts[1], hosts[2]  # host 1 is gone by now
    ws, _ = await ws_begin(h2.url)
    await ws_subscribe(ws, "survive")
    col = Collector(ws)
    status, _, text = await api1.publish_value("survive", "before")
    c.ok(status == 200 and await col.wait_count(1, 20), "host 3 gets host 2's publish", text)
    pid = int(re.findall(r"scaler started pid=(\d+)", h2.log())[-1])
    # Host 2 keeps publishing while host 3's scaler dies and comes back:
    # host 3's workers fetch from Redis what went by, so the subscriber has
    # every message, in order, once.
    acked, failures = [], []
    pub = asyncio.ensure_future(publish_stream(api1, "survive", 60, acked, failures, pause=0.05))
    while len(acked) < 5 and not pub.done():
        await asyncio.sleep(0.01)
    os.kill(pid, signal.SIGKILL)
    deadline = asyncio.get_event_loop().time() + T(30)
    while (len(re.findall(r"scaler started pid=", h2.log())) < 2
           and asyncio.get_event_loop().time() < deadline):
        await asyncio.sleep(0.05)
    c.ok(await h2.wait_log(r"worker \d is giving its subscriptions again", 30),
         "the workers give the new scaler their subscriptions")
    await asyncio.wait_for(pub, T(120))
    sent = [i for i, _ in acked]
    c.ok(not failures, "host 2 published meanwhile", str(failures[:3]))
    await col.wait_count(1 + len(sent), 30)
    await asyncio.sleep(0.5)
    c.ok(len(col.msgs) >= 2, "after its scaler was replaced, host 3 receives host 2's publishes",
         str(col.msgs))
    c.ok(col.msgs == ["before"] + sent and in_order_once(col.uids)[0],
         "including those published while it had no scaler: every message, in order, once",
         f"{col.msgs} of {sent}")
    col.stop()
    await ws.close()


async def redis_gone(c, hosts, redis):
    """Redis away past --redis-wait: a clear 503; then delivery resumes."""
    (_, api1), (h2, _) = hosts[0], hosts[1]
    ws, _ = await ws_begin(h2.url)
    await ws_subscribe(ws, "later")
    col = Collector(ws)
    redis.stop()
    status, uid, text = await api1.publish_value("later", "lost?", timeout=60)
    c.eq(status, 503, "a publish while Redis stays away fails with 503")
    c.ok("Redis" in text, "its error says Redis is away", text)
    redis.start()
    # After the reconnect: publishes flow again and reach host 2.
    deadline = asyncio.get_event_loop().time() + T(60)
    status = 0
    while status != 200 and asyncio.get_event_loop().time() < deadline:
        status, uid, text = await api1.publish_value("later", "back", timeout=60)
        await asyncio.sleep(0.2)
    c.eq(status, 200, "publishing works again once Redis is back")
    c.ok(await col.wait_count(1, 30) and col.msgs[-1] == "back",
         "host 2's subscriber gets the first message after Redis came back", str(col.msgs))
    col.stop()
    await ws.close()


async def run(c):
    redis = Redis(persist=True)
    try:
        hosts = await start_hosts(c, redis, 3, extra=["--redis-wait", "3s",
                                                      "--max-connections", "5000"])
        await fanout(c, hosts, redis)
        await redis_restart(c, hosts, redis)
        await redis_gone(c, hosts, redis)
        await redis_wiped(c, hosts, redis)
        await host_killed(c, hosts)
        await scaler_killed(c, hosts)
        for srv, _ in hosts:
            if not srv.stopped:
                await srv.stop()
    finally:
        redis.close()


if __name__ == "__main__":
    h.main(run, "test_cluster")
