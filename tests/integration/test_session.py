"""Sessions (PROTOCOL.md 8) with the memory store: a session named in BEGIN
(or by a JWT's sid) is recorded with its subscriptions; a client that comes
back with it, to any worker, is subscribed again before its BEGIN reply. An
UNSUBSCRIBE is forgotten by the session; a session with no connection is
forgotten after --session-ttl."""
import asyncio
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sss_harness as h  # noqa: E402
from test_jwt import token  # noqa: E402

SECRET = "s3cret-for-tests-0123456789abcdef"  # 32 bytes at least (HS256)


rx, rx_until = h.rx, h.rx_until


async def begin(srv, session=None, **kw):
    ws = await h.ws_connect(srv.url, **kw)
    msg = {"sys": 3}
    if session:
        msg["session"] = session
    await ws.send(json.dumps(msg))
    return ws, await rx(ws), srv.role_of_last_upgrade()


async def sub(ws, chan, i):
    await ws.send(json.dumps({"sys": 1, "channel": chan, "id": i}))
    r = await rx_until(ws, lambda f: f.get("id") == i)
    assert r.get("result") is True, r


async def publish(pub, chan, msg, i):
    await pub.send(json.dumps({"sys": 13, "channel": chan, "topic": "t", "msg": msg, "id": i}))
    await rx_until(pub, lambda f: f.get("sys") == 7 and f.get("id") == i)


async def run(c):
    srv = await h.Server(c, flags=["--allow-client-publish", "*", "--session-ttl", "1s",
                                   "--jwt-secret", SECRET, "--log-level", "debug"],
                         workers=2, echo=False, name="session").start()
    auth = {"additional_headers": {"Authorization": "Bearer " + token({"sub": "ann"}, SECRET)}}
    pub, _, _ = await begin(srv, **auth)
    a, r, role_a = await begin(srv, "s-1", **auth)
    c.eq(r.get("session"), "s-1", "BEGIN reply echoes the session")
    await sub(a, "news", 1)
    await sub(a, "gone", 2)
    await a.send(json.dumps({"sys": 2, "channel": "gone"}))
    await a.close()
    # Come back on the other worker.
    for _ in range(50):
        b, r, role_b = await begin(srv, "s-1", **auth)
        if role_b != role_a:
            break
        await b.close()
    c.ok(role_b != role_a, "the session comes back on another worker", f"{role_a} then {role_b}")
    await publish(pub, "gone", "no", 10)
    await publish(pub, "news", "yes", 11)
    f = await rx_until(b, lambda f: f.get("sys") == 8)
    c.eq((f["channel"], f["msg"]), ("news", "yes"),
         "resumed: subscribed to news again, not to the channel it had left")
    await b.close()
    # A JWT's sid names the session.
    tok = token({"sub": "ann", "sid": "sess-9"}, SECRET)
    j, r, _ = await begin(srv, additional_headers={"Authorization": "Bearer " + tok})
    c.eq((r.get("session"), r.get("channel")), ("sess-9", "_u_ann"), "the token's sid is the session")
    await sub(j, "jnews", 3)
    await j.close()
    j2, _, _ = await begin(srv, additional_headers={"Authorization": "Bearer " + tok})
    await publish(pub, "jnews", 1, 12)
    f = await rx_until(j2, lambda f: f.get("sys") == 8)
    c.eq(f["channel"], "jnews", "the token's session is resumed")
    await j2.close()
    # One limit for a session id everywhere (SSS_SESSION_MAX, 128 bytes): the longest
    # is recorded and echoed; a longer one is refused at BEGIN, never accepted and
    # silently dropped (issue 11: a 200-byte session was accepted, not echoed and
    # never resumable).
    longest = "L" * 128
    x, r, _ = await begin(srv, longest, **auth)
    c.eq(r.get("session"), longest, "a 128-byte session is accepted and echoed")
    await x.close()
    for n in (129, 200):
        x, r, _ = await begin(srv, "L" * n, **auth)
        c.ok(r.get("sys") == 14 and r.get("err", {}).get("message") == "session too long",
             f"a {n}-byte session is refused with ERROR 'session too long'", repr(r)[:200])
        await x.close()
    # Forgotten after --session-ttl with no connection.
    t, _, _ = await begin(srv, "s-ttl", **auth)
    await sub(t, "ttl", 4)
    await t.close()
    await asyncio.sleep(3)
    t2, _, _ = await begin(srv, "s-ttl", **auth)
    await sub(t2, "marker", 5)
    await publish(pub, "ttl", "late", 13)
    await publish(pub, "marker", "m", 14)
    f = await rx_until(t2, lambda f: f.get("sys") == 8)
    c.eq(f["channel"], "marker", "after --session-ttl the session is not resumed")
    await t2.close()
    await pub.close()
    await srv.stop()


if __name__ == "__main__":
    h.main(run, "test_session")
