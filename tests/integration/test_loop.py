"""Deferred work inside the worker's loop (include/sss/sss.h, sss_app_loop.c):
the test module (modules/testmod.c) answers an ask from a timer, cancels
timers (one of them from inside another timer's callback, when both expired in
the same turn), watches the read end of its own pipe and tells the client what
it read, cancels a watch from inside its callback, and leaves a timer and a
watch pending when the worker exits (freed, not called, no leak under ASan).
The module checks at load that both calls refuse in the master
(SSS_APP_ESTATE): otherwise the server does not start.

No check depends on timing: every answer is awaited, and a broken cancel
shows as a timer or watch call that the answer reports."""
import json
import signal

from sss_harness import begun, main, rx_until, testmod_server

WATCH_READ, WATCH_WRITE = 1, 2


async def ask(ws, topic, msg, id_):
    await ws.send(json.dumps({"sys": 5, "topic": topic, "msg": msg, "id": id_}))
    return await rx_until(ws, lambda f: f.get("sys") == 7 and f.get("id") == id_, heartbeats=True)


async def told(ws, topic):
    return await rx_until(ws, lambda f: f.get("sys") == 6 and f.get("topic") == topic,
                          heartbeats=True)


async def loop(checks):
    # One worker: the module's state (pipes, kept handles) is per worker process.
    server = await testmod_server(checks, ["--log-level", "debug"], name="loop")
    if not server:
        return
    checks.ok(True, "the module's sss_module_init saw SSS_APP_ESTATE for a timer and a watch")
    a = await begun(server)

    # A timer answers an ask later; several at once.
    r = await ask(a, "after", None, 1)
    checks.eq(r, {"sys": 7, "id": 1, "msg": "after"}, "an ask answered from a 50 ms timer")
    for i in range(2, 6):
        await a.send(json.dumps({"sys": 5, "topic": "after", "msg": None, "id": i}))
    got = set()
    while len(got) < 4:
        f = await rx_until(a, lambda f: f.get("sys") == 7, heartbeats=True)
        checks.eq(f.get("msg"), "after", f"ask {f.get('id')} answered by its own timer")
        got.add(f.get("id"))
    checks.eq(got, {2, 3, 4, 5}, "four timers pending at once each answered its ask")

    # Cancelled timers never fire; x and y (both 0 ms) cancel each other.
    for i in range(10, 15):
        r = await ask(a, "cancel", None, i)
        m = r.get("msg") or {}
        fired = m.get("fired")
        checks.ok(isinstance(fired, list) and len(fired) == 2 and fired[0] in ("x", "y")
                  and fired[1] == "end",
                  f"run {i - 9}: cancelled timers never fired, exactly one of x and y did",
                  str(r))
        checks.eq(m.get("rc"), [0, 0, 0], f"run {i - 9}: every sss_timer_cancel returned 0")

    # A watch on the module's pipe: each byte a timer writes is read and told.
    await a.send(json.dumps({"sys": 6, "topic": "pipe", "msg": 3}))
    for n in (1, 2, 3):
        f = await told(a, "piped")
        checks.eq(f.get("msg"), {"n": n, "revents": WATCH_READ},
                  f"the watch saw byte {n} (SSS_WATCH_READ) and the module told the client")
    f = await told(a, "piped")
    checks.eq(f.get("msg"), {"done": 3, "late": 0},
              "no watch call for a byte written after sss_watch_cancel")

    # A WRITE watch cancelled from inside its own first call.
    await a.send(json.dumps({"sys": 6, "topic": "writable", "msg": None}))
    f = await told(a, "writable")
    checks.eq(f.get("msg"), {"revents": WATCH_WRITE, "cancel": 0},
              "a WRITE watch on a pipe's write end: SSS_WATCH_WRITE, cancelled from its callback")
    f = await told(a, "writable")
    checks.eq(f.get("msg"), {"calls": 1}, "no call after the cancel from inside the callback")

    # The same again, after the first pipe and watch are gone (handles freed, state reset).
    await a.send(json.dumps({"sys": 6, "topic": "pipe", "msg": 1}))
    f = await told(a, "piped")
    checks.eq(f.get("msg"), {"n": 1, "revents": WATCH_READ}, "a second pipe watch works")
    f = await told(a, "piped")
    checks.eq(f.get("msg"), {"done": 1, "late": 0}, "and ends cleanly")

    # Exit with a timer and a watch pending: freed without calls (and no leak: stop()
    # checks the log for sanitizer reports; the worker runs LeakSanitizer on exit).
    await a.send(json.dumps({"sys": 6, "topic": "linger", "msg": None}))
    f = await told(a, "lingering")
    checks.eq(f.get("msg"), [0, 0], "a timer of an hour and a watch left pending")
    await a.close()
    server.send_signal(signal.SIGTERM)
    await server.wait_exit(40)
    log = server.log()  # read before stop(), which removes the log of a test that passed
    await server.stop(sig=None)
    checks.ok("exit: dropped timers=1 watches=1" in log,
              "the worker's exit dropped the pending timer and watch", log[-600:])
    checks.ok("testmod: BUG" not in log, "neither was called at exit", log[-600:])


if __name__ == "__main__":
    main(loop, "test_loop")
