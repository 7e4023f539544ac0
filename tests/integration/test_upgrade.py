"""Upgrade without dropping sockets (SIGUSR2; docs/deploy.md, issue 16 item 4),
against the real sss-server on a real Redis (--engine redis):

- N subscribers, one in MessagePack, and a publisher (Python websockets
  clients) on one channel, and one subscriber of a channel that has no
  message yet; the publisher streams acknowledged PUBLISHes, before, during
  and after the upgrade; one more client is held in the middle of a frame on purpose
  (its BEGIN and half of its next frame went in one write, so the worker has
  read the half frame when it answers the BEGIN).
- SIGUSR2 to the master: the old master, its workers and its scaler exit;
  the new master (the same binary, exec'd) serves on the same port.
- Every subscriber and the publisher keep their connection (no close frame,
  no reconnect), and every acknowledged message reaches every subscriber
  exactly once, in uid order; the client held mid-frame gets close 1001.
- The old workers' log lines count the connections handed over (all but the
  held one) and drained (the held one); the new workers' count the adopted.
- A new binary that does not start (exit 1): the old master says so and
  goes on serving.
- A second part: --upgrade-timeout is crossed by a subscriber that reads
  nothing (its send queue never empties): it is drained with 1001 when the
  timeout ends, and the reader beside it is handed over.
"""
import asyncio
import json
import os
import re
import shutil
import signal
import socket
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sss_harness as h  # noqa: E402
from svc_redis import Redis  # noqa: E402
from test_api import Api, KEY  # noqa: E402
from test_boot import SECRET, presence, user_client  # noqa: E402
from test_protocol import PClient  # noqa: E402
import mpack  # noqa: E402

NSUBS = 8
CHAN = "up-stream"
QUIET = "up-quiet"


def flags(redis, *extra):
    return ["--engine", "redis", "--redis", redis.url, "--allow-client-publish", "up-*",
            "--log-level", "debug", *extra]


async def new_master(c, srv, start):
    """The new master's pid from the old master's log line, or None."""
    m = await srv.wait_log(r"upgrading: new master pid=(\d+)", 30, start)
    c.ok(m is not None, "the old master starts the new binary on SIGUSR2")
    return int(m.group(1)) if m else None


def counts(srv, start):
    handed = drained = adopted = 0
    for l in srv.log_lines()[start:]:
        m = re.search(r"handed over (\d+) connection\(s\), draining (\d+) with 1001", l)
        if m:
            handed += int(m.group(1))
            drained += int(m.group(2))
        m = re.search(r"adopted (\d+) connection\(s\) from an old worker", l)
        if m:
            adopted += int(m.group(1))
    return handed, drained, adopted


async def stop_new(c, srv, pid):
    """SIGTERM the new master (not our child) and wait until it is gone."""
    srv.stopped = True
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    deadline = asyncio.get_running_loop().time() + h.T(40)
    while h._running(pid) and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.05)
    c.ok(not h._running(pid), "the new master exits on SIGTERM")
    srv.check_sanitizers()
    srv.kill()
    if c.failed > srv.failed_before:
        srv.dump_log(200)


async def feeds(pc, n_expected, timeout=30):
    """The msg values of CHAN's FEEDs until n_expected came, or `timeout` (scaled) ended."""
    got = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + h.T(timeout)
    while len(got) < n_expected:
        left = deadline - loop.time()
        try:
            _, o = await pc.recv(max(left, 0.01) / h.SCALE)
        except asyncio.TimeoutError:
            break
        if o.get("sys") == 8 and o.get("channel") == CHAN:
            got.append(o["msg"])
    return got


def on_own_redis(part):
    """The test part part(c, redis) on a Redis of its own, stopped whatever happens."""
    async def run(c):
        redis = Redis(persist=False)  # started by its constructor
        try:
            await part(c, redis)
        finally:
            redis.stop()
    run.__name__ = part.__name__.removesuffix("_on")
    return run


async def stream_across_on(c, redis):
    srv = h.Server(c, flags(redis, "--upgrade-timeout", "60s"), echo=False, workers=2)
    await srv.start()
    subs = [await PClient.open(srv) for _ in range(NSUBS)]
    for s in subs:
        r = await s.subscribe(CHAN)
        c.ok(r.get("result") is True, "subscribed", str(r))
    # A channel with no message yet: nothing delivered, nothing to catch up on.
    quiet = await PClient.open(srv)
    r = await quiet.subscribe(QUIET)
    c.ok(r.get("result") is True, "subscribed to a channel with no message", str(r))
    # A MessagePack client: its encoding crosses the upgrade with it.
    mp = await h.ws_connect(srv, subprotocols=["sss.v1.msgpack"])
    await mp.send(mpack.pack({"sys": 3}))
    await mp.send(mpack.pack({"sys": 1, "channel": CHAN, "id": 1}))
    while True:
        m = await asyncio.wait_for(mp.recv(), h.T(20))
        if m != "h" and mpack.unpack(m).get("id") == 1:
            break
    pub = await PClient.open(srv)
    acked = []

    async def publish(n):
        for _ in range(n):
            await pub.publish(CHAN, json.dumps(len(acked)))
            acked.append(len(acked))

    await publish(20)
    # Held mid-frame: BEGIN and the first half of a text frame in one write.
    held = await h.RawClient.upgrade(srv)
    half = h.encode_frame(h.OP_TEXT, b'{"sys":1,"channel":"up-held","id":1}')[:10]
    held.send(h.encode_frame(h.OP_TEXT, b'{"sys":3}') + half)
    f = await held.read_frame()
    c.ok(f.op == h.OP_TEXT and b'"sys":3' in f.payload, "the held client's BEGIN is answered")

    start = len(srv.log_lines())
    old_pid = srv.proc.pid
    streaming = asyncio.ensure_future(publish(200))  # goes on across the upgrade
    await asyncio.sleep(0)  # one PUBLISH on its way
    srv.send_signal(signal.SIGUSR2)
    pid = await new_master(c, srv, start)
    status = await srv.wait_exit(60)
    c.eq(status, 0, "the old master exits 0 once its workers handed over")
    await streaming
    await publish(20)  # on the new processes only
    await pub.publish(QUIET, '"first"')
    _, o = await quiet.reply(lambda o: o.get("sys") == 8, 30)
    c.eq((o.get("channel"), o.get("msg")), (QUIET, "first"),
         "a subscriber of a channel that had no message gets its first one after the upgrade")
    code = None
    try:
        f, _ = await held.read_until_close(timeout=30)
        code = f.close_code if f else None
    except Exception as e:  # noqa: BLE001
        h.log(f"# held client: {e!r}")
    c.eq(code, 1001, "the client held mid-frame is closed with 1001 (it reconnects)")
    for i, s in enumerate(subs):
        got = await feeds(s, len(acked))
        c.ok(got == acked, f"subscriber {i}: every acknowledged message once, in order",
             f"{len(got)} of {len(acked)}; missing {sorted(set(acked) - set(got))[:10]}, "
             f"repeated {sorted(x for x in set(got) if got.count(x) > 1)[:10]}, "
             f"in order: {got == sorted(got)}")
    c.ok(all(s.ws.close_code is None for s in subs + [pub, quiet]),
         "no subscriber nor the publisher was closed (handed over, not reconnected)")
    frames, got = [], []
    while len(got) < len(acked):
        try:
            m = await asyncio.wait_for(mp.recv(), h.T(30))
        except asyncio.TimeoutError:
            break
        if m == "h":
            continue
        frames.append(m)
        o = mpack.unpack(m)
        if o.get("sys") == 8 and o.get("channel") == CHAN:
            got.append(o["msg"])
    c.ok(got == acked and all(isinstance(m, bytes) for m in frames),
         "the MessagePack subscriber: every message once, in order, all in binary frames",
         f"{len(got)} of {len(acked)}")
    handed, drained, adopted = counts(srv, start)
    h.log(f"# upgrade under a stream of {len(acked)} messages: handed over {handed}, "
          f"adopted {adopted}, drained (1001) {drained}")
    c.eq(handed, NSUBS + 3, "the old workers handed over every connection between frames")
    c.eq(adopted, NSUBS + 3, "the new workers adopted them")
    c.eq(drained, 1, "the one held mid-frame was drained")
    c.ok(not h._running(old_pid), "the old master is gone")
    c.ok(h._running(pid), "the new master runs")
    c.ok(mp.close_code is None, "the MessagePack subscriber was not closed")
    for s in subs + [pub, quiet]:
        await s.ws.close()
    await mp.close()
    held.close()
    await stop_new(c, srv, pid)


async def timeout_crossed_on(c, redis):
    """--upgrade-timeout: a subscriber that reads nothing is drained when it ends."""
    srv = h.Server(c, flags(redis, "--upgrade-timeout", "1s", "--max-send-queue", "64m",
                            "--slow-grace", "600s"), echo=False, workers=1)
    await srv.start()
    reader = await PClient.open(srv)
    await reader.subscribe(CHAN)
    # A plain socket nobody reads once it is subscribed (asyncio's streams would).
    stuck = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stuck.settimeout(h.T(20))
    stuck.connect(("127.0.0.1", srv.port))
    stuck.sendall(h.upgrade_request("/") + h.encode_frame(h.OP_TEXT, b'{"sys":3}') +
                  h.encode_frame(h.OP_TEXT, b'{"sys":1,"channel":"%s","id":1}' % CHAN.encode()))
    seen = b""
    while b'"id":1' not in seen:
        chunk = await asyncio.get_running_loop().run_in_executor(None, stuck.recv, 4096)
        if not chunk:
            c.fail("the stuck client's SUBSCRIBE is answered")
            break
        seen += chunk
    pub = await PClient.open(srv)
    big = json.dumps("x" * 60000)
    # Twice what the kernel buffers of one connection hold at most (the
    # server's send buffer, tcp_wmem's maximum, and the client's fixed 4 KB
    # receive buffer): the stuck client's queue in the worker cannot empty.
    with open("/proc/sys/net/ipv4/tcp_wmem") as f:
        wmem_max = int(f.read().split()[2])
    n = 2 * (wmem_max + 4096) // 60000 + 1
    for _ in range(n):
        await pub.publish(CHAN, big)
    got = await feeds(reader, n)
    c.eq(len(got), n, "the reader got every message before the upgrade")
    start = len(srv.log_lines())
    srv.send_signal(signal.SIGUSR2)
    pid = await new_master(c, srv, start)
    status = await srv.wait_exit(60)
    c.eq(status, 0, "the old master exits 0")
    m = await srv.wait_log(r"handed over (\d+) connection\(s\), draining (\d+) with 1001 "
                           r"\(--upgrade-timeout\)", 10, start)
    c.ok(m is not None, "the worker stopped waiting at --upgrade-timeout")
    if m:
        c.eq((int(m.group(1)), int(m.group(2))), (2, 1),
             "the reader and the publisher handed over, the stuck one drained")
    await pub.publish(CHAN, json.dumps("after"))
    got = await feeds(reader, 1)
    c.eq(got, ["after"], "the handed-over reader gets what is published after the upgrade")
    for s in (reader, pub):
        await s.ws.close()
    stuck.close()
    await stop_new(c, srv, pid)


async def memory_engine(c):
    """--engine memory: the history stays with the old scaler, so a handed-over
    subscriber is closed with 4008 and its SYNC reports the gap."""
    srv = h.Server(c, ["--allow-client-publish", "up-*", "--log-level", "debug"], echo=False,
                   workers=1)
    await srv.start()
    sub = await PClient.open(srv)
    await sub.subscribe(CHAN)
    pub = await PClient.open(srv)
    for i in range(5):
        last = await pub.publish(CHAN, json.dumps(i))
    c.eq(await feeds(sub, 5), list(range(5)), "the subscriber got the first messages")
    start = len(srv.log_lines())
    srv.send_signal(signal.SIGUSR2)
    pid = await new_master(c, srv, start)
    c.eq(await srv.wait_exit(60), 0, "the old master exits 0")
    code = await h.ws_close_code(sub.ws, 30)
    c.eq(code, 4008, "with the memory engine the handed-over subscriber is closed with 4008")
    handed, drained, adopted = counts(srv, start)
    c.eq((handed, adopted), (2, 2), "both connections were handed over and adopted")
    again = await PClient.open(srv)
    await again.send({"sys": 4, "id": "s", "subscriptions": [
        {"channel": CHAN, "lastUid": last, "query": None}]})
    _, r = await again.reply(lambda o: o.get("id") == "s")
    c.eq(r.get("result"), {CHAN: False}, "its SYNC reports the gap")
    for s in (pub, again):
        await s.ws.close()
    await stop_new(c, srv, pid)


async def new_binary_fails(c):
    """A new binary that does not start: the old master logs it and goes on serving."""
    d = tempfile.mkdtemp(prefix="sss-up-")
    link = os.path.join(d, "sss-server")
    os.symlink(h.server_binary(), link)
    srv = h.Server(c, ["--allow-client-publish", "up-*"], echo=False, workers=1)
    srv.binary = link  # argv[0]: what the upgrade execs
    await srv.start()
    sub = await PClient.open(srv)
    await sub.subscribe(CHAN)
    os.unlink(link)
    os.symlink("/bin/false", link)  # "installed" at the same path: exits 1 at once
    start = len(srv.log_lines())
    srv.send_signal(signal.SIGUSR2)
    m = await srv.wait_log(r"upgrade failed: the new master pid=\d+ exited with status 1; "
                           r"still serving", 30, start)
    c.ok(m is not None, "the old master says the upgrade failed and goes on serving")
    pub = await PClient.open(srv)
    await pub.publish(CHAN, '"still"')
    c.eq(await feeds(sub, 1), ["still"], "its subscriber is served as before")
    for s in (sub, pub):
        await s.ws.close()
    await srv.stop()
    shutil.rmtree(d, ignore_errors=True)


async def user_kept_on(c, redis):
    """A JWT user crosses the upgrade with its connection: the new host's
    presence names it exactly as the old one did."""
    srv = h.Server(c, flags(redis, "--jwt-secret", SECRET, "--api-listen", "127.0.0.1:0",
                            "--api-key", KEY), echo=False, workers=1)
    await srv.start()
    m = await srv.wait_log(r"api listening on 127\.0\.0\.1:(\d+)", 20)
    ws = await user_client(srv, "alice", ["up-room"])
    st, p = await presence(Api(int(m.group(1))), "up-room")
    c.eq((st, p.get("users")), (200, ["alice"]), "before: presence names alice")
    start = len(srv.log_lines())
    srv.send_signal(signal.SIGUSR2)
    pid = await new_master(c, srv, start)
    adopted = await srv.wait_log(r"adopted 1 connection\(s\) from an old worker", 30, start)
    c.ok(adopted is not None, "alice's connection is handed over")
    m = await srv.wait_log(r"api listening on 127\.0\.0\.1:(\d+)", 30, start)
    # The adopting worker tells its scaler about alice after the log line:
    # the new host's presence names her once that message is read.
    deadline = asyncio.get_running_loop().time() + h.T(20)
    while True:
        st, p = await presence(Api(int(m.group(1))), "up-room")
        if p.get("users") == ["alice"] or asyncio.get_running_loop().time() > deadline:
            break
        await asyncio.sleep(0.05)
    c.eq((st, p.get("users")), (200, ["alice"]), "after: the new host's presence names alice")
    await ws.close()
    if pid:
        await stop_new(c, srv, pid)


async def stopped_while_upgrading(c):
    """SIGTERM to the old master before the hand-over: the new master is
    stopped with it, so nothing outlives the service it was told to stop."""
    d = tempfile.mkdtemp(prefix="sss-up-")
    link = os.path.join(d, "sss-server")
    os.symlink(h.server_binary(), link)
    srv = h.Server(c, ["--allow-client-publish", "up-*"], echo=False, workers=1)
    srv.binary = link
    await srv.start()
    os.unlink(link)
    with open(link, "w") as f:  # "installed": a new master that never becomes ready
        f.write("#!/bin/sh\nexec sleep 600\n")
    os.chmod(link, 0o755)
    start = len(srv.log_lines())
    srv.send_signal(signal.SIGUSR2)
    m = await srv.wait_log(r"SIGUSR2: upgrading: new master pid=(\d+)", 30, start)
    c.ok(m is not None, "the upgrade starts")
    pid = int(m.group(1)) if m else 0
    srv.send_signal(signal.SIGTERM)
    said = await srv.wait_log(rf"upgrade abandoned: stopping the new master pid={pid}", 30, start)
    c.ok(said is not None, "the old master says it stops the new one")
    await srv.stop()

    def gone():
        try:
            with open(f"/proc/{pid}/stat") as f:
                return f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
        except OSError:
            return True
    deadline = asyncio.get_event_loop().time() + h.T(30)
    while pid and not gone() and asyncio.get_event_loop().time() < deadline:
        await asyncio.sleep(0.05)
    c.ok(pid and gone(), "the new master is gone with the old one")
    shutil.rmtree(d, ignore_errors=True)


stream_across = on_own_redis(stream_across_on)
timeout_crossed = on_own_redis(timeout_crossed_on)
user_kept = on_own_redis(user_kept_on)


if __name__ == "__main__":
    h.main([stream_across, timeout_crossed, memory_engine, new_binary_fails,
            user_kept, stopped_while_upgrading], "test_upgrade")
