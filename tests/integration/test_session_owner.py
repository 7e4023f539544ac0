"""Issue 18: a session belongs to its user. The attack: a client that knows
(or guesses) another user's session id sends it in BEGIN and is subscribed
to that user's channels, from where the user left them; or it subscribes
under that id, and the user, resuming, gets the attacker's channels. Now the
store names a session by its user and its id, so another user, or an
anonymous client, with the same id gets a session of its own. The test
module's session parser names the user (?user=NAME; none: anonymous)."""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sss_harness as h  # noqa: E402

rx, rx_until = h.rx, h.rx_until


async def begin(srv, session, user=None):
    ws = await h.ws_connect(srv.url + (f"?user={user}" if user else ""))
    await ws.send(json.dumps({"sys": 3, "session": session}))
    r = await rx(ws)  # sent once every resumed channel is subscribed again
    return ws, r


async def sub(ws, chan, i):
    await ws.send(json.dumps({"sys": 1, "channel": chan, "id": i}))
    r = await rx_until(ws, lambda f: f.get("id") == i)
    assert r.get("result") is True, r


async def publish(pub, chan, i):
    await pub.send(json.dumps({"sys": 13, "channel": chan, "topic": "t", "msg": i, "id": i}))
    await rx_until(pub, lambda f: f.get("sys") == 7 and f.get("id") == i)


async def first_feed(c, ws, pub, leaked, marker, i):
    """Publish on leaked, then on marker (ws subscribes to it): the channel of
    the first FEED ws gets. The scaler orders both publishes, so marker's FEED
    comes after leaked's if ws was subscribed to leaked."""
    await sub(ws, marker, i)
    await publish(pub, leaked, i + 1)
    await publish(pub, marker, i + 2)
    f = await rx_until(ws, lambda f: f.get("sys") == 8)
    return f["channel"]


async def run(c):
    srv = await h.testmod_server(c, flags=["--allow-client-publish", "*"], name="owner")
    if not srv:
        return
    pub, _ = await begin(srv, "publisher", "pub")
    ann, r = await begin(srv, "s-x", "ann")
    c.eq(r.get("session"), "s-x", "ann's BEGIN names her session")
    await sub(ann, "ann-news", 1)
    await ann.close()

    # Another user, then an anonymous client, with ann's session id.
    for who, user in (("bob", "bob"), ("an anonymous client", None)):
        ws, r = await begin(srv, "s-x", user)
        c.eq(r.get("session"), "s-x", f"{who}: BEGIN with ann's session id is answered")
        got = await first_feed(c, ws, pub, "ann-news", f"mark-{user}", 10 + (user is None) * 10)
        c.eq(got, f"mark-{user}", f"{who} is not subscribed to ann's channels")
        if user == "bob":
            await sub(ws, "bob-chan", 5)  # recorded in bob's session, not ann's
        await ws.close()

    # ann comes back: her channel, not what bob subscribed to under the same id.
    ann, _ = await begin(srv, "s-x", "ann")
    await publish(pub, "bob-chan", 30)
    await publish(pub, "ann-news", 31)
    f = await rx_until(ann, lambda f: f.get("sys") == 8)
    c.eq((f["channel"], f["msg"]), ("ann-news", 31),
         "ann resumes her own session: ann-news again, not bob's bob-chan")
    await ann.close()
    # And bob his.
    bob, _ = await begin(srv, "s-x", "bob")
    await publish(pub, "ann-news", 32)
    await publish(pub, "bob-chan", 33)
    f = await rx_until(bob, lambda f: f.get("sys") == 8)
    c.eq((f["channel"], f["msg"]), ("bob-chan", 33), "bob resumes his own: bob-chan")
    await bob.close()
    await pub.close()
    await srv.stop()


if __name__ == "__main__":
    h.main(run, "test_session_owner")
