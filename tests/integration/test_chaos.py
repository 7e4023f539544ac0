"""Chaos soak, the short form that runs in `make test` (about a minute; set
SSS_CHAOS_SECONDS for a longer one): faults at random while messages flow,
and then an exact count of what each subscriber got.

1. Two hosts on one durable Redis (AOF, fsync always), two workers each on a
   small bus: every half second a random fault on a random host - SIGKILL of
   its scaler, SIGKILL of a worker, or SIGSTOP of a worker for a moment (so
   the bus laps it). Publishers on both hosts publish through WebSocket
   connections (the worker -> scaler hand-off) and through the HTTP API.
2. One host with the memory engine, worker faults only (a scaler restart
   there loses its history by design, see docs/faults.md).

30 subscribers per run each follow 3 channels; whenever a connection drops
(worker killed, 4008 after a lap past history, ...) the client reconnects to
a random host and SYNCs from the last uid it processed, as the JavaScript
client does. At the end: every acknowledged message reached every subscriber,
none twice, each channel in uid order, and no SYNC was refused. Messages
whose publish was not acknowledged (its host's scaler died with it) may
arrive or not, but at most once.

The faults are random (the seed is printed: SSS_CHAOS_SEED repeats a run);
the outcome is not: any run of a correct server passes.
"""
import asyncio
import json
import os
import random
import re
import signal
import time

import sss_harness as h
import test_api
from sss_cluster import Api, start_hosts, uid_key
from svc_redis import Redis
from sss_harness import T

CHANNELS = ["chaos-0", "chaos-1", "chaos-2"]
NCLIENTS = 30
SECONDS = float(os.environ.get("SSS_CHAOS_SECONDS") or 20)
SMALL_BUS = ["--bus-size", "256k", "--mailbox-size", "64k", "--max-message-size", "8k", "--history-size", "100000", "--allow-client-publish", "chaos-*",
             "--log-level", "info"]


def current_api(srv):
    """The host's API as its latest scaler bound it (--api-listen port 0: each
    restarted scaler binds a port of its own)."""
    ports = re.findall(r"api listening on 127\.0\.0\.1:(\d+)", srv.log())
    return Api(int(ports[-1])) if ports else None


class Ledger:
    """What was published: per channel, message number -> uid (None: not acknowledged)."""

    def __init__(self):
        self.acked = {ch: {} for ch in CHANNELS}
        self.unacked = {ch: set() for ch in CHANNELS}
        self.next = {ch: 0 for ch in CHANNELS}

    def take(self, ch):
        n = self.next[ch]
        self.next[ch] += 1
        self.unacked[ch].add(n)
        return n

    def ack(self, ch, n, uid):
        self.unacked[ch].discard(n)
        self.acked[ch][n] = uid


class Subscriber:
    """One client that follows CHANNELS across reconnects (SYNC from its last uids)."""

    def __init__(self, k, hosts, rng, stats):
        self.k = k
        self.hosts = hosts
        self.rng = rng
        self.stats = stats
        self.got = {ch: [] for ch in CHANNELS}  # (n, uid) in arrival order
        self.last = {ch: None for ch in CHANNELS}
        self.subscribed = False
        self.done = asyncio.Event()
        self.ends = set()
        self.refusals = []
        self.reconnects = 0

    def feed(self, m):
        ch = m.get("channel")
        if ch not in self.got:
            return
        self.last[ch] = m["uid"]
        msg = m.get("msg")
        if msg == "end":
            self.ends.add(ch)
            if len(self.ends) == len(CHANNELS):
                self.done.set()
            return
        self.got[ch].append((msg["n"], m["uid"]))

    async def session(self):
        srv = self.rng.choice(self.hosts)[0]
        ws = await h.ws_connect(srv, max_size=None, open_timeout=T(10))
        try:
            if not self.subscribed:
                await ws.send(json.dumps({"sys": 3}))
                for i, ch in enumerate(CHANNELS):
                    await ws.send(json.dumps({"sys": 1, "id": i, "channel": ch}))
                pending = set(range(len(CHANNELS)))
                while pending:
                    m = json.loads(await asyncio.wait_for(ws.recv(), T(30)))
                    if m.get("sys") == 1 and m.get("id") in pending:
                        if m.get("result") is not True:
                            raise RuntimeError(f"SUBSCRIBE refused: {m}")
                        self.last[m["channel"]] = m.get("lastUid")
                        pending.discard(m["id"])
                    elif m.get("sys") == 8:
                        self.feed(m)
                self.subscribed = True
            else:
                await ws.send(json.dumps({"sys": 4, "id": "s", "subscriptions": [
                    {"channel": ch, "lastUid": self.last[ch], "query": None} for ch in CHANNELS]}))
                while True:
                    m = json.loads(await asyncio.wait_for(ws.recv(), T(60)))
                    if m.get("sys") == 4 and m.get("id") == "s":
                        break
                bad = {ch: ok for ch, ok in (m.get("result") or {}).items() if ok is not True}
                if bad or set(m.get("result") or {}) != set(CHANNELS):
                    self.refusals.append(m.get("result"))
                for r in m.get("records") or []:
                    self.feed(r)
            async for raw in ws:
                if raw == "h":
                    await ws.send("h")
                    continue
                m = json.loads(raw)
                if m.get("sys") == 8:
                    self.feed(m)
                if self.done.is_set():
                    return True
        finally:
            await ws.close()
        return False

    async def run(self):
        while not self.done.is_set():
            try:
                if await self.session():
                    return
            except Exception:  # noqa: BLE001 - a fault dropped it: reconnect and SYNC
                pass
            if self.done.is_set():
                return
            self.reconnects += 1
            self.stats["reconnects"] += 1
            await asyncio.sleep(self.rng.uniform(0.01, 0.2))


async def ws_publisher(ch, hosts, ledger, rng, stop):
    """Publishes on ch through a WebSocket connection (worker -> scaler), one at a time."""
    while not stop.is_set():
        try:
            srv = rng.choice(hosts)[0]
            ws = await h.ws_connect(srv, open_timeout=T(10))
            try:
                await ws.send('{"sys":3}')
                await asyncio.wait_for(ws.recv(), T(10))
                while not stop.is_set():
                    n = ledger.take(ch)
                    await ws.send(json.dumps({"sys": 13, "channel": ch, "topic": "t", "msg": {"n": n},
                                              "id": n}))
                    while True:
                        m = json.loads(await asyncio.wait_for(ws.recv(), T(15)))
                        if m.get("sys") == 7 and m.get("id") == n:
                            break
                    if isinstance(m.get("msg"), dict) and "uid" in m["msg"]:
                        ledger.ack(ch, n, m["msg"]["uid"])
                    await asyncio.sleep(0.01)
            finally:
                await ws.close()
        except Exception:  # noqa: BLE001 - its worker or scaler was killed: a new connection
            await asyncio.sleep(0.05)


async def api_publisher(ch, hosts, ledger, rng, stop):
    """Publishes on ch through the HTTP API of a random host (in its scaler)."""
    while not stop.is_set():
        api = current_api(rng.choice(hosts)[0])
        n = ledger.take(ch)
        try:
            status, uid, _ = await api.publish_value(ch, {"n": n}, timeout=15)
            if status == 200 and uid:
                ledger.ack(ch, n, uid)
        except Exception:  # noqa: BLE001 - the scaler (and its API) was killed
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.02)


def live_pids(srv):
    """{'scaler': pid, 'worker 0': pid, ...} from the latest 'started pid=' lines of the master."""
    pids = {}
    for m in re.finditer(r"master: (scaler|worker \d+) started pid=(\d+)", srv.log()):
        pids[m.group(1)] = int(m.group(2))
    return pids


async def faults(hosts, rng, stop, stats, scaler_faults):
    stopped = []
    try:
        while not stop.is_set():
            await asyncio.sleep(0.5)
            for pid in stopped:
                try:
                    os.kill(pid, signal.SIGCONT)
                except ProcessLookupError:
                    pass
            stopped.clear()
            srv = rng.choice(hosts)[0]
            pids = live_pids(srv)
            kinds = ["kill-worker", "stop-worker"] + (["kill-scaler"] if scaler_faults else [])
            kind = rng.choice(kinds)
            if kind == "kill-scaler":
                victim = pids.get("scaler")
            else:
                victim = pids.get(rng.choice([k for k in pids if k.startswith("worker")] or ["-"]))
            if not victim:
                continue
            try:
                if kind == "stop-worker":
                    os.kill(victim, signal.SIGSTOP)
                    stopped.append(victim)
                else:
                    os.kill(victim, signal.SIGKILL)
            except ProcessLookupError:
                continue
            stats[kind] = stats.get(kind, 0) + 1
    finally:
        for pid in stopped:
            try:
                os.kill(pid, signal.SIGCONT)
            except ProcessLookupError:
                pass


async def publish_end(ch, hosts):
    """The end marker on ch, retried until a host acknowledges it."""
    deadline = time.monotonic() + T(60)
    last = None
    while time.monotonic() < deadline:
        for srv, _ in hosts:
            try:
                status, uid, text = await current_api(srv).publish_value(ch, "end", timeout=10)
                if status == 200:
                    return uid
                last = (status, text)
            except Exception as e:  # noqa: BLE001
                last = e
            await asyncio.sleep(0.2)
    raise RuntimeError(f"no host acknowledged the end marker of {ch}: last answer {last!r}")


async def soak(c, hosts, what, scaler_faults, seed):
    rng = random.Random(seed)
    ledger = Ledger()
    stats = {"reconnects": 0}
    subs = [Subscriber(k, hosts, random.Random(seed * 1000 + k), stats) for k in range(NCLIENTS)]
    sub_tasks = [asyncio.ensure_future(s.run()) for s in subs]
    deadline = time.monotonic() + T(60)
    while not all(s.subscribed for s in subs) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    if not c.ok(all(s.subscribed for s in subs), f"{what}: all {NCLIENTS} subscribers subscribed"):
        for t in sub_tasks:
            t.cancel()
        return
    stop = asyncio.Event()
    pubs = [asyncio.ensure_future(ws_publisher(ch, hosts, ledger, rng, stop)) for ch in CHANNELS]
    pubs += [asyncio.ensure_future(api_publisher(ch, hosts, ledger, rng, stop)) for ch in CHANNELS]
    chaos = asyncio.ensure_future(faults(hosts, rng, stop, stats, scaler_faults))
    await asyncio.sleep(SECONDS)
    stop.set()
    await chaos
    await asyncio.gather(*pubs, return_exceptions=True)
    # Every process is up again before the end markers (a scaler being restarted would
    # only delay them).
    for ch in CHANNELS:
        await publish_end(ch, hosts)
    deadline = time.monotonic() + T(120)
    while not all(s.done.is_set() for s in subs) and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    not_done = [s.k for s in subs if not s.done.is_set()]
    for t in sub_tasks:
        t.cancel()
    await asyncio.gather(*sub_tasks, return_exceptions=True)

    acked = sum(len(v) for v in ledger.acked.values())
    unacked = sum(len(v) for v in ledger.unacked.values())
    lost = dup = disorder = unknown = 0
    examples = []
    for s in subs:
        for ch in CHANNELS:
            ns = [n for n, _ in s.got[ch]]
            uids = [uid_key(u) for _, u in s.got[ch]]
            seen = set()
            for n in ns:
                if n in seen:
                    dup += 1
                    examples.append(f"sub {s.k} {ch}: n={n} twice")
                seen.add(n)
            for a, b in zip(uids, uids[1:]):
                if b <= a:
                    disorder += 1
                    examples.append(f"sub {s.k} {ch}: uid {b} after {a}")
            missing = [n for n in ledger.acked[ch] if n not in seen]
            lost += len(missing)
            if missing:
                examples.append(f"sub {s.k} {ch}: lost acknowledged {missing[:5]} ({len(missing)})")
            unknown += len([n for n in seen if n not in ledger.acked[ch] and n not in ledger.unacked[ch]])
    refusals = sum(len(s.refusals) for s in subs)
    h.log(f"# {what}: seed {seed}, {SECONDS:.0f} s, faults {dict((k, v) for k, v in stats.items())}, "
          f"{acked} acknowledged + {unacked} unacknowledged publishes, {NCLIENTS} subscribers x "
          f"{len(CHANNELS)} channels: lost {lost}, duplicated {dup}, out of order {disorder}, "
          f"SYNC refusals {refusals}")
    c.ok(not not_done, f"{what}: every subscriber got the end marker of every channel", repr(not_done[:5]))
    c.ok(acked > 0, f"{what}: publishes were acknowledged during the faults", repr(acked))
    c.eq(lost, 0, f"{what}: acknowledged messages lost")
    c.eq(dup, 0, f"{what}: messages delivered twice to a subscriber")
    c.eq(disorder, 0, f"{what}: deliveries out of uid order")
    c.eq(unknown, 0, f"{what}: deliveries of messages never published")
    c.eq(refusals, 0, f"{what}: SYNC refusals")
    if examples:
        h.log("# " + "; ".join(examples[:8]))
    if lost or refusals:
        # What the engines said about gaps, from every host (the full logs
        # follow, but a CI excerpt may cut the second one).
        for srv, _ in hosts:
            said = [l for l in srv.log_lines() if " warn redis: " in l or " error " in l]
            h.log(f"# {srv.name}: {len(said)} engine warnings"
                  + "".join(f"\n#   {l}" for l in said[:10]))


async def redis_hosts(c, seed):
    redis = Redis(persist=True)
    hosts = []
    try:
        hosts = await start_hosts(c, redis, 2, extra=SMALL_BUS)
        await soak(c, hosts, "2 hosts on Redis, scaler and worker faults", True, seed)
    finally:
        for srv, _ in hosts:
            await srv.stop()
        redis.stop()


async def memory_host(c, seed):
    srv = await h.Server(c, SMALL_BUS + ["--api-listen", "127.0.0.1:0", "--api-key", test_api.KEY],
                         echo=False, name="memory host").start()
    try:
        m = await srv.wait_log(r"api listening on 127\.0\.0\.1:(\d+)", timeout=20)
        await soak(c, [(srv, Api(int(m.group(1))))], "1 host, memory engine, worker faults", False, seed)
    finally:
        await srv.stop()


async def run(c):
    seed = int(os.environ.get("SSS_CHAOS_SEED") or random.SystemRandom().randrange(1 << 30))
    h.log(f"# SSS_CHAOS_SEED={seed}")
    await c.section("chaos on two Redis hosts", redis_hosts, c, seed)
    await c.section("chaos on the memory engine", memory_host, c, seed)


if __name__ == "__main__":
    h.main(run, "test_chaos")
