"""The MongoDB store (--store mongodb, docs/store-mongodb.md) against a real
MongoDB-wire server (FerretDB on SQLite, tests/integration/svc_ferretdb.py),
with several sss-server processes as hosts h1, h2, h3 and pymongo reading
the records:

- a session resumes on another host with its subscriptions (and uids) from
  the store; the `sessions` documents and the indexes have their shape; each
  host holds a lease in `hosts`;
- presence of a channel across hosts through GET /api/presence;
- a host killed with SIGKILL: its sessions go offline once its lease lapses;
- MongoDB stopped and started again: delivery on a host never stops (every
  message arrives, in order), presence answers 503 meanwhile, and the changes
  made during the outage reach MongoDB after it returns;
- a tiny --store-queue with MongoDB away: the overflow is counted as dropped
  and nothing else breaks; an outage longer than the leases leaves a live
  host's sessions online;
- MongoDB absent from the start: the host serves, sessions resume from its
  own records, presence answers 503, one warning line;
- a clean stop signs the host off (its sessions offline, its lease gone).

FerretDB missing is a failure: tools/bootstrap.sh installs it."""
import asyncio
import datetime
import json
import os
import re
import secrets
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sss_harness as h  # noqa: E402
import svc_ferretdb  # noqa: E402
from test_api import Api  # noqa: E402
from test_jwt import token  # noqa: E402

KEY = "secret"
SECRET = "s3cret-for-store-0123456789abcdef"  # 32 bytes at least (HS256)
LEASE = "2s"


async def rx(ws, timeout=20):
    return await h.rx(ws, timeout, heartbeats=True)


async def rx_until(ws, pred, timeout=20):
    return await h.rx_until(ws, pred, timeout, heartbeats=True)


def auth(user):
    return {"additional_headers": {"Authorization": "Bearer " + token({"sub": user}, SECRET)}}


async def begin(srv, session=None, user="ann"):
    ws = await h.ws_connect(srv.url, **auth(user))
    msg = {"sys": 3}
    if session:
        msg["session"] = session
    await ws.send(json.dumps(msg))
    return ws, await rx(ws)


async def sub(ws, chan, i):
    await ws.send(json.dumps({"sys": 1, "channel": chan, "id": i}))
    r = await rx_until(ws, lambda f: f.get("id") == i)
    assert r.get("result") is True, r
    return r


async def publish(pub, chan, msg, i):
    await pub.send(json.dumps({"sys": 13, "channel": chan, "topic": "t", "msg": msg, "id": i}))
    r = await rx_until(pub, lambda f: f.get("sys") == 7 and f.get("id") == i)
    assert "err" not in r, r


async def host(c, ferret, db, hid, *extra, name=None):
    srv = h.Server(c, flags=["--store", "mongodb", "--mongo", ferret.url(db), "--host-id", hid,
                             "--host-lease", LEASE, "--api-listen", "127.0.0.1:0",
                             "--api-key", KEY, "--jwt-secret", SECRET,
                             "--allow-client-publish", "*", "--log-level", "debug", *extra],
                   workers=2, echo=False, name=name or hid)
    await srv.start()
    m = await srv.wait_log(r"api listening on 127\.0\.0\.1:(\d+)", timeout=20)
    assert m, f"{hid}: no 'api listening' line"
    srv.api = Api(int(m.group(1)))
    return srv


async def wait_for(fn, timeout=30, step=0.1):
    """Poll fn() (sync) until it returns a true value; that value, or the last one."""
    deadline = time.monotonic() + h.T(timeout)
    v = None
    while time.monotonic() < deadline:
        try:
            v = fn()
        except Exception as e:  # noqa: BLE001 - MongoDB may be coming back
            v = None
            h.log(f"# (wait: {type(e).__name__}: {e})")
        if v:
            return v
        await asyncio.sleep(step)
    return v


def subs_of(doc):
    return {s["chan"]: s["uid"] for s in (doc or {}).get("subs", [])}


UID = re.compile(r"^\d+-\d+$")


async def presence(srv, chan):
    r = await srv.api.req("GET", "/api/presence?channel=" + chan)
    try:
        body = json.loads(r.body or b"{}")
    except ValueError:
        body = {"raw": r.body}
    return r.status, body


async def resume_and_shape(c, env):
    h1, h2, col, db = env["h1"], env["h2"], env["sessions"], env["db"]
    a, r = await begin(h1, "abc", "ann")
    c.eq(r.get("session"), "abc", "h1: BEGIN reply carries the session")
    await sub(a, "news", 1)
    await sub(a, "sport", 2)
    pub1, _ = await begin(h1, None, "pub")
    await publish(pub1, "news", "n1", 10)
    f = await rx_until(a, lambda f: f.get("sys") == 8)
    news_uid = f["uid"]
    await a.close()
    await pub1.close()
    doc = await wait_for(lambda: (d := col.find_one({"_id": "ann|abc"})) and not d["online"]
                         and subs_of(d).get("news") and d)
    c.ok(doc, "the session's record reaches MongoDB, offline once its client left", str(doc))
    doc = doc or {}
    c.eq((doc.get("user"), doc.get("host"), doc.get("online")), ("ann", "h1", False),
         "sessions doc: user, host, online")
    c.eq(sorted(subs_of(doc)), ["_u_ann", "news", "sport"], "sessions doc: subs lists its channels")
    c.eq(subs_of(doc).get("news"), news_uid, "sessions doc: news carries the uid it reached")
    c.ok(subs_of(doc).get("sport") is None, "sessions doc: an empty channel has uid null",
         str(subs_of(doc)))
    c.ok(isinstance(doc.get("updated"), datetime.datetime), "sessions doc: updated is a date",
         str(doc.get("updated")))
    c.eq(sorted(doc), ["_id", "host", "online", "subs", "updated", "user"], "sessions doc: fields")
    keys = {ix["name"]: dict(ix["key"]) for ix in col.list_indexes()}
    c.eq(keys.get("user_1"), {"user": 1}, "index on user")
    c.eq(keys.get("subs.chan_1"), {"subs.chan": 1}, "index on subs.chan")
    hosts = {d["_id"]: d for d in db.hosts.find()}
    now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    c.ok(set(hosts) >= {"h1", "h2"}, "hosts: one lease per host", str(sorted(hosts)))
    c.ok(all(hosts[x]["lease_until"] > now - datetime.timedelta(seconds=1) and "started" in hosts[x]
             and "pid" in hosts[x] for x in hosts),
         "hosts: lease_until current, started, pid", str(hosts))

    # Resume on h2: the BEGIN reply, then a publish on h2 shows news is subscribed there.
    b, r = await begin(h2, "abc", "ann")
    c.eq(r.get("session"), "abc", "h2: BEGIN reply carries the session")
    pub2, _ = await begin(h2, None, "pub")
    await publish(pub2, "sport", "s1", 11)
    await publish(pub2, "news", "n2", 12)
    got = [await rx_until(b, lambda f: f.get("sys") == 8) for _ in range(2)]
    c.eq([(f["channel"], f["msg"]) for f in got], [("sport", "s1"), ("news", "n2")],
         "h2: the resumed session gets sport and news (restored from MongoDB)")
    doc = await wait_for(lambda: (d := col.find_one({"_id": "ann|abc"})) and d["host"] == "h2"
                         and d["online"] and "news" in subs_of(d) and d)
    c.ok(doc, "the record now names h2 and online", str(col.find_one({"_id": "ann|abc"})))
    c.eq(subs_of(doc or {}).get("news"), news_uid,
         "h2 keeps the uid h1 recorded for news until its own client reports one")
    # A session nobody ever had: resumed with nothing.
    n, r = await begin(h2, "never-seen", "ann")
    await publish(pub2, "news", "n3", 13)
    f = await rx_until(b, lambda f: f.get("sys") == 8)
    c.eq(f["msg"], "n3", "the resumed client goes on")
    await n.send(json.dumps({"sys": 1, "channel": "mark", "id": 5}))
    f = await rx_until(n, lambda f: f.get("id") == 5 or f.get("sys") == 8)
    c.eq(f.get("id"), 5, "an unknown session gets no subscription (no news FEED before its reply)")
    await n.close()
    env["keep"] = [b, pub2]


async def presence_across(c, env):
    h1, h2 = env["h1"], env["h2"]
    ann, _ = await begin(h1, "p-ann", "ann")
    bob, _ = await begin(h2, "p-bob", "bob")
    await sub(ann, "room", 1)
    await sub(bob, "room", 1)
    ann2, _ = await begin(h2, "p-ann2", "ann")
    await sub(ann2, "room", 1)
    want = (200, 3, ["ann", "bob"])
    got = None
    for _ in range(int(h.T(100))):
        st, p = await presence(h1, "room")
        got = (st, p.get("subscriptions"), sorted(p.get("users") or []))
        if got == want:
            break
        await asyncio.sleep(0.1)
    c.eq(got, want, "presence of room through h1's API covers h1 and h2")
    st, p = await presence(h2, "room")
    c.eq((st, p.get("subscriptions"), sorted(p.get("users") or [])), want,
         "the same through h2's API")
    st, p = await presence(h2, "nobody-here")
    c.eq((st, p.get("subscriptions"), p.get("users")), (200, 0, []), "presence of an empty channel")
    env["keep"] += [ann, bob, ann2]


async def sigkill_host(c, env):
    h1, h2, col = env["h1"], env["h2"], env["sessions"]
    online = sorted(d["_id"] for d in col.find({"host": "h2", "online": True}))
    c.ok("bob|p-bob" in online and "ann|abc" in online, "h2 has online sessions before it dies", str(online))
    start = len(h1.log_lines())
    h2.stopped = True
    h2.kill()  # SIGKILL to the whole process group: no sign-off
    h.log("# h2 killed with SIGKILL")
    left = await wait_for(lambda: col.count_documents({"host": "h2", "online": True}) == 0, 60)
    c.ok(left, "after h2's lease lapsed its sessions are offline",
         str(list(col.find({"host": "h2", "online": True}))))
    m = await h1.wait_log(r"host h2 lost its lease: (\d+) sessions marked offline", 10, start)
    c.ok(m and int(m.group(1)) >= 2, "h1 marked them offline and says how many",
         m.group(0) if m else "no line")
    gone = await wait_for(lambda: env["db"].hosts.find_one({"_id": "h2"}) is None, 10)
    c.ok(gone, "h2's lease entry is removed")
    st, p = await presence(h1, "room")
    c.eq((st, p.get("subscriptions"), p.get("users")), (200, 1, ["ann"]),
         "presence no longer counts h2's sessions (p-bob, p-ann2)")


async def outage(c, env):
    h1, col, ferret = env["h1"], env["sessions"], env["ferret"]
    subr, _ = await begin(h1, "o-sub", "sam")
    await sub(subr, "flow", 1)
    pub, _ = await begin(h1, None, "pub")
    received = []
    sent = 0

    async def reader():
        while True:
            f = await rx(subr, 60)
            if f.get("sys") == 8 and f["channel"] == "flow":
                received.append(f["msg"])

    rd = asyncio.create_task(reader())

    async def pump(n):
        nonlocal sent
        for _ in range(n):
            sent += 1
            await publish(pub, "flow", sent, 1000 + sent)
            await asyncio.sleep(0.01)

    await pump(50)
    t0 = time.monotonic()
    ferret.stop()
    h.log("# FerretDB stopped")
    await pump(50)
    # Changes while MongoDB is away: new sessions, subscriptions, disconnects.
    for i in range(5):
        ws, _ = await begin(h1, f"o-{i}", "olga")
        await sub(ws, f"during-{i}", 1)
        await ws.close()
        await pump(10)
    st, p = await presence(h1, "flow")
    c.ok(st == 503, "presence while MongoDB is away: 503", f"{st} {p}")
    c.ok("unavailable" in json.dumps(p) or "away" in json.dumps(p), "503 says why", str(p))
    await pump(50)
    m = await h1.wait_log(r"mongodb: unreachable", 10)
    c.ok(m, "h1 logs once that MongoDB is unreachable")
    c.ok(len([l for l in h1.log_lines() if "mongodb: unreachable" in l]) == 1,
         "... once, not per retry")
    ferret.start()
    outage_s = time.monotonic() - t0
    h.log(f"# FerretDB back after {outage_s:.1f}s")
    await pump(50)
    ok = await wait_for(lambda: len(received) >= sent, 30)
    rd.cancel()
    c.ok(ok, f"all {sent} messages arrive through the outage", f"{len(received)} of {sent}")
    c.eq(received, list(range(1, len(received) + 1)), "... in order, none lost or repeated")
    c.ok(len(received) == sent, "... exactly", f"{len(received)} of {sent}")
    env["outage"] = (outage_s, sent)

    def caught_up():
        docs = {d["_id"]: d for d in col.find({"_id": {"$in": [f"olga|o-{i}" for i in range(5)]}})}
        return len(docs) == 5 and all(not d["online"] and f"during-{i}" in subs_of(d)
                                      and d["host"] == "h1" for i, d in
                                      ((int(k.rsplit("-", 1)[1]), v) for k, v in docs.items())) and docs
    docs = await wait_for(caught_up, 60)
    c.ok(docs, "the 5 sessions made during the outage are in MongoDB after it returns",
         str(list(col.find({"_id": {"$regex": "^olga\\|o-"}}))))
    m = await h1.wait_log(r"mongodb: connected", 10, 0)
    c.ok(len([l for l in h1.log_lines() if "mongodb: connected" in l]) >= 2,
         "h1 logs that MongoDB is back")
    st, p = await presence(h1, "flow")
    c.eq((st, p.get("subscriptions")), (200, 1), "presence answers again after the outage")
    await pub.close()
    await subr.close()


async def bounded_queue(c, env):
    ferret, col, db = env["ferret"], env["sessions"], env["db"]
    h3 = await host(c, ferret, env["dbname"], "h3", "--store-queue", "5")
    env["h3"] = h3
    await wait_for(lambda: db.hosts.find_one({"_id": "h3"}), 20)
    ferret.stop()
    h.log("# FerretDB stopped (queue test)")
    for i in range(20):
        ws, _ = await begin(h3, f"q-{i}", "quinn")
        await sub(ws, "qchan", 1)
        await ws.close()
    m = await h3.wait_log(r"write queue full \(--store-queue=5\)", 10)
    c.ok(m, "h3 logs that its write queue is full")
    # Nothing else breaks: a client still subscribes and gets a publish.
    ws, _ = await begin(h3, "q-sub", "dora")
    pub, _ = await begin(h3, None, "pub")
    await sub(ws, "still", 1)
    await publish(pub, "still", "alive", 2)
    f = await rx_until(ws, lambda f: f.get("sys") == 8)
    c.eq(f["msg"], "alive", "delivery works with the queue full")
    await ws.close()
    await pub.close()
    await asyncio.sleep(3)  # past every lease (2 s)
    ferret.start()
    m = await h3.wait_log(r"writes flow again; (\d+) records dropped in all", 60)
    dropped = int(m.group(1)) if m else -1
    c.ok(dropped >= 14, "h3 counts the records it dropped (>= 20 sessions - 6 kept)",
         m.group(0) if m else "no line")
    r = await h3.api.req("GET", "/api/stats")
    stats = json.loads(r.body or b"{}")
    h.log(f"# /api/stats: {stats}")
    sc = stats.get("scaler") or {}
    if "store_dropped" in sc:
        c.ok(sc["store"] == "mongodb" and sc["store_dropped"] >= dropped and sc["store_up"]
             and sc["store_written"] >= 1, "/api/stats shows the store's counters", str(sc))
        r = await h3.api.req("GET", "/metrics")
        m = re.search(r"^sss_store_dropped_total (\d+)$", r.body.decode(), re.M)
        c.ok(m and int(m.group(1)) >= dropped, "/metrics shows sss_store_dropped_total",
             m.group(0) if m else "no line")
    else:
        h.log("# /api/stats has no store counters yet: the log line is the check")
    # Both leases lapsed meanwhile: the host that refreshes first sets the
    # other's sessions offline; that one, taking its lease again, writes its
    # online sessions again. p-ann's client is still connected to h1.
    ok = await wait_for(lambda: (d := col.find_one({"_id": "ann|p-ann"})) and d["online"]
                        and d["host"] == "h1" and {"h1", "h3"} <= {x["_id"] for x in
                                                         db.hosts.find()}, 30)
    c.ok(ok, "after an outage longer than the lease, h1's online session is online again",
         str(col.find_one({"_id": "ann|p-ann"})))
    swept = [l for srv in (env["h1"], h3) for l in srv.log_lines() if "lost its lease" in l
             or "lease taken again" in l]
    h.log("# " + " | ".join(l.split(" store: ")[-1] for l in swept))
    kept = await wait_for(lambda: col.count_documents({"_id": {"$regex": "\\|q-"}}), 30)
    c.ok(kept and 1 <= kept <= 6, "only what fit in the queue was written", f"{kept} records")
    env["dropped"], env["kept"] = dropped, kept


async def never_there(c, env):
    """MongoDB absent from the start: the host serves, loads answer from the host, presence 503."""
    port = svc_ferretdb.free_port()  # nothing listens there
    h4 = h.Server(c, flags=["--store", "mongodb", "--mongo", f"mongodb://127.0.0.1:{port}/x",
                            "--host-id", "h4", "--api-listen", "127.0.0.1:0", "--api-key", KEY,
                            "--jwt-secret", SECRET, "--allow-client-publish", "*"],
                  workers=2, echo=False, name="h4")
    await h4.start()
    m = await h4.wait_log(r"api listening on 127\.0\.0\.1:(\d+)", timeout=20)
    h4.api = Api(int(m.group(1)))
    for i in range(3):
        a, r = await begin(h4, f"n-{i}", "nina")
        c.eq(r.get("session"), f"n-{i}", f"BEGIN {i} with a session is answered without MongoDB")
        await sub(a, "local", 1)
        await a.close()
    a, r = await begin(h4, "n-0", "nina")
    pub, _ = await begin(h4, None, "pub")
    await publish(pub, "local", "here", 1)
    f = await rx_until(a, lambda f: f.get("sys") == 8)
    c.eq((f["channel"], f["msg"]), ("local", "here"),
         "a session resumes from the host's own records without MongoDB")
    st, p = await presence(h4, "local")
    c.ok(st == 503, "presence without MongoDB: 503", f"{st} {p}")
    await a.close()
    await pub.close()
    warns = [l for l in h4.log_lines() if " warn " in l or " error " in l]
    c.ok(len(warns) == 1 and "unreachable" in warns[0], "one warning line, not one per retry",
         str(warns))
    await h4.stop()


async def clean_stop(c, env):
    col, db = env["sessions"], env["db"]
    if not env["ferret"].pid:
        env["ferret"].start()  # a section before failed with it stopped
    for name in ("h1", "h3"):
        srv = env.get(name)
        if not srv:
            continue
        await srv.stop()
        c.ok(db.hosts.find_one({"_id": name}) is None, f"{name} signs off: its lease is removed")
        c.eq(col.count_documents({"host": name, "online": True}), 0,
             f"{name} signs off: none of its sessions is left online")


async def run(c):
    try:
        ferret = svc_ferretdb.start_checked(c)
        if not ferret:
            return
        dbname = "sss_test_" + secrets.token_hex(4)
        client = ferret.client()
        db = client[dbname]
        env = {"ferret": ferret, "dbname": dbname, "db": db, "sessions": db.sessions, "keep": []}
        env["h1"] = await host(c, ferret, dbname, "h1")
        env["h2"] = await host(c, ferret, dbname, "h2")
        c.ok(await wait_for(lambda: {"h1", "h2"} <= {d["_id"] for d in db.hosts.find()}, 20),
             "h1 and h2 take their leases in MongoDB")
        for name, fn in (("session resumes on another host", resume_and_shape),
                         ("presence across hosts", presence_across),
                         ("a host killed with SIGKILL", sigkill_host),
                         ("MongoDB stopped and restarted", outage),
                         ("the bounded queue", bounded_queue),
                         ("MongoDB never there", never_there),
                         ("clean stop", clean_stop)):
            await c.section(name, fn, c, env)
        for ws in env["keep"]:
            await ws.close()
        h.log(f"# numbers: outage {env.get('outage')}, dropped {env.get('dropped')}, "
              f"kept {env.get('kept')}, sessions {db.sessions.count_documents({})}")
        client.close()
    finally:
        svc_ferretdb.stop_all()


if __name__ == "__main__":
    h.main(run, "test_store_mongo")
