"""Three sss hosts behind a real load balancer, as docs/deploy.md sets them
up: Debian's nginx (dist/nginx/sss.conf) and then HAProxy
(dist/haproxy/sss.cfg), each on a loopback port of its own, in front of
three hosts on one redis-server (--engine redis) and one FerretDB
(--store mongodb). No sticky sessions.

Clients (Python websockets) connect through the balancer only, BEGIN with a
session and SUBSCRIBE; when their connection drops they reconnect through the
balancer and SYNC from the last uid they processed, as the JS client does. A
publisher publishes through the HTTP API of a live host. The interleaving is
driven, not timed: publish a batch and wait for its uids, wait until every
client has it, then SIGKILL the whole of one host (its clients see the TCP
connection end) and publish the next batch at once; then SIGTERM another host
(drain: close 1001) while two more batches are published, and one more once
it is gone, which only h3 can deliver. At the end each client
holds every acknowledged message exactly once, in uid order, and the clients
of the killed and the drained host did reconnect (through the balancer, to a
host still up)."""
import asyncio
import atexit
import json
import re
import secrets
import shutil
import signal

import sss_harness as h
import svc_balancer
import svc_ferretdb
import svc_redis
from sss_cluster import in_order_once, start_hosts
from sss_harness import T

NCLIENTS = 6
BATCH = 20


class Client:
    """Follows one channel through the balancer across reconnects."""

    def __init__(self, k, url, channel):
        self.k = k
        self.url = url
        self.channel = channel
        self.session = f"bal-{k}-{secrets.token_hex(4)}"
        self.uids = []
        self.msgs = []
        self.last = None
        self.connects = 0
        self.closes = []       # close code of each dropped connection (None: no close frame)
        self.refusals = []
        self.ready = asyncio.Event()
        self.stopping = False
        self.task = asyncio.ensure_future(self.run())

    def feed(self, m):
        if m.get("sys") == 8 and m.get("channel") == self.channel:
            self.uids.append(m["uid"])
            self.msgs.append(m["msg"])
            self.last = m["uid"]

    async def reply(self, ws, sys_, rid):
        while True:
            m = json.loads(await asyncio.wait_for(ws.recv(), T(30)))
            if m.get("sys") == sys_ and m.get("id") == rid:
                return m
            self.feed(m)

    async def once(self):
        from websockets.exceptions import ConnectionClosed

        n = self.connects
        self.connects += 1
        # The query names the client and its attempt: each host logs it (debug).
        ws = await h.ws_connect(f"{self.url}?c={self.k}&n={n}", open_timeout=T(10))
        try:
            if not self.ready.is_set():
                await ws.send(json.dumps({"sys": 3, "session": self.session}))
                await self.reply(ws, 3, None)
                await ws.send(json.dumps({"sys": 1, "id": 1, "channel": self.channel}))
                r = await self.reply(ws, 1, 1)
                if r.get("result") is not True:
                    raise RuntimeError(f"SUBSCRIBE refused: {r}")
                self.last = r.get("lastUid")
                self.ready.set()
            else:
                await ws.send(json.dumps({"sys": 4, "id": "s", "session": self.session,
                                          "subscriptions": [{"channel": self.channel,
                                                             "lastUid": self.last,
                                                             "query": None}]}))
                r = await self.reply(ws, 4, "s")
                if (r.get("result") or {}).get(self.channel) is not True:
                    self.refusals.append(r.get("result"))
                for rec in r.get("records") or []:
                    self.feed(rec)
            while True:
                raw = await ws.recv()
                if raw == "h":
                    await ws.send("h")
                    continue
                self.feed(json.loads(raw))
        except ConnectionClosed as e:
            self.closes.append(e.rcvd.code if e.rcvd else None)
        finally:
            await ws.close()

    async def run(self):
        while not self.stopping:
            try:
                await self.once()
            except Exception:  # noqa: BLE001 - refused or dropped: reconnect and SYNC
                pass
            if not self.stopping:
                await asyncio.sleep(0.05)  # a short backoff, not a wait for anything

    async def stop(self):
        self.stopping = True
        self.task.cancel()
        try:
            await self.task
        except (asyncio.CancelledError, Exception):  # noqa: BLE001
            pass


async def wait_all(clients, n, timeout=30):
    """True once every client holds at least n messages."""
    deadline = asyncio.get_event_loop().time() + T(timeout)
    while any(len(cl.uids) < n for cl in clients):
        if asyncio.get_event_loop().time() > deadline:
            return False
        await asyncio.sleep(0.05)
    return True


def where(hosts, k):
    """Name of the host that served client k's latest connection (its debug log)."""
    best = (-1, None)
    for srv, _ in hosts:
        for m in re.finditer(rf"upgraded .*target=/\?c={k}&n=(\d+)", srv.log()):
            best = max(best, (int(m.group(1)), srv.name))
    return best[1]


async def publish(c, api, channel, start, acked):
    """Publish start..start+BATCH-1 one after the other; record each uid."""
    for i in range(start, start + BATCH):
        status, uid, text = await api.publish_value(channel, i)
        if not c.eq(status, 200, f"publish {i} acknowledged"):
            raise RuntimeError(text)
        acked.append(uid)


async def scenario(c, kind, redis, ferret):
    db = "sss_bal_" + secrets.token_hex(4)
    channel = f"bal-{kind}"
    hosts = await start_hosts(c, redis, 3, workers=1, extra=[
        "--store", "mongodb", "--mongo", ferret.url(db), "--log-level", "debug"])
    lb = svc_balancer.Balancer(kind, [srv.port for srv, _ in hosts]).start()
    clients = []
    try:
        for k in range(NCLIENTS):
            clients.append(Client(k, lb.url, channel))
            await asyncio.wait_for(clients[-1].ready.wait(), T(30))
        on = {k: where(hosts, k) for k in range(NCLIENTS)}
        h.log(f"# {kind}: clients on {on}")
        c.eq(sorted(set(on.values())), ["h1", "h2", "h3"],
             f"{kind} spreads the clients over the three hosts")
        (h1, api1), (h2, api2), (h3, api3) = hosts
        acked = []

        await publish(c, api1, channel, 0, acked)
        c.ok(await wait_all(clients, len(acked)), f"{kind}: every client has batch 1")

        # h1 dies at once (every process of it); the next batch goes out meanwhile.
        h1.kill()
        h1.stopped = True
        h1.check_sanitizers()
        await publish(c, api2, channel, BATCH, acked)
        c.ok(await wait_all(clients, len(acked)),
             f"{kind}: every client has batch 2 (h1's clients reconnected through {kind})")

        # h2 drains (SIGTERM) while the last batch goes out through h3.
        await publish(c, api3, channel, 2 * BATCH, acked)
        h2.send_signal(signal.SIGTERM)
        await publish(c, api3, channel, 3 * BATCH, acked)
        c.eq(await h2.wait_exit(40), 0, f"{kind}: drained h2 exits 0")
        h2.stopped = True
        h2.check_sanitizers()
        # Only h3 is left: a client has the last batch once it reconnected there.
        await publish(c, api3, channel, 4 * BATCH, acked)
        c.ok(await wait_all(clients, len(acked)), f"{kind}: every client has batches 3 to 5")

        for cl in clients:
            ok, why = in_order_once(cl.uids)
            c.ok(ok and cl.uids == acked and cl.msgs == list(range(len(acked))),
                 f"{kind}: client {cl.k} (first on {on[cl.k]}) got each of the {len(acked)} "
                 "acknowledged messages once, in uid order",
                 f"{why}; got {len(cl.uids)}: {cl.msgs}")
            c.eq(cl.refusals, [], f"{kind}: client {cl.k}'s SYNCs were accepted")
            now = where(hosts, cl.k)
            if on[cl.k] in ("h1", "h2"):
                c.eq(now, "h3", f"{kind}: client {cl.k} of {on[cl.k]} reconnected to h3")
            if on[cl.k] == "h2":
                c.ok(1001 in cl.closes, f"{kind}: client {cl.k} of drained h2 got close 1001",
                     str(cl.closes))
        await h3.stop()
    finally:
        for cl in clients:
            await cl.stop()
        for srv, _ in hosts:
            if not srv.stopped:
                srv.stopped = True
                srv.dump_log()
            srv.kill()
            if c.failed == 0:
                shutil.rmtree(srv.dir, ignore_errors=True)
        if c.failed:
            h.log(f"# {kind} log:\n{lb.log()[-3000:]}")
        lb.remove()


async def run(c):
    for kind in ("nginx", "haproxy"):
        if not c.ok(svc_balancer.binary(kind), f"{kind} is installed (tools/bootstrap.sh)"):
            return
    if not c.ok(svc_ferretdb.installed(), "FerretDB is installed (tools/ferretdb.sh install)"):
        return
    atexit.register(svc_ferretdb.stop_all)
    atexit.register(svc_balancer.stop_all)
    redis = svc_redis.Redis(persist=False)
    ferret = svc_ferretdb.FerretDB()
    try:
        ferret.start()
        for kind in ("nginx", "haproxy"):
            await c.section(kind, scenario, c, kind, redis, ferret)
    finally:
        redis.close()
        ferret.remove()


if __name__ == "__main__":
    h.main(run, "test_balancer")
