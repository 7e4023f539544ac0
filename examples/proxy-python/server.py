#!/usr/bin/env python3
"""The chat backend for sss's backend proxy, in Python's standard library only
(http.server, urllib.request; Python 3.8+). sss-server keeps the sockets,
channels, history and fan-out; this process decides who may connect and join,
and answers the chat's asks and tells (README.md beside this file; the calls
are described in the top README, "Writing the application in any language").

  PORT=8000 SSS_API_URL=http://127.0.0.1:9090 SSS_API_KEY=secret python3 server.py
  sss-server --proxy-url http://127.0.0.1:8000 --api-listen 127.0.0.1:9090 --api-key secret

The chat is the one of examples/chat/chat.c, so its page works unchanged:
rooms are channels room-<name>; TELL "say" {room, name, text} publishes "said"
{room, name, text, at} on the room; ASK "history" {room} and ASK "presence"
{room} answer; "presence" {room, count} is published on the room whenever its
count changes. And TELL "remind" {text, ms} TELLs the socket "reminder" {text}
ms milliseconds later, through the HTTP API.

State lives in this process (one backend for the whole cluster): the last 50
messages of each room, and which sockets are in which rooms. Requests are
served by one thread each (ThreadingHTTPServer), so one lock guards it.
"""
import json
import os
import re
import sys
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LISTEN_HOST = os.environ.get("LISTEN_HOST", "127.0.0.1")
PORT = int(os.environ.get("PORT", "8000"))  # 0: the kernel picks one (printed)
SSS_API_URL = os.environ.get("SSS_API_URL", "http://127.0.0.1:9090").rstrip("/")
SSS_API_KEY = os.environ.get("SSS_API_KEY", "")

HISTORY_LIMIT = 50
MAX_TEXT = 2000
MAX_REMIND_MS = 3600_000
MAX_BODY = 2 * 1024 * 1024  # above sss's default --max-message-size (1m)
ROOM_RE = re.compile(r"room-[A-Za-z0-9_-]{1,59}")
USER_RE = re.compile(r"[A-Za-z0-9_-]{1,120}")  # what sss accepts as a user name

# ---- state (under lock) ----
lock = threading.Lock()
history = {}   # room -> [(uid, msg)], oldest first, at most HISTORY_LIMIT
members = {}   # room -> set of socket names
rooms_of = {}  # socket name -> set of rooms
presence_dirty = set()  # rooms whose count changed since it was last published
presence_wake = threading.Condition(lock)


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# ---- the sss HTTP API ----

# The sss API is on your own network: no HTTP proxy from the environment.
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class ApiError(Exception):
    pass


def api(path, body):
    """POST a JSON body to the sss HTTP API; its JSON answer, or ApiError with the reason."""
    headers = {"Content-Type": "application/json"}
    if SSS_API_KEY:
        headers["Authorization"] = "Bearer " + SSS_API_KEY
    req = urllib.request.Request(SSS_API_URL + path, data=json.dumps(body).encode(),
                                 headers=headers, method="POST")
    try:
        with _opener.open(req, timeout=5) as res:
            return json.loads(res.read())
    except urllib.error.HTTPError as e:
        text = e.read().decode("utf-8", "replace")
        try:
            text = json.loads(text).get("error", text)
        except (ValueError, AttributeError):
            pass
        raise ApiError(f"{path} answered {e.code}: {text}") from None
    except (OSError, ValueError) as e:
        raise ApiError(f"{path}: {e}") from None


def publish(channel, topic, msg):
    return api("/api/publish", {"channel": channel, "topic": topic, "msg": msg})


def tell_back(socket, topic, msg):
    """A TELL to one socket; a socket that is gone meanwhile is only logged."""
    try:
        api("/api/tell", {"socket": socket, "topic": topic, "msg": msg})
    except ApiError as e:
        log(f"tell {topic} to {socket} not delivered: {e}")


def uid_key(uid):
    """ "ms-seq" uids compare as number pairs."""
    ms, _, seq = uid.partition("-")
    return int(ms), int(seq or 0)


def remember(room, uid, msg):
    with lock:
        items = history.setdefault(room, [])
        i = len(items)  # publishes may complete out of order: keep uid order
        while i > 0 and uid_key(uid) < uid_key(items[i - 1][0]):
            i -= 1
        items.insert(i, (uid, msg))
        del items[:-HISTORY_LIMIT]


def presence_changed(room):
    """Called with lock held: the publisher thread will publish the room's count."""
    presence_dirty.add(room)
    presence_wake.notify()


def presence_publisher():
    """One thread publishes presence, one room at a time, each with the count of
    the moment it is sent: the last one a room gets is its current count."""
    while True:
        with lock:
            while not presence_dirty:
                presence_wake.wait()
            room = presence_dirty.pop()
            count = len(members.get(room, ()))
        try:
            publish(room, "presence", {"room": room, "count": count})
        except ApiError as e:
            log(f"presence of {room} not published: {e}")


# ---- the five calls ----


def parse_cookies(header):
    out = {}
    for part in (header or "").split(";"):
        name, eq, value = part.partition("=")
        if eq and name.strip():
            out[name.strip()] = value.strip()
    return out


def on_connect(body):
    """{target, headers, remote} -> {user} upgrades (none: anonymous); {status, reason} refuses."""
    user = parse_cookies((body.get("headers") or {}).get("cookie")).get("user")
    if user is None:
        return {}
    if not USER_RE.fullmatch(user):
        return {"status": 401, "reason": "bad user cookie"}
    if user == "mallory":
        return {"status": 403, "reason": "mallory is banned"}
    return {"user": user}


def on_subscribe(body):
    """{socket, user, session, channel, query} -> {result, reason}"""
    socket, channel = body.get("socket"), body.get("channel")
    if channel == "room-secret":
        return {"result": False, "reason": "room-secret is invite-only"}
    if not isinstance(channel, str) or not ROOM_RE.fullmatch(channel):
        return {"result": False, "reason": "only rooms (room-<name>) can be joined"}
    # Counted from the moment it is allowed; an UNSUBSCRIBE is not reported to
    # the backend, so the count drops when the socket closes.
    with lock:
        in_room = members.setdefault(channel, set())
        if socket not in in_room:
            in_room.add(socket)
            rooms_of.setdefault(socket, set()).add(channel)
            presence_changed(channel)
    return {"result": True}


def on_ask(body):
    """{socket, user, session, topic, msg} -> {msg} or {err: {name, message}}"""
    topic, msg = body.get("topic"), body.get("msg")
    room = msg.get("room") if isinstance(msg, dict) else None
    if topic not in ("history", "presence"):
        return {"err": {"name": "Unknown topic", "message": f'no ask "{topic}"'}}
    if not isinstance(room, str) or not ROOM_RE.fullmatch(room):
        return {"err": {"name": "Bad request", "message": f"{topic} needs a room (room-<name>)"}}
    with lock:
        if topic == "presence":
            return {"msg": {"room": room, "count": len(members.get(room, ()))}}
        # The same array of FEEDs as sss_reply_history gives a C module, oldest first.
        return {"msg": [{"sys": 8, "channel": room, "topic": "said", "msg": said, "uid": uid}
                        for uid, said in history.get(room, [])]}


def on_tell(body):
    """{socket, user, session, topic, msg} -> {} (sss ignores a tell's answer). The
    answer is sent once the work is done, so one socket's says stay in order."""
    socket, user, topic = body.get("socket"), body.get("user"), body.get("topic")
    msg = body.get("msg") if isinstance(body.get("msg"), dict) else {}
    if topic == "say":
        room, name, text = msg.get("room"), msg.get("name"), msg.get("text")
        if (not isinstance(room, str) or not ROOM_RE.fullmatch(room) or not isinstance(text, str)
                or not text or len(text) > MAX_TEXT):
            tell_back(socket, "error", "say needs a room (room-<name>) and a text")
            return {}
        # The user the cookie named speaks under that name; the anonymous give theirs.
        said = {"room": room, "name": user or (name if isinstance(name, str) and name else "anonymous"),
                "text": text, "at": int(time.time() * 1000)}
        try:
            remember(room, publish(room, "said", said)["uid"], said)
        except ApiError as e:
            log(f"say in {room} not published: {e}")
            tell_back(socket, "error", "not sent: try again")
    elif topic == "remind":
        text, ms = msg.get("text"), msg.get("ms")
        if (not isinstance(text, str) or isinstance(ms, bool) or not isinstance(ms, (int, float))
                or not 0 <= ms <= MAX_REMIND_MS):
            tell_back(socket, "error", f"remind needs a text and ms (0 to {MAX_REMIND_MS})")
            return {}
        timer = threading.Timer(ms / 1000, tell_back, (socket, "reminder", {"text": text}))
        timer.daemon = True
        timer.start()
    return {}


def on_close(body):
    """{socket, user, session, code} -> {}"""
    with lock:
        for room in rooms_of.pop(body.get("socket"), ()):
            in_room = members[room]
            in_room.discard(body.get("socket"))
            if not in_room:
                del members[room]
            presence_changed(room)
    return {}


HANDLERS = {"connect": on_connect, "subscribe": on_subscribe, "ask": on_ask,
            "tell": on_tell, "close": on_close}

# ---- HTTP ----


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: sss reuses its connections

    def do_POST(self):
        # sss calls POST {prefix}/{event}: the last path segment names the event.
        event = self.path.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
        try:
            length = int(self.headers.get("Content-Length"))
        except (TypeError, ValueError):
            self.close_connection = True  # the body's end is unknown: the connection is lost
            return self.reply(411, {"error": "Content-Length required"})
        if not 0 <= length <= MAX_BODY:
            self.close_connection = True
            return self.reply(413, {"error": "body too large"})
        raw = self.rfile.read(length)
        if event not in HANDLERS:
            return self.reply(404, {"error": f"no event {event}"})
        try:
            body = json.loads(raw)
        except ValueError as e:
            return self.reply(400, {"error": f"bad JSON: {e}"})
        if not isinstance(body, dict):
            return self.reply(400, {"error": "the body must be a JSON object"})
        try:
            answer = HANDLERS[event](body)
        except Exception as e:  # noqa: BLE001 - a bug here must not kill the connection
            log(f"{event}: {type(e).__name__}: {e}")
            return self.reply(500, {"error": str(e)})
        self.reply(200, answer)

    def do_GET(self):
        self.reply(405, {"error": "POST only"}, {"Allow": "POST"})

    def reply(self, status, body, headers=None):
        out = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, fmt, *args):
        pass  # one line per call would drown the log


def main():
    httpd = ThreadingHTTPServer((LISTEN_HOST, PORT), Handler)
    httpd.daemon_threads = True
    threading.Thread(target=presence_publisher, daemon=True).start()
    host, port = httpd.server_address[:2]
    print(f"chat backend listening on http://{host}:{port}, sss API {SSS_API_URL}", flush=True)
    try:
        httpd.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
