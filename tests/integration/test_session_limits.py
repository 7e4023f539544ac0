"""Issue 18: fresh session ids cost nothing, so anonymous clients could fill
--max-sessions and push out the users' sessions. Now a host records at most
--anon-session-rate new anonymous sessions a second (--anon-session-burst at
once; one beyond is not recorded: its BEGIN reply names no session and it
cannot be resumed), and a full store makes room by forgetting an anonymous
session, never a user's: a user's session is refused only when no anonymous
one is left. Both stores: memory, and mongodb against FerretDB
(tests/integration/svc_ferretdb.py), where a forgotten session's record goes
from MongoDB too. The test module's session parser names the user
(?user=NAME; none: anonymous); one worker, so the store sees each
connection's notes in order."""
import asyncio
import json
import os
import secrets
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sss_harness as h  # noqa: E402
import svc_ferretdb  # noqa: E402

rx_until = h.rx_until


def _get(url):
    with urllib.request.urlopen(url, timeout=h.T(20)) as r:
        return r.read().decode()


async def metric(srv, name):
    """The value of a /metrics sample (name with its labels), or None."""
    text = await asyncio.to_thread(_get, f"http://127.0.0.1:{srv.api_port}/metrics")
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.rsplit(" ", 1)[1])
    return None


async def wait_for(fn, timeout=30):
    """Poll fn() (async) until it returns a true value; that value, or the last one."""
    deadline = time.monotonic() + h.T(timeout)
    v = None
    while time.monotonic() < deadline:
        v = await fn()
        if v:
            return v
        await asyncio.sleep(0.05)
    return v


async def start(c, name, flags, store):
    extra = ["--api-listen", "127.0.0.1:0", "--allow-client-publish", "*", *flags]
    if store:
        extra += ["--store", "mongodb", "--mongo", store["ferret"].url(store["db"]),
                  "--host-id", name]
    srv = await h.testmod_server(c, flags=extra, name=name)
    if not srv:
        return None
    m = await srv.wait_log(r"api listening on 127\.0\.0\.1:(\d+)", timeout=30)
    assert m, "no 'api listening' line"
    srv.api_port = int(m.group(1))
    return srv


async def record(srv, session, chan, user=None):
    """A session subscribed to chan, its connection closed; the BEGIN reply."""
    ws, r = await h.begin_session(srv, session, user)
    await h.subscribe_ok(ws, chan, 1)
    await ws.close()
    return r


async def resumes(srv, pub, session, chan, user=None):
    """Whether session comes back subscribed to chan: publish on chan, then on
    a marker channel the new connection subscribed; the scaler orders both,
    so chan's FEED arrives first only if the session was resumed with it."""
    ws, _ = await h.begin_session(srv, session, user)
    marker = "mark-" + secrets.token_hex(4)
    await h.subscribe_ok(ws, marker, 2)
    await h.publish_ok(pub, chan, 3)
    await h.publish_ok(pub, marker, 4)
    f = await rx_until(ws, lambda f: f.get("sys") == 8)
    await ws.close()
    return f["channel"] == chan


async def rate(c, store):
    srv = await start(c, "rate", ["--anon-session-rate", "1", "--anon-session-burst", "2"], store)
    if not srv:
        return
    pub, _ = await h.begin_session(srv, "pub-s", "pub")
    # The burst passes; then, at one a second, a batch of ten fresh ids opened at
    # once cannot all pass (that would take ten seconds): keep going until one is refused.
    kept, refused = [], []
    for i in range(2):
        r = await record(srv, f"a{i}", f"ch-a{i}")
        (kept if r.get("session") == f"a{i}" else refused).append(f"a{i}")
    c.eq(kept, ["a0", "a1"], "the burst: both fresh anonymous sessions are recorded")
    for batch in range(20):
        ids = [f"b{batch}-{i}" for i in range(10)]
        rs = await asyncio.gather(*(record(srv, s, "ch-" + s) for s in ids))
        for s, r in zip(ids, rs):
            (kept if r.get("session") == s else refused).append(s)
        if refused:
            break
    c.ok(refused, "fresh anonymous ids beyond --anon-session-rate are refused", str(kept))
    c.eq(await metric(srv, "sss_sessions_anon_limited_total"), float(len(refused)),
         "/metrics counts each one refused by the rate")
    if refused:
        s = refused[0]
        c.eq(await resumes(srv, pub, s, "ch-" + s), False,
             f"{s}, refused by the rate (no session in its BEGIN reply), is not resumed")
    c.eq(await resumes(srv, pub, "a0", "ch-a0"), True, "a0, within the burst, is resumed")
    # A user is not limited: a new session is recorded and resumed.
    r = await record(srv, "u1", "ch-ann", "ann")
    c.eq(r.get("session"), "u1", "ann's new session, past the rate, is recorded")
    c.eq(await resumes(srv, pub, "u1", "ch-ann", "ann"), True, "ann's session is resumed")
    await pub.close()
    await srv.stop()


async def evict(c, store):
    srv = await start(c, "evict", ["--max-sessions", "4", "--anon-session-rate", "0"], store)
    if not srv:
        return
    # The publisher's session is a user's: it fills one place and stays.
    pub, _ = await h.begin_session(srv, "pub-s", "pub")
    for i in range(3):
        r = await record(srv, f"e{i}", f"ch-e{i}")
        c.eq(r.get("session"), f"e{i}", f"anonymous e{i} is recorded")
    c.eq(await metric(srv, 'sss_sessions{kind="anonymous"}'), 3.0, "the store is full: 3 anonymous")
    # A user's new session takes an anonymous one's place.
    r = await record(srv, "u1", "ch-ann", "ann")
    c.eq(r.get("session"), "u1", "--max-sessions reached: ann's new session is recorded")
    c.eq(await metric(srv, "sss_sessions_evicted_total"), 1.0,
         "an anonymous session was forgotten for it, counted in /metrics")
    c.eq(await resumes(srv, pub, "u1", "ch-ann", "ann"), True, "ann's session is resumed")
    c.eq(await metric(srv, 'sss_sessions{kind="anonymous"}'), 2.0, "two anonymous ones are left")
    if store:
        col = store["client"][store["db"]].sessions

        def ids():
            return sorted(d["_id"] for d in col.find())
        want = ["pub|pub-s", "|e1", "|e2", "ann|u1"]
        docs = await wait_for(lambda: asyncio.to_thread(lambda: sorted(want) == ids()))
        c.ok(docs, "MongoDB: the record of e0 (idle longest, forgotten) is deleted, ann's is "
             "written", str(ids()))
    # Two more users take the last two; a third finds only users' sessions.
    for u in ("bob", "cy"):
        r = await record(srv, "u1", "ch-" + u, u)
        c.eq(r.get("session"), "u1", f"{u}'s session is recorded")
    c.eq(await metric(srv, "sss_sessions_evicted_total"), 3.0, "every anonymous one is forgotten")
    r = await record(srv, "u1", "ch-dan", "dan")
    c.ok("session" not in r, "only users' sessions left: dan's is refused, and his BEGIN "
         "reply names no session", json.dumps(r))
    c.eq(await metric(srv, "sss_sessions_refused_total"), 1.0, "/metrics counts it refused")
    r = await record(srv, "e9", "ch-e9")
    c.ok("session" not in r, "an anonymous one is refused too", json.dumps(r))
    c.eq(await resumes(srv, pub, "u1", "ch-ann", "ann"), True, "ann's session stays resumable")
    await pub.close()
    await srv.stop()


async def run(c):
    await c.section("memory store: --anon-session-rate", rate, c, None)
    await c.section("memory store: --max-sessions forgets anonymous sessions first", evict, c,
                    None)
    try:
        ferret = svc_ferretdb.start_checked(c)
        if not ferret:
            return
        client = ferret.client()
        for name, fn in (("mongodb store: --anon-session-rate", rate),
                         ("mongodb store: --max-sessions forgets anonymous sessions first",
                          evict)):
            store = {"ferret": ferret, "client": client, "db": "sss_test_" + secrets.token_hex(4)}
            await c.section(name, fn, c, store)
        client.close()
    finally:
        svc_ferretdb.stop_all()


if __name__ == "__main__":
    h.main(run, "test_session_limits")
