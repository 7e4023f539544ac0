"""The scripted misbehaving server of the client tests (tests/clients/scripted_server.py),
driven by a Python websockets client: every scenario and param, the log, send
and close endpoints, bad input, and its exit on SIGTERM and on stdin EOF.
It needs no sss-server: only the venv's websockets."""
import asyncio
import json
import os
import signal
import subprocess
import sys
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sss_harness as h  # noqa: E402

SOURCE = os.environ.get("SSS_SOURCE_DIR") or os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
SCRIPT = os.path.join(SOURCE, "tests", "clients", "scripted_server.py")
PROT = {"hb": False, "hbInterval": 30000, "hbThreshold": 2500}


class Scripted:
    """A running scripted_server.py (stdin a pipe we hold open)."""

    async def start(self):
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, SCRIPT, "--port", "0",
            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self.first = (await asyncio.wait_for(self.proc.stdout.readline(), h.T(30))).decode()
        self.port = int(self.first.split()[1])
        return self

    def url(self, tag, query="", scenario="ok"):
        return f"ws://127.0.0.1:{self.port}/{tag}/{scenario}" + (f"?{query}" if query else "")

    async def http(self, method, path, body=None, extra=""):
        """(status, parsed JSON body or text) of one plain HTTP request."""
        r, w = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", self.port), h.T(20))
        data = b"" if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
        w.write(f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                f"Content-Type: application/json\r\n{extra}Content-Length: {len(data)}\r\n\r\n".encode() + data)
        raw = await asyncio.wait_for(r.read(), h.T(20))
        w.close()
        head, _, text = raw.partition(b"\r\n\r\n")
        status = int(head.split()[1])
        try:
            return status, json.loads(text)
        except ValueError:
            return status, text.decode()

    async def log(self, tag):
        status, body = await self.http("GET", f"/_log/{tag}")
        assert status == 200, (status, body)
        return body["attempts"]

    async def wait_log(self, tag, pred):
        """The log of `tag` once pred(attempts) holds (the server logs a close
        after the client saw it)."""
        for _ in range(int(h.T(20) / 0.02)):
            attempts = await self.log(tag)
            if pred(attempts):
                return attempts
            await asyncio.sleep(0.02)
        return attempts


async def rx(ws):
    m = await asyncio.wait_for(ws.recv(), h.T(20))
    return m if m == "h" else json.loads(m)


async def refused(url, **kw):
    """The HTTP status an upgrade got (101 when it was accepted)."""
    from websockets.exceptions import InvalidStatus
    try:
        async with h.ws_connect(url, **kw):
            return 101
    except InvalidStatus as e:
        return e.response.status_code


async def ok_scenario(c, srv):
    async with h.ws_connect(srv.url("ok1"), subprotocols=["sss.v1.json"],
                            additional_headers={"X-Test": "yes"}) as ws:
        c.eq(ws.subprotocol, "sss.v1.json", "the offered sub-protocol is echoed")
        await ws.send(json.dumps({"sys": 5, "topic": "t", "msg": 1, "id": 1}))
        c.eq(await rx(ws), {"sys": 14, "err": {"name": "Super Scaled Sockets Error",
                                                "message": "BEGIN or SYNC must come first"}, "id": 1},
             "an ASK before BEGIN gets ERROR with its id")
        await ws.send('{"sys":3}')
        c.eq(await rx(ws), {"sys": 3, "prot": PROT, "session": "s-ok1"}, "BEGIN reply with default prot")
        await ws.send(json.dumps({"sys": 1, "channel": "sport", "query": None, "id": 2}))
        c.eq(await rx(ws), {"sys": 1, "id": 2, "channel": "sport", "result": True, "lastUid": None},
             "SUBSCRIBE reply, lastUid null")
        await ws.send(json.dumps({"sys": 2, "channel": "sport"}))
        await ws.send(json.dumps({"sys": 2, "channel": "sport", "id": "u"}))
        c.eq(await rx(ws), {"sys": 2, "id": "u", "channel": "sport", "result": True},
             "UNSUBSCRIBE without id unanswered, with id answered")
        await ws.send(json.dumps({"sys": 6, "topic": "t", "msg": 1}))
        await ws.send(json.dumps({"sys": 5, "topic": "t", "msg": {"a": [1, 2]}, "id": 3}))
        c.eq(await rx(ws), {"sys": 7, "id": 3, "msg": {"a": [1, 2]}}, "TELL unanswered; ASK echoes its msg")
        await ws.send(json.dumps({"sys": 13, "channel": "chat", "topic": "say", "msg": "hi", "id": 4}))
        c.eq(await rx(ws), {"sys": 7, "id": 4, "msg": {"uid": "1-1"}}, "PUBLISH reply")
        await ws.send(json.dumps({"sys": 4, "id": 5, "subscriptions": [
            {"channel": "sport", "lastUid": "1-4", "query": None}, {"channel": "news", "lastUid": None}]}))
        c.eq(await rx(ws), {"sys": 4, "id": 5, "result": {"sport": True, "news": True}, "records": [], "prot": PROT},
             "SYNC reply: every channel true, no records")
        await ws.send(json.dumps({"sys": 99, "id": 6}))
        c.eq((await rx(ws)).get("sys"), 14, "an unknown sys gets ERROR")
        await ws.send("not json")
        c.eq((await rx(ws)).get("sys"), 14, "a frame that is no JSON gets ERROR")
        await ws.send("h")
        await ws.send(json.dumps({"sys": 5, "topic": "t", "msg": 7, "id": 7}))
        c.eq(await rx(ws), {"sys": 7, "id": 7, "msg": 7}, "with hb off, h is not answered")
    a = await srv.wait_log("ok1", lambda a: a and a[0]["close_code"] is not None)
    c.eq(len(a), 1, "one attempt logged")
    a = a[0]
    c.eq((a["path"], a["query"], a["status"], a["close_code"]), ("/ok1/ok", {}, 101, 1000),
         "path, query, status and close code logged")
    c.eq((a["headers"].get("x-test"), a["headers"].get("sec-websocket-protocol")), ("yes", "sss.v1.json"),
         "headers logged with lowercased names")
    c.ok(isinstance(a["t_ms"], int), "t_ms is an integer", repr(a["t_ms"]))
    c.eq(a["received"], [{"sys": 5, "topic": "t", "msg": 1, "id": 1}, {"sys": 3},
                         {"sys": 1, "channel": "sport", "query": None, "id": 2},
                         {"sys": 2, "channel": "sport"}, {"sys": 2, "channel": "sport", "id": "u"},
                         {"sys": 6, "topic": "t", "msg": 1}, {"sys": 5, "topic": "t", "msg": {"a": [1, 2]}, "id": 3},
                         {"sys": 13, "channel": "chat", "topic": "say", "msg": "hi", "id": 4},
                         {"sys": 4, "id": 5, "subscriptions": [{"channel": "sport", "lastUid": "1-4", "query": None},
                                                              {"channel": "news", "lastUid": None}]},
                         {"sys": 99, "id": 6}, "not json", "h", {"sys": 5, "topic": "t", "msg": 7, "id": 7}],
         "every client frame logged in order, JSON parsed, others as strings")
    async with h.ws_connect(srv.url("ok2")) as ws:
        c.eq(ws.subprotocol, None, "no sub-protocol when none is offered")
    c.eq(await srv.log("never-seen"), [], "an unknown tag has no attempts")


async def params(c, srv):
    q = urllib.parse.urlencode({"lastUid": "3-9", "hbInterval": 1000, "hbThreshold": 10,
                                "records": json.dumps([{"sys": 8, "channel": "a", "uid": "1-2"},
                                                       {"sys": 8, "channel": "a", "uid": "1-2"},
                                                       {"sys": 8, "channel": "a", "uid": "1-1"}])})
    async with h.ws_connect(srv.url("par", q)) as ws:
        await ws.send('{"sys":4,"id":1,"subscriptions":[{"channel":"a","lastUid":"1-0"}]}')
        r = await rx(ws)
        c.eq(r.get("records"), [{"sys": 8, "channel": "a", "uid": "1-2"}, {"sys": 8, "channel": "a", "uid": "1-2"},
                                {"sys": 8, "channel": "a", "uid": "1-1"}], "SYNC first: records verbatim")
        c.eq(r.get("prot"), {"hb": False, "hbInterval": 1000, "hbThreshold": 10}, "SYNC prot carries the params")
        await ws.send('{"sys":1,"channel":"b","id":2}')
        c.eq((await rx(ws)).get("lastUid"), "3-9", "SUBSCRIBE reply carries lastUid")
    async with h.ws_connect(srv.url("ref", "subscribe_result=false")) as ws:
        await ws.send('{"sys":3}')
        await rx(ws)
        await ws.send('{"sys":1,"channel":"b","id":2}')
        r = await rx(ws)
        c.eq((r.get("result"), r.get("err", {}).get("name")), (False, "Subscription refused"),
             "subscribe_result=false refuses SUBSCRIBE with err")
        await ws.send('{"sys":4,"id":3,"subscriptions":[{"channel":"b","lastUid":"1-1"}]}')
        c.eq((await rx(ws)).get("result"), {"b": False}, "and every channel of SYNC")
    for n in (35, 1000, 70000):
        async with h.ws_connect(srv.url(f"big{n}", f"big={n}")) as ws:
            await ws.send('{"sys":3}')
            c.eq((await rx(ws)).get("sys"), 3, f"big={n}: BEGIN reply first")
            m = await asyncio.wait_for(ws.recv(), h.T(20))
            c.ok(len(m.encode()) == n and json.loads(m)["sys"] == 11,
                 f"big={n}: then one JSON text frame of exactly {n} bytes", f"len {len(m)}")


async def refusals(c, srv):
    got = [await refused(srv.url("st", "status=503&times=2")) for _ in range(3)]
    c.eq(got, [503, 503, 101], "status=503&times=2 refuses the first two attempts")
    c.eq([a["status"] for a in await srv.log("st")], [503, 503, 101], "the statuses are logged")
    got = [await refused(srv.url("st403", "status=403")) for _ in range(3)]
    c.eq(got, [403, 403, 403], "status without times refuses every attempt")
    t = "tok-" + "x" * 7996  # an 8000-byte token, near the sss handshake limit of 8 KiB headers
    bearer = {"additional_headers": {"Authorization": f"Bearer {t}"}}
    q = "token=" + urllib.parse.quote(t)
    c.eq(await refused(srv.url("tk1", q)), 401, "token: no token gets 401")
    c.eq(await refused(srv.url("tk1", q), additional_headers={"Authorization": "Bearer nope"}), 401,
         "token: a wrong Bearer gets 401")
    c.eq(await refused(srv.url("tk1", q), **bearer), 101, "token: the right Bearer (8000 bytes) is accepted")
    c.eq(await refused(srv.url("tk1", q + "&token=zz")), 401, "token: a wrong appended ?token= gets 401")
    c.eq(await refused(srv.url("tk1", f"{q}&token={t[:100]}")), 401, "token: a prefix of the token gets 401")
    c.eq(await refused(srv.url("tk1", f"{q}&{q}")), 414, "a request line over 8192 bytes: 414 (websockets' limit)")
    c.eq(await refused(srv.url("tk5", "token=ab&token=ab")), 101, "token: the right appended ?token= is accepted")
    c.eq(await refused(srv.url("tk2", "expect_token=ab")), 401, "expect_token: no token gets 401")
    c.eq(await refused(srv.url("tk2", "expect_token=ab&token=zz")), 401, "expect_token: a wrong ?token= gets 401")
    c.eq(await refused(srv.url("tk2", "expect_token=ab&token=ab")), 101, "expect_token: the right ?token=")
    c.eq(await refused(srv.url("tk3", "token=ab"), additional_headers={"Cookie": "a=1; token=ab"}), 101,
         "token: the token cookie")
    got = [await refused(srv.url("tk4", f"{q}&after=2"), **bearer) for _ in range(3)]
    c.eq(got, [401, 401, 101], "token&after=2: the right token is refused twice (expired), then accepted")
    a = await srv.log("tk1")
    c.eq([x["status"] for x in a], [401, 401, 101, 401, 401],
         "token: the statuses are logged (not the 414: websockets refused it unseen)")
    c.eq(a[2]["headers"].get("authorization"), f"Bearer {t}", "the Authorization header is logged")


async def closes(c, srv):
    for phase, first in (("begin", '{"sys":3}'), ("subscribe", '{"sys":1,"channel":"a","id":1}'),
                         ("sync", '{"sys":4,"id":1,"subscriptions":[]}')):
        tag = f"cl-{phase}"
        url = srv.url(tag, f"close_at={phase}&code=4008&times=1")
        async with h.ws_connect(url) as ws:
            if phase == "subscribe":
                await ws.send('{"sys":3}')
                await rx(ws)
            await ws.send(first)
            c.eq(await h.ws_close_code(ws), 4008, f"close_at={phase}: closed with 4008 on attempt 0")
        async with h.ws_connect(url) as ws:
            if phase == "subscribe":
                await ws.send('{"sys":3}')
                await rx(ws)
            await ws.send(first)
            c.eq((await rx(ws)).get("sys"), int(first[7]), f"close_at={phase}: answered on attempt 1")
        a = await srv.wait_log(tag, lambda a: len(a) == 2 and a[1]["close_code"] is not None)
        c.eq([x["close_code"] for x in a], [4008, 1000], f"close_at={phase}: close codes logged")
    async with h.ws_connect(srv.url("cl-abort", "close_at=begin&code=1006")) as ws:
        await ws.send('{"sys":3}')
        c.eq(await h.ws_close_code(ws), None, "code=1006 drops the TCP connection without a close frame")
    a = await srv.wait_log("cl-abort", lambda a: a[0]["close_code"] is not None)
    c.eq(a[0]["close_code"], 1006, "the abort is logged as 1006")
    for code in (1001, 1002, 1003, 1007, 1008, 1009, 1011, 4000, 4001, 4999):
        async with h.ws_connect(srv.url(f"cl-{code}", f"close_at=begin&code={code}")) as ws:
            await ws.send('{"sys":3}')
            c.eq(await h.ws_close_code(ws), code, f"close_at=begin&code={code}")
    async with h.ws_connect(srv.url("cl-def", "close_at=begin")) as ws:
        await ws.send('{"sys":3}')
        c.eq(await h.ws_close_code(ws), 1000, "close_at without code closes with 1000")


async def silences(c, srv):
    """A silent message is shown unanswered by the next one: the server handles
    a connection's frames in order, and an ASK before any BEGIN/SYNC reply gets
    ERROR."""
    for phase, msg in (("begin", '{"sys":3}'), ("sync", '{"sys":4,"id":1,"subscriptions":[]}')):
        url = srv.url(f"si-{phase}", f"silent_at={phase}&times=1")
        async with h.ws_connect(url) as ws:
            await ws.send(msg)
            await ws.send('{"sys":5,"topic":"t","msg":1,"id":"probe"}')
            r = await rx(ws)
            c.eq((r.get("sys"), r.get("id")), (14, "probe"), f"silent_at={phase}: not answered on attempt 0")
        async with h.ws_connect(url) as ws:
            await ws.send(msg)
            c.eq((await rx(ws)).get("sys"), int(msg[7]), f"silent_at={phase}: answered on attempt 1")
    url = srv.url("si-two", "silent_at=begin&close_at=sync&silent_times=1&close_times=2&code=4001")
    for i, expect in enumerate([(None, 4001), (3, 4001), (3, None)]):
        async with h.ws_connect(url) as ws:
            await ws.send('{"sys":3}')
            await ws.send('{"sys":5,"topic":"t","msg":1,"id":"p"}')
            r = await rx(ws)
            c.eq(r.get("sys") if r.get("sys") == 3 else None, expect[0], f"silent_times=1, attempt {i}: BEGIN")
            await ws.send('{"sys":4,"id":1,"subscriptions":[]}')
            if expect[1]:
                c.eq(await h.ws_close_code(ws), 4001, f"close_times=2, attempt {i}: SYNC closes")
            else:
                await rx(ws)  # the ASK's answer
                c.eq((await rx(ws)).get("sys"), 4, f"close_times=2, attempt {i}: SYNC answered")


async def heartbeats(c, srv):
    async with h.ws_connect(srv.url("hb", "hb=true&hbInterval=20")) as ws:
        await ws.send('{"sys":3}')
        c.eq((await rx(ws)).get("prot"), {"hb": True, "hbInterval": 20, "hbThreshold": 2500}, "hb=true in prot")
        c.eq([await rx(ws) for _ in range(3)], ["h", "h", "h"], "the server sends h every hbInterval")
    async with h.ws_connect(srv.url("hb-ans", "hb=true")) as ws:  # hbInterval 30 s: no periodic h here
        await ws.send('{"sys":3}')
        await rx(ws)
        await ws.send("h")
        c.eq(await rx(ws), "h", "with hb on, the client's h is answered")
    async with h.ws_connect(srv.url("hb-dead", "hb=true&hbInterval=10&hb_count=2")) as ws:
        await ws.send('{"sys":3}')
        await rx(ws)
        c.eq([await rx(ws) for _ in range(2)], ["h", "h"], "hb_count=2: two heartbeats")
        await ws.send("h")
        await ws.send('{"sys":5,"topic":"t","msg":"after","id":1}')
        c.eq(await rx(ws), {"sys": 7, "id": 1, "msg": "after"},
             "hb_count=2: then neither sent nor answered")


async def control(c, srv):
    c.eq(await srv.http("POST", "/_send/ctl", {"frame": "x"}), (404, {"error": "tag 'ctl' has no open connection"}),
         "/_send without an open connection: 404")
    c.eq((await srv.http("POST", "/_close/ctl", {"code": 1001}))[0], 404, "/_close without an open connection: 404")
    async with h.ws_connect(srv.url("ctl")) as ws:
        await ws.send('{"sys":3}')
        await rx(ws)
        c.eq(await srv.http("POST", "/_send/ctl", {"frame": {"sys": 8, "channel": "a", "uid": "1-1"}}),
             (200, {"ok": True}), "/_send of a JSON value: 200")
        c.eq(await asyncio.wait_for(ws.recv(), h.T(20)), '{"sys":8,"channel":"a","uid":"1-1"}',
             "the value arrives serialised")
        await srv.http("POST", "/_send/ctl", {"frame": "not {json"})
        c.eq(await asyncio.wait_for(ws.recv(), h.T(20)), "not {json", "a string arrives as it is")
        for body, what in ((b"{", "not JSON"), ({"nope": 1}, "no frame")):
            c.eq((await srv.http("POST", "/_send/ctl", body))[0], 400, f"/_send with a body that has {what}: 400")
        for body, what in (({"code": 1005}, "1005"), ({"code": "x"}, "no number"), ({}, "nothing")):
            c.eq((await srv.http("POST", "/_close/ctl", body))[0], 400, f"/_close with code {what}: 400")
        c.eq((await srv.http("GET", "/_send/ctl"))[0], 404, "GET /_send: 404")
        c.eq((await srv.http("POST", "/_send/ctl", b"x" * (1 << 20 | 1)))[0], 413, "/_send with a body over 1 MiB: 413")
        c.eq((await srv.http("POST", "/_send/ctl", b"", extra="Transfer-Encoding: chunked\r\n"))[0], 400,
             "/_send with a chunked body: 400")
        c.eq((await srv.http("GET", "/_nothing/ctl"))[0], 404, "an unknown /_ path: 404")
        c.eq(await srv.http("POST", "/_close/ctl", {"code": 1001}), (200, {"ok": True}), "/_close 1001: 200")
        c.eq(await h.ws_close_code(ws), 1001, "the client sees 1001")
    async with h.ws_connect(srv.url("ctl")) as ws:
        c.eq((await srv.http("POST", "/_close/ctl", {"abort": True}))[0], 200, "/_close abort: 200")
        c.eq(await h.ws_close_code(ws), None, "abort: no close frame")
    a = await srv.wait_log("ctl", lambda a: len(a) == 2 and a[1]["close_code"] is not None)
    c.eq([x["close_code"] for x in a], [1001, 1006], "the closes are logged (1006 for the abort)")
    # Of two open connections of one tag, the newest gets the frame.
    async with h.ws_connect(srv.url("two")) as old, h.ws_connect(srv.url("two")) as new:
        await srv.http("POST", "/_send/two", {"frame": 1})
        c.eq(await asyncio.wait_for(new.recv(), h.T(20)), "1", "/_send goes to the newest connection")
        await srv.http("POST", "/_close/two", {"code": 4001})
        c.eq(await h.ws_close_code(new), 4001, "and so does /_close")
        await srv.http("POST", "/_close/two", {"code": 4000})
        c.eq(await h.ws_close_code(old), 4000, "then the older one is the tag's connection")


async def bad_upgrades(c, srv):
    """bad_upgrade: a 101 that a client must refuse, read off a raw socket."""
    async def upgrade(query, offer):
        rc = await h.RawClient.connect(srv.port)
        key = h.ws_key()
        extra = [("Sec-WebSocket-Protocol", "sss.v1.json")] if offer else []
        rc.send(h.upgrade_request(f"/badup/ok?{query}", key=key, extra=extra))
        resp = await rc.read_http()
        rc.close()
        return (resp.status, resp.header("Sec-WebSocket-Accept") == h.ws_accept(key),
                resp.header("Sec-WebSocket-Protocol"))
    c.eq(await upgrade("", True), (101, True, "sss.v1.json"), "a good 101 (the raw client itself)")
    c.eq(await upgrade("bad_upgrade=accept", True), (101, False, "sss.v1.json"),
         "bad_upgrade=accept: a wrong Sec-WebSocket-Accept")
    c.eq(await upgrade("bad_upgrade=protocol", True), (101, True, "other"), "bad_upgrade=protocol: another sub-protocol")
    c.eq(await upgrade("bad_upgrade=protocol", False), (101, True, "other"),
         "bad_upgrade=protocol: even when none was offered")
    c.eq(await upgrade("bad_upgrade=noprotocol", True), (101, True, None),
         "bad_upgrade=noprotocol: no sub-protocol though one was offered")


async def bad_input(c, srv):
    for q, what in (("code=abc&close_at=begin", "a code that is no number"),
                    ("close_at=begin&code=1005", "a close code that cannot be sent"),
                    ("close_at=hello", "an unknown close_at"), ("silent_at=subscribe", "an unknown silent_at"),
                    ("records=%5B1", "records that are no JSON"), ("records=%7B%7D", "records that are no array"),
                    ("big=10", "big under the smallest JSON frame"), ("hb=yes", "hb that is no boolean"),
                    ("status=99", "a status that is no final status"), ("times=-1", "negative times"),
                    ("bad_upgrade=maybe", "an unknown bad_upgrade")):
        c.eq(await refused(srv.url("bad", q)), 400, f"{what}: 400")
    c.eq(await refused(srv.url("bad", scenario="nope")), 404, "an unknown scenario: 404")
    c.eq(await refused(f"ws://127.0.0.1:{srv.port}/only-a-tag"), 404, "a path without scenario: 404")
    status, _ = await srv.http("GET", "/plain/ok")
    c.eq(status, 426, "a plain GET (no upgrade) of a scenario: websockets' 426")
    c.eq([a["status"] for a in await srv.log("bad")], [400] * 11 + [404], "refusals are logged with their status")


async def lifetime(c, _srv):
    srv = await Scripted().start()
    c.ok(srv.first.startswith("LISTENING ") and srv.port > 0, "prints LISTENING <port>", srv.first)
    async with h.ws_connect(srv.url("life")) as ws:
        srv.proc.stdin.close()
        c.eq(await asyncio.wait_for(srv.proc.wait(), h.T(20)), 0, "exits 0 on stdin EOF with a connection open")
        c.eq(await h.ws_close_code(ws), None, "the open connection is dropped")
    c.eq(await srv.proc.stdout.read(), b"", "nothing else on stdout")


async def run(c):
    srv = await Scripted().start()
    c.eq(srv.first, f"LISTENING {srv.port}\n", "one line LISTENING <port>")
    try:
        await c.sections((c, srv), [("scenario ok", ok_scenario), ("params", params), ("refusals", refusals),
                                    ("close_at", closes), ("silent_at", silences), ("heartbeats", heartbeats),
                                    ("control endpoints", control), ("bad 101", bad_upgrades),
                                    ("bad input", bad_input),
                                    ("stdin EOF", lifetime)])
    finally:
        if srv.proc.returncode is None:
            srv.proc.send_signal(signal.SIGTERM)
        c.eq(await asyncio.wait_for(srv.proc.wait(), h.T(20)), 0, "exits 0 on SIGTERM")


if __name__ == "__main__":
    h.main(run, "test_scripted_server", timeout=600, server=False)
