"""TLS on the client port (--tls-cert, --tls-key) against the real sss-server,
with certificates made by `openssl` at run time (sss_harness.TestCA):

- wss:// with Python websockets trusting the test CA: messages of many sizes,
  pipelined ones, a static file over https://;
- a client that sends a plain HTTP request or random bytes instead of a
  ClientHello is closed, and only it;
- a handshake that stalls is closed at --handshake-timeout;
- SIGHUP: a new certificate is used by new connections while an old
  connection keeps working; a certificate that does not load keeps the old;
- TLS 1.1 is refused, TLS 1.2 and 1.3 are served."""
import asyncio
import os
import shutil
import ssl
import sys
import warnings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sss_harness as h  # noqa: E402


async def peer_cert(port, ctx):
    """A new TLS connection's server certificate (DER) and protocol version."""
    r, w = await asyncio.wait_for(
        asyncio.open_connection("127.0.0.1", port, ssl=ctx, server_hostname="localhost"), h.T(20))
    try:
        obj = w.get_extra_info("ssl_object")
        return obj.getpeercert(binary_form=True), obj.version()
    finally:
        w.close()


def der_of(pem_path):
    with open(pem_path) as f:
        return ssl.PEM_cert_to_DER_cert(f.read())


async def eof_within(r, seconds):
    """Read until the server closes; True if it did within `seconds`."""
    try:
        while await asyncio.wait_for(r.read(4096), h.T(seconds)):
            pass
        return True
    except asyncio.TimeoutError:
        return False
    except (ConnectionResetError, BrokenPipeError):
        return True


async def echo_ok(c, srv, ctx, what):
    try:
        async with h.ws_connect(srv, ssl=ctx) as ws:
            await ws.send("still here")
            got = await asyncio.wait_for(ws.recv(), h.T(20))
            return c.eq(got, "still here", what)
    except Exception as e:  # noqa: BLE001
        return c.fail(what, f"{type(e).__name__}: {e}")


async def exchange(c, srv, ctx):
    async with h.ws_connect(srv, ssl=ctx) as ws:
        tls = ws.transport.get_extra_info("ssl_object")
        c.eq(tls.version(), "TLSv1.3", "wss:// agrees on TLS 1.3 by default")
        for n in (0, 1, 125, 126, 16383, 16384, 65536, 1 << 20):
            body = os.urandom(n)
            await ws.send(body)
            got = await asyncio.wait_for(ws.recv(), h.T(30))
            c.ok(got == body, f"binary echo of {n} bytes over TLS", f"got len={len(got)}")
        msgs = [f"m{i}" * 100 for i in range(300)]
        for m in msgs:
            await ws.send(m)
        got = [await asyncio.wait_for(ws.recv(), h.T(30)) for _ in msgs]
        c.ok(got == msgs, "300 pipelined messages echoed in order over TLS")


async def static_https(c, srv, ctx):
    r, w = await asyncio.open_connection("127.0.0.1", srv.port, ssl=ctx,
                                         server_hostname="localhost")
    w.write(b"GET /page.html HTTP/1.1\r\nHost: localhost\r\n\r\n")
    await w.drain()
    data = b""
    try:
        while True:
            chunk = await asyncio.wait_for(r.read(65536), h.T(20))
            if not chunk:
                break
            data += chunk
    except (ConnectionResetError, ssl.SSLError):
        pass
    w.close()
    head, _, body = data.partition(b"\r\n\r\n")
    c.ok(head.startswith(b"HTTP/1.1 200"), "a --static file over https:// is 200", head[:80])
    c.eq(body, b"<p>hello</p>" * 10000, "... with its whole body (several chunks)")


async def garbage(c, srv, ctx):
    for what, data in (("a plain HTTP request", h.upgrade_request("/")),
                       ("random bytes", os.urandom(600)),
                       ("a record header with a huge length", b"\x16\x03\x01\xff\xff" + b"\0" * 64)):
        r, w = await asyncio.open_connection("127.0.0.1", srv.port)
        w.write(data)
        await w.drain()
        c.ok(await eof_within(r, 20), f"{what} instead of a ClientHello: that connection is closed")
        w.close()
    await echo_ok(c, srv, ctx, "a good wss:// client still echoes after the garbage")


async def stall(c, srv, ctx):
    # Half a ClientHello's record header, then nothing.
    r, w = await asyncio.open_connection("127.0.0.1", srv.port)
    w.write(b"\x16\x03\x01")
    await w.drain()
    # Meanwhile others are served.
    await echo_ok(c, srv, ctx, "a good client is served while another handshake stalls")
    c.ok(await eof_within(r, 30), "a stalled TLS handshake is closed (--handshake-timeout 1s)")
    w.close()


async def versions(c, srv, ca):
    old = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    old.check_hostname = False
    old.verify_mode = ssl.CERT_NONE
    old.set_ciphers("DEFAULT:@SECLEVEL=0")  # OpenSSL 3 offers 1.1 only at level 0
    with warnings.catch_warnings():  # TLS 1.1 is deprecated: that is the point
        warnings.simplefilter("ignore", DeprecationWarning)
        old.minimum_version = ssl.TLSVersion.TLSv1_1
        old.maximum_version = ssl.TLSVersion.TLSv1_1
    try:
        await peer_cert(srv.port, old)
        c.fail("a TLS 1.1 client is refused", "the handshake succeeded")
    except (ssl.SSLError, ConnectionResetError) as e:
        c.ok(True, "a TLS 1.1 client is refused", str(e))
    for v in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
        ctx = ca.client_context(minimum_version=v, maximum_version=v)
        try:
            _, got = await peer_cert(srv.port, ctx)
            c.eq(got, v.name.replace("_", "."), f"a {v.name} client is served")
        except Exception as e:  # noqa: BLE001
            c.fail(f"a {v.name} client is served", f"{type(e).__name__}: {e}")


async def wait_log_count(srv, text, n, timeout=20):
    deadline = asyncio.get_running_loop().time() + h.T(timeout)
    while srv.log().count(text) < n:
        if asyncio.get_running_loop().time() > deadline:
            return False
        await asyncio.sleep(0.05)
    return True


async def reload(c, srv, ca, cert, key, first):
    ctx = ca.client_context()
    der, _ = await peer_cert(srv.port, ctx)
    c.ok(der == der_of(first), "before SIGHUP: the first certificate")
    async with h.ws_connect(srv, ssl=ctx) as old:
        await old.send("before")
        c.eq(await asyncio.wait_for(old.recv(), h.T(20)), "before", "an old connection echoes")
        second, second_key = ca.issue("second")
        shutil.copy(second, cert)
        shutil.copy(second_key, key)
        srv.send_signal(__import__("signal").SIGHUP)
        c.ok(await wait_log_count(srv, "tls certificate reloaded", srv.workers),
             "SIGHUP: every worker reloads the certificate")
        for i in range(4):  # SO_REUSEPORT spreads them over both workers
            der, _ = await peer_cert(srv.port, ctx)
            c.ok(der == der_of(second), f"after SIGHUP: new connection {i} gets the new certificate")
        await old.send("after")
        c.eq(await asyncio.wait_for(old.recv(), h.T(20)), "after",
             "the connection made before SIGHUP keeps working")
        # A key that does not load: the workers keep the certificate they have.
        with open(key, "w") as f:
            f.write("not a key\n")
        srv.send_signal(__import__("signal").SIGHUP)
        c.ok(await wait_log_count(srv, "tls reload failed", srv.workers),
             "a broken key on SIGHUP is logged by every worker")
        der, _ = await peer_cert(srv.port, ctx)
        c.ok(der == der_of(second), "... and the certificate in use stays")
        await old.send("still")
        c.eq(await asyncio.wait_for(old.recv(), h.T(20)), "still", "... and the old connection too")
    text = srv.log()
    for bad in (" error ", " warn "):
        lines = [line for line in text.splitlines() if bad in line and "tls reload failed" not in line]
        c.ok(not lines, f"no{bad}line but the reload failure", "; ".join(lines[:3]))


async def bad_flags(c, ca):
    cert, key = ca.issue("flags")
    for what, flags, needle in (
            ("--tls-cert without --tls-key", ["--tls-cert", cert], "go together"),
            ("a missing certificate file", ["--tls-cert", "/nonexistent.pem", "--tls-key", key],
             "/nonexistent.pem"),
            ("a key of another certificate", ["--tls-cert", cert, "--tls-key", ca.ca_key],
             ca.ca_key)):
        proc = await asyncio.create_subprocess_exec(
            h.server_binary(), "--host", "127.0.0.1", "--port", "0", "--echo", *flags,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        out, _ = await asyncio.wait_for(proc.communicate(), h.T(20))
        c.ok(proc.returncode == 2 and needle in out.decode(),
             f"{what}: exit 2 with a one-line reason", f"{proc.returncode} {out[-300:]!r}")


async def main(c):
    ca = h.TestCA()
    first, first_key = ca.issue("first")
    # The server's files, replaced in place for the reload.
    cert, key = os.path.join(ca.dir, "live.pem"), os.path.join(ca.dir, "live.key")
    shutil.copy(first, cert)
    shutil.copy(first_key, key)
    www = os.path.join(ca.dir, "www")
    os.mkdir(www)
    with open(os.path.join(www, "page.html"), "wb") as f:
        f.write(b"<p>hello</p>" * 10000)
    srv = await h.Server(c, workers=2, tls=(cert, key), name="tls",
                         flags=["--handshake-timeout", "1s", "--max-message-size", "2m",
                                "--static", www]).start()
    ctx = ca.client_context()
    await exchange(c, srv, ctx)
    await static_https(c, srv, ctx)
    await garbage(c, srv, ctx)
    await stall(c, srv, ctx)
    await versions(c, srv, ca)
    await reload(c, srv, ca, cert, key, first)
    await srv.stop()
    await bad_flags(c, ca)
    shutil.rmtree(ca.dir, ignore_errors=True)


if __name__ == "__main__":
    h.main(main, "test_tls")
