"""The backend proxy's examples (examples/proxy-node/server.mjs and
examples/proxy-python/server.py), each run as a subprocess on a free port
against the real sss-server (--proxy-url, --api-listen 127.0.0.1:0,
--api-key), driven by `websockets` clients: a cookie names the user,
mallory is refused with 403, room-secret with the backend's reason; a say
reaches every subscriber of the room as "said", published by the backend
through POST /api/publish; history is answered from the backend's own state
(its last 50 messages of the room, with their uids); a remind comes back
later as the TELL "reminder" through POST /api/tell; presence counts follow
subscriptions and closes, as answers and as "presence" FEEDs. The backend's
own HTTP handling is checked too: bad JSON is 400 on a kept-alive connection,
other methods and events are refused.

No timing in the assertions: the test waits for events (generous deadlines
only bound a failure); the remind's delay is 200 ms and only its arrival,
after the tell, is checked."""
import asyncio
import http.client
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

from svc_redis import free_port
from sss_harness import T, Server, log, main, raw_http, upgrade_request, ws_connect

API_KEY = "examples-test-key"
SOURCE = os.environ.get("SSS_SOURCE_DIR") or os.path.join(os.path.dirname(__file__), "..", "..")
BACKENDS = [
    ("node", ["node", os.path.join(SOURCE, "examples", "proxy-node", "server.mjs")]),
    ("python", [sys.executable, os.path.join(SOURCE, "examples", "proxy-python", "server.py")]),
]


class Backend:
    """One example backend as a subprocess, its output in a file."""

    def __init__(self, name, argv, port, api_url):
        self.name, self.argv, self.port, self.api_url = name, argv, port, api_url
        self.dir = tempfile.mkdtemp(prefix=f"sss-ex-{name}-")
        self.log_path = os.path.join(self.dir, "backend.log")
        self.proc = None

    async def start(self):
        env = {k: v for k, v in os.environ.items() if not k.startswith("SSS_")}
        env.update(PORT=str(self.port), LISTEN_HOST="127.0.0.1", SSS_API_URL=self.api_url,
                   SSS_API_KEY=API_KEY)
        self.logf = open(self.log_path, "wb")
        log(f"# start backend {self.name}: {' '.join(self.argv)} PORT={self.port}")
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=self.logf,
                                     stderr=subprocess.STDOUT, env=env, start_new_session=True)
        deadline = time.monotonic() + T(30)
        while not re.search(rf"listening on http://127\.0\.0\.1:{self.port}\b", self.log()):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.dump_log()
                raise RuntimeError(f"backend {self.name} did not start")
            await asyncio.sleep(0.05)
        return self

    def log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def dump_log(self):
        log(f"# ---- backend {self.name} log ({self.log_path})")
        for line in self.log().splitlines()[-40:]:
            log(f"#   {line}")
        log("# ----")

    def stop(self, keep_log=False):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=T(10))
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if keep_log:
            self.dump_log()
        else:
            shutil.rmtree(self.dir, ignore_errors=True)


class Client:
    """A websockets connection whose frames (heartbeats aside) are all kept, in
    order, by a reader task; wait() finds one by predicate."""

    def __init__(self, ws):
        self.ws = ws
        self.frames = []
        self.changed = asyncio.Event()
        self.next_id = 0
        self.reader = asyncio.create_task(self._read())

    @classmethod
    async def begun(cls, server, cookie=None):
        ws = await ws_connect(server, additional_headers={"Cookie": cookie} if cookie else None)
        c = cls(ws)
        await c.send({"sys": 3})
        c.begin = (await c.wait(lambda f: f.get("sys") == 3, what="the BEGIN reply"))[1]
        return c

    async def _read(self):
        try:
            async for m in self.ws:
                if m != "h":
                    self.frames.append(json.loads(m))
                    self.changed.set()
        except Exception:  # noqa: BLE001 - the connection ended; wait() times out
            pass

    async def send(self, obj):
        await self.ws.send(json.dumps(obj))

    async def wait(self, pred, after=0, what="a frame", timeout=30):
        """(index, frame) of the first frame from index `after` on with pred(frame)."""
        deadline = time.monotonic() + T(timeout)
        while True:
            for i in range(after, len(self.frames)):
                if pred(self.frames[i]):
                    return i, self.frames[i]
            self.changed.clear()
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {what} in time; frames: {self.frames[-10:]}")
            try:
                await asyncio.wait_for(self.changed.wait(), left)
            except asyncio.TimeoutError:
                pass

    async def request(self, frame, sys_):
        self.next_id += 1
        i = self.next_id
        await self.send(dict(frame, id=i))
        return (await self.wait(lambda f: f.get("sys") == sys_ and f.get("id") == i,
                                what=f"the answer to {frame}"))[1]

    async def ask(self, topic, msg):
        return await self.request({"sys": 5, "topic": topic, "msg": msg}, 7)

    async def subscribe(self, channel):
        return await self.request({"sys": 1, "channel": channel}, 1)

    async def tell(self, topic, msg):
        await self.send({"sys": 6, "topic": topic, "msg": msg})

    async def close(self):
        await self.ws.close()
        await self.reader


def said(channel, text=None):
    return lambda f: (f.get("sys") == 8 and f.get("channel") == channel and f.get("topic") == "said"
                      and (text is None or f["msg"].get("text") == text))


def presence(channel, count):
    return lambda f: (f.get("sys") == 8 and f.get("channel") == channel
                      and f.get("topic") == "presence" and f["msg"] == {"room": channel, "count": count})


# --------------------------------------------------------------------------


async def connect(c, name, server):
    ann = await Client.begun(server, "theme=dark; user=ann")
    c.eq(ann.begin.get("channel"), "_u_ann", f"{name}: the cookie user=ann names the user (_u_ann)")
    anon = await Client.begun(server)
    c.eq(anon.begin.get("channel"), None, f"{name}: no cookie: anonymous (no user channel)")
    for cookie, status, reason in (("user=mallory", 403, "mallory is banned"),
                                   ("user=a%20b", 401, "bad user cookie")):
        resp = await raw_http(server, upgrade_request("/", extra=[("Cookie", cookie)]))
        c.ok(resp.status == status and reason in resp.body.decode("latin1"),
             f"{name}: {cookie} refused with {status} ({reason})", repr(resp))
    await ann.close()
    await anon.close()


async def subscribe(c, name, server):
    ws = await Client.begun(server, "user=ann")
    r = await ws.subscribe("room-secret")
    c.ok(r.get("result") is False and r.get("err", {}).get("message") == "room-secret is invite-only",
         f"{name}: room-secret refused with the backend's reason", str(r))
    r = await ws.subscribe("news")
    c.ok(r.get("result") is False
         and r.get("err", {}).get("message") == "only rooms (room-<name>) can be joined",
         f"{name}: a channel that is not a room is refused", str(r))
    r = await ws.subscribe(f"room-{name}-open")
    c.eq(r.get("result"), True, f"{name}: a room is allowed")
    await ws.close()


async def history_of(cl, room, texts):
    """ASK history until it holds every text of texts (or the deadline): a FEED can reach
    the clients before the backend's POST /api/publish returned it the uid it
    records, so the backend's state follows the FEEDs, not the other way round."""
    deadline = time.monotonic() + T(20)
    while True:
        r = await cl.ask("history", {"room": room})
        have = {h.get("msg", {}).get("text") for h in r.get("msg") or [] if isinstance(h, dict)}
        if set(texts) <= have or time.monotonic() > deadline:
            return r
        await asyncio.sleep(0.05)


async def talk(c, name, server):
    """say, history and presence with two, then three, then two clients in a room."""
    room = f"room-{name}-talk"
    ann = await Client.begun(server, "user=ann")
    bob = await Client.begun(server)
    for cl in (ann, bob):
        r = await cl.subscribe(room)
        c.eq(r.get("result"), True, f"{name}: subscribed to {room}")
    r = await bob.ask("presence", {"room": room})
    c.eq(r.get("msg"), {"room": room, "count": 2}, f"{name}: ask presence counts both subscribers")

    # ann's cookie names her, whatever name she gives; bob, anonymous, gives his.
    await ann.tell("say", {"room": room, "name": "not-ann", "text": "hello"})
    await bob.tell("say", {"room": room, "name": "bob", "text": "hi ann"})
    feeds = {}
    for who, cl in (("ann", ann), ("bob", bob)):
        _, f1 = await cl.wait(said(room, "hello"), what=f"{who}'s said hello")
        _, f2 = await cl.wait(said(room, "hi ann"), what=f"{who}'s said hi ann")
        feeds[who] = (f1, f2)
    f1, f2 = feeds["bob"]
    c.ok(f1["msg"].get("name") == "ann" and f1["msg"].get("room") == room
         and isinstance(f1["msg"].get("at"), (int, float)),
         f"{name}: say from the cookie user: said {{room, name: ann, text, at}}", str(f1))
    c.eq(f2["msg"].get("name"), "bob", f"{name}: say from an anonymous client keeps its name")
    c.eq([f["uid"] for f in feeds["ann"]], [f["uid"] for f in feeds["bob"]],
         f"{name}: every subscriber gets the same said FEEDs")

    # History from the backend's state: the same messages with the same uids.
    r = await history_of(bob, room, ("hello", "hi ann"))
    want = [{k: f[k] for k in ("sys", "channel", "topic", "msg", "uid")}
            for f in sorted(feeds["bob"], key=lambda f: tuple(map(int, f["uid"].split("-"))))]
    c.eq(r.get("msg"), want,
         f"{name}: ask history answers the room's messages as FEEDs with their uids, oldest first")

    # A third client joins, then leaves: presence FEEDs follow.
    cat = await Client.begun(server, "user=cat")
    r = await cat.subscribe(room)
    i, _ = await ann.wait(presence(room, 3), what="presence 3")
    c.ok(True, f"{name}: a subscriber joins: presence FEED count 3")
    await cat.close()
    await ann.wait(presence(room, 2), after=i + 1, what="presence 2 after the close")
    c.ok(True, f"{name}: a subscriber closes: presence FEED count 2")
    r = await ann.ask("presence", {"room": room})
    c.eq(r.get("msg"), {"room": room, "count": 2}, f"{name}: ask presence after the close")
    await ann.close()
    await bob.close()


async def history_limit(c, name, server):
    room = f"room-{name}-many"
    ws = await Client.begun(server, "user=ann")
    await ws.subscribe(room)
    for n in range(55):
        await ws.tell("say", {"room": room, "text": f"m{n}"})
    await ws.wait(said(room, "m54"), what="the 55th said")
    r = await history_of(ws, room, ("m54",))
    c.eq([h["msg"]["text"] for h in r.get("msg") or []], [f"m{n}" for n in range(5, 55)],
         f"{name}: history keeps the room's last 50 messages, in order")
    await ws.close()


async def remind(c, name, server):
    ws = await Client.begun(server, "user=ann")
    mark = len(ws.frames)
    await ws.tell("remind", {"text": "tea", "ms": 200})
    _, f = await ws.wait(lambda f: f.get("sys") == 6 and f.get("topic") == "reminder", after=mark,
                         what="the reminder")
    c.eq(f.get("msg"), {"text": "tea"}, f"{name}: remind: the TELL reminder arrives through /api/tell")
    await ws.tell("say", {"room": "nowhere", "text": "x"})
    _, f = await ws.wait(lambda f: f.get("sys") == 6 and f.get("topic") == "error", what="the error")
    c.ok("room" in str(f.get("msg")), f"{name}: a bad say gets the TELL error", str(f))
    r = await ws.ask("weather", {})
    c.eq(r.get("err", {}).get("name"), "Unknown topic", f"{name}: an unknown ask gets an err")
    r = await ws.ask("history", {"room": "lobby"})
    c.eq(r.get("err", {}).get("name"), "Bad request", f"{name}: history of a non-room gets an err")
    await ws.close()


def _http_checks(port):
    """The backend's own HTTP handling, on one kept-alive connection."""
    out = []
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=T(20))
    conn.request("POST", "/ask", body=b"{not json", headers={"Content-Type": "application/json"})
    r = conn.getresponse()
    out.append((r.status, json.loads(r.read()).get("error", "")[:8], r.will_close))
    sock = conn.sock
    conn.request("POST", "/ask", body=json.dumps({"socket": "x", "user": "", "session": "",
                                                  "topic": "presence", "msg": {"room": "room-x"}}))
    r = conn.getresponse()
    out.append((r.status, json.loads(r.read()), conn.sock is sock))
    conn.request("POST", "/ask", body=b"[1]")
    r = conn.getresponse()
    out.append((r.status, r.read() != b""))
    conn.request("POST", "/nothing", body=b"{}")
    r = conn.getresponse()
    out.append((r.status, r.read() != b""))
    conn.request("GET", "/ask")
    r = conn.getresponse()
    out.append((r.status, r.read() != b""))
    conn.close()
    return out


async def backend_http(c, name, port):
    res = await asyncio.to_thread(_http_checks, port)
    c.eq(res[0], (400, "bad JSON", False), f"{name}: bad JSON: 400 with a JSON error, kept alive")
    c.eq(res[1], (200, {"msg": {"room": "room-x", "count": 0}}, True),
         f"{name}: the next call on the same connection is answered")
    c.eq(res[2], (400, True), f"{name}: a body that is not an object: 400")
    c.eq(res[3], (404, True), f"{name}: an unknown event: 404")
    c.eq(res[4], (405, True), f"{name}: GET: 405")


def _metrics(port):
    req = urllib.request.Request(f"http://127.0.0.1:{port}/metrics",
                                 headers={"Authorization": f"Bearer {API_KEY}"})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(req, timeout=T(20)) as r:
        return r.read().decode()


async def no_failures(c, name, api):
    text = await asyncio.to_thread(_metrics, api)
    calls = sum(float(l.rsplit(" ", 1)[1]) for l in text.splitlines()
                if l.startswith("sss_proxy_calls_total"))
    bad = [l for l in text.splitlines()
           if l.startswith("sss_proxy_failures_total") and float(l.rsplit(" ", 1)[1]) > 0]
    c.ok(calls > 0 and not bad, f"{name}: /metrics: every proxy call answered ({calls:.0f} calls)",
         "; ".join(bad))


async def one_backend(c, name, argv):
    port = free_port()
    server = Server(c, flags=["--proxy-url", f"http://127.0.0.1:{port}", "--api-listen",
                              "127.0.0.1:0", "--api-key", API_KEY], echo=False, workers=2,
                    name=f"sss+{name}")
    await server.start()
    m = await server.wait_log(r"api listening on 127\.0\.0\.1:(\d+)", timeout=30)
    if not c.ok(m, f"{name}: the API port is in the log"):
        await server.stop()
        return
    api = int(m.group(1))
    backend = Backend(name, argv, port, f"http://127.0.0.1:{api}")
    failed = c.failed
    try:
        await backend.start()
        await c.sections((c, name, server), [
            ("connect", connect), ("subscribe", subscribe), ("talk", talk),
            ("history limit", history_limit), ("remind", remind)])
        await c.section("backend http", backend_http, c, name, port)
        await c.section("metrics", no_failures, c, name, api)
    finally:
        await server.stop()
        backend.stop(keep_log=c.failed > failed)


async def test(c):
    for name, argv in BACKENDS:
        if name == "node" and not shutil.which("node"):
            c.fail("node is installed (the Node example needs it)")
            continue
        await one_backend(c, name, argv)


if __name__ == "__main__":
    main(test, "test_proxy_examples")
