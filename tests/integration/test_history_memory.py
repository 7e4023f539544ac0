"""Issue 18, item 2: history and channels are bounded, so no client can
exhaust the host or lock the application and the API out.

- The attack: a client allowed to publish sends many 1 MB messages; the
  scaler's history grew with every one (150 of them: 3.5 -> 170 MB). Now
  --history-memory bounds it: the scaler's anonymous memory, read from
  /proc after each publish was answered, grows by far less than what was
  published; the host's oldest messages left first, and a subscriber whose
  messages left gets result false in its SYNC (the gap is told, never hidden).
- The attack: clients create channels until --max-channels, and then the
  API's publish to a new channel gets 503. Now channels clients create count
  against --max-client-channels (and --max-client-channels-per-conn for one
  connection, also for a burst sent at once), apart from those of the
  application and the API, which keep their room.
"""
import asyncio
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sss_harness as h  # noqa: E402
import test_api  # noqa: E402

MB = 1 << 20
# Under AddressSanitizer freed memory waits in a quarantine (256 MB) before it
# is reused or returned: the scaler's resident memory would show every
# message ever freed. Without one it shows what history holds.
ASAN_ENV = {"ASAN_OPTIONS": ":".join(filter(None, [os.environ.get("ASAN_OPTIONS"),
                                                   "quarantine_size_mb=0"]))}


def api_port(srv):
    m = re.search(r"api listening on \S+:(\d+)", srv.log())
    return int(m.group(1)) if m else None


def scaler_pid(srv):
    pids = re.findall(r"scaler +info +scaler: started pid=(\d+)", srv.log())
    return int(pids[-1]) if pids else None


def rss_anon_kb(pid):
    """The process's private resident memory (the bus, shared memory, is not in it)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("RssAnon:"):
                return int(line.split()[1])
    return None


def metric(text, name):
    m = re.search(r"^%s (\d+)$" % re.escape(name), text, re.M)
    return int(m.group(1)) if m else None


async def publish(ws, channel, msg_raw, id_):
    """A client PUBLISH; its RESPONSE (sys 7) for id_."""
    await ws.send('{"sys":13,"channel":%s,"topic":"t","msg":%s,"id":%d}'
                  % (json.dumps(channel), msg_raw, id_))
    return await h.rx_until(ws, lambda f: f.get("sys") == 7 and f.get("id") == id_, heartbeats=True)


async def subscribe(ws, channel, id_):
    await ws.send(json.dumps({"sys": 1, "channel": channel, "id": id_}))
    return await h.rx_until(ws, lambda f: f.get("sys") == 1 and f.get("id") == id_, heartbeats=True)


async def sync(srv, channel, last_uid):
    """A new connection whose first message is SYNC of channel after last_uid: its reply."""
    async with h.ws_connect(srv) as ws:
        await ws.send(json.dumps({"sys": 4, "id": 1, "subscriptions": [
            {"channel": channel, "lastUid": last_uid, "query": None}]}))
        return await h.rx_until(ws, lambda f: f.get("sys") == 4, heartbeats=True)


async def flood(c, limit, n):
    """n publishes of 1 MB by one client against --history-memory `limit`."""
    srv = await h.Server(c, ["--allow-client-publish", "x-*", "--history-memory", limit,
                             "--api-listen", "127.0.0.1:0", "--max-message-rate", "0"],
                         echo=False, env=ASAN_ENV, name=f"history-memory {limit} server").start()
    try:
        await srv.wait_log(r"api listening on", timeout=20)
        api = test_api.Api(api_port(srv))
        pid = scaler_pid(srv)
        c.ok(pid is not None, "the scaler's pid is in the log")
        # A subscriber's channel gets two messages from the API; the client saw the first.
        uids = []
        for i in (1, 2):
            r = await api.publish("news", "t", str(i), )
            uids.append(json.loads(r.body)["uid"] if r.status == 200 else None)
        c.ok(None not in uids, "the API published two messages on news")
        o = await sync(srv, "news", uids[0])
        c.ok(o.get("result") == {"news": True} and len(o.get("records", [])) == 1,
             "before the flood: SYNC of news after its first message gets the second", o)
        before = rss_anon_kb(pid)
        body = json.dumps("a" * (MB - 64))
        async with h.ws_connect(srv) as ws:
            await ws.send(json.dumps({"sys": 3}))
            await h.rx(ws)
            ok = 0
            for i in range(n):
                r = await publish(ws, f"x-{i % 4}", body, i + 1)
                ok += "err" not in r
        c.eq(ok, n, f"{n} publishes of 1 MB answered with a uid")
        after = rss_anon_kb(pid)
        m = (await api.req("GET", "/metrics")).body.decode()
        o = await sync(srv, "news", uids[0])
        return srv, before, after, m, o
    finally:
        await srv.stop()


async def bounded(c):
    n = 48
    srv, before, after, m, o = await flood(c, "8m", n)
    grew_mb = (after - before) / 1024
    h.log(f"# scaler RssAnon {before} kB -> {after} kB after {n} MB published (--history-memory 8m)")
    c.ok(grew_mb < n / 2, f"the scaler grew by {grew_mb:.1f} MB, well under the {n} MB published")
    c.ok(metric(m, "sss_history_bytes") is not None and metric(m, "sss_history_bytes") <= 8 * MB,
         "sss_history_bytes stays under --history-memory", metric(m, "sss_history_bytes"))
    c.ok((metric(m, "sss_history_trimmed_bytes_total") or 0) >= (n - 8) * (MB - 64),
         "sss_history_trimmed_bytes_total counts what left", metric(m, "sss_history_trimmed_bytes_total"))
    c.ok((metric(m, "sss_history_trimmed_messages_total") or 0) >= n - 8,
         "sss_history_trimmed_messages_total counts them")
    c.ok((metric(m, "sss_history_trimmed_channels_total") or 0) >= 1,
         "news, left empty, is counted in sss_history_trimmed_channels_total")
    c.eq(o.get("result"), {"news": False},
         "after the flood: SYNC of news after its first message reports the gap (result false)")
    c.eq(o.get("records"), [], "and brings no records")


async def unbounded_control(c):
    """The same flood with a bound above it: the measurement does see history grow,
    so the check above can fail."""
    n = 48
    srv, before, after, m, o = await flood(c, "1g", n)
    grew_mb = (after - before) / 1024
    h.log(f"# scaler RssAnon {before} kB -> {after} kB after {n} MB published (--history-memory 1g)")
    c.ok(grew_mb >= n / 2, f"with --history-memory 1g the scaler grew by {grew_mb:.1f} MB (history kept)")
    c.eq(o.get("result"), {"news": True}, "and news keeps its history")


async def channels(c):
    srv = await h.Server(c, ["--allow-client-publish", "c-*", "--max-channels", "3",
                             "--max-client-channels", "6", "--max-client-channels-per-conn", "2",
                             "--api-listen", "127.0.0.1:0", "--max-message-rate", "0"],
                         echo=False, name="channel limits server").start()
    per_conn = "this connection created too many channels"
    per_host = "too many channels created by clients on this server"
    try:
        await srv.wait_log(r"api listening on", timeout=20)
        api = test_api.Api(api_port(srv))
        a, b, cc, d = [await h.begun(srv) for _ in range(4)]
        try:
            r1, r2, r3 = [await publish(a, f"c-{i}", "1", i) for i in (1, 2, 3)]
            c.ok("uid" in r1.get("msg", {}) and "uid" in r2.get("msg", {}),
                 "a client creates 2 channels (its --max-client-channels-per-conn)")
            c.eq(r3.get("err", {}).get("message"), per_conn, "its third new channel is refused")
            r = await publish(a, "c-1", "2", 4)
            c.ok("uid" in r.get("msg", {}), "it still publishes on channels that exist", r)
            # A burst of 4 new channels sent at once: exactly 2 pass.
            for i in range(4):
                await b.send('{"sys":13,"channel":"c-b%d","topic":"t","msg":1,"id":%d}' % (i, i + 1))
            rs = [await h.rx_until(b, lambda f: f.get("sys") == 7, heartbeats=True) for _ in range(4)]
            c.eq(sum("uid" in (f.get("msg") or {}) for f in rs), 2,
                 "a burst of 4 new channels sent at once: 2 created")
            c.eq(sorted(f.get("err", {}).get("message", "") for f in rs if "err" in f),
                 [per_conn, per_conn], "the other 2 refused for the connection")
            rs = [await publish(cc, f"c-c{i}", "1", i) for i in (1, 2)]
            c.ok(all("uid" in f.get("msg", {}) for f in rs), "a third client creates 2 (6 in all)")
            r = await publish(d, "c-d1", "1", 1)
            c.eq(r.get("err", {}).get("message"), per_host,
                 "past --max-client-channels a client's new channel is refused")
            r = await publish(d, "c-1", "1", 2)
            c.ok("uid" in r.get("msg", {}), "while existing channels still take its publish", r)
            # The API was not locked out: its own room (--max-channels 3) is whole.
            st = [(await api.publish(f"app-{i}", "t", "1")).status for i in (1, 2, 3)]
            c.eq(st, [200, 200, 200], "the API creates its 3 channels after clients used up theirs")
            r = await api.publish("app-4", "t", "1")
            c.eq(r.status, 503, "its 4th new channel: 503 (--max-channels)")
            r = await api.publish("c-2", "t", "1")
            c.eq(r.status, 200, "the API publishes on a client's channel")
            m = (await api.req("GET", "/metrics")).body.decode()
            c.eq((metric(m, "sss_channels"), metric(m, "sss_client_channels")), (9, 6),
                 "sss_channels 9, of which sss_client_channels 6")
            c.eq(metric(m, "sss_channels_refused_total"), 5,
                 "sss_channels_refused_total counts the 5 refusals")
        finally:
            for ws in (a, b, cc, d):
                await ws.close()
    finally:
        await srv.stop()


async def bad_flag(c):
    import subprocess
    p = subprocess.run([h.server_binary(), "--history-memory", "1m", "--max-message-size", "1m"],
                       capture_output=True, text=True, timeout=h.T(20))
    c.ok(p.returncode == 2 and "--history-memory" in p.stderr,
         "--history-memory under 2 x --max-message-size: exit 2 with the reason", p.stderr)


async def main():
    h.raise_fd_limit()
    c = h.Checks("history-memory")
    await c.section("a client's flood of 1 MB publishes stays under --history-memory", bounded, c)
    await c.section("control: the same flood under a large bound", unbounded_control, c)
    await c.section("channels created by clients, per connection and per host", channels, c)
    await c.section("a bound too small for one message is refused", bad_flag, c)
    return c.finish()


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
