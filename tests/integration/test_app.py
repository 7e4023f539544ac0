"""Application modules through libsss (include/sss/sss.h): --app loads a .so
whose handlers answer asks now or later, tell sockets, publish, broadcast,
boot, parse subscriptions and see sockets come and go; the chat example works
end to end."""
import json
import os

from sss_harness import Server, begun, main, rx_until, testmod_server, ws_close_code


async def ask(ws, topic, msg, id_):
    await ws.send(json.dumps({"sys": 5, "topic": topic, "msg": msg, "id": id_}))
    return await rx_until(ws, lambda f: f.get("sys") == 7 and f.get("id") == id_)


async def testmod(checks):
    server = await testmod_server(checks, ["--ask-timeout", "1s"])
    if not server:
        return
    # a and v (below) are on "news" when the app boots that channel: they offer
    # sss.v1.json, so they get BOOTCHANNEL; a client that offers no sub-protocol
    # would get BOOT instead (test_boot.py).
    a = await begun(server, subprotocols=["sss.v1.json"])
    b = await begun(server)
    r = await ask(a, "echo", {"x": [1, 2, "é"], "big": 9007199254740993}, 1)
    checks.eq(r.get("msg"), {"x": [1, 2, "é"], "big": 9007199254740993}, "ask answered now")
    await a.send(json.dumps({"sys": 5, "topic": "later", "msg": None, "id": 2}))
    await b.send(json.dumps({"sys": 6, "topic": "release", "msg": None}))
    r = await rx_until(a, lambda f: f.get("sys") == 7)
    checks.eq(r, {"sys": 7, "id": 2, "msg": "released"}, "ask answered later through the kept handle")
    r = await ask(a, "never", None, 3)
    checks.eq(r.get("err", {}).get("name"), "Timeout", "unanswered ask times out")
    r = await ask(a, "badjson", None, 4)
    checks.ok(r.get("err", {}).get("name") == "Refused" and "-2001" in r["err"]["message"],
              "invalid JSON from a handler is refused (SSS_APP_EJSON)", str(r))
    r = await ask(a, "nosuch", None, 5)
    checks.eq(r.get("err"), {"name": "Super Scaled Sockets Error",
                             "message": "Unknown request topic sent from client"}, "unknown topic")
    r = await ask(a, "count", None, 6)
    checks.eq(r.get("msg"), 2, "on-socket counted both clients")
    await a.send(json.dumps({"sys": 6, "topic": "tellme", "msg": {"k": "v"}}))
    r = await rx_until(a, lambda f: f.get("sys") == 6)
    checks.eq(r, {"sys": 6, "topic": "told", "msg": {"k": "v"}}, "tell to the socket")
    # Subscription parser.
    await a.send(json.dumps({"sys": 1, "channel": "forbidden", "id": 7}))
    r = await rx_until(a, lambda f: f.get("id") == 7)
    checks.ok(r.get("result") is False and r.get("err", {}).get("message") == "no entry",
              "subscription parser refuses with its reason", str(r))
    # Publish, socket publish (sender gets UPDATESUB), history, broadcast.
    for ws, i in ((a, 8), (b, 9)):
        await ws.send(json.dumps({"sys": 1, "channel": "news", "id": i}))
        await rx_until(ws, lambda f, i=i: f.get("id") == i)
    await b.send(json.dumps({"sys": 6, "topic": "pub", "msg": 1}))
    fa = await rx_until(a, lambda f: f.get("sys") == 8)
    fb = await rx_until(b, lambda f: f.get("sys") == 8)
    checks.ok(fa["msg"] == 1 and fb["msg"] == 1 and fa["uid"] == fb["uid"], "app publish reaches all")
    await b.send(json.dumps({"sys": 6, "topic": "spub", "msg": 2}))
    fa = await rx_until(a, lambda f: f.get("sys") == 8)
    ub = await rx_until(b, lambda f: f.get("sys") in (8, 12))
    checks.eq(ub, {"sys": 12, "channel": "news", "uid": fa["uid"]},
              "socket publish: the sender gets UPDATESUB with the uid, not the FEED")
    for i in range(3, 6):
        await b.send(json.dumps({"sys": 6, "topic": "pub", "msg": i}))
        await rx_until(a, lambda f: f.get("sys") == 8)
    r = await ask(a, "history", None, 10)
    hist = r.get("msg")
    checks.ok(isinstance(hist, list) and [h["msg"] for h in hist] == [3, 4, 5]
              and all(h["sys"] == 8 and h["channel"] == "news" for h in hist),
              "history reply: the newest 3 FEEDs, oldest first", str(r))
    await a.send(json.dumps({"sys": 6, "topic": "bcast", "msg": "all"}))
    for ws, name in ((a, "a"), (b, "b")):
        f = await rx_until(ws, lambda f: f.get("sys") == 11)
        checks.eq(f, {"sys": 11, "topic": "bcast", "msg": "all"}, f"broadcast reaches {name}")
    await b.send(json.dumps({"sys": 6, "topic": "bootme", "msg": None}))
    boot = await rx_until(b, lambda f: f.get("sys") == 9)
    checks.eq(boot, {"sys": 9, "reason": "bye"}, "BOOT message")
    checks.eq(await ws_close_code(b), 4001, "booted connection closed with 4001")
    r = await ask(a, "count", None, 11)
    checks.eq(r.get("msg"), 1, "on-close counted the booted client")
    # Session parser, on-subscribed hook, boot of a user and of a channel from the app.
    st = await h_status(server, "/?deny=1")
    checks.eq(st, 403, "the application's session parser refuses with 403")
    v = await begun(server.url + "?user=victim", subprotocols=["sss.v1.json"])
    r = await ask(v, "whoami", None, 20)
    checks.eq(r.get("msg"), "victim", "the session parser named the user")
    await v.send(json.dumps({"sys": 1, "channel": "news", "id": 21}))
    t = await rx_until(v, lambda f: f.get("sys") == 6 and f.get("topic") == "subscribed")
    checks.eq(t.get("msg"), "news", "on-subscribed hook ran for news")
    await a.send(json.dumps({"sys": 6, "topic": "bootchan", "msg": None}))
    f = await rx_until(v, lambda f: f.get("sys") == 10)
    checks.eq(f, {"sys": 10, "channel": "news", "reason": "news closed"}, "sss_boot_channel")
    await a.send(json.dumps({"sys": 6, "topic": "bootuser", "msg": None}))
    f = await rx_until(v, lambda f: f.get("sys") == 9)
    checks.eq(f, {"sys": 9, "reason": "by app"}, "sss_boot_user")
    checks.eq(await ws_close_code(v), 4001, "the booted user is closed with 4001")
    await a.close()
    await server.stop()


async def h_status(server, path):
    from sss_harness import upgrade_request, raw_http

    resp = await raw_http(server, upgrade_request(path=path))
    return resp.status


async def chat(checks):
    mod = os.environ.get("SSS_CHAT")
    if not mod:
        checks.fail("SSS_CHAT names the chat module")
        return
    server = await Server(checks, flags=["--app", mod], echo=False, name="chat").start()
    ann, bob = await begun(server), await begun(server)
    for ws, i in ((ann, 1), (bob, 2)):
        await ws.send(json.dumps({"sys": 1, "channel": "room-lobby", "id": i}))
        r = await rx_until(ws, lambda f, i=i: f.get("id") == i)
        checks.ok(r.get("result") is True, "join room-lobby", str(r))
    await ann.send(json.dumps({"sys": 1, "channel": "kitchen", "id": 3}))
    r = await rx_until(ann, lambda f: f.get("id") == 3)
    checks.ok(r.get("result") is False, "non-room channels are refused", str(r))
    await ann.send(json.dumps({"sys": 6, "topic": "say",
                               "msg": {"room": "room-lobby", "name": "ann", "text": "hi \"all\""}}))
    for ws, who in ((ann, "ann"), (bob, "bob")):
        f = await rx_until(ws, lambda f: f.get("sys") == 8 and f.get("topic") == "said")
        checks.ok(f["topic"] == "said" and f["msg"]["text"] == "hi \"all\"" and f["msg"]["name"] == "ann",
                  f"{who} hears ann", str(f))
    # The room's history also holds the "presence" FEEDs of the two joins. Bob's
    # is published by the other worker, so the scaler may order it after ann's
    # "said" (publishes from two workers have no order between them): look for
    # the said among the room's FEEDs, not at the end.
    r = await ask(bob, "history", {"room": "room-lobby"}, 4)
    said = [m["msg"] for m in r.get("msg") or [] if isinstance(m, dict) and m.get("topic") == "said"]
    checks.ok(isinstance(r.get("msg"), list) and [m.get("text") for m in said] == ["hi \"all\""],
              "history of the room", str(r))
    await ann.send(json.dumps({"sys": 6, "topic": "say", "msg": {"room": "nope"}}))
    f = await rx_until(ann, lambda f: f.get("sys") == 6)
    checks.eq(f.get("topic"), "error", "a bad say gets an error tell")
    await server.stop()


async def bad_module(checks):
    server = Server(checks, flags=["--app", "/nonexistent/mod.so"], echo=False, name="badmod")
    try:
        await server.start()
        checks.fail("a missing module stops the server")
    except RuntimeError:
        checks.ok("status 2" in server.log() or server.proc.returncode == 2,
                  "a missing module: exit status 2", server.log()[-300:])


if __name__ == "__main__":
    main((testmod, chat, bad_module), "test_app")
