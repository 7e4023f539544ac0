"""BOOT and presence through the HTTP API: POST /api/boot of a user (every
connection of the user gets BOOT, then close 4001) or of a channel (every
subscriber that offered the sub-protocol sss.v1.json gets BOOTCHANNEL and is
unsubscribed; one that offered none, as the original JavaScript client, which
knows no BOOTCHANNEL, gets BOOT and close 4001, as the original server's
bootAll did), and GET /api/presence (subscriptions and named users of a
channel on this host)."""
import asyncio
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sss_harness as h  # noqa: E402
from test_api import Api, KEY  # noqa: E402
from test_jwt import token  # noqa: E402

SECRET = "s3cret-for-tests-0123456789abcdef"  # 32 bytes at least (HS256)


rx, rx_until = h.rx, h.rx_until


async def user_client(srv, user, channels, subprotocols=None):
    ws = await h.ws_connect(srv.url, subprotocols=subprotocols, additional_headers={
        "Authorization": "Bearer " + token({"sub": user}, secret=SECRET)})
    await ws.send(json.dumps({"sys": 3}))
    await rx(ws)
    for i, ch in enumerate(channels):
        await ws.send(json.dumps({"sys": 1, "channel": ch, "id": i}))
        await rx_until(ws, lambda f, i=i: f.get("id") == i)
    return ws


async def presence(api, chan):
    r = await api.req("GET", "/api/presence?channel=" + chan)
    return r.status, json.loads(r.body or b"{}")


async def run(c):
    srv = await h.Server(c, flags=["--api-listen", "127.0.0.1:0", "--api-key", KEY,
                                   "--jwt-secret", SECRET, "--allow-client-publish", "*"],
                         workers=2, echo=False, name="boot").start()
    m = await srv.wait_log(r"api listening on 127\.0\.0\.1:(\d+)", timeout=20)
    if not c.ok(m, "API listening"):
        await srv.stop()
        return
    api = Api(int(m.group(1)))
    alice = [await user_client(srv, "alice", ["room"]) for _ in range(3)]
    bob = await user_client(srv, "bob", ["room", "side"], subprotocols=["sss.v1.json"])
    c.eq(bob.subprotocol, "sss.v1.json", "bob offered sss.v1.json and the server chose it")
    st, p = await presence(api, "room")
    c.ok(st == 200 and p["subscriptions"] == 4 and sorted(p["users"]) == ["alice", "bob"]
         and p["users_total"] == 2, "presence of room: 4 subscriptions, alice and bob", str(p))
    st, p = await presence(api, "_u_alice")
    c.ok(st == 200 and p["subscriptions"] == 3, "presence of alice's user channel", str(p))
    st, p = await presence(api, "nobody-here")
    c.ok(st == 200 and p["subscriptions"] == 0 and p["users"] == [], "presence of an empty channel", str(p))
    for q in ("", "?channel=", "?channel=bad%20name", "?other=x"):
        r = await api.req("GET", "/api/presence" + q)
        c.eq(r.status, 400, f"presence{q or ' without a query'}: 400")
    # Bad boot bodies, each with its reason.
    types = "user, channel and reason must be strings, given once"
    for body, why, reason in (
            ('{"user":"a","channel":"b"}', "both", "give either user or channel"),
            ('{}', "neither", "give either user or channel"),
            ('{"channel":"bad name"}', "bad channel", "invalid channel name"),
            ('{"user":5}', "not a string", types),
            ('{"user":"a","user":"a"}', "user twice", types),
            ('{"user":"' + "a" * 300 + '"}', "a name too long to read", types),
            ('{"user":"' + "a" * 121 + '"}', "a user name too long", "invalid user name"),
            ('{"user":"a\\u0000"}', "a NUL escape in the user", "invalid user name"),
            ('{"user":"a","reason":"\\ud800"}', "a lone surrogate in the reason",
             "lone surrogate or NUL escape in reason"),
            ('{"user":"a","reason":"' + "r" * 124 + '"}', "a long reason",
             "reason longer than 123 bytes"),
            ('', "no body", "empty body: expected a JSON object"),
            ('[1]', "not an object", "body must be a JSON object"),
            ('{"user":"a"', "bad JSON", "bad JSON"),
            ('{"user":"a","x":' + "[" * 70 + "]" * 70 + '}', "nesting too deep", "bad JSON")):
        r = await api.req("POST", "/api/boot", body)
        c.eq(r.status, 400, f"boot with {why}: 400")
        c.eq(json.loads(r.body or b"{}").get("error"), reason, f"boot with {why}: the reason")
    # Boot a user: every connection of alice, nobody else.
    r = await api.req("POST", "/api/boot", '{"user":"alice","reason":"account closed"}')
    c.eq(r.status, 200, "boot alice: 200")
    for i, ws in enumerate(alice):
        f = await rx_until(ws, lambda f: f.get("sys") == 9)
        c.eq(f, {"sys": 9, "reason": "account closed"}, f"alice {i} gets BOOT")
        c.eq(await h.ws_close_code(ws), 4001, f"alice {i} closed with 4001")
    for _ in range(100):
        st, p = await presence(api, "room")
        if p.get("subscriptions") == 1:
            break
        await asyncio.sleep(0.05)
    c.ok(p.get("subscriptions") == 1 and p.get("users") == ["bob"], "presence after the boot: bob only", str(p))
    # carol offers no sub-protocol, as the original client: it knows no BOOTCHANNEL.
    carol = await user_client(srv, "carol", ["room", "side"])
    c.eq(carol.subprotocol, None, "carol offered no sub-protocol")
    # Boot a channel: bob leaves room but stays connected and on side; carol
    # is booted, as the original server's bootAll did.
    r = await api.req("POST", "/api/boot", '{"channel":"room","reason":"closing"}')
    c.eq(r.status, 200, "boot room: 200")
    f = await rx_until(bob, lambda f: f.get("sys") == 10)
    c.eq(f, {"sys": 10, "channel": "room", "reason": "closing"}, "bob gets BOOTCHANNEL")
    f = await rx_until(carol, lambda f: f.get("sys") in (9, 10))
    c.eq(f, {"sys": 9, "reason": "closing"}, "carol (no sub-protocol) gets BOOT, not BOOTCHANNEL")
    c.eq(await h.ws_close_code(carol), 4001, "carol closed with 4001")
    for _ in range(100):
        st, p = await presence(api, "side")
        if p.get("subscriptions") == 1:
            break
        await asyncio.sleep(0.05)
    c.ok(p.get("subscriptions") == 1 and p.get("users") == ["bob"],
         "presence of side after the channel boot: bob only (carol's connection is gone)", str(p))
    await bob.send(json.dumps({"sys": 13, "channel": "room", "topic": "t", "msg": 1, "id": 50}))
    await bob.send(json.dumps({"sys": 13, "channel": "side", "topic": "t", "msg": 2, "id": 51}))
    f = await rx_until(bob, lambda f: f.get("sys") == 8)
    c.eq(f.get("channel"), "side", "no FEED of room after BOOTCHANNEL (the next is side's)")
    # The CLI: presence and boot.
    cli = os.path.join(os.environ.get("SSS_SOURCE_DIR") or
                       os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."),
                       "tools", "sss")
    env = dict(os.environ, SSS_API_URL=api.url, SSS_API_KEY=KEY)
    proc = await asyncio.create_subprocess_exec(sys.executable, cli, "presence", "side",
                                                stdout=asyncio.subprocess.PIPE, env=env)
    out, _ = await proc.communicate()
    c.ok(proc.returncode == 0 and b"side: 1 subscription(s), 1 named user(s)" in out and b"bob" in out,
         "sss presence side", out.decode())
    proc = await asyncio.create_subprocess_exec(sys.executable, cli, "boot", "bob", "--reason", "bye",
                                                stdout=asyncio.subprocess.PIPE, env=env)
    await proc.communicate()
    c.eq(proc.returncode, 0, "sss boot bob exits 0")
    f = await rx_until(bob, lambda f: f.get("sys") == 9)
    c.eq(f, {"sys": 9, "reason": "bye"}, "bob booted through the CLI")
    await srv.stop()


if __name__ == "__main__":
    h.main(run, "test_boot")
