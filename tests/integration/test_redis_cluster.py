"""Many hosts on a real Redis Cluster (--redis-cluster, issue 15 item 1):
6 redis-server nodes (3 masters, 3 replicas, svc_redis_cluster.py).

- two sss hosts deliver 60 channels across hosts, each message once and in
  uid order, every channel through sharded pub/sub on the master of its
  slot: PUBSUB SHARDCHANNELS on the masters lists exactly the channels the
  hosts' subscribers need (each on the master of its slot, SHARDNUMSUB
  counting one subscription per host that needs it), and a channel no host
  needs any more leaves it; broadcast crosses hosts on the control channel;
- failover (item 2): the master of a streamed channel is SIGKILLed; its
  replica takes over, publishing resumes (publishes wait for it,
  --redis-wait), and every acknowledged message reaches the subscriber on
  the other host once and in order, or the subscriber is closed with 4008
  and its SYNC reports the gap: never silence;
- resharding: the slot of a streamed channel migrates to another master
  step by step, as redis-cli --cluster reshard does it (IMPORTING,
  MIGRATING, MIGRATE, SETSLOT NODE), with publishes between the steps
  (answered by the old master, then through ASK, then MOVED): the
  subscriber on the other host has every message once, in order;
- --redis-min-replicas: 1 (each master has one replica) acknowledges, 2 is
  answered 503 "may or may not have been published";
- bad seeds stop the start with a clear error; a seed that answers nothing,
  or a Redis that is not a cluster, leaves the server running (no restart
  loop) with sss_engine_up 0 and publishes answered 503.
"""
import asyncio
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sss_harness as h  # noqa: E402
from sss_cluster import Api, Collector, uid_key  # noqa: E402
from sss_harness import T  # noqa: E402
from svc_redis import Redis, free_port  # noqa: E402
from svc_redis_cluster import RedisCluster, bulk_strings, ints  # noqa: E402

NCHAN = 60
NMSG = 6          # per channel, alternately published at host 1 and host 2
H1 = range(0, 40)   # channels host 1's subscribers want
H2 = range(20, 60)  # channels host 2's subscribers want


def chan(i):
    return f"c{i}"


async def start_host(c, name, seeds, extra=()):
    srv = await h.Server(c, flags=["--engine", "redis", "--redis-cluster", seeds,
                                   "--host-id", name, "--api-listen", "127.0.0.1:0",
                                   *extra],
                         echo=False, name=name).start()
    m = await srv.wait_log(r"api listening on 127\.0\.0\.1:(\d+)", timeout=20)
    return srv, Api(int(m.group(1)))


async def subscriber(srv, chans, names=None):
    """One connection subscribed to chans (each confirmed), collecting FEEDs."""
    ws = await h.begun(srv, subprotocols=["sss.v1.json"])
    for n, i in enumerate(chans):
        name = names[i] if names else chan(i)
        await ws.send(json.dumps({"sys": 1, "id": n + 1, "channel": name}))
        r = await h.rx_until(ws, lambda m, n=n: m.get("sys") == 1 and m.get("id") == n + 1)
        if r.get("result") is not True:
            raise RuntimeError(f"SUBSCRIBE {name} refused: {r}")
    return Collector(ws)


def shard_channels(cl):
    """{master port: set of shard channels} over the masters."""
    return {m.port: set(bulk_strings(m.command("PUBSUB", "SHARDCHANNELS")))
            for m in cl.masters()}


async def wait_until(pred, timeout):
    deadline = asyncio.get_event_loop().time() + T(timeout)
    while asyncio.get_event_loop().time() < deadline:
        if pred():
            return True
        await asyncio.sleep(0.05)
    return pred()


async def publish_alternately(c, a1, a2, names, nmsg, how):
    """nmsg messages (0..nmsg-1) on each channel of names, alternately through
    the APIs a1 and a2; {index: [(uid, k)]} of those acknowledged."""
    acked = {i: [] for i in range(len(names))}
    for k in range(nmsg):
        for i, name in enumerate(names):
            api = a1 if (i + k) % 2 == 0 else a2
            status, uid, text = await api.publish_value(name, k)
            if status != 200:
                c.fail(f"publish {name}#{k} {how}", f"{status} {text}")
                continue
            acked[i].append((uid, k))
    return acked


async def test_delivery(c):
    cl = RedisCluster()
    try:
        h1, a1 = await start_host(c, "h1", cl.seeds)
        # Host 2 knows a single seed, a replica's address among them is fine too.
        h2, a2 = await start_host(c, "h2", f"127.0.0.1:{cl.nodes[5].port}")
        for srv, api in ((h1, a1), (h2, a2)):
            c.eq(await h.metric_wait(api.port, "sss_engine_up", 1), 1,
                 f"{srv.name}: the engine is up on the cluster")
        f1 = await subscriber(h1, H1)
        f2 = await subscriber(h2, H2)

        # Every channel on the master of its slot, exactly those the hosts need.
        want = {f"sss:{{{chan(i)}}}" for i in set(H1) | set(H2)}
        got = shard_channels(cl)
        c.eq(set().union(*got.values()), want,
             "PUBSUB SHARDCHANNELS on the masters: exactly the 60 channels the hosts need")
        misplaced = [name for port, names in got.items() for name in names
                     if cl.master_of(name).port != port]
        c.eq(misplaced, [], "each channel is subscribed on the master of its slot")
        c.eq(len(got), 3, "the channels spread over the 3 masters")
        both = [i for i in range(NCHAN) if i in H1 and i in H2]
        nsub = {}
        for i in range(NCHAN):
            name = f"sss:{{{chan(i)}}}"
            nsub[i] = ints(cl.master_of(name).command("PUBSUB", "SHARDNUMSUB", name))[-1]
        c.ok(all(nsub[i] == (2 if i in both else 1) for i in range(NCHAN)),
             "SHARDNUMSUB: one subscription per host that needs the channel", str(nsub))
        c.eq(sum(len(v) for v in got.values()), NCHAN, "no channel twice")
        plain = [bulk_strings(m.command("PUBSUB", "CHANNELS")) for m in cl.masters()]
        c.ok(all(set(p) <= {"sss:{!ctl}"} for p in plain),
             "classic pub/sub carries only the control channel", str(plain))

        # NMSG messages per channel, alternately at host 1 and host 2.
        acked = await publish_alternately(c, a1, a2, [chan(i) for i in range(NCHAN)], NMSG,
                                          "acknowledged")
        c.eq(sum(len(v) for v in acked.values()), NCHAN * NMSG, "every publish is acknowledged")
        need = len(H1) * NMSG
        await wait_until(lambda: f1.count() >= need and f2.count() >= len(H2) * NMSG, 30)
        for name, f, chans in (("host 1", f1, H1), ("host 2", f2, H2)):
            bad = [chan(i) for i in chans if f.by_chan.get(chan(i), []) != acked[i]]
            c.eq(bad, [], f"{name}: every channel has every message once, in uid order")
            extra = set(f.by_chan) - {chan(i) for i in chans}
            c.eq(extra, set(), f"{name}: no message of a channel it did not subscribe")
        ordered = all(all(uid_key(a[0]) < uid_key(b[0]) for a, b in zip(v, v[1:]))
                      for v in acked.values())
        c.ok(ordered, "uids grow per channel")

        # Broadcast crosses hosts on the control channel.
        r = await a2.req("POST", "/api/broadcast", json.dumps({"topic": "b", "msg": "all"}))
        c.eq(r.status, 200, "a broadcast at host 2 is accepted")
        c.ok(await wait_until(lambda: any(o.get("topic") == "b" for o in f1.others), 20),
             "the broadcast reaches host 1's client", str(f1.others[-3:]))

        # Host 2's subscriber leaves: channels only it needed leave the cluster.
        await f2.ws.close()
        only_h1 = {f"sss:{{{chan(i)}}}" for i in H1}
        ok = await wait_until(lambda: set().union(*shard_channels(cl).values()) == only_h1, 20)
        c.ok(ok, "after host 2's subscriber leaves, SHARDCHANNELS is host 1's 40 channels",
             str(sorted(set().union(*shard_channels(cl).values()))))
        await f1.ws.close()
        for srv in (h1, h2):
            c.ok("restarting" not in srv.log(), f"{srv.name}: no process restarted")
            await srv.stop()
        await min_replicas(c, cl)
        await stream_went_back(c, cl)
        await reshard(c, cl)
        await failover(c, cl)
    finally:
        cl.close()


async def min_replicas(c, cl):
    for n, want in ((1, 200), (2, 503)):
        srv, api = await start_host(c, f"h-min{n}", cl.seeds,
                                    ["--redis-min-replicas", str(n), "--redis-wait", "1s"])
        await h.metric_wait(api.port, "sss_engine_up", 1)
        status, _, text = await api.publish_value("durable", n)
        c.eq(status, want, f"--redis-min-replicas {n} with one replica per master: {want}")
        if want == 503:
            c.ok("may or may not" in text, "the publisher is told it may not be published", text)
        await srv.stop()


async def stream_went_back(c, cl):
    """What a failover to a replica that lacked the newest messages looks like
    to a host, driven step by step: the newest entries leave the master's
    stream (XDEL, as if never replicated) and the host's subscriptions
    connection drops (CLIENT KILL): on resubscribing, its catch-up finds the
    stream behind what it fed. Its subscriber is closed with 4008, the SYNC
    reports the gap, and the channel goes on in a new epoch (no uid given
    twice)."""
    srv, api = await start_host(c, "h-back", cl.seeds)
    await h.metric_wait(api.port, "sss_engine_up", 1)
    f = await subscriber(srv, [0], names=["g0"])
    uids = []
    for k in range(10):
        status, uid, _ = await api.publish_value("g0", k)
        uids.append(uid)
    await wait_until(lambda: f.count() >= 10, 20)
    c.eq([u for u, _ in f.by_chan.get("g0", [])], uids, "g0: ten messages delivered")
    m = cl.master_of("sss:{g0}")
    gone = [x for x in bulk_strings(m.command("XREVRANGE", "sss:{g0}:h", "+", "-", "COUNT", 3))
            if x in uids]
    c.eq(len(gone), 3, "the three newest entries are found")
    m.command("XDEL", "sss:{g0}:h", *gone)
    m.command("CLIENT", "KILL", "TYPE", "pubsub")
    await wait_until(lambda: f.task.done(), 20)
    c.eq(getattr(f.ws, "close_code", None), 4008, "the subscriber is closed with 4008")
    ws = await h.ws_connect(srv, subprotocols=["sss.v1.json"])
    await ws.send(json.dumps({"sys": 4, "id": 2, "subscriptions": [
        {"channel": "g0", "lastUid": uids[-1], "query": None}]}))
    r = await h.rx_until(ws, lambda m: m.get("sys") == 4 and m.get("id") == 2, timeout=30)
    c.eq(r.get("result"), {"g0": False}, "its SYNC reports the gap")
    status, uid, _ = await api.publish_value("g0", "next")
    c.ok(status == 200 and uid_key(uid)[0] > uid_key(uids[-1])[0],
         "the next publish starts a new epoch", f"{status} {uid} after {uids[-1]}")
    f2 = await h.rx_until(ws, lambda m: m.get("sys") == 8, timeout=20)
    c.eq((f2.get("uid"), f2.get("msg")), (uid, "next"), "and reaches the resynced subscriber")
    await ws.close()
    await srv.stop()


def node_id(n):
    raw = n.command("CLUSTER", "MYID")
    return bulk_strings(raw)[0]


async def reshard(c, cl):
    name = "sss:{r0}"
    slot = cl.keyslot(name)
    src = cl.master_of(name)
    dst = next(m for m in cl.masters() if m is not src)
    sid, did = node_id(src), node_id(dst)
    hs, _ = await start_host(c, "h-rs-sub", cl.seeds)
    # Its API (no key) takes the test's 20 connections at once.
    hp, ap = await start_host(c, "h-rs-pub", cl.seeds, ["--api-max-per-address", "32",
                                                        "--api-open-connections", "32"])
    await h.metric_wait(ap.port, "sss_engine_up", 1)
    f = await subscriber(hs, [0], names=["r0"])
    acked = []

    async def publish(n, what):
        for _ in range(n):
            k = len(acked)
            status, uid, text = await ap.publish_value("r0", k)
            if status != 200:
                c.fail(f"resharding: publish #{k} {what}", f"{status} {text}")
                return
            acked.append((uid, k))

    await publish(5, "before")
    dst.command("CLUSTER", "SETSLOT", slot, "IMPORTING", sid)
    src.command("CLUSTER", "SETSLOT", slot, "MIGRATING", did)
    await publish(5, "while the slot is migrating, its keys still on the old master")
    keys = bulk_strings(src.command("CLUSTER", "GETKEYSINSLOT", slot, 100))
    c.ok(f"{name}:h" in keys, "the channel's stream is in the slot", str(keys))
    r = src.command("MIGRATE", "127.0.0.1", dst.port, "", 0, 5000, "KEYS", *keys)
    c.ok(r.startswith(b"+OK"), "MIGRATE moves the keys", r.decode(errors="replace"))
    await publish(5, "through ASK (the keys moved, the slot not yet)")
    # The move lands while 20 publishes are in flight together (pipelined
    # on one connection): those that meet MOVED come back after the others
    # went out, and none may overtake another.
    sent = [asyncio.ensure_future(ap.publish_value("r0", 100 + i)) for i in range(20)]
    await asyncio.sleep(0)
    for n in cl.alive():
        n.command("CLUSTER", "SETSLOT", slot, "NODE", did)
    for i, t in enumerate(sent):
        status, uid, text = await t
        if status != 200:
            c.fail(f"resharding: concurrent publish #{i} around SETSLOT NODE", f"{status} {text}")
        else:
            acked.append((uid, 100 + i))
    await publish(5, "through MOVED (the slot is the new master's)")
    acked.sort(key=lambda a: uid_key(a[0]))
    await wait_until(lambda: f.count() >= len(acked), 20)
    c.eq(f.by_chan.get("r0", []), acked,
         f"resharding: all {len(acked)} messages once, in uid order, at the other host")
    c.ok(bulk_strings(dst.command("PUBSUB", "SHARDCHANNELS")).count(name) == 1,
         "the channel is now subscribed on the new master")
    await f.ws.close()
    await hs.stop()
    await hp.stop()


FCHAN = [f"f{i}" for i in range(8)]
FMSG = 160       # publishes in all, round robin over FCHAN
KILL_AT = 40     # the master of f0 is SIGKILLed after this many


async def failover(c, cl):
    victim = cl.master_of("sss:{f0}")
    hs, _ = await start_host(c, "h-sub", cl.seeds, ["--redis-connect-timeout", "500ms"])
    hp, ap = await start_host(c, "h-pub", cl.seeds, ["--redis-connect-timeout", "500ms",
                                                     "--redis-wait", "20s"])
    await h.metric_wait(ap.port, "sss_engine_up", 1)
    f = await subscriber(hs, range(len(FCHAN)), names=FCHAN)
    acked = {ch: [] for ch in FCHAN}
    after_kill = 0
    for k in range(FMSG):
        ch = FCHAN[k % len(FCHAN)]
        if k == KILL_AT:
            victim.stop(sig_kill=True)
        status, uid, text = await ap.publish_value(ch, k, timeout=40)
        if status == 200:
            acked[ch].append((uid, k))
            if k >= KILL_AT and ch == "f0":
                after_kill += 1
        elif k < KILL_AT:
            c.fail(f"publish #{k} before the kill", f"{status} {text}")
        else:
            c.fail(f"publish #{k} after the kill waits for the failover", f"{status} {text}")
            break
    c.ok(after_kill >= (FMSG - KILL_AT) // len(FCHAN) - 2,
         "publishing on the dead master's channel resumes after the failover",
         f"{after_kill} acknowledged after the kill")
    total = sum(len(v) for v in acked.values())
    await wait_until(lambda: f.count() >= total or f.task.done(), 30)
    gaps = set()
    if f.task.done():
        code = getattr(f.ws, "close_code", None)
        c.eq(code, 4008, "a subscriber that is closed is closed with 4008 (a gap)")
        ws = await h.ws_connect(hs, subprotocols=["sss.v1.json"])
        subs = [{"channel": ch, "lastUid": f.by_chan[ch][-1][0] if f.by_chan.get(ch) else None,
                 "query": None} for ch in FCHAN]
        await ws.send(json.dumps({"sys": 4, "id": 9, "subscriptions": subs}))
        r = await h.rx_until(ws, lambda m: m.get("sys") == 4 and m.get("id") == 9, timeout=30)
        for ch, ok in r.get("result", {}).items():
            if ok is False:
                gaps.add(ch)
        for rec in r.get("records", []):
            f.by_chan.setdefault(rec["channel"], []).append((rec["uid"], rec["msg"]))
        c.ok(gaps, "after 4008, the SYNC reports the gap on some channel", str(r)[:300])
        await ws.close()
    silent = []
    for ch in FCHAN:
        got = f.by_chan.get(ch, [])
        ok, _ = in_order(got)
        if not ok:
            silent.append((ch, "out of order or repeated"))
        elif ch not in gaps and [g[1] for g in got] != [a[1] for a in acked[ch]]:
            missing = sorted({a[1] for a in acked[ch]} - {g[1] for g in got})
            silent.append((ch, f"missing {missing[:10]}"))
    c.eq(silent, [], "no acknowledged message is silently missing, none repeated")
    log = hp.log() + hs.log()
    c.ok("restarting" not in log, "failover: no sss process restarted")
    await f.ws.close()
    await hs.stop()
    await hp.stop()


def in_order(got):
    keys = [uid_key(u) for u, _ in got]
    return all(a < b for a, b in zip(keys, keys[1:])), ""


def exits(c, flags, want, what):
    """sss-server stops at start with exit 2 and a line containing want."""
    p = subprocess.run([h.server_binary(), "--host", "127.0.0.1", "--port", "0"] + flags,
                       capture_output=True, timeout=h.T(30),
                       env={k: v for k, v in os.environ.items() if not k.startswith("SSS_")})
    err = p.stderr.decode()
    c.ok(p.returncode == 2 and want in err, f"{what}: exit 2 with '{want}'",
         f"status {p.returncode}: {err[-400:]}")


async def unavailable(c, name, seeds, why):
    """The server runs without restarting; the engine is down; a publish is 503."""
    srv, api = await start_host(c, name, seeds, ["--redis-wait", "500ms",
                                                 "--redis-connect-timeout", "500ms"])
    await asyncio.sleep(T(2))
    c.eq(await h.metric_sum(api.port, "sss_engine_up"), 0, f"{why}: sss_engine_up is 0")
    r = await api.publish("x", "t", "1")
    c.eq(r.status, 503, f"{why}: a publish is answered 503")
    c.ok(srv.proc.poll() is None and "restarting" not in srv.log(),
         f"{why}: the server runs on, nothing restarts")
    text = srv.log()
    await srv.stop()
    return text


async def test_bad_seeds(c):
    base = ["--engine", "redis"]
    exits(c, base + ["--redis-cluster", "nohost.sss-test.invalid:7000"], "--redis-cluster",
          "a seed that does not resolve")
    exits(c, base + ["--redis-cluster", "127.0.0.1:7000,redis://:pw@127.0.0.1:7001/3"],
          "a cluster has only 0", "a seed with a database")
    exits(c, base + ["--redis-cluster", "127.0.0.1:7000,rediss://127.0.0.1:7001"],
          "seeds mix", "seeds mixing TLS and plain")
    exits(c, base + ["--redis", "redis://127.0.0.1:7000/0", "--redis-cluster", "127.0.0.1:7001"],
          "not both", "--redis with --redis-cluster")
    await unavailable(c, "h-closed", f"127.0.0.1:{free_port()}", "a seed nobody listens on")
    plain = Redis(persist=False)
    try:
        text = await unavailable(c, "h-plain", f"127.0.0.1:{plain.port}",
                                 "a Redis without cluster")
        c.ok("cluster support disabled (is it a cluster?)" in text,
             "a Redis without cluster: the log says why", text[-600:])
    finally:
        plain.close()


if __name__ == "__main__":
    h.main([test_bad_seeds, test_delivery], "test_redis_cluster")
