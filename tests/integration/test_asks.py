"""Pending asks are bounded (issue 18, item 4): at most --max-pending-asks
per connection (one more gets an error RESPONSE, others are not affected),
ids of at most 128 bytes (a longer one gets ERROR, nothing is kept), and
every pending ask is forgotten at its --ask-timeout and when its connection
closes; a handler's late answer through a kept handle is then a harmless
no-op. The worker's sss_asks_pending gauge shows what is held."""
import asyncio
import json

from sss_harness import (begun, main, metric_sum, metric_wait, rx, rx_until, testmod_server,
                         T)


async def send_ask(ws, topic, id_, msg=None):
    await ws.send(json.dumps({"sys": 5, "topic": topic, "msg": msg, "id": id_}))


async def response(ws, id_):
    return await rx_until(ws, lambda f: f.get("sys") == 7 and f.get("id") == id_)


async def asks_server(checks, flags, name):
    """testmod_server with flags and the HTTP API on a free loopback port: the server and the
    API's port; (None, None) after a failed check (the server stopped)."""
    srv = await testmod_server(checks, [*flags, "--api-listen", "127.0.0.1:0"], name=name)
    port = srv and await srv.checked_api_port(checks, f"{name}: the API listens", 30)
    return (srv, port) if port else (None, None)


async def cap_and_close(checks):
    """--max-pending-asks 4: the fifth ask of a connection is refused, another
    connection still asks; closing the connection forgets its asks."""
    srv, port = await asks_server(checks, ["--max-pending-asks", "4", "--ask-timeout", "10m"],
                                  "asks-cap")
    if not srv:
        return
    a = await begun(srv)
    b = await begun(srv)
    for i in range(4):
        await send_ask(a, "never", i)
    # The echo answers after the four: they are all held.
    await send_ask(a, "echo", "x", 1)
    r = await response(a, "x")
    checks.eq(r.get("err", {}).get("message"), "too many asks waiting for an answer",
              "the fifth pending ask of a connection gets an error RESPONSE with its id")
    checks.eq(await metric_sum(port, "sss_asks_pending"), 4, "four asks are pending")
    await send_ask(b, "echo", "y", 2)
    r = await response(b, "y")
    checks.eq(r.get("msg"), 2, "another connection still asks")
    await a.close()
    checks.eq(await metric_wait(port, "sss_asks_pending", 0), 0,
              "a closed connection's pending asks are forgotten")
    # Many connections, each at the cap, then gone: nothing is kept.
    conns = [await begun(srv) for _ in range(20)]
    for c in conns:
        for i in range(4):
            await send_ask(c, "never", i)
        await send_ask(c, "echo", "z", 0)
        await response(c, "z")
    checks.eq(await metric_sum(port, "sss_asks_pending"), 80, "20 connections hold 4 asks each")
    for c in conns:
        await c.close()
    checks.eq(await metric_wait(port, "sss_asks_pending", 0), 0,
              "all of them are forgotten once their connections closed")
    await b.close()
    await srv.stop()


async def timeout_and_late(checks):
    """An ask past --ask-timeout gets Timeout and is forgotten; the handler's
    late answer through its kept handle sends nothing and harms nothing, also
    when the connection is gone."""
    srv, port = await asks_server(checks, ["--ask-timeout", "1s"], "asks-timeout")
    if not srv:
        return
    a = await begun(srv)
    b = await begun(srv)
    await send_ask(a, "later", 1)  # the module keeps this handle
    r = await response(a, 1)
    checks.eq(r.get("err", {}).get("name"), "Timeout", "the kept ask times out")
    checks.eq(await metric_sum(port, "sss_asks_pending"), 0, "the timed-out ask is forgotten")
    checks.ok(await metric_sum(port, "sss_asks_timed_out_total") >= 1, "and counted")
    await b.send(json.dumps({"sys": 6, "topic": "release", "msg": None}))  # late answer
    await send_ask(b, "echo", "b1", 0)
    await response(b, "b1")  # b's TELL was handled before this answer
    await send_ask(a, "echo", 2, "after")
    r = await rx(a)
    checks.eq(r, {"sys": 7, "id": 2, "msg": "after"},
              "the late answer sent nothing: the next frame is the next ask's answer")
    # The same after the connection closed (its memory is gone by then).
    c = await begun(srv)
    await send_ask(c, "later", 3)
    await send_ask(c, "echo", 4, 0)
    await response(c, 4)  # the "later" ask is held now
    await c.close()
    checks.eq(await metric_wait(port, "sss_asks_pending", 0), 0, "closed: forgotten")
    await b.send(json.dumps({"sys": 6, "topic": "release", "msg": None}))
    await send_ask(b, "echo", 5, "alive")
    r = await response(b, 5)
    checks.eq(r.get("msg"), "alive", "a late answer for a closed connection harms nothing")
    await a.close()
    await b.close()
    await srv.stop()


async def long_ids(checks):
    """Ids are a JSON number or string of at most 128 bytes as sent."""
    srv, port = await asks_server(checks, ["--ask-timeout", "10m"], "asks-ids")
    if not srv:
        return
    a = await begun(srv)
    ok_id = "i" * 126  # 128 bytes with its quotes
    await send_ask(a, "echo", ok_id, 1)
    r = await response(a, ok_id)
    checks.eq(r.get("msg"), 1, "an id of 128 bytes is echoed")
    await send_ask(a, "never", "j" * 127)
    r = await rx(a)
    checks.ok(r.get("sys") == 14 and r.get("err", {}).get("message") == "id too long"
              and "id" not in r, "an id of 129 bytes gets ERROR, without the id", repr(r)[:200])
    await send_ask(a, "never", "k" * 100000)
    r = await rx(a)
    checks.ok(r.get("sys") == 14 and r.get("err", {}).get("message") == "id too long",
              "an id of 100 kB gets ERROR", repr(r)[:200])
    checks.eq(await metric_sum(port, "sss_asks_pending"), 0, "nothing is kept for them")
    await a.close()
    await srv.stop()


async def test(checks):
    await checks.section("cap and close", cap_and_close, checks)
    await checks.section("timeout and late answers", timeout_and_late, checks)
    await checks.section("long ids", long_ids, checks)


if __name__ == "__main__":
    main(test, "test_asks")
