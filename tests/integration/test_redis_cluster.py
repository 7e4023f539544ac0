"""Many hosts on a real Redis Cluster (--redis-cluster, issue 15 item 1):
6 redis-server nodes (3 masters, 3 replicas, svc_redis_cluster.py).

- two sss hosts deliver 60 channels across hosts, each message once and in
  uid order, every channel through sharded pub/sub on the master of its
  slot: PUBSUB SHARDCHANNELS on the masters lists exactly the channels the
  hosts' subscribers need (each on the master of its slot, SHARDNUMSUB
  counting one subscription per host that needs it), and a channel no host
  needs any more leaves it; broadcast crosses hosts on the control channel;
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
from sss_cluster import Api, uid_key  # noqa: E402
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


class Feeds:
    """Every FEED of one connection, per channel: [(uid, msg)]."""

    def __init__(self, ws):
        self.ws = ws
        self.by_chan = {}
        self.others = []
        self.task = asyncio.ensure_future(self._run())

    async def _run(self):
        try:
            async for raw in self.ws:
                if raw == "h":
                    await self.ws.send("h")
                    continue
                m = json.loads(raw)
                if m.get("sys") == 8:
                    self.by_chan.setdefault(m["channel"], []).append((m["uid"], m["msg"]))
                else:
                    self.others.append(m)
        except Exception:  # noqa: BLE001 - a closed connection ends collecting
            pass

    def count(self):
        return sum(len(v) for v in self.by_chan.values())


async def subscriber(srv, chans):
    """One connection subscribed to chans (each confirmed), collecting FEEDs."""
    ws = await h.begun(srv, subprotocols=["sss.v1.json"])
    for n, i in enumerate(chans):
        await ws.send(json.dumps({"sys": 1, "id": n + 1, "channel": chan(i)}))
        r = await h.rx_until(ws, lambda m, n=n: m.get("sys") == 1 and m.get("id") == n + 1)
        if r.get("result") is not True:
            raise RuntimeError(f"SUBSCRIBE {chan(i)} refused: {r}")
    return Feeds(ws)


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
        acked = {i: [] for i in range(NCHAN)}
        for k in range(NMSG):
            for i in range(NCHAN):
                api = a1 if (i + k) % 2 == 0 else a2
                status, uid, text = await api.publish_value(chan(i), k)
                if status != 200:
                    c.fail(f"publish {chan(i)}#{k} acknowledged", f"{status} {text}")
                    continue
                acked[i].append((uid, k))
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
    finally:
        cl.close()


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
