"""Issue 18: a session belongs to its user. The attack: a client that knows
(or guesses) another user's session id sends it in BEGIN and is subscribed
to that user's channels, from where the user left them; or it subscribes
under that id, and the user, resuming, gets the attacker's channels. Now the
store names a session by its user and its id, so another user, or an
anonymous client, with the same id gets a session of its own. The test
module's session parser names the user (?user=NAME; none: anonymous)."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sss_harness as h  # noqa: E402

rx_until = h.rx_until


async def first_feed(c, ws, pub, leaked, marker, i):
    """Publish on leaked, then on marker (ws subscribes to it): the channel of
    the first FEED ws gets. The scaler orders both publishes, so marker's FEED
    comes after leaked's if ws was subscribed to leaked."""
    await h.subscribe_ok(ws, marker, i)
    await h.publish_ok(pub, leaked, i + 1)
    await h.publish_ok(pub, marker, i + 2)
    f = await rx_until(ws, lambda f: f.get("sys") == 8)
    return f["channel"]


async def run(c):
    srv = await h.testmod_server(c, flags=["--allow-client-publish", "*"], name="owner")
    if not srv:
        return
    pub, _ = await h.begin_session(srv, "publisher", "pub")
    ann, r = await h.begin_session(srv, "s-x", "ann")
    c.eq(r.get("session"), "s-x", "ann's BEGIN names her session")
    await h.subscribe_ok(ann, "ann-news", 1)
    await ann.close()

    # Another user, then an anonymous client, with ann's session id.
    for who, user in (("bob", "bob"), ("an anonymous client", None)):
        ws, r = await h.begin_session(srv, "s-x", user)
        c.eq(r.get("session"), "s-x", f"{who}: BEGIN with ann's session id is answered")
        got = await first_feed(c, ws, pub, "ann-news", f"mark-{user}", 10 + (user is None) * 10)
        c.eq(got, f"mark-{user}", f"{who} is not subscribed to ann's channels")
        if user == "bob":
            await h.subscribe_ok(ws, "bob-chan", 5)  # recorded in bob's session, not ann's
        await ws.close()

    # ann comes back: her channel, not what bob subscribed to under the same id.
    ann, _ = await h.begin_session(srv, "s-x", "ann")
    await h.publish_ok(pub, "bob-chan", 30)
    await h.publish_ok(pub, "ann-news", 31)
    f = await rx_until(ann, lambda f: f.get("sys") == 8)
    c.eq((f["channel"], f["msg"]), ("ann-news", 31),
         "ann resumes her own session: ann-news again, not bob's bob-chan")
    await ann.close()
    # And bob his.
    bob, _ = await h.begin_session(srv, "s-x", "bob")
    await h.publish_ok(pub, "ann-news", 32)
    await h.publish_ok(pub, "bob-chan", 33)
    f = await rx_until(bob, lambda f: f.get("sys") == 8)
    c.eq((f["channel"], f["msg"]), ("bob-chan", 33), "bob resumes his own: bob-chan")
    await bob.close()
    await pub.close()
    await srv.stop()


if __name__ == "__main__":
    h.main(run, "test_session_owner")
