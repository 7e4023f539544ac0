"""The backend proxy (PROXY.md): sss-server with --proxy-url calls a real
HTTP/1.1 keep-alive backend written with Python's standard library
(ThreadingHTTPServer, started here) for connects, subscribes (SUBSCRIBE and
SYNC entries), asks, tells and closes; the backend's answers upgrade or
refuse, allow or refuse, become RESPONSEs; every failure rule (backend down, too slow, not
JSON, a 500, a body over --max-message-size, closed mid-answer, a full
queue) gives its error and is counted in /metrics; the calls of one socket
arrive in the order its events happened, its close last.

No timing in the assertions: the test waits for events (generous deadlines
only bound a failure)."""
import asyncio
import json
import os
import socket
import sys
import threading
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
from http_backend import BackendHandler, serve as serve_backend  # noqa: E402
from svc_redis import free_port  # noqa: E402
from sss_harness import T, Server, begun, log, main, rx_until, ws_connect  # noqa: E402

HOST_ID = "proxy-test-host"
HOLD_MAX = 60  # a held call is let go after this long whatever happens (seconds)


class Backend:
    """The application in "any language": records every call in arrival
    order (path, body, headers) and answers by the ask's topic."""

    def __init__(self, prefix=""):
        self.prefix = prefix
        self.events = []  # (name, body, headers), in arrival order
        self.cond = threading.Condition()
        self.release = threading.Event()
        self.huge = 0
        backend = self

        class Handler(BackendHandler):
            def do_POST(self):
                body = self.read_body()
                name = self.path[len(backend.prefix):].strip("/")
                try:
                    data = json.loads(body)
                except ValueError:
                    data = None
                backend.record((name, data, dict(self.headers.items())))
                try:
                    backend.serve(self, name, data)
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True

        self.httpd = serve_backend(Handler)
        self.port = self.httpd.server_address[1]

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}{self.prefix}"

    def record(self, ev):
        with self.cond:
            self.events.append(ev)
            self.cond.notify_all()

    def serve(self, h, name, data):
        if name == "connect":
            self.serve_connect(h, data)
            return
        if name == "subscribe":
            self.serve_subscribe(h, data)
            return
        if name != "ask":
            h.answer(200, b"{}")
            return
        topic, msg = data["topic"], data["msg"]
        if topic == "echo":
            h.answer(200, json.dumps({"msg": {"echo": msg, "user": data["user"]}}).encode())
        elif topic in ("whoami", "whoami2"):
            h.answer(200, json.dumps({"msg": {"socket": data["socket"],
                                              "host": h.headers.get("X-SSS-Host")}}).encode())
        elif topic == "err":
            h.answer(200, b'{"err":{"name":"Nope","message":"not today"}}')
        elif topic == "hold":
            # Held until the test lets it go; then answered (the client may be gone).
            self.release.wait(HOLD_MAX)
            self.record(("answered", {"topic": topic, "msg": msg}, {}))
            h.answer(200, json.dumps({"msg": msg}).encode())
        elif topic == "notjson":
            h.answer(200, b"hello, not json", ctype="text/plain")
        elif topic == "array":
            h.answer(200, b"[1,2,3]")
        elif topic == "500":
            h.answer(500, b'{"msg":"should not count"}')
        elif topic == "badmsg":
            h.answer(200, b'{"nothing":"here"}')
        elif topic == "huge":
            h.answer(200, b'{"msg":"' + b"x" * self.huge + b'"}')
        elif topic == "cut":
            # Promise 1000 bytes, send a few, close the connection.
            h.send_response(200)
            h.send_header("Content-Type", "application/json")
            h.send_header("Content-Length", "1000")
            h.end_headers()
            h.wfile.write(b'{"msg":"')
            h.wfile.flush()
            h.close_connection = True
            h.connection.shutdown(socket.SHUT_RDWR)
        else:
            h.answer(404, b'{"err":{"name":"?","message":"no such topic"}}')

    def serve_connect(self, h, data):
        """The cookie names the user (user=ann), or asks for a refusal (deny=401|403)."""
        cookies = dict(kv.strip().split("=", 1) for kv in
                       data["headers"].get("cookie", "").split(";") if "=" in kv)
        if "deny" in cookies:
            h.answer(200, json.dumps({"status": int(cookies["deny"]),
                                      "reason": f"denied {cookies['deny']}"}).encode())
        elif cookies.get("connect") == "notjson":
            h.answer(200, b"nope")
        elif cookies.get("connect") == "hold":
            self.release.wait(HOLD_MAX)
            h.answer(200, b"{}")
        elif "user" in cookies:
            h.answer(200, json.dumps({"user": cookies["user"],
                                      "session": "s-" + cookies["user"]}).encode())
        else:
            h.answer(200, b"{}")

    def serve_subscribe(self, h, data):
        ch = data["channel"]
        if ch.startswith("no-"):
            h.answer(200, json.dumps({"result": False, "reason": "not " + ch}).encode())
        elif ch.startswith("bad-"):
            h.answer(200, b'{"result":"yes"}')
        elif ch.startswith("err-"):
            h.answer(503, b"{}")
        else:
            h.answer(200, b'{"result":true}')

    def names(self, socket_name=None):
        with self.cond:
            return [e[0] for e in self.events
                    if socket_name is None or (e[1] or {}).get("socket") == socket_name
                    or e[0] == "answered"]

    async def wait_for(self, pred, what, timeout=30):
        """Wait until pred(events) is true; the events then (None on timeout)."""
        deadline = time.monotonic() + T(timeout)
        while time.monotonic() < deadline:
            with self.cond:
                evs = list(self.events)
            if pred(evs):
                return evs
            await asyncio.sleep(0.02)
        log(f"# backend never saw {what}; events: {[(e[0], e[1]) for e in self.events][-20:]}")
        return None

    def clear(self):
        with self.cond:
            self.events.clear()
        self.release.clear()

    def stop(self):
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


async def ask(ws, topic, msg, id_, timeout=30):
    await ws.send(json.dumps({"sys": 5, "topic": topic, "msg": msg, "id": id_}))
    return await rx_until(ws, lambda f: f.get("sys") == 7 and f.get("id") == id_, timeout)


async def api_port(server):
    m = await server.wait_log(r"api listening on 127\.0\.0\.1:(\d+)", timeout=30)
    return int(m.group(1)) if m else None


async def proxied_client(c, url, flags, name):
    """A server proxying to url with flags, its API port and a client past BEGIN."""
    server = await proxy_server(c, url, flags, name=name).start()
    return server, await api_port(server), await begun(server)


def _get(url):
    with urllib.request.urlopen(url, timeout=T(20)) as r:
        return r.read().decode()


async def metrics(port):
    """{(name, labels): value} of /metrics for the sss_proxy_* samples."""
    text = await asyncio.to_thread(_get, f"http://127.0.0.1:{port}/metrics")
    out = {}
    for line in text.splitlines():
        if line.startswith("sss_proxy_"):
            key, val = line.rsplit(" ", 1)
            out[key] = float(val)
    return out


def failures(m, event, reason):
    return m.get(f'sss_proxy_failures_total{{event="{event}",reason="{reason}"}}', 0)


async def wait_metric(port, pred, timeout=30):
    deadline = time.monotonic() + T(timeout)
    while True:
        m = await metrics(port)
        if pred(m) or time.monotonic() > deadline:
            return m
        await asyncio.sleep(0.05)


def proxy_server(checks, backend_url, extra=(), name="proxy", workers=1):
    flags = ["--proxy-url", backend_url, "--host-id", HOST_ID, "--api-listen", "127.0.0.1:0",
             "--max-message-size", "64k"] + list(extra)
    return Server(checks, flags=flags, echo=False, workers=workers, name=name)


# --------------------------------------------------------------------------


async def answers(c, backend, server, port):
    ws = await begun(server)
    r = await ask(ws, "echo", {"a": [1, "é"]}, 1)
    c.eq(r, {"sys": 7, "id": 1, "msg": {"echo": {"a": [1, "é"]}, "user": ""}},
         "ask answered with the backend's msg")
    r = await ask(ws, "whoami", None, "s-2")
    who = r.get("msg") or {}
    c.ok(isinstance(who.get("socket"), str) and who["socket"].endswith("@" + HOST_ID),
         "the body's socket names the host", str(r))
    c.eq(who.get("host"), HOST_ID, "X-SSS-Host carries the host id")
    r = await ask(ws, "err", 1, 3)
    c.eq(r, {"sys": 7, "id": 3, "err": {"name": "Nope", "message": "not today"}},
         "ask answered with the backend's err")
    evs = backend.names()
    c.ok(evs.count("ask") >= 3 and evs.count("connect") == 1,
         "asks reach POST /ask, after the connect call", str(evs))
    await ws.close()
    m = await wait_metric(port, lambda m: m.get('sss_proxy_calls_total{event="ask"}', 0) >= 3)
    c.ok(m.get('sss_proxy_calls_total{event="ask"}', 0) >= 3, "/metrics counts the asks", str(m))
    c.ok(m.get('sss_proxy_latency_seconds_count{event="ask"}', 0) >= 3,
         "/metrics counts the asks' latency")


async def tells_in_order(c, backend, server, port):
    backend.clear()
    ws = await begun(server)
    await ws.send(json.dumps({"sys": 1, "channel": "news", "id": 1}))
    r = await rx_until(ws, lambda f: f.get("sys") == 1)
    c.eq(r.get("result"), True, "subscribed before the tells")
    for i in range(20):
        await ws.send(json.dumps({"sys": 6, "topic": "liked", "msg": {"n": i}}))
    evs = await backend.wait_for(lambda e: sum(1 for x in e if x[0] == "tell") >= 20, "20 tells")
    tells = [e for e in (evs or []) if e[0] == "tell"]
    c.eq([t[1]["msg"]["n"] for t in tells], list(range(20)), "tells reach POST /tell in order")
    c.ok(tells and all(t[1]["topic"] == "liked" and t[1]["user"] == "" and t[1]["session"] == ""
                       and t[1]["socket"].endswith("@" + HOST_ID) for t in tells),
         "tell bodies carry socket, user, session, topic", str(tells[:1]))
    name = tells[0][1]["socket"] if tells else None
    await ws.close(code=4000)
    evs = await backend.wait_for(lambda e: any(x[0] == "close" for x in e), "the close")
    close = [e for e in (evs or []) if e[0] == "close"]
    c.ok(close and close[0][1] == {"socket": name, "user": "", "session": "", "code": 4000},
         "close after the client leaves: POST /close with its code", str(close))

    # A client that drops its TCP connection without a close frame: 1006.
    backend.clear()
    ws = await begun(server)
    r = await ask(ws, "whoami", None, 1)
    name = r["msg"]["socket"]
    ws.transport.abort()
    evs = await backend.wait_for(lambda e: any(x[0] == "close" for x in e), "the dropped close")
    close = [e for e in (evs or []) if e[0] == "close"]
    c.ok(close and close[0][1]["code"] == 1006 and close[0][1]["socket"] == name,
         "a dropped connection's close has code 1006", str(close))
    # A socket that never began makes no close call.
    backend.clear()
    ws = await ws_connect(server)
    await ws.close()
    ws = await begun(server)
    await ws.close(code=1000)
    evs = await backend.wait_for(lambda e: any(x[0] == "close" for x in e), "a close")
    c.eq(len([e for e in evs or [] if e[0] == "close"]), 1,
         "only the socket that had begun makes a close call")


async def socket_order(c, backend, server, port):
    """A held ask, then a tell, then the close: they reach the backend in that
    order, each after the previous one's answer, though the client left."""
    backend.clear()
    ws = await begun(server)
    await ws.send(json.dumps({"sys": 5, "topic": "hold", "msg": "slow", "id": 1}))
    await backend.wait_for(lambda e: any(x[0] == "ask" for x in e), "the held ask")
    await ws.send(json.dumps({"sys": 6, "topic": "after", "msg": 2}))
    await ws.close(code=4000)
    # Give a wrong implementation every chance to send the tell and the close early.
    await asyncio.sleep(0.3)
    backend.release.set()
    evs = await backend.wait_for(lambda e: any(x[0] == "close" for x in e), "the close")
    order = [e[0] for e in evs or [] if e[0] != "connect"]
    c.eq(order, ["ask", "answered", "tell", "close"],
         "one socket's calls: ask, its answer, then tell, then close")
    # Another socket is not held up by the first one's calls.
    backend.clear()
    a = await begun(server)
    b = await begun(server)
    await a.send(json.dumps({"sys": 5, "topic": "hold", "msg": 1, "id": 1}))
    await backend.wait_for(lambda e: any(x[0] == "ask" for x in e), "a's held ask")
    r = await ask(b, "echo", 5, 2)
    c.eq(r.get("msg", {}).get("echo"), 5, "another socket's ask is answered while one is held")
    backend.release.set()
    r = await rx_until(a, lambda f: f.get("sys") == 7)
    c.eq(r.get("msg"), 1, "the held ask is answered once let go")
    await a.close()
    await b.close()


async def failure_answers(c, backend, server, port):
    """The backend misbehaves: each answer's failure rule and its count."""
    backend.clear()
    backend.huge = 100 * 1024  # over --max-message-size 64k
    ws = await begun(server)
    cases = [("notjson", "bad_body", "not a JSON object"),
             ("array", "bad_body", "not a JSON object"),
             ("500", "status", "500"),
             ("badmsg", "bad_body", "neither msg nor err"),
             ("huge", "too_large", "answer too large"),
             ("cut", "closed", "closed mid-answer")]
    before = await metrics(port)
    for i, (topic, reason, text) in enumerate(cases):
        r = await ask(ws, topic, None, i)
        err = r.get("err") or {}
        c.ok(err.get("name") == "Proxy error" and text in err.get("message", ""),
             f"{topic}: error RESPONSE Proxy error ({text})", str(r))
    r = await ask(ws, "echo", "still", 99)
    c.eq(r.get("msg", {}).get("echo"), "still", "the proxy still works after every failure")
    for reason in ("bad_body", "status", "too_large", "closed"):
        want = sum(1 for t in cases if t[1] == reason)
        m = await wait_metric(port, lambda m, r=reason, w=want:
                              failures(m, "ask", r) - failures(before, "ask", r) >= w)
        c.eq(failures(m, "ask", reason) - failures(before, "ask", reason), want,
             f"/metrics counts ask failures reason={reason}")
    await ws.close()


async def upgrade_answer(server, cookie=None, extra=()):
    """The HTTP answer to an upgrade request with that cookie (101 or a refusal)."""
    from sss_harness import raw_http, upgrade_request

    headers = list(extra) + ([("Cookie", cookie)] if cookie else [])
    return await raw_http(server, upgrade_request("/?room=1", extra=headers))


async def connect_calls(c, backend, server, port):
    backend.clear()
    ws = await ws_connect(server, additional_headers={"Cookie": "user=ann; x=1",
                                                       "User-Agent": "test-agent/1",
                                                       "X-Forwarded-For": "10.0.0.1"})
    await ws.send(json.dumps({"sys": 3}))
    r = await rx_until(ws, lambda f: f.get("sys") == 3)
    c.eq(r.get("channel"), "_u_ann", "connect: the backend's user names the client (_u_ann)")
    c.eq(r.get("session"), "s-ann", "connect: the backend's session is the client's")
    evs = [e for e in backend.events if e[0] == "connect"]
    body = evs[0][1] if evs else {}
    hdrs = body.get("headers", {})
    c.ok(body.get("target") == "/" and hdrs.get("cookie") == "user=ann; x=1"
         and hdrs.get("user-agent") == "test-agent/1" and hdrs.get("x-forwarded-for") == "10.0.0.1"
         and "authorization" not in hdrs and "origin" not in hdrs
         and str(body.get("remote", "")).startswith("127.0.0.1:"),
         "connect body: target, present headers by lower-case name, remote", str(body))
    c.eq(evs[0][2].get("X-SSS-Host") if evs else None, HOST_ID, "connect carries X-SSS-Host")
    r = await ask(ws, "echo", 1, 1)
    c.eq(r.get("msg", {}).get("user"), "ann", "the ask's body carries the user connect gave")
    await ws.close()
    for code in (401, 403):
        resp = await upgrade_answer(server, f"deny={code}")
        c.ok(resp.status == code and f"denied {code}" in resp.body.decode("latin1"),
             f"connect refused with {code} and the backend's reason", repr(resp))
    resp = await upgrade_answer(server, "connect=notjson")
    c.ok(resp.status == 503 and b"proxy unavailable" in resp.body,
         "connect: a bad answer refuses with 503 proxy unavailable", repr(resp))
    m = await wait_metric(port, lambda m: failures(m, "connect", "bad_body") >= 1)
    c.ok(failures(m, "connect", "bad_body") >= 1, "connect failure counted")


async def subscribe_calls(c, backend, server, port):
    backend.clear()
    ws = await ws_connect(server, additional_headers={"Cookie": "user=bob"})
    await ws.send(json.dumps({"sys": 3}))
    await rx_until(ws, lambda f: f.get("sys") == 3)
    await ws.send(json.dumps({"sys": 1, "channel": "yes-1", "query": {"q": [1]}, "id": 1}))
    r = await rx_until(ws, lambda f: f.get("sys") == 1 and f.get("id") == 1)
    c.ok(r.get("result") is True and r.get("channel") == "yes-1", "subscribe allowed", str(r))
    await ws.send(json.dumps({"sys": 1, "channel": "no-2", "id": 2}))
    r = await rx_until(ws, lambda f: f.get("sys") == 1 and f.get("id") == 2)
    c.ok(r.get("result") is False and r.get("err", {}).get("message") == "not no-2",
         "subscribe refused with the backend's reason", str(r))
    for i, ch in ((3, "bad-3"), (4, "err-4")):
        await ws.send(json.dumps({"sys": 1, "channel": ch, "id": i}))
        r = await rx_until(ws, lambda f, i=i: f.get("sys") == 1 and f.get("id") == i)
        c.ok(r.get("result") is False and r.get("err", {}).get("message") == "proxy unavailable",
             f"subscribe failure ({ch}): refused, proxy unavailable", str(r))
    subs = [e[1] for e in backend.events if e[0] == "subscribe"]
    c.ok(subs and subs[0]["channel"] == "yes-1" and subs[0]["query"] == {"q": [1]}
         and subs[0]["user"] == "bob" and subs[0]["session"] == "s-bob"
         and subs[0]["socket"].endswith("@" + HOST_ID) and subs[1]["query"] is None,
         "subscribe body: socket, user, session, channel, query", str(subs[:2]))
    name = subs[0]["socket"] if subs else ""
    await ws.close()
    # A reconnect: SYNC entries are each asked about (the own user channel is not).
    backend.clear()
    ws = await ws_connect(server, additional_headers={"Cookie": "user=bob"})
    await ws.send(json.dumps({"sys": 4, "id": 5, "subscriptions": [
        {"channel": "yes-a", "lastUid": None}, {"channel": "no-b", "lastUid": None},
        {"channel": "_u_bob", "lastUid": None}, {"channel": "yes-c", "lastUid": None}]}))
    r = await rx_until(ws, lambda f: f.get("sys") == 4)
    c.eq(r.get("result"), {"yes-a": True, "no-b": False, "_u_bob": True, "yes-c": True},
         "SYNC entries decided by the backend, the own user channel allowed")
    chans = [e[1]["channel"] for e in backend.events if e[0] == "subscribe"]
    c.eq([ch for ch in chans if ch != "yes-1"], ["yes-a", "no-b", "yes-c"],
         "one subscribe call per SYNC entry, in order")
    # The session s-bob had yes-1: resuming it asks the backend about it too.
    await backend.wait_for(lambda e: any(x[0] == "subscribe" and x[1]["channel"] == "yes-1"
                                         for x in e), "the resumed channel's subscribe")
    c.ok("yes-1" in [e[1]["channel"] for e in backend.events if e[0] == "subscribe"],
         "the resumed session's channel is asked about too")
    c.ok(name and all(e[1]["socket"] != name for e in backend.events if e[0] == "subscribe"),
         "a new connection has a new socket name")
    await ws.close()


async def connect_down(c):
    port = free_port()
    server = await proxy_server(c, f"http://127.0.0.1:{port}", name="connect-down").start()
    api = await api_port(server)
    resp = await upgrade_answer(server)
    c.ok(resp.status == 503 and b"proxy unavailable" in resp.body,
         "connect with the backend down: 503 proxy unavailable", repr(resp))
    m = await wait_metric(api, lambda m: failures(m, "connect", "refused") >= 1)
    c.ok(failures(m, "connect", "refused") >= 1, "connect failure counted (refused)")
    await server.stop()


async def a_module_wins(c, backend):
    mod = os.environ.get("SSS_TESTMOD")
    if not mod:
        c.fail("SSS_TESTMOD names the test module")
        return
    backend.clear()
    server = await proxy_server(c, backend.url, ["--app", mod], name="proxy+app").start()
    ws = await begun(server)
    r = await ask(ws, "echo", {"x": 1}, 1)
    c.eq(r.get("msg"), {"x": 1}, "a topic the module handles is the module's")
    r = await ask(ws, "whoami2", None, 2)
    c.ok(str((r.get("msg") or {}).get("socket", "")).endswith("@" + HOST_ID),
         "a topic no module handles goes to the backend", str(r))
    await ws.send(json.dumps({"sys": 1, "channel": "forbidden", "id": 3}))
    r = await rx_until(ws, lambda f: f.get("id") == 3)
    c.ok(r.get("result") is False and r.get("err", {}).get("message") == "no entry",
         "the module's subscription parser wins over the backend's", str(r))
    c.eq([e[0] for e in backend.events], ["ask"],
         "the backend saw only the module-less ask (no connect, no subscribe)")
    await ws.close()
    await server.stop()


async def backend_down(c):
    port = free_port()
    server, api, ws = await proxied_client(c, f"http://127.0.0.1:{port}",
                                           ["--proxy-events", "ask,tell,close"], "down")
    r = await ask(ws, "echo", 1, 1)
    c.eq(r.get("err"), {"name": "Proxy error", "message": "connection refused"},
         "backend down: error RESPONSE connection refused")
    await ws.send(json.dumps({"sys": 6, "topic": "t", "msg": 1}))
    await ws.close()
    m = await wait_metric(api, lambda m: failures(m, "close", "refused") >= 1)
    c.ok(failures(m, "ask", "refused") >= 1 and failures(m, "tell", "refused") >= 1
         and failures(m, "close", "refused") >= 1,
         "backend down: ask, tell and close failures counted (refused)", str(
             {k: v for k, v in m.items() if "refused" in k}))
    await server.stop()


async def too_slow(c, backend):
    backend.clear()
    server, api, ws = await proxied_client(c, backend.url, ["--proxy-timeout", "300ms"], "slow")
    r = await ask(ws, "hold", 1, 1)
    c.eq(r.get("err"), {"name": "Proxy error", "message": "timeout"},
         "slow past --proxy-timeout: error RESPONSE timeout")
    backend.release.set()
    r = await ask(ws, "echo", 2, 2)
    c.eq(r.get("msg", {}).get("echo"), 2, "the next ask is answered")
    m = await wait_metric(api, lambda m: failures(m, "ask", "timeout") >= 1)
    c.ok(failures(m, "ask", "timeout") >= 1, "timeout counted")
    await ws.close()
    await server.stop()
    # --ask-timeout shorter than --proxy-timeout: the ask's own timeout answers first.
    backend.clear()
    server = await proxy_server(c, backend.url, ["--ask-timeout", "300ms"],
                                name="ask-timeout").start()
    ws = await begun(server)
    r = await ask(ws, "hold", 1, 1)
    c.eq(r.get("err", {}).get("name"), "Timeout", "--ask-timeout still applies to proxied asks")
    backend.release.set()
    await backend.wait_for(lambda e: any(x[0] == "answered" for x in e), "the late answer")
    r = await ask(ws, "echo", 3, 3)
    c.eq(r.get("msg", {}).get("echo"), 3, "the late answer is dropped; the next ask answered")
    await ws.close()
    await server.stop()


async def queue_full(c, backend):
    """--proxy-connections 1 --proxy-queue 2: a holds the connection, b waits
    for it, a's second call waits behind a's first; one more call of anyone
    fails at once."""
    backend.clear()
    server = await proxy_server(c, backend.url, ["--proxy-connections", "1", "--proxy-queue", "2"],
                                name="queue").start()
    api = await api_port(server)
    a, b, d = await begun(server), await begun(server), await begun(server)
    await a.send(json.dumps({"sys": 5, "topic": "hold", "msg": "a", "id": 1}))
    await backend.wait_for(lambda e: any(x[0] == "ask" for x in e), "a's ask on the connection")
    await b.send(json.dumps({"sys": 5, "topic": "hold", "msg": "b", "id": 1}))
    # b's ask waits for the one connection; wait until the server counted it as made.
    await wait_metric(api, lambda m: m.get('sss_proxy_calls_total{event="ask"}', 0) >= 2)
    # a's second ask waits behind its first; a RESPONSE to d's ask (below) comes after it.
    await a.send(json.dumps({"sys": 5, "topic": "echo", "msg": "a2", "id": 2}))
    r = await ask(b, "echo", "b2", 2)
    c.eq(r.get("err"), {"name": "Proxy error", "message": "queue full"},
         "full queue behind a socket's earlier call: fails at once")
    r = await ask(d, "echo", "d", 1)
    c.eq(r.get("err"), {"name": "Proxy error", "message": "queue full"},
         "full queue: one more call fails at once")
    backend.release.set()
    ra = await rx_until(a, lambda f: f.get("sys") == 7 and f.get("id") == 1)
    rb = await rx_until(b, lambda f: f.get("sys") == 7 and f.get("id") == 1)
    ra2 = await rx_until(a, lambda f: f.get("sys") == 7 and f.get("id") == 2)
    c.ok(ra.get("msg") == "a" and rb.get("msg") == "b" and ra2.get("msg", {}).get("echo") == "a2",
         "the held and queued calls are answered once let go", f"{ra} {rb} {ra2}")
    m = await metrics(api)
    c.eq(failures(m, "ask", "queue_full"), 2, "queue full counted")
    for ws in (a, b, d):
        await ws.close()
    await server.stop()


async def clients_leave(c, backend):
    """Clients that leave with calls in flight and queued: nothing leaks or
    crashes (ASan builds check at exit), every close is still made."""
    backend.clear()
    server = await proxy_server(c, backend.url, ["--proxy-connections", "2"], name="leave",
                                workers=2).start()
    n = 12
    socks = [await begun(server) for _ in range(n)]
    for i, ws in enumerate(socks):
        await ws.send(json.dumps({"sys": 5, "topic": "hold", "msg": i, "id": 1}))
        await ws.send(json.dumps({"sys": 6, "topic": "t", "msg": i}))
        await ws.send(json.dumps({"sys": 5, "topic": "echo", "msg": i, "id": 2}))
    await backend.wait_for(lambda e: sum(1 for x in e if x[0] == "ask") >= 2, "held asks")
    for ws in socks:
        ws.transport.abort()
    backend.release.set()
    evs = await backend.wait_for(lambda e: sum(1 for x in e if x[0] == "close") >= n,
                                 "every close", timeout=60)
    c.ok(evs is not None, "every socket's close is made after its calls")
    by_sock = {}
    for name, body, _ in evs or []:
        if body and "socket" in body:
            by_sock.setdefault(body["socket"], []).append((name, body.get("topic")))
    c.ok(len(by_sock) == n and all(v == [("ask", "hold"), ("tell", "t"), ("ask", "echo"),
                                         ("close", None)] for v in by_sock.values()),
         "each socket's calls in its order, close last", str(list(by_sock.values())[:2]))
    await server.stop()


async def bad_flags(c):
    import subprocess
    from sss_harness import server_binary

    for flags, text in ((["--proxy-url", "https://127.0.0.1:1"], "https is not supported"),
                        (["--proxy-url", "ftp://x:1"], "--proxy-url wants"),
                        (["--proxy-url", "http://127.0.0.1:1", "--proxy-events", "ask,nope"],
                         "unknown event 'nope'")):
        p = subprocess.run([server_binary(), "--port", "0"] + flags, capture_output=True,
                           text=True, timeout=T(30))
        c.ok(p.returncode != 0 and text in p.stderr, f"{flags[1:]} refused at start: {text}",
             p.stderr.strip())
    p = subprocess.run([server_binary(), "--help"], capture_output=True, text=True, timeout=T(30))
    c.ok(all(f in p.stdout for f in ("--proxy-url", "--proxy-events", "--proxy-timeout",
                                     "--proxy-connections", "--proxy-queue")),
         "--help lists the proxy flags")


async def test(c):
    await c.section("flags", bad_flags, c)
    backend = Backend(prefix="/hooks")
    try:
        server = await proxy_server(c, backend.url, name="proxy", workers=2).start()
        port = await api_port(server)
        c.ok(port, "the API listens")
        await c.sections((c, backend, server, port), [
            ("answers", answers),
            ("tells in order, close codes", tells_in_order),
            ("per-socket order", socket_order),
            ("failure answers", failure_answers),
            ("connect", connect_calls),
            ("subscribe", subscribe_calls),
        ])
        await server.stop()
        backend.release.set()
        await c.section("a module's handler wins", a_module_wins, c, backend)
        await c.section("backend down", backend_down, c)
        await c.section("connect with the backend down", connect_down, c)
        await c.section("too slow", too_slow, c, backend)
        await c.section("queue full", queue_full, c, backend)
        await c.section("clients leave with calls in flight", clients_leave, c, backend)
    finally:
        backend.stop()


if __name__ == "__main__":
    main(test, "test_proxy")
