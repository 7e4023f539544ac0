"""A worker lapped by the bus recovers from history (DESIGN.md 8).

Worker 0 is stopped (SIGSTOP) while a publisher on worker 1 sends far more
than the bus holds; when worker 0 runs again it finds itself lapped, fetches
each channel's history after the last uid it delivered, and its subscribers
still receive every message once, in order. With history too short to reach
back, its subscribers are closed with 4008 instead: a gap is reported,
never hidden.

Which worker is lapped is controlled, not left to the scheduler: the
publisher sends WINDOW messages at a time (far less than the bus holds) and
sends the next window only after every worker-1 subscriber has received the
last one, so worker 1 is never more than one window behind the scaler and
cannot be lapped, however slow the machine; worker 0, stopped, always is.
"""
import json
import os
import signal

from sss_harness import Server, main, ws_close_code
from sss_harness import begun as h_begun, rx as h_rx

SMALL_BUS = ["--bus-size", "64k", "--mailbox-size", "64k", "--max-message-size", "8k",
             "--allow-client-publish", "*", "--log-level", "debug"]
N = 600           # messages of ~200 bytes: about 2 times the bus
WINDOW = 40       # ~10 KB of bus records: worker 1 is never lapped (see above)
PAYLOAD = "x" * 150


async def rx(ws):
    return await h_rx(ws, 30)


async def begun(server):
    return await h_begun(server, 30)


async def clients_on_each_worker(server, want, subscribe=None):
    """Open connections until each worker has `want` of them: {role: [ws...]}."""
    by = {"w0": [], "w1": []}
    for _ in range(200):
        ws = await begun(server)
        role = server.role_of_last_upgrade()
        if len(by[role]) < want:
            if subscribe:
                await ws.send(json.dumps({"sys": 1, "channel": subscribe, "id": 1}))
                r = await rx(ws)
                assert r["result"] is True, r
            by[role].append(ws)
        else:
            await ws.close()
        if all(len(v) == want for v in by.values()):
            return by
    raise RuntimeError(f"could not place clients on both workers: {by}")


async def publish_paced(pub, n, chan, readers):
    """n PUBLISHes on chan, WINDOW at a time; before each next window every reader
    has received the FEEDs of the last one. Returns ({id: uid}, [[i...] per reader])."""
    uids = {}
    got = [[] for _ in readers]
    for start in range(0, n, WINDOW):
        end = min(n, start + WINDOW)
        for i in range(start, end):
            await pub.send(json.dumps({"sys": 13, "channel": chan, "topic": "t",
                                       "msg": {"i": i, "p": PAYLOAD}, "id": i}))
        while len(uids) < end:
            r = await rx(pub)
            if r.get("sys") == 7:
                assert "msg" in r, r
                uids[r["id"]] = r["msg"]["uid"]
        for k, ws in enumerate(readers):
            await read_feeds(ws, got[k], end)
    return uids, got


async def read_feeds(ws, got, upto):
    """Append the "i" of each FEED that ws gets to got until it holds upto."""
    while len(got) < upto:
        f = await rx(ws)
        if f.get("sys") == 8:
            got.append(f["msg"]["i"])


async def lap_worker0(checks, history, subs_each, name):
    """A small-bus server with subs_each subscribers of "busy" on each worker;
    worker 0 is stopped while w1's publisher sends N paced messages.
    Returns (server, subs, uids, got_w1) as publish_paced answers."""
    server = await Server(checks, flags=SMALL_BUS + ["--history-size", history], echo=False,
                          name=name).start()
    subs = await clients_on_each_worker(server, subs_each, subscribe="busy")
    pubs = await clients_on_each_worker(server, 1)
    w0 = server.worker_pids()[0]
    os.kill(w0, signal.SIGSTOP)
    try:
        uids, got_w1 = await publish_paced(pubs["w1"][0], N, "busy", subs["w1"])
    finally:
        os.kill(w0, signal.SIGCONT)
    return server, subs, uids, got_w1


async def recovered(checks):
    server, subs, uids, got_w1 = await lap_worker0(checks, "10000", 3, "lap")
    checks.eq(len(uids), N, "every publish answered while worker 0 was stopped")
    for k, got in enumerate(got_w1):
        checks.eq(got, list(range(N)), f"w1 subscriber {k} (paced, never lapped): every message once, in order")
    for k, ws in enumerate(subs["w0"]):
        got = []
        try:
            await read_feeds(ws, got, N)
        except Exception as e:  # noqa: BLE001
            checks.fail(f"w0 subscriber {k} receives all {N}", f"{type(e).__name__} after {len(got)}")
            continue
        checks.eq(got, list(range(N)), f"w0 subscriber {k} (lapped): every message once, in order")
    m = await server.wait_log(r"w0 warn handler: lapped by the bus", timeout=10)
    checks.ok(m is not None, "worker 0 logged that the bus lapped it")
    checks.ok(not any("w1 warn handler: lapped" in l for l in server.log_lines()),
              "worker 1 (paced) was never lapped")
    await server.stop()


async def gap_reported(checks):
    server, subs, _, got_w1 = await lap_worker0(checks, "5", 2, "lap-gap")
    for k, ws in enumerate(subs["w0"]):
        code = await ws_close_code(ws, timeout=30)
        checks.eq(code, 4008, f"w0 subscriber {k} closed with 4008 (history too short)")
    for k, got in enumerate(got_w1):
        checks.eq(got, list(range(N)), f"w1 subscriber {k} (paced, never lapped) got every message once, in order")
    await server.stop()


if __name__ == "__main__":
    main((recovered, gap_reported), "test_lap")
