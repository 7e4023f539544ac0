"""Deferred answers in libsss (sss_on_session_later, sss_on_subscribe_later):
the test module tests/integration/modules/defermod.c keeps every decision
handle and answers it when a control client says so (TELL "decide"), so
each case below sets the interleaving itself and waits for events (the
module tells the control client what it was asked), never for time.

Upgrades decided later (accepted with a user, refused with 403 and a
reason, never answered: 503 after --decision-timeout, the client gone
first: the answer is SSS_APP_EGONE); subscriptions decided later (allowed,
refused with a reason, never answered), the messages sent meanwhile acted on
in order after the decision, a SYNC whose entries are decided in reverse
order, --max-waiting-messages crossed, and the counters in /metrics."""
import asyncio
import json
import os

from sss_harness import (T, RawClient, Server, main, raw_http, rx, rx_until, upgrade_request,
                         ws_connect)

EGONE = -2004  # SSS_APP_EGONE


class Ctl:
    """The control client: hears the module's events, sends its decisions."""

    def __init__(self, ws):
        self.ws = ws
        self.events = []
        self.ev = asyncio.Event()
        self.task = asyncio.create_task(self._read())

    @classmethod
    async def open(cls, server):
        ws = await ws_connect(server.url + "?now=ctl")
        await ws.send(json.dumps({"sys": 3}))
        await rx(ws, heartbeats=True)
        ctl = cls(ws)
        await ws.send(json.dumps({"sys": 6, "topic": "control", "msg": None}))
        await ctl.expect(lambda f: f.get("topic") == "control")
        return ctl

    async def _read(self):
        try:
            while True:
                m = await self.ws.recv()
                if m != "h":
                    self.events.append(json.loads(m))
                    self.ev.set()
        except Exception:  # noqa: BLE001 - closed
            self.ev.set()

    async def expect(self, pred, timeout=20):
        """The first event (a TELL) that satisfies pred, taken off the list."""
        deadline = asyncio.get_running_loop().time() + T(timeout)
        while True:
            for i, f in enumerate(self.events):
                if pred(f):
                    del self.events[i]
                    return f
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0 or self.task.done():
                raise TimeoutError(f"no such event; have {self.events!r}")
            self.ev.clear()
            try:
                await asyncio.wait_for(self.ev.wait(), left)
            except asyncio.TimeoutError:
                pass

    async def asked(self, kind, key):
        """The module was asked: a session whose target has key, or a subscription to key."""
        f = await self.expect(lambda f: f.get("topic") == "asked" and f["msg"]["kind"] == kind and
                              (key in f["msg"].get("target", "") if kind == "session"
                               else f["msg"].get("channel") == key))
        return f["msg"]

    async def closed(self):
        return await self.expect(lambda f: f.get("topic") == "closed")

    async def decide(self, cmd):
        """Answer a kept handle; the return code of sss_decide_*."""
        await self.ws.send(json.dumps({"sys": 6, "topic": "decide", "msg": cmd}))
        f = await self.expect(lambda f: f.get("topic") == "decided")
        return f["msg"]


async def opened(server, query):
    """A connection through the session parser (query "now=USER" answers at once), BEGIN done."""
    ws = await ws_connect(server.url + "?" + query)
    await ws.send(json.dumps({"sys": 3}))
    return ws, await rx(ws, heartbeats=True)


def send(ws, obj):
    return ws.send(json.dumps(obj))


async def frames_until(ws, want, timeout=20):
    """Read frames until want(frames) is true; every frame read, in order."""
    got = []
    while not want(got):
        got.append(await rx(ws, timeout, heartbeats=True))
    return got


# ---- upgrades ----


async def session_accept_later(c, srv, ctl):
    task = asyncio.create_task(opened(srv, "k=a1"))
    await ctl.asked("session", "k=a1")
    c.ok(not task.done(), "no 101 while the session decision is pending")
    c.eq(await ctl.decide("session k=a1 accept ann"), 0, "sss_decide_session returns 0")
    ws, begin = await task
    c.eq(begin.get("channel"), "_u_ann", "upgrade accepted later, naming the user ann")
    await ws.close()


async def session_now(c, srv, ctl):
    ws, begin = await opened(srv, "now=bob")
    c.eq(begin.get("channel"), "_u_bob", "a decision answered inside the call upgrades at once")
    await ws.close()


async def session_refuse_later(c, srv, ctl):
    cl = await RawClient.connect(srv.port)
    port = cl.w.get_extra_info("sockname")[1]
    cl.send(upgrade_request(path="/?k=r1", origin="http://o.example",
                            extra=[("User-Agent", "ua/1.0"), ("X-Forwarded-For", "10.0.0.1"),
                                   ("X-Forwarded-For", "10.0.0.2")]))
    await cl.drain()
    a = await ctl.asked("session", "k=r1")
    c.eq(a["remote"], f"127.0.0.1:{port}", "the request names the peer's ip:port")
    c.eq((a["origin"], a["user_agent"], a["forwarded_for"]),
         ("http://o.example", "ua/1.0", "10.0.0.1, 10.0.0.2"),
         "the request carries Origin, User-Agent and X-Forwarded-For (lines joined)")
    c.eq(await ctl.decide("session k=r1 refuse 403 go away now"), 0, "a refusal returns 0")
    r = await cl.read_http()
    c.eq((r.status, r.body), (403, b"go away now\n"), "upgrade refused later with 403 and the reason")
    cl.close()


async def session_client_gone(c, srv, ctl):
    start = len(srv.log_lines())
    cl = await RawClient.connect(srv.port)
    cl.send(upgrade_request(path="/?k=g1"))
    await cl.drain()
    await ctl.asked("session", "k=g1")
    cl.close()
    c.ok(await srv.wait_log(r"closed while deciding", start=start),
         "the server noticed the client left while deciding")
    c.eq(await ctl.decide("session k=g1 accept x"), EGONE,
         "answering after the client left is a no-op: SSS_APP_EGONE")
    c.ok(await srv.wait_log(r"answered after nobody waited", start=start), "the late answer is logged")


async def session_bad_user(c, srv, ctl):
    cl = await RawClient.connect(srv.port)
    cl.send(upgrade_request(path="/?k=b1"))
    await cl.drain()
    await ctl.asked("session", "k=b1")
    c.eq(await ctl.decide("session k=b1 accept bad!user"), -2002,
         "an invalid user: SSS_APP_ECHANNEL")
    r = await cl.read_http()
    c.eq((r.status, r.body), (500, b"session parser error\n"), "... and the upgrade gets 500")
    cl.close()


# ---- subscriptions ----


async def sub_allow_refuse(c, srv, ctl):
    ws, _ = await opened(srv, "now=ann")
    await ws.send('{"sys":1,"channel":"news","query":{"q":1},"id":1}')
    a = await ctl.asked("sub", "news")
    c.eq(a.get("query"), '{"q":1}', "the subscription parser sees the raw query")
    c.eq(await ctl.decide("sub news allow"), 0, "sss_decide_subscribe returns 0")
    r = await rx_until(ws, lambda f: f.get("id") == 1, heartbeats=True)
    c.eq((r.get("sys"), r.get("channel"), r.get("result")), (1, "news", True),
         "SUBSCRIBE allowed later")
    await send(ws, {"sys": 1, "channel": "secret", "id": 2})
    await ctl.asked("sub", "secret")
    c.eq(await ctl.decide("sub secret refuse members only"), 0, "refusal returns 0")
    r = await rx_until(ws, lambda f: f.get("id") == 2, heartbeats=True)
    c.ok(r.get("result") is False and r.get("err") == {"name": "Subscription refused",
                                                       "message": "members only"},
         "SUBSCRIBE refused later with the module's reason", str(r))
    c.eq(await ctl.decide("sub secret allow"), 1, "the handle was given up after its answer")
    await ws.close()


async def sub_then_publish(c, srv, ctl):
    ws, _ = await opened(srv, "now=ann")
    await send(ws, {"sys": 1, "channel": "ord", "id": 3})
    await send(ws, {"sys": 13, "channel": "ord", "topic": "t", "msg": "m1", "id": 4})
    await ctl.asked("sub", "ord")
    c.eq(await ctl.decide("sub ord allow"), 0, "SUBSCRIBE ord allowed")
    got = await frames_until(ws, lambda g: any(f.get("sys") == 8 for f in g) and
                             any(f.get("id") == 4 for f in g))
    sub = next((i for i, f in enumerate(got) if f.get("id") == 3), None)
    feed = next(i for i, f in enumerate(got) if f.get("sys") == 8)
    c.ok(sub is not None and sub < feed and got[sub].get("result") is True,
         "the SUBSCRIBE reply comes first", str(got))
    pub = next(f for f in got if f.get("id") == 4)
    c.ok(got[feed].get("msg") == "m1" and got[feed].get("uid") == pub.get("msg", {}).get("uid"),
         "a PUBLISH sent after a pending SUBSCRIBE runs after it: its FEED reaches the subscriber",
         str(got))
    await ws.close()


async def sub_then_unsubscribe(c, srv, ctl):
    a, _ = await opened(srv, "now=ann")
    b, _ = await opened(srv, "now=bob")
    await send(a, {"sys": 1, "channel": "now-chat", "id": 5})
    r = await rx_until(a, lambda f: f.get("id") == 5, heartbeats=True)
    c.eq(r.get("result"), True, "a subscription answered inside the call")
    await send(a, {"sys": 1, "channel": "wait1", "id": 6})
    await send(a, {"sys": 2, "channel": "now-chat", "id": 7})
    await ctl.asked("sub", "wait1")
    # The UNSUBSCRIBE waits behind the pending SUBSCRIBE: a publish still reaches a.
    await send(b, {"sys": 13, "channel": "now-chat", "topic": "t", "msg": "while", "id": 1})
    await rx_until(b, lambda f: f.get("id") == 1, heartbeats=True)
    got = await frames_until(a, lambda g: any(f.get("sys") == 8 for f in g))
    c.ok(got[-1].get("msg") == "while" and not any(f.get("sys") == 2 for f in got),
         "the UNSUBSCRIBE after a pending SUBSCRIBE waits for its decision", str(got))
    c.eq(await ctl.decide("sub wait1 allow"), 0, "wait1 allowed")
    got = await frames_until(a, lambda g: {6, 7} <= {f.get("id") for f in g})
    r6 = next(f for f in got if f.get("id") == 6)
    r7 = next(f for f in got if f.get("id") == 7)
    c.ok(r6.get("sys") == 1 and r6.get("result") is True and r7.get("sys") == 2 and
         r7.get("result") is True, "then the SUBSCRIBE reply, and the UNSUBSCRIBE acted on",
         str(got))
    await send(b, {"sys": 13, "channel": "now-chat", "topic": "t", "msg": "after", "id": 2})
    await send(b, {"sys": 13, "channel": "wait1", "topic": "t", "msg": "w", "id": 3})
    f = await rx_until(a, lambda f: f.get("sys") == 8, heartbeats=True)
    c.eq((f.get("channel"), f.get("msg")), ("wait1", "w"),
         "unsubscribed from now-chat, subscribed to wait1")
    await a.close()
    await b.close()


async def sync_reverse(c, srv, ctl):
    b, _ = await opened(srv, "now=bob")
    first = {}
    n = 10
    for ch in ("sa", "sb", "sc"):
        for m in ("one", "two"):
            n += 1
            await send(b, {"sys": 13, "channel": ch, "topic": "t", "msg": f"{ch}-{m}", "id": n})
            r = await rx_until(b, lambda f, n=n: f.get("id") == n, heartbeats=True)
            first.setdefault(ch, r["msg"]["uid"])
    ws = await ws_connect(srv.url + "?now=carl")
    subs = [{"channel": ch, "lastUid": first[ch], "query": None} for ch in ("sa", "sb", "sc")]
    subs.append({"channel": "_u_carl", "query": None})
    await send(ws, {"sys": 4, "id": 9, "subscriptions": subs})
    for ch in ("sa", "sb", "sc"):
        await ctl.asked("sub", ch)
    for cmd in ("sub sc allow", "sub sb refuse nope", "sub sa allow"):
        c.eq(await ctl.decide(cmd), 0, f"SYNC entry decided: {cmd}")
    r = await rx(ws, heartbeats=True)
    c.eq((r.get("sys"), r.get("id"), r.get("result")),
         (4, 9, {"sa": True, "sb": False, "sc": True, "_u_carl": True}),
         "the SYNC reply waits for every entry; _u_<user> is allowed without asking")
    c.eq(sorted(f.get("msg") for f in r.get("records", [])), ["sa-two", "sc-two"],
         "records of the allowed entries only")
    await send(b, {"sys": 13, "channel": "sa", "topic": "t", "msg": "live", "id": 99})
    f = await rx_until(ws, lambda f: f.get("sys") == 8, heartbeats=True)
    c.eq((f.get("channel"), f.get("msg")), ("sa", "live"), "live FEEDs follow the SYNC reply")
    await ws.close()
    await b.close()


async def waiting_limit(c, srv, ctl):
    # At the limit (4): every waiting message is acted on, in order.
    ws, _ = await opened(srv, "now=dan")
    await send(ws, {"sys": 1, "channel": "lim1", "id": 1})
    for i in range(2, 6):
        await send(ws, {"sys": 5, "topic": "echo", "msg": i, "id": i})
    await ctl.asked("sub", "lim1")
    c.eq(await ctl.decide("sub lim1 allow"), 0, "lim1 allowed")
    got = await frames_until(ws, lambda g: {1, 2, 3, 4, 5} <= {f.get("id") for f in g})
    c.eq([f.get("msg") for f in got if f.get("sys") == 7], [2, 3, 4, 5],
         "the asks that waited are answered, in order")
    await ws.close()
    # One over: closed with 1008.
    from websockets.exceptions import ConnectionClosed

    ws, _ = await opened(srv, "now=eve")
    await send(ws, {"sys": 1, "channel": "lim2", "id": 1})
    for i in range(5):
        await send(ws, {"sys": 6, "topic": "nothing", "msg": i})
    code = reason = None
    try:
        while True:
            await asyncio.wait_for(ws.recv(), T(20))
    except ConnectionClosed as e:
        code, reason = (e.rcvd.code, e.rcvd.reason) if e.rcvd else (None, None)
    c.eq((code, reason), (1008, "too many messages waiting for a decision"),
         "--max-waiting-messages crossed: close 1008")
    await ctl.closed()
    c.eq(await ctl.decide("sub lim2 allow"), EGONE, "its pending decision is then a no-op")


async def sub_client_gone(c, srv, ctl):
    ws, _ = await opened(srv, "now=fay")
    await send(ws, {"sys": 4, "id": 1, "subscriptions": [{"channel": "g1"}, {"channel": "g2"}]})
    await send(ws, {"sys": 1, "channel": "g3", "id": 2})
    await ctl.asked("sub", "g1")
    await ctl.asked("sub", "g2")
    c.eq(await ctl.decide("sub g1 allow"), 0, "one SYNC entry decided")
    await ws.close()
    await ctl.closed()
    c.eq(await ctl.decide("sub g2 allow"), EGONE, "the client left: the other entry's answer is EGONE")
    c.eq(await ctl.decide("sub g3 allow"), 1, "the SUBSCRIBE that waited was never asked about")


async def main_server(c):
    mod = os.environ.get("SSS_DEFERMOD")
    if not c.ok(mod, "SSS_DEFERMOD names the test module"):
        return
    srv = await Server(c, flags=["--app", mod, "--allow-client-publish", "*",
                                 "--max-waiting-messages", "4", "--log-level", "debug"],
                       echo=False, workers=1, name="defer").start()
    ctl = await Ctl.open(srv)
    await c.sections((c, srv, ctl), [
        ("upgrade accepted later", session_accept_later),
        ("upgrade decided inside the call", session_now),
        ("upgrade refused later; what the parser sees", session_refuse_later),
        ("client gone while deciding", session_client_gone),
        ("invalid user decided later", session_bad_user),
        ("subscription allowed and refused later", sub_allow_refuse),
        ("PUBLISH after a pending SUBSCRIBE", sub_then_publish),
        ("UNSUBSCRIBE after a pending SUBSCRIBE", sub_then_unsubscribe),
        ("SYNC decided in reverse order", sync_reverse),
        ("--max-waiting-messages", waiting_limit),
        ("client gone with subscriptions pending", sub_client_gone),
    ])
    await ctl.ws.close()
    await srv.stop()


async def timeout_server(c):
    mod = os.environ.get("SSS_DEFERMOD")
    if not mod:
        return
    # The decision outlives --handshake-timeout: that bounds the client's
    # request, not the application's answer.
    srv = await Server(c, flags=["--app", mod, "--decision-timeout", "2500ms",
                                 "--handshake-timeout", "1s",
                                 "--api-listen", "127.0.0.1:0", "--log-level", "debug"],
                       echo=False, workers=1, name="defer-timeout").start()
    ctl = await Ctl.open(srv)
    r = await raw_http(srv, upgrade_request(path="/?k=t1"))
    c.eq((r.status, r.body), (503, b"application did not answer\n"),
         "an upgrade not decided within --decision-timeout gets 503, "
         "though --handshake-timeout is shorter")
    c.eq(await ctl.decide("session k=t1 accept x"), EGONE, "a session answer after it: EGONE")
    ws, _ = await opened(srv, "now=gil")
    await send(ws, {"sys": 1, "channel": "slow", "id": 1})
    await send(ws, {"sys": 5, "topic": "echo", "msg": "next", "id": 2})
    got = await frames_until(ws, lambda g: {1, 2} <= {f.get("id") for f in g})
    c.ok(got[0].get("id") == 1 and got[0].get("result") is False and
         got[0].get("err", {}).get("message") == "application did not answer",
         "a subscription not decided in time is refused for the module", str(got))
    c.eq(got[-1].get("msg"), "next", "... and the message after it goes on")
    c.eq(await ctl.decide("sub slow allow"), EGONE, "a subscription answer after it: EGONE")
    m = await srv.wait_log(r"api listening on 127\.0\.0\.1:(\d+)")
    if c.ok(m, "the API listens"):
        cl = await RawClient.connect(int(m.group(1)))
        cl.send(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        r = await cl.read_http()
        cl.close()
        text = r.body.decode()
        c.ok('sss_decisions_timed_out_total{worker="0"} 2' in text and
             'sss_decisions_late_total{worker="0"} 2' in text,
             "/metrics counts the decisions that timed out and the late answers",
             [l for l in text.splitlines() if "decisions" in l])
    await ws.close()
    await ctl.ws.close()
    await srv.stop()


async def test(c):
    await main_server(c)
    await timeout_server(c)


if __name__ == "__main__":
    main(test, "test_defer")
