"""The C client (clients/c) against the scripted misbehaving server
(tests/clients/scripted_server.py), through tests/clients/cclient_driver: the
failure table of clients/README.md (codes, transient or permanent, backoff on
every failed attempt, retry_attempts), BEGIN and SYNC timeouts, tokens and
headers, SYNC exactness, pending callbacks answered once, JSON escapes, IPv6
and every address of a name, and every (callback, call) pair (reentry).
Needs $SSS_CCLIENT_DRIVER and the venv's websockets; skips (77) without them."""
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sss_harness as h  # noqa: E402

SOURCE = os.environ.get("SSS_SOURCE_DIR") or os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
SCRIPT = os.path.join(SOURCE, "tests", "clients", "scripted_server.py")
DRIVER = os.environ.get("SSS_CCLIENT_DRIVER", "")
TAGN = [0]


def tag(name):
    TAGN[0] += 1
    return f"c{os.getpid()}-{TAGN[0]}-{name}"


class Scripted:
    async def start(self, host="127.0.0.1"):
        self.host = host
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, SCRIPT, "--host", host, "--port", "0", stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self.port = int((await asyncio.wait_for(self.proc.stdout.readline(), h.T(30))).split()[1])
        return self

    def url(self, t, query=""):
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"ws://{host}:{self.port}/{t}/ok" + (f"?{query}" if query else "")

    async def http(self, method, path, body=None):
        r, w = await asyncio.open_connection(self.host, self.port)
        data = b"" if body is None else json.dumps(body).encode()
        w.write(f"{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                f"Content-Length: {len(data)}\r\n\r\n".encode() + data)
        raw = await asyncio.wait_for(r.read(), h.T(20))
        w.close()
        head, _, text = raw.partition(b"\r\n\r\n")
        return int(head.split()[1]), json.loads(text)

    async def log(self, t):
        return (await self.http("GET", f"/_log/{t}"))[1]["attempts"]

    async def send(self, t, frame):
        return (await self.http("POST", f"/_send/{t}", {"frame": frame}))[0]

    async def close(self, t, code):
        return (await self.http("POST", f"/_close/{t}", {"code": code}))[0]

    async def stop(self):
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            await self.proc.wait()


class Driver:
    """cclient_driver run <url> [opts]: commands in, JSON events out."""

    async def start(self, url, *opts):
        self.proc = await asyncio.create_subprocess_exec(
            DRIVER, "run", url, *opts, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self.events = []
        self.reader = asyncio.create_task(self._read())
        await self.wait(lambda e: e["ev"] in ("created", "create_failed"))
        return self

    async def _read(self):
        while line := await self.proc.stdout.readline():
            self.events.append(json.loads(line))

    async def cmd(self, line):
        n = len([e for e in self.events if e["ev"] == "done"])
        self.proc.stdin.write((line + "\n").encode())
        await self.proc.stdin.drain()
        await self.wait(lambda e: e["ev"] == "done", count=n + 1)
        return [e for e in self.events if e["ev"] == "done"][n]["rc"]

    async def wait(self, pred, count=1, timeout=20):
        for _ in range(int(h.T(timeout) / 0.02)):
            got = [e for e in self.events if pred(e)]
            if len(got) >= count:
                return got[count - 1]
            await asyncio.sleep(0.02)
        raise AssertionError(f"no event after {timeout}s; events: {self.events[-12:]}")

    async def status(self, name, count=1, timeout=20):
        return await self.wait(lambda e: e["ev"] == "status" and e["now"] == name, count, timeout)

    def evs(self, kind):
        return [e for e in self.events if e["ev"] == kind]

    async def stop(self):
        if self.proc.returncode is None:
            try:
                self.proc.stdin.write(b"quit\n")
                await self.proc.stdin.drain()
            except ConnectionError:
                pass
        rc = await asyncio.wait_for(self.proc.wait(), h.T(20))
        await self.reader
        return rc


async def final(c, srv, url_query, code, status, *opts, attempts=1, cmd=None):
    """The client stops with code and status after `attempts` attempts; on_error once."""
    t = tag(code)
    d = await Driver().start(srv.url(t, url_query), *opts)
    await d.cmd("connect")
    if cmd:
        await d.status("READY")
        await cmd(t)
    err = await d.wait(lambda e: e["ev"] == "error" and not e["channel"])
    c.eq((err["name"], err["status"]), (code, status), f"{code}: on_error with the code, status {status}")
    await asyncio.sleep(0.2)
    c.eq(len([e for e in d.evs("error") if not e["channel"]]), 1, f"{code}: on_error once")
    c.eq(await d.stop(), 0, f"{code}: driver exits 0")
    log = await srv.log(t)
    c.eq(len(log), attempts, f"{code}: {attempts} attempt(s)")
    return err, log


async def refusals(c, srv):
    await final(c, srv, "token=good", "unauthorized", "FAILED")
    await final(c, srv, "token=good", "unauthorized", "FAILED", "--tokens", "bad", attempts=2)
    # A 401, and the hook has nothing new (returns 1): final at once, no second dial.
    await final(c, srv, "token=good", "unauthorized", "FAILED", "--tokens", "bad,NONE", attempts=1)
    await final(c, srv, "status=403", "forbidden", "FAILED")
    await final(c, srv, "status=404", "upgrade_refused", "FAILED")
    await final(c, srv, "bad_upgrade=protocol", "upgrade_refused", "FAILED")
    await final(c, srv, "bad_upgrade=accept", "upgrade_refused", "FAILED")
    err, _ = await final(c, srv, "status=503", "retries_exhausted", "FAILED", "--no-reconnect")
    c.ok(err["message"].startswith("upgrade_failed"), "no_reconnect: the detail names upgrade_failed", err)
    err, log = await final(c, srv, "status=503", "retries_exhausted", "FAILED", "--retry-attempts", "2",
                           "--retry-interval", "100", attempts=3)
    c.ok(log[1]["t_ms"] - log[0]["t_ms"] >= 50 and log[2]["t_ms"] - log[1]["t_ms"] >= 100,
         "503: backoff between attempts (>= 50, then >= 100 ms)", [a["t_ms"] for a in log])


async def tokens(c, srv):
    # An expired token: 401, get_headers is called again and the client redials at once
    # (the retry interval is a minute: a backoff would not fit in the test's time).
    t = tag("token")
    d = await Driver().start(srv.url(t, "token=good&after=1"), "--tokens", "old,good", "--retry-interval", "60000")
    await d.cmd("connect")
    await d.status("READY")
    log = await srv.log(t)
    c.eq([a["headers"].get("authorization") for a in log], ["Bearer old", "Bearer good"],
         "token: refreshed after the 401, sent as Authorization: Bearer")
    c.eq([a["status"] for a in log], [401, 101], "token: 401 then 101")
    await d.stop()
    # The hook failing is transient (token_failed), then it works.
    t = tag("tokenfail")
    d = await Driver().start(srv.url(t), "--tokens", "FAIL,ok", "--retry-interval", "50")
    await d.cmd("connect")
    await d.status("READY")
    c.ok(any(e["now"] == "WAITING" for e in d.evs("status")), "token_failed: waited and retried")
    await d.stop()
    # Static headers and a 7000-byte token pass; 9000 bytes do not fit 8192: refused by headers_add.
    t = tag("bigtoken")
    d = await Driver().start(srv.url(t), "--token-bytes", "7000", "--header", "X-Test: yes")
    await d.cmd("connect")
    await d.status("READY")
    hd = (await srv.log(t))[0]["headers"]
    c.eq((len(hd.get("authorization", "")), hd.get("x-test")), (7007, "yes"), "7000-byte token and a static header")
    await d.stop()
    t = tag("hugetoken")
    d = await Driver().start(srv.url(t), "--token-bytes", "9000")
    await d.cmd("connect")
    e = await d.wait(lambda e: e["ev"] == "headers")
    c.eq(e["rc"], -2004, "a 9000-byte header: SSS_CLIENT_EHEADER from sss_client_headers_add")
    await d.stop()
    d = await Driver().start(srv.url(tag("badhdr")), "--header", "Bad\r\nX: y")
    c.eq(d.events[0]["ev"], "create_failed", "a header with CR/LF: create fails")
    await d.stop()


async def closes(c, srv):
    for code, name, status in [(1000, "closed_by_server", "CLOSED"), (4001, "booted", "BOOTED"),
                               (1002, "protocol_error", "FAILED"), (1007, "invalid_payload", "FAILED")]:
        async def do(t, code=code):
            await srv.close(t, code)
        await final(c, srv, "", name, status, cmd=do)

    async def garbage(t):
        await srv.send(t, "not json{")
    _, log = await final(c, srv, "", "protocol_error", "FAILED", cmd=garbage)
    c.eq(log[0]["close_code"], 1002, "garbage: the client closed with 1002")
    _, log = await final(c, srv, "big=5000", "message_too_big", "FAILED", "--max-message-size", "1000")
    c.eq(log[0]["close_code"], 1009, "big frame: the client closed with 1009")
    # Transient closes: reconnect. 1001 at once (the retry interval is a minute).
    for code, name, opts in [(1001, "going_away", ["--retry-interval", "60000"]),
                             (1008, "policy_violation", ["--retry-interval", "50"]),
                             (4008, "too_slow", ["--retry-interval", "50"]),
                             (1006, "connection_lost", ["--retry-interval", "50"])]:
        t = tag(name)
        d = await Driver().start(srv.url(t), *opts)
        await d.cmd("connect")
        await d.status("READY")
        await srv.close(t, code)
        drop = await d.wait(lambda e: e["ev"] == "drop")
        await d.wait(lambda e: e["ev"] == "reconnect")
        c.eq(drop["code"], name, f"close {code}: {name}, reconnected")
        await d.stop()


async def stages(c, srv):
    # A server that closes during SYNC: each attempt waits its backoff and counts.
    t = tag("syncclose")
    d = await Driver().start(srv.url(t, "close_at=sync&code=1006"), "--retry-attempts", "2", "--retry-interval", "100")
    await d.cmd("connect")
    await d.status("READY")
    await srv.close(t, 1006)
    err = await d.wait(lambda e: e["ev"] == "error" and not e["channel"])
    c.eq(err["name"], "retries_exhausted", "close during SYNC: retries_exhausted after retry_attempts")
    c.ok(err["message"].startswith("connection_lost"), "the detail names connection_lost", err)
    log = await srv.log(t)
    c.eq(len(log), 3, "close during SYNC: the first connection and 2 attempts")
    if len(log) == 3:
        c.ok(log[2]["t_ms"] - log[1]["t_ms"] >= 100, "the second SYNC attempt waited >= 100 ms",
             [a["t_ms"] for a in log])
    await d.stop()
    # No BEGIN reply: begin_timeout, then the next attempt works.
    t = tag("beginsilent")
    d = await Driver().start(srv.url(t, "silent_at=begin&times=1"), "--begin-timeout", "300", "--retry-interval", "50")
    await d.cmd("connect")
    await d.status("READY")
    c.eq([e["code"] for e in d.evs("drop")], ["begin_timeout"], "silent BEGIN: begin_timeout")
    await d.stop()
    # No SYNC reply: sync_timeout, then the next SYNC is answered.
    t = tag("syncsilent")
    d = await Driver().start(srv.url(t, "silent_at=sync&times=2"), "--sync-timeout", "300", "--retry-interval", "50")
    await d.cmd("connect")
    await d.status("READY")
    await srv.close(t, 1001)
    await d.wait(lambda e: e["ev"] == "reconnect")
    c.eq([e["code"] for e in d.evs("drop")], ["going_away", "sync_timeout"], "silent SYNC: sync_timeout")
    await d.stop()


async def sync_exact(c, srv):
    recs = [{"sys": 8, "channel": "news", "topic": "t", "msg": i, "uid": u}
            for i, u in enumerate(["1-5", "1-5", "1-3", "1-6", "1-10", "1-6", "0-99"])]
    t = tag("records")
    q = "lastUid=1-4&records=" + urllib.parse.quote(json.dumps(recs))
    d = await Driver().start(srv.url(t, q), "--retry-interval", "50")
    await d.cmd("subscribe news")
    await d.cmd("connect")
    await d.wait(lambda e: e["ev"] == "reply" and e["for"] == "news")
    await srv.close(t, 1001)
    await d.wait(lambda e: e["ev"] == "reconnect")
    c.eq([e["uid"] for e in d.evs("feed")], ["1-5", "1-6", "1-10"],
         "SYNC records: only above lastUid, compared as numbers (1-10 > 1-6)")
    await d.cmd("last_uid news")
    c.eq(d.evs("lastuid")[-1]["uid"], "1-10", "lastUid never goes backwards")
    sync = [m for m in (await srv.log(t))[1]["received"] if isinstance(m, dict) and m.get("sys") == 4]
    c.eq([(s["channel"], s["lastUid"]) for s in sync[0]["subscriptions"]] if sync else None, [("news", "1-4")],
         "SYNC carries the SUBSCRIBE reply's lastUid")
    await d.stop()
    # SUBSCRIBEs in flight at a drop are never SYNCed with lastUid null: SUBSCRIBE again after the SYNC.
    t = tag("inflight")
    d = await Driver().start(srv.url(t, "close_at=subscribe&code=1006&times=1"), "--retry-interval", "50")
    await d.cmd("subscribe news")
    await d.cmd("connect")
    await d.wait(lambda e: e["ev"] == "reconnect")
    c.eq([e["err"] for e in d.evs("reply")], ["Connection dropped"], "the in-flight subscribe's reply: Connection dropped")
    got = []
    for _ in range(int(h.T(20) / 0.05)):
        got = [m for m in (await srv.log(t))[1]["received"] if isinstance(m, dict)]
        if len(got) >= 2:
            break
        await asyncio.sleep(0.05)
    c.eq([(m["sys"], m.get("subscriptions", m.get("channel"))) for m in got], [(4, []), (1, "news")],
         "after the drop: SYNC without the unconfirmed channel, then SUBSCRIBE")
    await d.stop()


async def pending(c, srv):
    t = tag("pending")
    d = await Driver().start(srv.url(t))
    await d.cmd("subscribe a")
    await d.cmd("subscribe a")
    await d.cmd("subscribe b")
    await d.cmd("unsubscribe b")
    await d.cmd("subscribe c")
    await d.cmd("close")
    c.eq(sorted((e["for"], e["err"]) for e in d.evs("reply")),
         [("a", "Connection closed"), ("a", "Subscription replaced"), ("b", "Unsubscribed"),
          ("c", "Connection closed")], "pending replies: each once, with why")
    await d.stop()
    t = tag("bootchannel")
    d = await Driver().start(srv.url(t))
    await d.cmd("subscribe-noreply news")
    await d.cmd("connect")
    await d.status("READY")
    await srv.send(t, {"sys": 10, "channel": "news", "reason": "x"})
    e = await d.wait(lambda e: e["ev"] == "error")
    c.eq((e["channel"], e["name"]), ("news", "Removed from channel"), "BOOTCHANNEL reported")
    await d.stop()


async def json_escapes(c, srv):
    t = tag("json")
    d = await Driver().start(srv.url(t))
    await d.cmd("connect")
    await d.status("READY")
    await srv.send(t, '{"sys":6,"prot":{"x":{"topic":"no"}},"topic":"caf\\u00e9 \\ud83d\\ude00",'
                      '"msg":{"a":{"topic":"inner"},"b":[1,{"c":"\\u00e9"}]}}')
    e = await d.wait(lambda e: e["ev"] == "tell")
    c.eq(e["topic"], "caf\u00e9 \U0001F600", "\\u escapes in a topic (with a surrogate pair)")
    c.eq(e["msg"], '{"a":{"topic":"inner"},"b":[1,{"c":"\\u00e9"}]}', "nested msg passed raw")
    await srv.send(t, '{"sys":14,"err":{"x":{"name":"no"},"name":"N\\u00e4me","message":"\\u00e9t\\u00e9"}}')
    e = await d.wait(lambda e: e["ev"] == "error")
    c.eq((e["name"], e["message"]), ("N\u00e4me", "\u00e9t\u00e9"), "err name/message: escapes, nested objects skipped")
    await d.stop()


async def addresses(c, srv):
    # "localhost" may give ::1 first (nothing listens there): the next address is tried.
    t = tag("localhost")
    d = await Driver().start(f"ws://localhost:{srv.port}/{t}/ok", "--retry-interval", "60000")
    await d.cmd("connect")
    await d.status("READY")
    c.ok(True, "localhost: connected through one of its addresses")
    await d.stop()
    try:
        socket.socket(socket.AF_INET6).bind(("::1", 0))
    except OSError:
        h.log("no IPv6 loopback: the IPv6 part is left out")
        return
    v6 = await Scripted().start("::1")
    try:
        t = tag("v6")
        d = await Driver().start(v6.url(t))
        await d.cmd("connect")
        await d.status("READY")
        c.eq((await v6.log(t))[0]["headers"].get("host"), f"[::1]:{v6.port}", "IPv6: Host in brackets")
        await d.stop()
    finally:
        await v6.stop()


async def reentry(c, srv):
    p = await asyncio.create_subprocess_exec(DRIVER, "reentry", f"ws://127.0.0.1:{srv.port}/",
                                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = await asyncio.wait_for(p.communicate(), h.T(600))
    rows = [json.loads(x) for x in out.decode().splitlines()]
    bad = [r for r in rows if not r["ok"]]
    c.ok(p.returncode == 0 and len(rows) >= 100 and not bad,
         f"every (callback, call) pair ({len(rows)}) keeps the client whole", err.decode()[-2000:])


async def run(c):
    srv = await Scripted().start()
    try:
        await c.sections((c, srv), [("refusals", refusals), ("tokens", tokens), ("closes", closes),
                                    ("stages", stages), ("sync exactness", sync_exact),
                                    ("pending callbacks", pending), ("json", json_escapes),
                                    ("addresses", addresses), ("reentry", reentry)])
    finally:
        await srv.stop()


def need_driver():
    """Skip (exit 77) unless the C client's driver is there (h.main checks websockets)."""
    if not DRIVER or not os.access(DRIVER, os.X_OK):
        h.skip("SSS_CCLIENT_DRIVER not set")


def main():
    need_driver()
    h.main(run, "test_cclient_scripted", timeout=900, server=False)


if __name__ == "__main__":
    main()
