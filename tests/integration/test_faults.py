"""Faults: kill -9 of one worker (the master restarts it, the other worker's
clients keep going, new connections succeed); SIGTERM/SIGINT with clients
connected (each gets close 1001, the master exits 0); kill -9 of the master
(every child exits, the API's port is free again); signals the server does
not use (SIGUSR1, SIGUSR2, SIGPIPE, SIGALRM) sent to every process kill
none of them."""
import asyncio
import json
import datetime
import os
import re
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sss_harness as h  # noqa: E402


def log_time(line):
    """The wall-clock time of a log line (its first token, ISO 8601 UTC)."""
    ts = line.split()[0].rstrip("Z")
    return datetime.datetime.fromisoformat(ts).replace(tzinfo=datetime.timezone.utc).timestamp()


async def echo_ok(ws, msg, timeout=20):
    """True if `ws` echoes `msg`, False if the connection is closed."""
    from websockets.exceptions import ConnectionClosed

    try:
        await ws.send(msg)
        return await asyncio.wait_for(ws.recv(), h.T(timeout)) == msg
    except (ConnectionClosed, ConnectionError):
        return False


async def kill_worker(c):
    srv = await h.Server(c, ["--log-level", "debug"], name="fault server").start()
    n = 40
    clients = [await h.ws_connect(srv) for _ in range(n)]
    first = await asyncio.gather(*(echo_ok(ws, f"hello {i}") for i, ws in enumerate(clients)))
    c.eq(sum(first), n, f"{n} clients echo before the kill")
    by_role = srv.upgrades_by_role()
    h.log(f"# clients per worker: {by_role}")
    if not c.eq(len(by_role), 2, "clients connected on both workers"):
        await srv.stop()
        return
    master_pids = srv.worker_pids()  # {index: pid}
    roles = srv.role_pids()           # {role: pid}
    victim_index = max(master_pids)
    victim_pid = master_pids[victim_index]
    victim_role = next((r for r, p in roles.items() if p == victim_pid), f"w{victim_index}")
    other_role = next(r for r in by_role if r != victim_role)
    h.log(f"# killing worker {victim_index} ({victim_role}) pid={victim_pid}")
    mark = len(srv.log_lines())
    t_kill_wall, t_kill = time.time(), time.monotonic()
    os.kill(victim_pid, signal.SIGKILL)

    m = await srv.wait_log(rf"worker {victim_index} started pid=(\d+)", timeout=30, start=mark)
    t_seen = time.monotonic()
    if c.ok(m, f"master logs a new 'worker {victim_index} started'"):
        c.ok(int(m.group(1)) != victim_pid, "the replacement has a new pid", m.string)
        try:
            by_log = log_time(m.string) - t_kill_wall
            h.log(f"# restart delay: {by_log * 1000:.0f} ms by the log line's timestamp, "
                  f"{(t_seen - t_kill) * 1000:.0f} ms until the test saw it (not asserted)")
        except ValueError:
            h.log(f"# restart delay: {(t_seen - t_kill) * 1000:.0f} ms until the test saw the line (not asserted)")
    else:
        srv.dump_log()

    m = await srv.wait_log(rf"worker {victim_index} exited.*", timeout=5, start=mark)
    said = [l for l in srv.log_lines()[mark:] if f"worker {victim_index}" in l and "started" not in l]
    if c.ok(m, f"master logs 'worker {victim_index} exited'", f"its lines on the worker: {said}"):
        line = m.string
        c.ok(re.search(r"signal\D{0,3}9\b|SIGKILL|\bKILL\b", line), "the exit line names signal 9 / SIGKILL", line)
        c.ok("restart" in line, "the exit line says the worker is restarting", line)

    # The other worker's clients keep echoing; the killed worker's are closed.
    after = await asyncio.gather(*(echo_ok(ws, f"after kill {i}") for i, ws in enumerate(clients)))
    c.eq(sum(after), by_role[other_role],
         f"exactly the {by_role[other_role]} clients of {other_role} still echo")
    c.eq(n - sum(after), by_role[victim_role],
         f"exactly the {by_role[victim_role]} clients of the killed {victim_role} are disconnected")
    survivors = [ws for ws, ok in zip(clients, after) if ok]
    again = await asyncio.gather(*(echo_ok(ws, b"x" * 1000) for ws in survivors))
    c.ok(all(again) and survivors, "survivors keep echoing (binary, second round)")

    # New connections succeed (retrying while the replacement starts).
    mark2 = len(srv.log_lines())
    fresh = []
    for i in range(30):
        try:
            fresh.append(await h.open_retry(srv, timeout=30))
        except Exception as e:  # noqa: BLE001
            h.log(f"# new connection {i} failed: {e!r}")
    c.eq(len(fresh), 30, "30 new connections after the kill")
    ok = await asyncio.gather(*(echo_ok(ws, f"fresh {i}") for i, ws in enumerate(fresh)))
    c.eq(sum(ok), len(fresh), "the new connections echo")
    roles_after = srv.upgrades_by_role(mark2)
    h.log(f"# new connections per worker: {roles_after}")
    c.ok(roles_after.get(victim_role, 0) > 0, f"the replacement {victim_role} serves new connections",
         repr(roles_after))
    for ws in survivors + fresh:
        await ws.close()
    await srv.stop()


async def drain(c, sig, nclients):
    name = signal.Signals(sig).name
    srv = await h.Server(c, [], name=f"{name} server").start()
    nraw = 4
    wss = [await h.ws_connect(srv) for _ in range(nclients - nraw)]
    raws = [await h.RawClient.upgrade(srv) for _ in range(nraw)]
    for ws in wss:  # every connection is fully up before the signal
        await ws.send("up")
        await asyncio.wait_for(ws.recv(), h.T(20))
    for rc in raws:
        await rc.send_frame(h.OP_TEXT, b"up")
        await rc.read_frame()
    srv.send_signal(sig)

    async def raw_close(rc):
        f, skipped = await rc.read_until_close(timeout=40)
        code = f.close_code if f else None
        if f:
            await rc.send_frame(h.OP_CLOSE, f.payload[:2])  # answer the close as a client should
            await rc.at_eof()
        rc.close()
        return code

    codes = await asyncio.gather(*(h.ws_close_code(ws, timeout=40) for ws in wss),
                                 *(raw_close(rc) for rc in raws), return_exceptions=True)
    c.eq(codes, [1001] * nclients, f"{name}: all {nclients} clients receive close 1001")
    await srv.stop(expect_status=0, sig=None, timeout=60)


async def drain_unresponsive(c):
    """A client that never answers the close frame: the master still exits 0 after --drain-timeout."""
    srv = await h.Server(c, ["--drain-timeout", "2s"], name="drain-timeout server").start()
    rc = await h.RawClient.upgrade(srv)
    await rc.send_frame(h.OP_TEXT, b"up")
    await rc.read_frame()
    srv.send_signal(signal.SIGTERM)
    f, _ = await rc.read_until_close(timeout=40)
    c.ok(f is not None and f.close_code == 1001, "unresponsive client: close 1001", repr(f))
    # Never answer; the server must give up after its drain timeout.
    await srv.stop(expect_status=0, sig=None, timeout=60)
    rc.close()


def scaler_pid(srv):
    pids = [int(m) for m in re.findall(r"scaler started pid=(\d+)", srv.log())]
    return pids[-1] if pids else None


def api_port(srv):
    m = re.search(r"api listening on \S+:(\d+)", srv.log())
    return int(m.group(1)) if m else None


async def master_killed(c):
    """kill -9 of the master: the scaler and the workers exit by themselves (no
    orphan keeps the API's port or feeds a host's channels), clients are closed."""
    srv = await h.Server(c, ["--api-listen", "127.0.0.1:0"], echo=False, name="master-kill server").start()
    await srv.wait_log(r"api listening on", timeout=20)
    port = api_port(srv)
    children = dict(srv.worker_pids())
    children["scaler"] = scaler_pid(srv)
    if not c.ok(port and children["scaler"] and len(children) == 3,
                "the API port and the pids of the scaler and both workers are in the log", repr(children)):
        return
    ws = await h.ws_connect(srv)
    srv.proc.send_signal(signal.SIGKILL)
    srv.proc.wait()
    deadline = time.monotonic() + h.T(30)
    while time.monotonic() < deadline and any(h._running(p) for p in children.values()):
        await asyncio.sleep(0.05)
    left = {k: p for k, p in children.items() if h._running(p)}
    c.ok(not left, "after kill -9 of the master every child has exited", repr(left))
    code = await h.ws_close_code(ws, timeout=30)
    c.ok(code is not None, "a client of the dead master's worker is closed", repr(code))
    import socket
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            free = True
        except OSError as e:
            free = e
    c.ok(free is True, f"the API port {port} is free again (no orphan scaler holds it)", repr(free))
    # libmongoc's counters segment is named after the master's pid and removed only at a
    # clean exit: sss-server takes its name away at start, so a kill leaves nothing behind.
    shm = f"/dev/shm/mongoc-{srv.proc.pid}"
    c.ok(not os.path.exists(shm), f"no {shm} left behind by the killed master")
    srv.stopped = True
    srv.check_sanitizers()
    srv.kill()


async def stray_signals(c):
    """Signals the server does not use, sent to the master, the scaler and each worker
    (SIGUSR2 to the children only: to the master it is an upgrade, test_upgrade.py;
    a worker takes only the master's, sent with sigqueue)."""
    srv = await h.Server(c, ["--log-level", "debug", "--allow-client-publish", "stray"], echo=False,
                         name="stray-signal server").start()
    procs = {"master": srv.proc.pid, "scaler": scaler_pid(srv)}
    procs.update({f"worker {k}": p for k, p in srv.worker_pids().items()})
    started = len(re.findall(r"started pid=", srv.log()))
    for sig in (signal.SIGUSR1, signal.SIGUSR2, signal.SIGPIPE, signal.SIGALRM):
        for role, p in procs.items():
            if not (sig == signal.SIGUSR2 and role == "master"):
                os.kill(p, sig)
    # Each process has taken its signals once it answers: the master by reaping nothing,
    # the children by serving a subscribe and a publish through the scaler.
    from test_protocol import PClient
    cl = await PClient.open(srv)
    await cl.subscribe("stray")
    u = await cl.publish("stray", '"still here"')
    raw, o = await cl.reply(lambda o: o.get("sys") == 8)
    c.ok(o.get("uid") == u, "after SIGUSR1/SIGUSR2/SIGPIPE/SIGALRM a subscribe and publish still work", raw[:100])
    await cl.close()
    dead = {k: p for k, p in procs.items() if not h._running(p)}
    c.ok(not dead, "no process died of an unused signal", repr(dead))
    c.eq(len(re.findall(r"started pid=", srv.log())), started, "no child was restarted")
    await srv.stop()


async def scaler_dies_after_publishing(c):
    """The scaler is killed right after it gave a worker's publish to the engine
    (fault point scaler.publish.handed; the memory engine has already fed it). The
    new scaler must not publish it again: the subscriber gets it once, and the
    publisher an honest answer (its uid, or "may or may not have been published")."""
    import tempfile
    from test_protocol import PClient
    fault_dir = tempfile.mkdtemp(prefix="sss-fault-")
    srv = await h.Server(c, ["--allow-client-publish", "once", "--log-level", "debug"], echo=False,
                         env={"SSS_FAULT": "scaler.publish.handed:1", "SSS_FAULT_DIR": fault_dir},
                         name="fault-point server").start()
    sub = await PClient.open(srv)
    await sub.subscribe("once")
    pub = await PClient.open(srv)
    o = await pub.publish_raw("once", '"one"', rid="p1")
    told = json.dumps(o)
    c.ok(isinstance(o.get("msg"), dict) and "uid" in o["msg"] or "may or may not" in told,
         "the publish the dead scaler handled: a uid, or 'may or may not have been published'", told[:200])
    m = await srv.wait_log(r"scaler exited .*killed by signal 9", timeout=20)
    c.ok(m is not None, "the scaler died at the fault point")
    for _ in range(int(h.T(200))):
        if len(re.findall(r"scaler: started pid=", srv.log())) >= 2:
            break
        await asyncio.sleep(0.05)
    u2 = await pub.publish("once", '"two"')
    got = []
    while True:
        raw, o = await sub.reply(lambda o: o.get("sys") == 8)
        got.append(o.get("msg"))
        if o.get("uid") == u2:
            break
    c.eq(got, ["one", "two"], "the subscriber got the first message once, then the next")
    for x in (sub, pub):
        await x.close()
    await srv.stop()


async def run(c):
    await c.section("the scaler killed after handing a publish to the engine", scaler_dies_after_publishing,
                    c)
    await c.section("kill -9 of the master", master_killed, c)
    await c.section("signals the server does not use", stray_signals, c)
    await c.section("kill -9 of a worker", kill_worker, c)
    await c.section("SIGTERM with 20 clients", drain, c, signal.SIGTERM, 20)
    await c.section("SIGINT with 6 clients", drain, c, signal.SIGINT, 6)
    await c.section("SIGTERM with an unresponsive client", drain_unresponsive, c)


if __name__ == "__main__":
    h.main(run, "test_faults")
