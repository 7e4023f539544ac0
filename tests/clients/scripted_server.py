"""A scripted, misbehaving sss server for the client tests (JS and C clients).

One process serves many scenarios at once; each test picks its own tag.

Start
    .venv/bin/python tests/clients/scripted_server.py [--host 127.0.0.1] [--port 0]
It prints exactly one line "LISTENING <port>" on stdout (flushed) when ready,
and exits on SIGTERM, SIGINT or EOF on stdin: start it with stdin a pipe that
you keep open (not /dev/null, which is an immediate EOF).

WebSocket URL
    ws://127.0.0.1:<port>/<tag>/<scenario>?<params>
<tag> is any string without "/" that a test picks so that concurrent tests do
not mix logs; attempts are counted per tag, from 0, every request to
/<tag>/... counts (refused ones too). The only scenario is `ok`; another name
is refused with 404. The server picks the sub-protocol sss.v1.json when the
client offers it, and none otherwise.

Scenario `ok`: a correct minimal sss server (docs: PROTOCOL.md).
    BEGIN {"sys":3}      -> {"sys":3,"prot":{"hb":..,"hbInterval":..,"hbThreshold":..},"session":"s-<tag>"}
    SUBSCRIBE            -> {"sys":1,"id":..,"channel":..,"result":true,"lastUid":<lastUid or null>}
    UNSUBSCRIBE with id  -> {"sys":2,"id":..,"channel":..,"result":true} (no reply without id)
    SYNC                 -> {"sys":4,"id":..,"result":{<channel>:true,..},"records":<records>,"prot":{..}}
    ASK                  -> {"sys":7,"id":..,"msg":<the ASK's msg>}
    TELL                 -> no reply
    PUBLISH              -> {"sys":7,"id":..,"msg":{"uid":"1-1"}}
    "h"                  -> "h" when hb is on (ignored otherwise)
    Anything else before BEGIN or SYNC, an unknown sys, or a text frame that is
    not a JSON object gets {"sys":14,"err":{"name":..,"message":..}[,"id":..]}.
    With hb=true the server also sends "h" every hbInterval ms after the BEGIN
    (or SYNC) reply.

Params (all combinable with `ok`; a bad value refuses the upgrade with 400
and a one-line reason)
    status=<code>&times=<n>   refuse attempts 0..n-1 of the tag with that HTTP
                              status (default times: every attempt)
    token=<t>                 refuse with 401 unless a later `token` param
                              (the client appends its own ?token=<its token>),
                              the `token` cookie or `Authorization: Bearer`
                              equals t. The first `token` param is t.
    expect_token=<t>          (addition) the same, for a client that replaces
                              the URL's `token` param instead of appending one:
                              then every `token` param is the client's
    token=<t>&after=<n>       attempts 0..n-1 are refused with 401 whatever token
                              they send (an expired token)
    close_at=begin|subscribe|sync&code=<c>&times=<n>
                              when that message arrives on attempts 0..n-1,
                              close with code c (default 1000; 1006 = abort the
                              TCP connection without a close frame)
    silent_at=begin|sync&times=<n>
                              never answer that message on attempts 0..n-1
    records=<JSON array>      (URL-encoded) the SYNC reply's records, e.g. FEEDs
                              with duplicate or out-of-order uids (default [])
    big=<bytes>               after the BEGIN reply, send one text frame of
                              exactly that many bytes: a valid JSON BROADCAST
                              {"sys":11,"topic":"big","msg":"xxx.."} (at least 35)
    hb=true|false, hbInterval=<ms>, hbThreshold=<ms>
                              the prot of the BEGIN and SYNC replies (defaults
                              false, 30000, 2500)
    hb_count=<n>              (addition) send at most n heartbeats, then stop
                              sending and answering "h" (a server that went dead)
    lastUid=<uid>             the lastUid of every SUBSCRIBE reply (default null)
    subscribe_result=false    refuse every SUBSCRIBE (result false with
                              err {"name":"Subscription refused",..}) and every
                              channel of a SYNC (result false)
    bad_upgrade=accept|protocol|noprotocol
                              (addition) answer the upgrade with a bad 101: a
                              wrong Sec-WebSocket-Accept, the sub-protocol
                              "other", or no sub-protocol even when
                              sss.v1.json was offered
    status_times, close_times, silent_times
                              (addition) the `times` of that one rule, when
                              several rules of one URL need different counts
    websockets limits the request line and each header line to 8192 bytes
    and answers 414 / 431 beyond, before this server sees the request (so
    such an attempt is neither counted nor logged); an 8000-byte Bearer
    token passes.
    The checks run in this order: status, token, then the upgrade (a request
    that is no WebSocket upgrade gets websockets' own 4xx).

Control endpoints (plain HTTP/1.1 on the same port; each answers and closes)
    GET /_log/<tag>    200 {"attempts":[{"t_ms":<monotonic ms, integer>,
                       "path":"/<tag>/<scenario>","query":{name: value (the last
                       one when repeated)},"headers":{lowercased name: value
                       (repeats joined by ", ")},"status":<HTTP status sent>,
                       "received":[<each client text frame parsed as JSON, or
                       the string itself when it is not JSON, e.g. "h"; a binary
                       frame as {"binary": <length>}>],"close_code":<the code the
                       server closed with (1006 when it aborted), else the one the
                       client sent (1006 when the connection dropped), null while
                       open or when refused>}, ...]} in attempt order; a tag
                       never seen gives {"attempts":[]}
    POST /_send/<tag>  body {"frame": <JSON value or string>}: sends that text
                       frame (a string as it is, anything else serialised) to
                       the tag's newest open connection
    POST /_close/<tag> body {"code": 1001} closes it with that code (1006 =
                       abort), {"abort": true} drops the TCP connection without
                       a close frame
    Both answer 200 {"ok":true}, 404 when the tag has no open connection, 400
    for a bad body. Any other path under /_ gets 404.
"""
import argparse
import asyncio
import json
import os
import re
import signal
import threading
import time
import urllib.parse

from websockets.asyncio.server import ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed

SUBPROTOCOL = "sss.v1.json"
MAX_BODY = 1 << 20  # control endpoints' request bodies
MAX_MESSAGE = 64 << 20  # a client frame
BIG_SKELETON = '{"sys":11,"topic":"big","msg":""}'
PHASES_CLOSE = ("begin", "subscribe", "sync")
PHASES_SILENT = ("begin", "sync")
SYS_SUBSCRIBE, SYS_UNSUBSCRIBE, SYS_BEGIN, SYS_SYNC = 1, 2, 3, 4
SYS_ASK, SYS_TELL, SYS_RESPONSE, SYS_BROADCAST, SYS_PUBLISH, SYS_ERROR = 5, 6, 7, 11, 13, 14
PHASE_OF_SYS = {SYS_BEGIN: "begin", SYS_SUBSCRIBE: "subscribe", SYS_SYNC: "sync"}


class BadParam(ValueError):
    """A query parameter the server cannot act on (refused with 400)."""


class Tag:
    """Everything the server remembers about one tag."""

    def __init__(self):
        self.attempts = []  # the log: one dict per attempt
        self.open = []  # open connections, oldest first


TAGS = {}


def tag_of(name):
    return TAGS.setdefault(name, Tag())


def dumps(v):
    """Compact JSON, as sss servers send it."""
    return json.dumps(v, separators=(",", ":"))


def now_ms():
    return int(time.monotonic() * 1000)


# --------------------------------------------------------------------------
# Parameters


def _int(q, name, default, lo=0, hi=1 << 62):
    v = q.get(name)
    if v is None:
        return default
    try:
        n = int(v)
    except ValueError:
        raise BadParam(f"{name}={v!r} is not an integer") from None
    if not lo <= n <= hi:
        raise BadParam(f"{name}={n} is outside {lo}..{hi}")
    return n


def _bool(q, name, default):
    v = q.get(name)
    if v is None:
        return default
    if v in ("true", "1"):
        return True
    if v in ("false", "0"):
        return False
    raise BadParam(f"{name}={v!r} is not true or false")


def _close_code(q, name, default):
    code = _int(q, name, default, 1000, 4999)
    if code in (1004, 1005, 1015) or 1015 < code < 3000:
        raise BadParam(f"{name}={code} cannot be sent in a close frame")
    return code


class Script:
    """The parsed params of one attempt's URL."""

    def __init__(self, q, pairs):
        times = _int(q, "times", None)
        self.status = _int(q, "status", None, 100, 599)
        if self.status is not None and self.status < 200:
            raise BadParam(f"status={self.status}: use a final status (200..599)")
        self.status_times = _int(q, "status_times", times)
        # The expected token: expect_token, else the first `token` param (a
        # client appends its own ?token= after it).
        tokens = [v for k, v in pairs if k == "token"]
        self.token = q.get("expect_token")
        self.query_tokens = tokens
        if self.token is None and tokens:
            self.token, self.query_tokens = tokens[0], tokens[1:]
        self.token_after = _int(q, "after", 0)
        self.close_at = q.get("close_at")
        if self.close_at is not None and self.close_at not in PHASES_CLOSE:
            raise BadParam(f"close_at={self.close_at!r}: expected one of {', '.join(PHASES_CLOSE)}")
        self.close_code = _close_code(q, "code", 1000)
        self.close_times = _int(q, "close_times", times)
        self.silent_at = q.get("silent_at")
        if self.silent_at is not None and self.silent_at not in PHASES_SILENT:
            raise BadParam(f"silent_at={self.silent_at!r}: expected one of {', '.join(PHASES_SILENT)}")
        self.silent_times = _int(q, "silent_times", times)
        self.records = []
        if "records" in q:
            try:
                self.records = json.loads(q["records"])
            except ValueError as e:
                raise BadParam(f"records is not JSON: {e}") from None
            if not isinstance(self.records, list):
                raise BadParam("records is not a JSON array")
        self.big = _int(q, "big", None, len(BIG_SKELETON), 1 << 30)
        self.hb = _bool(q, "hb", False)
        self.hb_interval = _int(q, "hbInterval", 30000, 1)
        self.hb_threshold = _int(q, "hbThreshold", 2500, 0)
        self.hb_count = _int(q, "hb_count", None)
        self.last_uid = q.get("lastUid")
        self.subscribe_result = _bool(q, "subscribe_result", True)
        self.bad_upgrade = q.get("bad_upgrade")
        if self.bad_upgrade not in (None, "accept", "protocol", "noprotocol"):
            raise BadParam(f"bad_upgrade={self.bad_upgrade!r}: expected accept, protocol or noprotocol")

    def prot(self):
        return {"hb": self.hb, "hbInterval": self.hb_interval, "hbThreshold": self.hb_threshold}


def _applies(times, attempt):
    return times is None or attempt < times


# --------------------------------------------------------------------------
# HTTP: the upgrade decisions and the control endpoints


class Connection(ServerConnection):
    """websockets' connection, which also reads the body of a POST: the
    library refuses request bodies, so the body is taken off here and the
    request passed on without it (kept in self.body)."""

    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        self.body = b""
        self._pending = b""
        self._passing = False
        self.attempt = None  # the log entry of a WebSocket attempt
        self.tag = None
        self.script = None

    def data_received(self, data):
        if self._passing:
            return super().data_received(data)
        self._pending += data
        end = self._pending.find(b"\r\n\r\n")
        if end < 0 and len(self._pending) <= MAX_BODY:
            return None
        head, rest = self._pending[:end + 4], self._pending[end + 4:]
        m = re.search(rb"(?im)^content-length:[ \t]*(\d+)[ \t]*\r\n", head)
        n = int(m.group(1)) if m and end >= 0 else 0
        if 0 < n <= MAX_BODY:
            if len(rest) < n:
                return None
            self.body, rest = rest[:n], rest[n:]
            head = head[:m.start()] + head[m.end():]
        self._passing = True
        self._pending = b""
        return super().data_received(head + rest)

    def connection_lost(self, exc):
        super().connection_lost(exc)
        if self.tag is not None and self in self.tag.open:
            self.tag.open.remove(self)
            if self.attempt["close_code"] is None:
                self.attempt["close_code"] = self.close_code


def _json_response(conn, status, obj):
    r = conn.respond(status, dumps(obj) + "\n")
    r.headers["Content-Type"] = "application/json"
    return r


def _refuse(conn, status, text):
    r = conn.respond(status, text + "\n")
    if status == 401:
        r.headers["WWW-Authenticate"] = "Bearer"
    return r


def _query(path):
    """(name -> last value, [(name, value)...]) of the query string."""
    pairs = urllib.parse.parse_qsl(urllib.parse.urlsplit(path).query, keep_blank_values=True)
    return dict(pairs), pairs


def _headers(h: Headers):
    out = {}
    for k, v in h.raw_items():
        k = k.lower()
        out[k] = out[k] + ", " + v if k in out else v
    return out


def _presented_token(script, request):
    yield from script.query_tokens
    auth = request.headers.get("Authorization", "")
    if auth[:7].lower() == "bearer ":
        yield auth[7:].strip()
    for cookie in request.headers.get_all("Cookie"):
        for part in cookie.split(";"):
            k, _, v = part.strip().partition("=")
            if k == "token":
                yield v


def control(conn, method, parts):
    """GET /_log/<tag>, POST /_send/<tag>, POST /_close/<tag>."""
    if len(parts) != 2 or not parts[1]:
        return _json_response(conn, 404, {"error": "expected /_log/<tag>, /_send/<tag> or /_close/<tag>"})
    what, name = parts
    if what == "_log" and method == "GET":
        return _json_response(conn, 200, {"attempts": TAGS[name].attempts if name in TAGS else []})
    if what not in ("_send", "_close") or method != "POST":
        return _json_response(conn, 404, {"error": f"no {method} /{what}/<tag>"})
    try:
        body = json.loads(conn.body or b"null")
    except ValueError as e:
        return _json_response(conn, 400, {"error": f"the body is not JSON: {e}"})
    if not isinstance(body, dict):
        return _json_response(conn, 400, {"error": "the body is not a JSON object"})
    if what == "_send" and "frame" not in body:
        return _json_response(conn, 400, {"error": 'expected {"frame": <JSON value or string>}'})
    if what == "_close":
        if body.get("abort") is True:
            code = 1006
        else:
            try:
                code = _close_code({"code": str(body.get("code"))}, "code", None)
            except BadParam as e:
                return _json_response(conn, 400, {"error": f'expected {{"code": <close code>}} or {{"abort": true}}: {e}'})
    tag = TAGS.get(name)
    if tag is None or not tag.open:
        return _json_response(conn, 404, {"error": f"tag {name!r} has no open connection"})
    ws = tag.open[-1]
    if what == "_send":
        f = body["frame"]
        asyncio.ensure_future(_send_quietly(ws, f if isinstance(f, str) else dumps(f)))
    else:
        asyncio.ensure_future(close(ws, code))
    return _json_response(conn, 200, {"ok": True})


def process_request(conn, request):
    method = request.method
    path = urllib.parse.urlsplit(request.path).path
    parts = path.strip("/").split("/")
    if parts[0].startswith("_"):
        return control(conn, method, parts)
    q, pairs = _query(request.path)
    if len(parts) != 2 or not parts[0] or not parts[1]:
        return _refuse(conn, 404, f"expected /<tag>/<scenario>, got {path}")
    name, scenario = parts
    tag = tag_of(name)
    n = len(tag.attempts)
    conn.attempt = {"t_ms": now_ms(), "path": path, "query": q, "headers": _headers(request.headers),
                    "status": None, "received": [], "close_code": None}
    tag.attempts.append(conn.attempt)
    conn.tag = tag
    conn.attempt_no = n
    if scenario != "ok":
        return _refuse(conn, 404, f"unknown scenario {scenario!r} (known: ok)")
    try:
        conn.script = s = Script(q, pairs)
    except BadParam as e:
        return _refuse(conn, 400, f"bad parameter: {e}")
    if s.status is not None and _applies(s.status_times, n):
        return _refuse(conn, s.status, f"scripted status {s.status} (attempt {n})")
    if s.token is not None:
        if n < s.token_after:
            return _refuse(conn, 401, f"scripted: the token of attempt {n} has expired")
        if s.token not in _presented_token(s, request):
            return _refuse(conn, 401, "scripted: wrong or missing token")
    return None


def process_response(conn, request, response):
    if conn.attempt is not None:
        conn.attempt["status"] = response.status_code
        if response.status_code == 101:  # open for /_send and /_close from now on
            conn.tag.open.append(conn)
            bad = conn.script.bad_upgrade
            if bad == "accept":
                del response.headers["Sec-WebSocket-Accept"]
                response.headers["Sec-WebSocket-Accept"] = "d3Jvbmcgd3JvbmcgYWNjZXB0PQ=="
            elif bad is not None:
                if "Sec-WebSocket-Protocol" in response.headers:
                    del response.headers["Sec-WebSocket-Protocol"]
                if bad == "protocol":
                    response.headers["Sec-WebSocket-Protocol"] = "other"
    return None


def select_subprotocol(conn, offered):
    return SUBPROTOCOL if SUBPROTOCOL in offered else None


# --------------------------------------------------------------------------
# The WebSocket side: scenario `ok`


async def _send_quietly(ws, text):
    try:
        await ws.send(text)
    except ConnectionClosed:
        pass


async def close(ws, code):
    """Close `ws` with `code` (1006: abort the TCP connection) and log it."""
    if ws.attempt["close_code"] is None:
        ws.attempt["close_code"] = code
    if code == 1006:
        ws.transport.abort()
    else:
        await ws.close(code, "scripted")


def error(text, mid=None):
    e = {"sys": SYS_ERROR, "err": {"name": "Super Scaled Sockets Error", "message": text}}
    if mid is not None:
        e["id"] = mid
    return e


class Session:
    """One accepted connection running scenario `ok`."""

    def __init__(self, ws):
        self.ws = ws
        self.s = ws.script
        self.n = ws.attempt_no
        self.session = "s-" + ws.request.path.strip("/").split("/")[0]
        self.begun = False
        self.hb_task = None
        self.hb_sent = 0

    def hb_alive(self):
        return self.s.hb and (self.s.hb_count is None or self.hb_sent < self.s.hb_count)

    async def heartbeats(self):
        while self.hb_alive():
            await asyncio.sleep(self.s.hb_interval / 1000)
            if not self.hb_alive():
                break
            self.hb_sent += 1
            await _send_quietly(self.ws, "h")

    def start(self):
        """After the BEGIN or SYNC reply: heartbeats."""
        self.begun = True
        if self.s.hb and self.hb_task is None:
            self.hb_task = asyncio.ensure_future(self.heartbeats())

    async def reply(self, obj):
        await self.ws.send(dumps(obj))

    async def on_message(self, m):
        """Handle one client message; False once the connection is to end."""
        s = self.s
        sys_ = m.get("sys")
        mid = m.get("id")
        phase = PHASE_OF_SYS.get(sys_)
        if phase and s.close_at == phase and _applies(s.close_times, self.n):
            await close(self.ws, s.close_code)
            return False
        if phase and s.silent_at == phase and _applies(s.silent_times, self.n):
            return True
        if not self.begun and sys_ not in (SYS_BEGIN, SYS_SYNC):
            await self.reply(error("BEGIN or SYNC must come first", mid))
            return True
        if sys_ == SYS_BEGIN:
            await self.reply({"sys": SYS_BEGIN, "prot": s.prot(), "session": self.session})
            self.start()
            if s.big is not None:
                pad = s.big - len(BIG_SKELETON)
                await self.ws.send(BIG_SKELETON[:-2] + "x" * pad + '"}')
        elif sys_ == SYS_SUBSCRIBE:
            r = {"sys": SYS_SUBSCRIBE, "id": mid, "channel": m.get("channel"), "result": s.subscribe_result}
            if s.subscribe_result:
                r["lastUid"] = s.last_uid
            else:
                r["err"] = {"name": "Subscription refused", "message": "scripted: subscribe_result=false"}
            await self.reply(r)
        elif sys_ == SYS_UNSUBSCRIBE:
            if mid is not None:
                await self.reply({"sys": SYS_UNSUBSCRIBE, "id": mid, "channel": m.get("channel"), "result": True})
        elif sys_ == SYS_SYNC:
            subs = m.get("subscriptions")
            chans = [x.get("channel") for x in subs if isinstance(x, dict)] if isinstance(subs, list) else []
            await self.reply({"sys": SYS_SYNC, "id": mid,
                              "result": {c: s.subscribe_result for c in chans if isinstance(c, str)},
                              "records": s.records, "prot": s.prot()})
            self.start()
        elif sys_ == SYS_ASK:
            await self.reply({"sys": SYS_RESPONSE, "id": mid, "msg": m.get("msg")})
        elif sys_ == SYS_TELL:
            pass
        elif sys_ == SYS_PUBLISH:
            await self.reply({"sys": SYS_RESPONSE, "id": mid, "msg": {"uid": "1-1"}})
        else:
            await self.reply(error(f"unknown sys {sys_!r}", mid))
        return True

    async def run(self):
        ws = self.ws
        received = ws.attempt["received"]
        async for frame in ws:
            if isinstance(frame, bytes):
                received.append({"binary": len(frame)})
                await self.reply(error("binary frames are not spoken here"))
                continue
            try:
                m = json.loads(frame)
            except ValueError:
                m = frame
            received.append(m)
            if frame == "h":
                if self.hb_alive():
                    await ws.send("h")
            elif not isinstance(m, dict):
                await self.reply(error("not a JSON object"))
            elif not await self.on_message(m):
                break


async def handler(ws):
    sess = Session(ws)
    try:
        await sess.run()
    except ConnectionClosed:
        pass
    finally:
        if sess.hb_task:
            sess.hb_task.cancel()


# --------------------------------------------------------------------------
# Process


def _watch_stdin(loop, stop):
    """A thread that reads stdin until EOF, then stops the server."""
    def read():
        try:
            while os.read(0, 65536):  # not sys.stdin: its lock would hang the exit
                pass
        except OSError:
            pass
        loop.call_soon_threadsafe(stop.set)
    threading.Thread(target=read, daemon=True).start()


async def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    args = ap.parse_args()
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    _watch_stdin(loop, stop)
    async with serve(handler, args.host, args.port, create_connection=Connection,
                     process_request=process_request, process_response=process_response,
                     select_subprotocol=select_subprotocol, subprotocols=[SUBPROTOCOL],
                     compression=None, max_size=MAX_MESSAGE, ping_interval=None,
                     server_header="sss-scripted") as server:
        port = server.sockets[0].getsockname()[1]
        print(f"LISTENING {port}", flush=True)
        await stop.wait()
        server.close(close_connections=False)
        for c in list(server.connections):
            c.transport.abort()


if __name__ == "__main__":
    asyncio.run(main())
