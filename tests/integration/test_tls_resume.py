"""TLS session resumption (--tls-ticket-lifetime) against the real sss-server,
with Python's ssl module as the client:

- over TLS 1.3 and TLS 1.2, a session whose ticket one worker issued
  resumes on the worker the master forks after the first is SIGKILLed (every
  worker, restarted ones too, derives the same ticket keys), and the upgrade
  to WebSocket works over it; sss_tls_resumed_total and
  sss_tls_handshakes_total count it;
- across an upgrade (SIGUSR2), whose TLS clients reconnect, a session from
  before resumes on the new master's worker (the secret crosses exec);
- a ticket older than --tls-ticket-lifetime gets a full handshake;
- --tls-ticket-lifetime 0: no ticket is issued, every handshake is full."""
import asyncio
import os
import shutil
import signal
import socket
import ssl
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sss_harness as h  # noqa: E402
from sss_harness import T  # noqa: E402
from test_upgrade import new_master, stop_new  # noqa: E402

def upgrade(port, ctx, session=None):
    """A TLS connection (resuming session, if any) that asks for the WebSocket
    upgrade: (status line, whether the session was reused, the session now)."""
    with socket.create_connection(("127.0.0.1", port), timeout=T(20)) as s:
        with ctx.wrap_socket(s, server_hostname="localhost", session=session) as t:
            t.sendall(h.upgrade_request(host="localhost"))
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = t.recv(4096)
                if not chunk:
                    break
                data += chunk
            return data.split(b"\r\n")[0].decode(), t.session_reused, t.session


async def start(c, ca, name, extra):
    cert, key = ca.issue(name)
    srv = await h.Server(c, workers=1, tls=(cert, key), name=name, echo=False,
                         flags=["--api-listen", "127.0.0.1:0", *extra]).start()
    m = await srv.wait_log(r"api listening on 127\.0\.0\.1:(\d+)", timeout=20)
    return srv, int(m.group(1))


async def across_restart(c, ca):
    srv, api = await start(c, ca, "resume", [])
    try:
        sessions = {}
        for v in ("TLSv1_3", "TLSv1_2"):
            ctx = ca.client_context(minimum_version=getattr(ssl.TLSVersion, v),
                                    maximum_version=getattr(ssl.TLSVersion, v))
            status, reused, sess = await asyncio.to_thread(upgrade, srv.port, ctx)
            c.ok(status.startswith("HTTP/1.1 101") and not reused, f"{v}: a full handshake first",
                 f"{status} reused={reused}")
            c.ok(sess is not None and sess.has_ticket, f"{v}: the server issued a ticket")
            sessions[v] = (ctx, sess)
        before = srv.worker_pids()[0]
        os.kill(before, 9)
        c.ok(await srv.wait_log(r"master: worker 0 started pid=(?!%d\b)\d+" % before, timeout=30),
             "the master forks a new worker after SIGKILL")
        for v, (ctx, sess) in sessions.items():
            status, reused, _ = await asyncio.to_thread(upgrade, srv.port, ctx, sess)
            c.ok(status.startswith("HTTP/1.1 101") and reused,
                 f"{v}: the ticket of the killed worker resumes on the new one, and the "
                 "upgrade works over it", f"{status} reused={reused}")
        c.eq(await h.metric_wait(api, "sss_tls_resumed_total", 2), 2,
             "sss_tls_resumed_total counts the new worker's 2 resumptions")
        c.eq(await h.metric_wait(api, "sss_tls_handshakes_total", 2), 2,
             "sss_tls_handshakes_total counts them among its handshakes")
    finally:
        await srv.stop()


async def across_upgrade(c, ca):
    srv, _ = await start(c, ca, "upgrade", [])
    pid = None
    try:
        ctx = ca.client_context()
        _, _, sess = await asyncio.to_thread(upgrade, srv.port, ctx)
        first = len(srv.log_lines())
        srv.send_signal(signal.SIGUSR2)
        pid = await new_master(c, srv, first)
        c.eq(await srv.wait_exit(60), 0, "the old master exits 0 once the new one serves")
        status, reused, _ = await asyncio.to_thread(upgrade, srv.port, ctx, sess)
        c.ok(status.startswith("HTTP/1.1 101") and reused,
             "a session from before the upgrade resumes on the new master's worker",
             f"{status} reused={reused}")
    finally:
        if pid:
            await stop_new(c, srv, pid)
        else:
            await srv.stop()


async def not_resumed(c, ca, lifetime, wait):
    """--tls-ticket-lifetime lifetime; a session reused after wait seconds gets
    a full handshake: lifetime 0 issues no ticket, a ticket older than the
    lifetime is refused."""
    srv, api = await start(c, ca, f"lifetime-{lifetime}", ["--tls-ticket-lifetime", lifetime])
    try:
        ctx = ca.client_context()
        _, _, sess = await asyncio.to_thread(upgrade, srv.port, ctx)
        has_ticket = sess is not None and sess.has_ticket
        c.ok(has_ticket == (lifetime != "0"), f"lifetime {lifetime}: a ticket issued: {has_ticket}")
        await asyncio.sleep(wait)  # however slow the machine, the ticket can only be older
        status, reused, _ = await asyncio.to_thread(upgrade, srv.port, ctx, sess)
        c.ok(status.startswith("HTTP/1.1 101") and not reused,
             f"lifetime {lifetime}, reused after {wait} s: a full handshake",
             f"{status} reused={reused}")
        c.eq(await h.metric_sum(api, "sss_tls_resumed_total"), 0,
             f"lifetime {lifetime}: none counted")
    finally:
        await srv.stop()


async def main(c):
    ca = h.TestCA()
    try:
        await across_restart(c, ca)
        await across_upgrade(c, ca)
        await not_resumed(c, ca, "1s", 2.5)  # past 2 periods of 1 s
        await not_resumed(c, ca, "0", 0)
    finally:
        shutil.rmtree(ca.dir, ignore_errors=True)


if __name__ == "__main__":
    h.main(main, "test_tls_resume")
