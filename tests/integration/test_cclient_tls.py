"""The C client (clients/c) over wss:// against the real sss-server with
--tls-cert, through tests/clients/cclient_driver, with certificates made by
`openssl` at run time (sss_harness.TestCA):

- the server's certificate verified against tls_ca_file, a tls_ca_path
  directory, and by name (127.0.0.1, localhost, [::1]): ask, a 300 KB ask,
  publish and FEED, msgpack;
- refused for good (tls_failed, one attempt): another CA's certificate, the
  system's trust store, a name the certificate does not hold (a DNS name and
  an address), a server that answers in plain HTTP, a CA file or directory that
  does not load; tls_insecure_skip_verify accepts them;
- transient: a server that never finishes the handshake (connect_timeout,
  bounded by connect_timeout_ms) or closes during it (connect_failed);
- a drop over TLS (kill -9 of the client's worker while the client is
  frozen) reconnects, SYNCs the messages published meanwhile, once each.
Needs $SSS_CCLIENT_DRIVER, $SSS_TESTMOD and the venv's websockets; skips (77)
without them."""
import asyncio
import json
import os
import shutil
import signal
import ssl
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sss_harness as h  # noqa: E402
from test_cclient_scripted import DRIVER, need_driver  # noqa: E402
from test_cclient_scripted import Driver as ScriptedDriver  # noqa: E402

EXITS = []  # (exit status, the driver's last events) of every driver run


class Driver(ScriptedDriver):
    """The scripted test's driver, each exit status kept (ASan reports make it nonzero)."""

    async def stop(self):
        rc = await super().stop()
        EXITS.append((rc, self.events[-3:]))
        return rc


async def ready(c, url, what, *opts):
    """A driver connected to url; None (after a failed check) when it did not get READY."""
    d = await Driver().start(url, *opts)
    await d.cmd("connect")
    try:
        await d.wait(lambda e: e["ev"] == "status" and e["now"] in ("READY", "FAILED"))
    except AssertionError as e:
        c.fail(what, str(e))
        await d.stop()
        return None
    if not c.ok(d.evs("status")[-1]["now"] == "READY", what, json.dumps(d.events[-6:])):
        await d.stop()
        return None
    return d


async def ask(d, topic, body):
    n = len(d.evs("reply"))
    rc = await d.cmd(f"ask {topic} {body}")
    if rc:
        return {"err": f"rc {rc}"}
    return await d.wait(lambda e: e["ev"] == "reply", count=n + 1)


async def refused(c, url, what, needle, *opts):
    """The client stops at once: FAILED, tls_failed whose detail holds needle, one attempt."""
    d = await Driver().start(url, *opts)
    await d.cmd("connect")
    try:
        err = await d.wait(lambda e: e["ev"] == "error" and e["channel"] == "")
    except AssertionError as e:
        await d.stop()
        return c.fail(what, str(e))
    h.log(f"#   {what}: {err['message']}")
    await asyncio.sleep(h.T(0.3))  # a retry would show up here
    statuses = [e["now"] for e in d.evs("status")]
    c.ok(err["name"] == "tls_failed" and err["status"] == "FAILED" and needle in err["message"]
         and statuses.count("CONNECTING") == 1 and len(d.evs("error")) == 1,
         f"{what}: tls_failed, final after one attempt", f"{err} {statuses}")
    await d.stop()
    return err


async def verified(c, srv, ca, other):
    url = f"wss://127.0.0.1:{srv.port}/"
    d = await ready(c, url, "wss://127.0.0.1 with tls_ca_file: READY", "--ca-file", ca.ca)
    if d:
        r = await ask(d, "echo", '{"over": "tls"}')
        c.eq((r["err"], r.get("msg")), ("", '{"over": "tls"}'), "ask echo over TLS")
        r = await ask(d, "nosuchtopic", "1")
        c.ok(r["err"].startswith("Super Scaled Sockets Error"), "a server error over TLS", r)
        # Larger than the TLS wire buffer and the plain buffer: many records each way.
        n = len(d.evs("reply"))
        await d.cmd("ask-big echo 300000")
        r = await d.wait(lambda e: e["ev"] == "reply", count=n + 1, timeout=60)
        c.eq((r["err"], r["len"]), ("", 300002), "a 300 KB ask echoed whole over TLS")
        await d.stop()
    d = await ready(c, f"wss://localhost:{srv.port}/", "wss://localhost (name from DNS): READY",
                    "--ca-file", ca.ca)
    if d:
        await d.stop()
    hashed = os.path.join(ca.dir, "hashed")
    os.mkdir(hashed)
    shutil.copy(ca.ca, os.path.join(hashed, "ca.pem"))
    subprocess.run(["openssl", "rehash", hashed], check=True, capture_output=True)
    d = await ready(c, url, "tls_ca_path (a hashed directory): READY", "--ca-path", hashed)
    if d:
        await d.stop()
    d = await ready(c, url, "msgpack over wss://: READY", "--ca-file", ca.ca, "--msgpack")
    if d:
        r = await ask(d, "echo", '{"a": [1, 2]}')
        c.eq((r["err"], r.get("msg")), ("", '{"a":[1,2]}'), "ask echo over TLS in msgpack")
        await d.stop()
    d = await ready(c, url, "tls_insecure_skip_verify takes another CA's certificate",
                    "--ca-file", other.ca, "--insecure")
    if d:
        await d.stop()


async def refusals(c, srv, ca, other):
    url = f"wss://127.0.0.1:{srv.port}/"
    await refused(c, url, "a certificate from another CA", "certificate",
                  "--ca-file", other.ca, "--retry-interval", "50")
    await refused(c, url, "no CA given: the system's store does not know the test CA",
                  "certificate", "--retry-interval", "50")
    await refused(c, url, "tls_ca_file that does not exist", "/nonexistent/ca.pem",
                  "--ca-file", "/nonexistent/ca.pem")
    await refused(c, url, "tls_ca_path that does not exist", "/nonexistent/dir",
                  "--ca-path", "/nonexistent/dir")
    await refused(c, url, "tls_ca_file that is not PEM", "garbage.pem",
                  "--ca-file", os.path.join(ca.dir, "garbage.pem"))


async def names(c, ca):
    # A certificate of the right CA for another name only.
    cert, key = ca.issue("elsewhere", san="DNS:elsewhere.invalid")
    srv = await h.Server(c, workers=1, tls=(cert, key), name="elsewhere").start()
    try:
        await refused(c, f"wss://127.0.0.1:{srv.port}/", "an address the certificate does not hold",
                      "IP address mismatch", "--ca-file", ca.ca)
        await refused(c, f"wss://localhost:{srv.port}/", "a name the certificate does not hold",
                      "hostname mismatch", "--ca-file", ca.ca)
    finally:
        await srv.stop()


async def not_tls(c, ca):
    """wss:// to a plain HTTP server that answers the ClientHello with a 400."""
    async def http(r, w):
        await r.read(1)
        w.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
        await w.drain()
        w.close()

    srv = await asyncio.start_server(http, "127.0.0.1", 0)
    port = srv.sockets[0].getsockname()[1]
    await refused(c, f"wss://127.0.0.1:{port}/", "wss:// to a server that answers in plain HTTP",
                  "does not speak TLS", "--ca-file", ca.ca)
    srv.close()


async def ipv6(c, srv, ca):
    """wss://[::1]: a TLS proxy on ::1 (its certificate for IP ::1, or not) in front of srv."""
    try:
        socket_ok = await asyncio.start_server(lambda r, w: w.close(), "::1", 0)
        socket_ok.close()
    except OSError as e:
        return c.fail("an IPv6 loopback to listen on", str(e))
    for san, good in (("IP:::1", True), ("DNS:localhost,IP:127.0.0.1", False)):
        cert, key = ca.issue("v6" if good else "v6bad", san=san)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)

        async def pipe(r, w):
            try:
                while data := await r.read(65536):
                    w.write(data)
                    await w.drain()
            except (ConnectionError, ssl.SSLError):
                pass
            finally:
                w.close()

        async def relay(r, w):
            try:
                ur, uw = await asyncio.open_connection("127.0.0.1", srv.port,
                                                       ssl=ca.client_context(),
                                                       server_hostname="localhost")
            except OSError:
                w.close()
                return
            await asyncio.gather(pipe(r, uw), pipe(ur, w))

        proxy = await asyncio.start_server(relay, "::1", 0, ssl=ctx)
        port = proxy.sockets[0].getsockname()[1]
        url = f"wss://[::1]:{port}/"
        try:
            if good:
                d = await ready(c, url, "wss://[::1] with a certificate for IP ::1: READY",
                                "--ca-file", ca.ca)
                if d:
                    r = await ask(d, "echo", "6")
                    c.eq((r["err"], r.get("msg")), ("", "6"), "ask echo over wss://[::1]")
                    await d.stop()
            else:
                await refused(c, url, "wss://[::1] with a certificate without ::1",
                              "IP address mismatch", "--ca-file", ca.ca)
        finally:
            proxy.close()


async def transient(c):
    """A server that never answers the ClientHello, and one that closes on it."""
    seen = {"silent": 0, "closing": 0}

    async def silent(r, w):
        seen["silent"] += 1
        try:
            while await r.read(4096):
                pass
        except ConnectionError:
            pass

    async def closing(r, w):
        seen["closing"] += 1
        await r.read(1)
        w.close()

    for kind, handler, code in (("silent", silent, "connect_timeout"),
                                ("closing", closing, "connect_failed")):
        srv = await asyncio.start_server(handler, "127.0.0.1", 0)
        port = srv.sockets[0].getsockname()[1]
        d = await Driver().start(f"wss://127.0.0.1:{port}/", "--connect-timeout", "300",
                                 "--retry-attempts", "1", "--retry-interval", "50")
        await d.cmd("connect")
        try:
            err = await d.wait(lambda e: e["ev"] == "error" and e["channel"] == "", timeout=30)
            c.ok(err["name"] == "retries_exhausted" and err["message"].startswith(code)
                 and seen[kind] == 2,
                 f"a server that is {kind} in the handshake: {code}, transient (retried once)",
                 f"{err} connections={seen[kind]}")
        except AssertionError as e:
            c.fail(f"a server that is {kind} in the handshake: {code}", str(e))
        await d.stop()
        srv.close()


async def reconnect(c, srv, ca):
    """A's worker killed while A is frozen; B publishes; A wakes, reconnects and SYNCs."""
    url = f"wss://127.0.0.1:{srv.port}/"
    opts = ("--ca-file", ca.ca, "--retry-interval", "100", "--max-retry-interval", "500")
    a = await ready(c, url, "A READY", *opts)
    if not a:
        return
    role_a = srv.role_of_last_upgrade()
    await a.cmd("subscribe news")
    r = await a.wait(lambda e: e["ev"] == "reply" and e["for"] == "news")
    c.eq(r["err"], "", "A subscribed to news")
    b = None
    for _ in range(30):  # B on the other worker, so that B stays up
        b = await ready(c, url, "B READY", *opts)
        if not b or srv.role_of_last_upgrade() != role_a:
            break
        await b.stop()
        b = None
    if not c.ok(b is not None, "B on another worker than A"):
        await a.stop()
        return
    a.proc.send_signal(signal.SIGSTOP)
    os.kill(srv.role_pids()[role_a], signal.SIGKILL)
    uids = []
    for i in range(5):
        n = len(b.evs("reply"))
        await b.cmd(f'publish news seq {{"n":{i}}}')
        r = await b.wait(lambda e: e["ev"] == "reply", count=n + 1)
        c.eq(r["err"], "", f"B published {i} while A was frozen and its worker gone")
        uids.append(json.loads(r["msg"])["uid"])
    a.proc.send_signal(signal.SIGCONT)
    await a.wait(lambda e: e["ev"] == "reconnect", timeout=30)
    c.eq(a.evs("drop")[0]["code"] if a.evs("drop") else None, "connection_lost",
         "A saw the drop as connection_lost")
    await a.wait(lambda e: e["ev"] == "feed", count=5)
    await b.cmd('publish news seq "after"')
    await a.wait(lambda e: e["ev"] == "feed", count=6)
    feeds = a.evs("feed")
    c.eq([(f["msg"], f["uid"]) for f in feeds],
         [(f'{{"n":{i}}}', uids[i]) for i in range(5)] + [('"after"', feeds[-1]["uid"])],
         "after the reconnect over TLS: every message once, in order, then live ones")
    r = await ask(a, "echo", "7")
    c.eq((r["err"], r.get("msg")), ("", "7"), "ask after the reconnect over TLS")
    await a.stop()
    await b.stop()


async def run(c):
    mod = os.environ.get("SSS_TESTMOD")
    ca, other = h.TestCA(), h.TestCA()
    cert, key = ca.issue("server")
    with open(os.path.join(ca.dir, "garbage.pem"), "w") as f:
        f.write("not a certificate\n")
    srv = await h.Server(c, workers=2, echo=False, tls=(cert, key), name="tls",
                         flags=["--app", mod, "--allow-client-publish", "*", "--log-level",
                                "debug"]).start()
    try:
        await c.sections((c, srv, ca, other), [("verified", verified), ("refusals", refusals)])
        await c.section("names", names, c, ca)
        await c.section("not TLS", not_tls, c, ca)
        await c.section("ipv6", ipv6, c, srv, ca)
        await c.section("transient", transient, c)
        await c.section("reconnect", reconnect, c, srv, ca)
        bad = [e for e in EXITS if e[0] != 0]
        c.ok(EXITS and not bad, f"every driver ({len(EXITS)}) exited with 0", bad[:3])
    finally:
        await srv.stop()
        shutil.rmtree(ca.dir, ignore_errors=True)
        shutil.rmtree(other.dir, ignore_errors=True)


def main():
    need_driver()
    if not os.environ.get("SSS_TESTMOD"):
        h.skip("SSS_TESTMOD not set")
    h.main(run, "test_cclient_tls", timeout=600)


if __name__ == "__main__":
    main()
