"""Several sss-server hosts sharing one real Redis (--engine redis), for the
many-hosts integration tests: each host is a separate sss-server process
with its own port, API port and --host-id. Also a small HTTP API client and
the WebSocket steps the tests repeat (BEGIN, SUBSCRIBE, SYNC, collecting
FEEDs)."""
import asyncio
import json

import sss_harness as h
import test_api
from sss_harness import T


class Api(test_api.Api):
    """The HTTP API of one host (test_api's client), publishing a JSON value."""

    async def publish_value(self, channel, msg, topic="t", timeout=30):
        """(status, uid or None, body text)."""
        body = json.dumps({"channel": channel, "topic": topic, "msg": msg})
        r = await self.req("POST", "/api/publish", body, timeout=timeout)
        text = r.body.decode(errors="replace")
        uid = json.loads(text).get("uid") if r.status == 200 else None
        return r.status, uid, text


async def start_hosts(checks, redis, n, extra=(), workers=2, ids=None):
    """n hosts on redis; returns [(server, api)]."""
    hosts = []
    for i in range(n):
        hid = ids[i] if ids else f"h{i + 1}"
        srv = h.Server(checks, flags=["--engine", "redis", "--redis", redis.url, "--host-id", hid,
                                      "--api-listen", "127.0.0.1:0", "--api-key", test_api.KEY,
                                      *extra],
                       workers=workers, echo=False, name=hid)
        await srv.start()
        m = await srv.wait_log(r"api listening on 127\.0\.0\.1:(\d+)", timeout=20)
        if not m:
            raise RuntimeError(f"{hid}: no API port in its log")
        hosts.append((srv, Api(int(m.group(1)))))
    # Both Redis connections of every host are up before the test starts.
    for srv, _ in hosts:
        for role in ("commands", "subscriptions"):
            if not await srv.wait_log(rf"{role} connection to .* is up", timeout=20):
                raise RuntimeError(f"{srv.name}: Redis {role} connection never came up")
    return hosts


def uid_key(uid):
    e, o = uid.split("-")
    return int(e), int(o)


async def ws_begin(url, session=None, **kw):
    ws = await h.ws_connect(url, max_size=None, **kw)
    begin = {"sys": 3}
    if session:
        begin["session"] = session
    await ws.send(json.dumps(begin))
    reply = json.loads(await asyncio.wait_for(ws.recv(), T(20)))
    return ws, reply


async def ws_subscribe(ws, channel, rid=1):
    await ws.send(json.dumps({"sys": 1, "id": rid, "channel": channel}))
    while True:
        m = json.loads(await asyncio.wait_for(ws.recv(), T(30)))
        if m.get("sys") == 1 and m.get("id") == rid:
            return m


class Collector:
    """Collect the FEEDs of one connection (msg values and uids, and per channel
    [(uid, msg)] in by_chan), until closed."""

    def __init__(self, ws):
        self.ws = ws
        self.msgs = []
        self.uids = []
        self.by_chan = {}
        self.others = []
        self.closed = None
        self.task = asyncio.ensure_future(self._run())

    async def _run(self):
        try:
            async for raw in self.ws:
                if raw == "h":
                    await self.ws.send("h")
                    continue
                m = json.loads(raw)
                if m.get("sys") == 8:
                    self.msgs.append(m["msg"])
                    self.uids.append(m["uid"])
                    self.by_chan.setdefault(m["channel"], []).append((m["uid"], m["msg"]))
                else:
                    self.others.append(m)
        except Exception as e:  # noqa: BLE001 - a dropped connection ends collecting
            self.closed = e

    async def wait_count(self, n, timeout):
        deadline = asyncio.get_event_loop().time() + T(timeout)
        while len(self.msgs) < n and asyncio.get_event_loop().time() < deadline:
            if self.task.done():
                break
            await asyncio.sleep(0.05)
        return len(self.msgs) >= n

    def count(self):
        return len(self.msgs)

    def stop(self):
        self.task.cancel()


def in_order_once(uids):
    """(ok, why): uids strictly increasing (so no repeat)."""
    keys = [uid_key(u) for u in uids]
    for a, b in zip(keys, keys[1:]):
        if b <= a:
            return False, f"{b} after {a}"
    return True, ""
