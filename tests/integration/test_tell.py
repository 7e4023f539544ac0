"""POST /api/tell and sss_tell_socket (PROXY.md, "Back from the backend"):
a TELL to one socket by its name, on whichever host and worker it is.

Two hosts on a real Redis (--engine redis), two workers each, with the test
module (tests/integration/modules/testmod.c), whose ask "myname" answers
sss_socket_name and whose ask "tellsock" calls sss_tell_socket:

- a socket's name is "<socket id>.<run>@<host id>" and names its worker;
- POST /api/tell at the other host (through Redis) and at its own host
  (through the worker's mailbox, from either worker's side) reaches exactly
  that socket, msg byte for byte, in order; nobody else gets it;
- every bad field is a 400 naming it, msg over --max-message-size 413, the
  key is enforced, GET is 405;
- a closed socket of a running worker: {} (handed on) and counted gone in
  /metrics; a socket of a worker that was killed (and restarted): 404 at its
  own host, {} at the other host (counted stale there); a name of another
  run of the host: 404;
- sss_tell_socket from a module reaches sockets on the other host, on the
  same worker, and refuses a bad or known-gone name;
- with the memory engine (one host alone), another host's name is 404.
"""
import asyncio
import json
import os
import re
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sss_harness as h  # noqa: E402
import test_api  # noqa: E402
from sss_cluster import start_hosts  # noqa: E402
from sss_harness import T  # noqa: E402
from svc_redis import Redis  # noqa: E402

MAX = 64 * 1024  # --max-message-size
NAME = re.compile(r"^(0|[1-9][0-9]*)\.([0-9a-f]{8})@(.+)$")


def worker_of(name):
    return int(NAME.match(name).group(1)) >> 48


def with_run(name, run):
    m = NAME.match(name)
    return f"{m.group(1)}.{run:08x}@{m.group(3)}"


class Client:
    """A begun connection that keeps every frame it gets (raw text)."""

    def __init__(self, ws):
        self.ws = ws
        self.frames = []
        self.rid = 100
        self.task = asyncio.ensure_future(self._run())

    @classmethod
    async def open(cls, srv):
        ws = await h.ws_connect(srv.url)
        await ws.send(json.dumps({"sys": 3}))
        await asyncio.wait_for(ws.recv(), T(20))
        self = cls(ws)
        self.name = await self.ask("myname")
        return self

    async def _run(self):
        try:
            async for raw in self.ws:
                if raw == "h":
                    await self.ws.send("h")
                else:
                    self.frames.append(raw)
        except Exception:  # noqa: BLE001 - a closed connection ends it
            pass

    async def wait_for(self, pred, timeout=20):
        """The first frame (parsed) that satisfies pred, waiting up to timeout."""
        deadline = time.monotonic() + T(timeout)
        while time.monotonic() < deadline:
            for raw in self.frames:
                m = json.loads(raw)
                if pred(m):
                    return m
            await asyncio.sleep(0.02)
        return None

    async def ask(self, topic, msg=None):
        self.rid += 1
        rid = self.rid
        await self.ws.send(json.dumps({"sys": 5, "topic": topic, "msg": msg, "id": rid}))
        r = await self.wait_for(lambda m: m.get("sys") == 7 and m.get("id") == rid)
        if r is None or "err" in r:
            raise RuntimeError(f"ask {topic}: {r}")
        return r["msg"]

    def tells(self, topic=None):
        return [m for m in map(json.loads, self.frames)
                if m.get("sys") == 6 and (topic is None or m.get("topic") == topic)]

    async def close(self):
        await self.ws.close()
        self.task.cancel()


async def clients_on_both_workers(srv, tries=60):
    """Begun clients of srv until both of its workers have one: {worker: Client}."""
    by, extra = {}, []
    for _ in range(tries):
        cl = await Client.open(srv)
        w = worker_of(cl.name)
        if w in by:
            extra.append(cl)
        else:
            by[w] = cl
        if len(by) == 2:
            break
    for cl in extra:
        await cl.close()
    return by


async def tell(api, socket, topic="note", msg="1", key=test_api.KEY):
    """POST /api/tell with msg as raw JSON text; (status, parsed body)."""
    body = '{"socket":%s,"topic":%s,"msg":%s}' % (json.dumps(socket), json.dumps(topic), msg)
    r = await api.req("POST", "/api/tell", body, key=key)
    return r.status, test_api.jbody(r)


async def metric_sum(api, name):
    r = await api.req("GET", "/metrics")
    total = 0
    for line in r.body.decode().splitlines():
        m = re.match(rf"^{name}(\{{[^}}]*\}})? (\d+)$", line)
        if m:
            total += int(m.group(2))
    return total


async def metric_reaches(api, name, want, timeout=20):
    deadline = time.monotonic() + T(timeout)
    while True:
        v = await metric_sum(api, name)
        if v >= want or time.monotonic() > deadline:
            return v
        await asyncio.sleep(0.05)


async def names(c, hosts, a, b):
    (srv1, _), (srv2, _) = hosts
    for who, cl, hid in (("a", a, "h1"), ("b", b, "h2")):
        m = NAME.match(cl.name)
        c.ok(m and m.group(3) == hid, f"client {who}'s name is <id>.<run>@{hid}", cl.name)
    c.ok(NAME.match(a.name).group(2) != NAME.match(b.name).group(2),
         "the two hosts drew different runs", f"{a.name} {b.name}")
    c.eq(await b.ask("myname"), b.name, "a socket's name does not change")


async def delivery(c, hosts, a, b2):
    """b2: {worker: Client} on host 2; a: a client on host 1."""
    (_, api1), (_, api2) = hosts
    target, other = b2[0], b2[1]
    raw = '{"a" : [1, 2.50, "\\u00e9"], "b":null}'
    st, body = await tell(api1, target.name, "raw", raw)
    c.eq((st, body), (200, {}), "POST /api/tell at host 1 for a socket of host 2: 200 {}")
    got = await target.wait_for(lambda m: m.get("sys") == 6 and m.get("topic") == "raw")
    c.ok(got is not None, "the TELL crossed to host 2 through Redis")
    frames = [f for f in target.frames if '"topic":"raw"' in f]
    c.eq(frames[:1], ['{"sys":6,"topic":"raw","msg":%s}' % raw],
         "its msg is passed on byte for byte")
    # Through host 2's own API, from the side of each worker's socket (mailbox path).
    for w, cl in sorted(b2.items()):
        for i in range(5):
            st, _ = await tell(api2, cl.name, "seq", str(i))
            c.eq(st, 200, f"tell {i} at host 2 for its worker {w}'s socket: 200")
        ok = await cl.wait_for(lambda m: m.get("topic") == "seq" and m.get("msg") == 4)
        c.ok(ok is not None and [m["msg"] for m in cl.tells("seq")] == list(range(5)),
             f"worker {w}'s socket got the 5 tells once each, in order",
             str([m["msg"] for m in cl.tells("seq")]))
    # Host 1 to its own socket.
    st, _ = await tell(api1, a.name, "self", '"x"')
    c.eq(st, 200, "host 1 tells its own socket: 200")
    c.ok(await a.wait_for(lambda m: m.get("topic") == "self") is not None,
         "host 1's socket got it")
    # Nobody else got anyone's tells.
    c.eq([m["topic"] for m in a.tells()], ["self"], "host 1's socket got only its own tell")
    c.eq(sorted({m["topic"] for m in other.tells()}), ["seq"],
         "the other socket of host 2 got only its own tells")
    c.eq(await metric_reaches(api2, "sss_tells_total", 11), 11,
         "host 2's /metrics count 11 tells delivered (sss_tells_total)")


async def bad_bodies(c, api):
    ok_name = "1.00000000@h1"
    cases = [
        ("not an object", '["socket"]', 400, "JSON object"),
        ("empty body", "", 400, "empty"),
        ("bad JSON", '{"socket":"%s","topic":"t","msg":' % ok_name, 400, "bad JSON"),
        ("no socket", '{"topic":"t","msg":1}', 400, "missing socket"),
        ("socket a number", '{"socket":7,"topic":"t","msg":1}', 400, "socket"),
        ("socket null", '{"socket":null,"topic":"t","msg":1}', 400, "socket"),
        ("socket given twice", '{"socket":"%s","socket":"%s","topic":"t","msg":1}'
         % (ok_name, ok_name), 400, "socket must be given once"),
        ("socket not a name", '{"socket":"abc","topic":"t","msg":1}', 400, "not a socket name"),
        ("socket without host", '{"socket":"1.00000000@","topic":"t","msg":1}', 400,
         "not a socket name"),
        ("socket with short run", '{"socket":"1.0000000@h1","topic":"t","msg":1}', 400,
         "not a socket name"),
        ("socket with a leading zero", '{"socket":"01.00000000@h1","topic":"t","msg":1}', 400,
         "not a socket name"),
        ("socket too long", '{"socket":"1.00000000@%s","topic":"t","msg":1}' % ("h" * 128), 400,
         "not a socket name"),
        ("socket with a lone surrogate", '{"socket":"1.00000000@h\\ud800","topic":"t","msg":1}',
         400, "not a socket name"),
        ("no topic", '{"socket":"%s","msg":1}' % ok_name, 400, "missing topic"),
        ("topic a number", '{"socket":"%s","topic":1,"msg":1}' % ok_name, 400, "topic"),
        ("topic too long", '{"socket":"%s","topic":"%s","msg":1}' % (ok_name, "t" * 257), 400,
         "topic"),
        ("no msg", '{"socket":"%s","topic":"t"}' % ok_name, 400, "missing msg"),
        ("msg not JSON", '{"socket":"%s","topic":"t","msg":nope}' % ok_name, 400, "bad JSON"),
        ("trailing garbage", '{"socket":"%s","topic":"t","msg":1} x' % ok_name, 400, "bad JSON"),
        ("a sys field", '{"sys":5,"socket":"%s","topic":"t","msg":1}' % ok_name, 400, "sys"),
        ("msg over --max-message-size", '{"socket":"%s","topic":"t","msg":"%s"}'
         % (ok_name, "x" * MAX), 413, "max-message-size"),
    ]
    for what, body, status, reason in cases:
        r = await api.req("POST", "/api/tell", body)
        err = (test_api.jbody(r) or {}).get("error", "")
        c.ok(r.status == status and reason in err and r.body.count(b"\n") <= 1,
             f"tell with {what}: {status} '{reason}'", repr(r))
    r = await api.req("GET", "/api/tell")
    c.eq((r.status, r.header("Allow")), (405, "POST"), "GET /api/tell: 405 with Allow: POST")
    for what, key in (("no key", None), ("a wrong key", "wrong")):
        st, body = await tell(api, ok_name, key=key)
        c.ok(st == 401 and isinstance((body or {}).get("error"), str),
             f"tell with {what}: 401 with a JSON error", f"{st} {body}")


async def gone(c, hosts, a, b2):
    """A closed socket, a killed worker's socket, another run's name."""
    (srv1, api1), (srv2, api2) = hosts
    # Closed on a running worker: handed on, then counted gone by that worker. The
    # closing handshake is over when close() returns: the server has queued its close
    # frame, so the connection takes no more data frames, whether or not it is freed.
    cl = await Client.open(srv2)
    name = cl.name
    await cl.close()
    before = await metric_sum(api2, "sss_tells_gone_total")
    st, body = await tell(api1, name, "late")
    c.eq((st, body), (200, {}),
         "a closed socket of a running worker, from the other host: 200 {} (handed on)")
    c.ok(await metric_reaches(api2, "sss_tells_gone_total", before + 1) == before + 1,
         "its host counts it in sss_tells_gone_total")
    st, body = await tell(api2, name, "late")
    c.eq((st, body), (200, {}), "the same at its own host: 200 {} (its worker still runs)")
    c.ok(await metric_reaches(api2, "sss_tells_gone_total", before + 2) == before + 2,
         "... and counted gone too")

    # A name of another run of host 2: 404 at host 2, handed on from host 1.
    stale = with_run(b2[0].name, int(NAME.match(b2[0].name).group(2), 16) ^ 1)
    st, body = await tell(api2, stale)
    c.ok(st == 404 and "gone" in (body or {}).get("error", ""),
         "a name of another run of this host: 404 'gone'", f"{st} {body}")

    # Kill the worker of one socket: its name is gone for good.
    victim = b2[1]
    w = worker_of(victim.name)
    pid = srv2.worker_pids()[w]
    nlog = len(srv2.log_lines())
    os.kill(pid, signal.SIGKILL)
    m = await srv2.wait_log(rf"worker {w} started pid=(\d+)", timeout=30, start=nlog)
    c.ok(m and int(m.group(1)) != pid, f"host 2's worker {w} was restarted")
    # The master logs the fork; the new worker takes its incarnation (which
    # makes the old names stale) before it logs its own start.
    c.ok(m and await srv2.wait_log(rf"w{w} info worker: started pid={m.group(1)}\b",
                                   timeout=30, start=nlog),
         f"host 2's new worker {w} is up", srv2.log()[-600:])
    stale_before = await metric_sum(api2, "sss_tells_stale_total")
    st, body = await tell(api2, victim.name)
    c.ok(st == 404 and "error" in (body or {}),
         "a socket of a killed (and restarted) worker, at its host: 404", f"{st} {body}")
    st, body = await tell(api1, victim.name)
    c.eq((st, body), (200, {}), "the same from the other host: 200 {} (it cannot know)")
    c.ok(await metric_reaches(api2, "sss_tells_stale_total", stale_before + 2) >= stale_before + 2,
         "host 2 counts both in sss_tells_stale_total")
    # The restarted worker's sockets have new names, and get their tells.
    fresh = await clients_on_both_workers(srv2)
    c.ok(len(fresh) == 2 and fresh[w].name != victim.name
         and (int(NAME.match(fresh[w].name).group(1)) >> 32) & 0xffff
         != (int(NAME.match(victim.name).group(1)) >> 32) & 0xffff,
         "a socket of the new worker carries its new incarnation", str([x.name for x in
                                                                       fresh.values()]))
    st, _ = await tell(api1, fresh[w].name, "new")
    c.ok(st == 200 and await fresh[w].wait_for(lambda m: m.get("topic") == "new") is not None,
         "a socket of the restarted worker gets its tell")
    for x in fresh.values():
        await x.close()
    return victim.name


async def from_module(c, hosts, a, b, dead_name):
    (srv1, api1), _ = hosts
    rc = await a.ask("tellsock", b.name)
    c.eq(rc, 0, "sss_tell_socket for a socket of the other host: 0")
    got = await b.wait_for(lambda m: m.get("topic") == "fromapp")
    c.eq(got, {"sys": 6, "topic": "fromapp", "msg": {"by": a.name}},
         "it reaches that socket with the module's msg")
    rc = await a.ask("tellsock", a.name)
    c.eq(rc, 0, "sss_tell_socket for its own socket: 0")
    c.ok(await a.wait_for(lambda m: m.get("topic") == "fromapp") is not None,
         "its own socket gets it")
    other = await clients_on_both_workers(srv1)
    w = worker_of(a.name)
    peer = other.get(1 - w)
    if c.ok(peer is not None, "a socket on host 1's other worker"):
        c.eq(await a.ask("tellsock", peer.name), 0, "sss_tell_socket for the other worker's: 0")
        c.ok(await peer.wait_for(lambda m: m.get("topic") == "fromapp") is not None,
             "the other worker's socket gets it (through the scaler)")
    for x in other.values():
        await x.close()
    stale = with_run(a.name, int(NAME.match(a.name).group(2), 16) ^ 1)
    c.eq(await a.ask("tellsock", stale), -2004,
         "a name of another run of its own host: SSS_APP_EGONE")
    c.eq(await a.ask("tellsock", "nope"), -2007, "not a name: SSS_APP_ENAME")
    c.eq(await a.ask("tellsock", dead_name), 0,
         "another host's killed worker's socket: 0 (handed on: it cannot know)")


async def memory_engine(c):
    mod = os.environ["SSS_TESTMOD"]
    srv = await h.Server(c, flags=["--app", mod, "--api-listen", "127.0.0.1:0", "--api-key",
                                   test_api.KEY, "--host-id", "solo"],
                         workers=1, echo=False, name="solo").start()
    m = await srv.wait_log(r"api listening on 127\.0\.0\.1:(\d+)", timeout=20)
    api = test_api.Api(int(m.group(1)))
    cl = await Client.open(srv)
    st, body = await tell(api, cl.name, "solo", "[1]")
    c.eq((st, body), (200, {}), "memory engine: its own socket, 200 {}")
    c.ok(await cl.wait_for(lambda x: x.get("topic") == "solo" and x.get("msg") == [1]) is not None,
         "memory engine: the socket gets it")
    st, body = await tell(api, cl.name.replace("@solo", "@elsewhere"))
    c.ok(st == 404 and "gone" in (body or {}).get("error", ""),
         "memory engine (one host alone): another host's name is 404", f"{st} {body}")
    await cl.close()
    await srv.stop()


async def run(c):
    mod = os.environ.get("SSS_TESTMOD")
    if not c.ok(mod and os.path.exists(mod), "SSS_TESTMOD names the test module"):
        return
    redis = Redis(persist=False)
    try:
        hosts = await start_hosts(c, redis, 2, extra=["--app", mod,
                                                      "--max-message-size", "64k"])
        a = await Client.open(hosts[0][0])
        b2 = await clients_on_both_workers(hosts[1][0])
        if not c.eq(sorted(b2), [0, 1], "clients on both workers of host 2"):
            return
        await c.section("names", names, c, hosts, a, b2[0])
        await c.section("delivery", delivery, c, hosts, a, b2)
        await c.section("bad bodies", bad_bodies, c, hosts[0][1])
        dead = await gone(c, hosts, a, b2)
        await c.section("sss_tell_socket", from_module, c, hosts, a, b2[0], dead)
        for cl in [a, *b2.values()]:
            await cl.close()
        for srv, _ in hosts:
            await srv.stop()
    finally:
        redis.close()
    await c.section("memory engine", memory_engine, c)


if __name__ == "__main__":
    h.main(run, "test_tell")
