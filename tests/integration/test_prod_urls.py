"""Issue 15, item 3: the connection strings of hosted Redis and MongoDB.
- redis://user:password@host: an ACL user (AUTH user password) on both of
  the engine's connections; a wrong password or an unknown user leaves the
  engine down with Redis's own reason in the log and publishes answered 503,
  never a restart loop;
- rediss:// with --redis-ca-file, --redis-cert-file and --redis-key-file: TLS
  to a redis-server that asks for a client certificate (made by openssl here);
  a server certificate from another CA, or no client certificate, is refused
  the same way (503, the TLS reason in the log); a TLS file that cannot be
  read, or TLS files with redis://, stop the server at start (exit 2);
- --mongo takes any URI libmongoc accepts: tls=true with tlsCAFile reaches
  FerretDB's TLS listener, mongodb+srv:// starts (the store is then down, as
  the name does not resolve here), and a URI libmongoc refuses stops the
  server at start with libmongoc's reason and no password echoed.
The real sss-server, redis-server (ACL, TLS), FerretDB (TLS listener)."""
import asyncio
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sss_harness as h  # noqa: E402
from svc_ferretdb import FerretDB, installed as ferret_installed, stop_all  # noqa: E402
from svc_redis import Redis, free_port  # noqa: E402
from svc_tls import Pki  # noqa: E402
from test_api import Api  # noqa: E402

APP_PW = "app-pw-for-test-prod-urls-17"


async def start(c, name, env, flags=()):
    """An sss-server on Redis (the URL from the environment: no warning), with its API."""
    srv = await h.Server(c, flags=["--api-listen", "127.0.0.1:0", "--engine",
                                   "redis", "--redis-wait", "1s"] + list(flags),
                         echo=False, env=env, name=name).start()
    m = await srv.wait_log(r"api listening on 127\.0\.0\.1:(\d+)", timeout=20)
    return srv, Api(int(m.group(1)))


async def delivers(c, srv, api, what):
    """The engine is up, and a publish comes back to a subscriber through Redis."""
    c.eq(await h.metric_wait(api.port, "sss_engine_up", 1), 1, f"{what}: the engine is up")
    ws = await h.begun(srv)
    await ws.send(json.dumps({"sys": 1, "channel": "news", "id": 1}))
    r = await h.rx_until(ws, lambda m: m.get("id") == 1)
    c.ok(r.get("result") is True, f"{what}: a subscription is confirmed", str(r))
    p = await api.publish("news", "t", '"%s"' % what)
    c.eq(p.status, 200, f"{what}: a publish is acknowledged")
    f = await h.rx_until(ws, lambda m: m.get("msg") == what)
    c.eq(f.get("channel"), "news", f"{what}: the subscriber gets it through Redis")
    await ws.close()


async def refused(c, srv, api, reason, what):
    """The engine stays down with a clear reason; publishes get 503; nothing restarts."""
    m = await srv.wait_log(reason, timeout=20)
    c.ok(m, f"{what}: the log says why ({reason})", srv.log()[-800:])
    c.eq(await h.metric_sum(api.port, "sss_engine_up"), 0, f"{what}: the engine is down")
    p = await api.publish("news", "t", "1")
    c.eq(p.status, 503, f"{what}: a publish is answered 503")
    c.ok(srv.proc.poll() is None and "restarting" not in srv.log(),
         f"{what}: the server runs on, no process restarted", srv.log()[-800:])


def exits(c, flags, env, want, what, secret=None):
    """sss-server stops at start with exit 2 and a line containing want."""
    p = subprocess.run([h.server_binary(), "--host", "127.0.0.1", "--port", "0"] + flags,
                       capture_output=True, timeout=h.T(30),
                       env={**{k: v for k, v in os.environ.items() if not k.startswith("SSS_")},
                            **env})
    err = p.stderr.decode()
    c.ok(p.returncode == 2 and want in err, f"{what}: exit 2 with '{want}'",
         f"status {p.returncode}: {err[-400:]}")
    if secret:
        c.ok(secret not in err, f"{what}: the password is not echoed", err[-400:])


async def test_acl(c):
    redis = Redis(persist=False)
    try:
        # An ACL user limited to sss's keys and channels; the default user
        # needs another password, so only the user can be the one that works.
        redis.command("ACL", "SETUSER", "app", "on", ">" + APP_PW, "~sss:*", "&sss:*", "+@all")
        redis.command("CONFIG", "SET", "requirepass", "default-pw-unused")
        base = f"127.0.0.1:{redis.port}/0"
        srv, api = await start(c, "acl", {"SSS_REDIS": f"redis://app:{APP_PW}@{base}"})
        await delivers(c, srv, api, "ACL user")
        c.ok(APP_PW not in srv.log(), "ACL user: the password is not in the log")
        await srv.stop()
        srv, api = await start(c, "acl-wrong", {"SSS_REDIS": f"redis://app:wrong-pw@{base}"})
        await refused(c, srv, api, "WRONGPASS", "wrong password")
        await srv.stop()
        srv, api = await start(c, "acl-nouser", {"SSS_REDIS": f"redis://nobody:{APP_PW}@{base}"})
        await refused(c, srv, api, "WRONGPASS", "unknown user")
        await srv.stop()
        # A user without a password is no ACL login.
        exits(c, ["--engine", "redis", "--redis", f"redis://app:@{base}"], {}, "not redis[s]://",
              "user without password")
    finally:
        redis.close()


async def test_tls(c):
    pki = Pki()
    redis = Redis(persist=False, tls=pki, args=["--bind", "127.0.0.1", "127.0.0.2"])
    try:
        url = f"rediss://127.0.0.1:{redis.tls_port}/0"
        client = ["--redis-cert-file", pki.client_cert, "--redis-key-file", pki.client_key]
        srv, api = await start(c, "tls", {"SSS_REDIS": url},
                               ["--redis-ca-file", pki.ca] + client)
        await delivers(c, srv, api, "TLS")
        c.ok("is up (TLS)" in srv.log(), "TLS: the log says the connections use TLS")
        await srv.stop()
        srv, api = await start(c, "tls-other-ca", {"SSS_REDIS": url},
                               ["--redis-ca-file", pki.other_ca] + client)
        await refused(c, srv, api, "certificate verify failed", "a server certificate of "
                      "another CA")
        await srv.stop()
        # The address the certificate names is checked too: it names 127.0.0.1 and
        # localhost, and Redis listens on 127.0.0.2 as well.
        srv, api = await start(c, "tls-name", {"SSS_REDIS": url.replace("127.0.0.1", "127.0.0.2")},
                               ["--redis-ca-file", pki.ca] + client)
        await refused(c, srv, api, "certificate verify failed", "a certificate for another "
                      "address")
        await srv.stop()
        srv, api = await start(c, "tls-dns", {"SSS_REDIS": url.replace("127.0.0.1", "localhost")},
                               ["--redis-ca-file", pki.ca] + client)
        await delivers(c, srv, api, "TLS to localhost")
        await srv.stop()
        srv, api = await start(c, "tls-no-client-cert", {"SSS_REDIS": url},
                               ["--redis-ca-file", pki.ca])
        await refused(c, srv, api, "TLS", "no client certificate")
        await srv.stop()
        srv, api = await start(c, "tls-to-plain", {
            "SSS_REDIS": f"rediss://127.0.0.1:{redis.port}/0"},
            ["--redis-ca-file", pki.ca, "--redis-connect-timeout", "500ms"])
        await refused(c, srv, api, "TLS handshake timed out", "TLS to a plain port "
                      "(--redis-connect-timeout)")
        await srv.stop()
        r = ["--engine", "redis"]
        exits(c, r + ["--redis", url, "--redis-ca-file", "/nonexistent/ca.pem"], {},
              "--redis-ca-file /nonexistent/ca.pem", "a CA file that is not there")
        exits(c, r + ["--redis", url, "--redis-ca-file", pki.ca, "--redis-cert-file",
                      pki.client_cert, "--redis-key-file", pki.server_key], {},
              "--redis-key-file", "a key that is not the certificate's")
        exits(c, r + ["--redis", url, "--redis-cert-file", pki.client_cert], {},
              "go together", "a certificate without its key")
        exits(c, r + ["--redis", f"redis://127.0.0.1:{redis.port}/0", "--redis-ca-file", pki.ca],
              {}, "rediss://", "TLS files with redis://")
    finally:
        redis.close()
        pki.close()


async def test_mongo(c):
    if not ferret_installed():
        c.fail("FerretDB is installed (tools/ferretdb.sh install)")
        return
    pki = Pki()
    tls_port = free_port()
    ferret = FerretDB(args=[f"--listen-tls=127.0.0.1:{tls_port}",
                            f"--listen-tls-cert-file={pki.server_cert}",
                            f"--listen-tls-key-file={pki.server_key}"]).start()
    redis = Redis(persist=False)
    try:
        env = {"SSS_REDIS": redis.url}
        tls_url = f"mongodb://127.0.0.1:{tls_port}/prod15?tls=true&tlsCAFile={pki.ca}"
        srv, api = await start(c, "mongo-tls", {**env, "SSS_MONGO": tls_url},
                               ["--store", "mongodb"])
        c.eq(await h.metric_wait(api.port, "sss_store_up", 1), 1,
             "tls=true: the store reaches FerretDB's TLS listener")
        await delivers(c, srv, api, "MongoDB over TLS")
        await srv.stop()
        other = tls_url.replace(pki.ca, pki.other_ca)
        srv, api = await start(c, "mongo-tls-other-ca", {**env, "SSS_MONGO": other},
                               ["--store", "mongodb"])
        await asyncio.sleep(h.T(2))
        c.eq(await h.metric_sum(api.port, "sss_store_up"), 0,
             "tls=true with another CA: the store is down, the server runs on")
        await srv.stop()
        srv_url = ("mongodb+srv://app:atlas-pw-15@cluster0.sss-test.invalid/sss?"
                   "replicaSet=rs0&authSource=admin&retryWrites=true&w=majority")
        srv, api = await start(c, "mongo-srv", {**env, "SSS_MONGO": srv_url},
                               ["--store", "mongodb"])
        c.ok(srv.proc.poll() is None and "atlas-pw-15" not in srv.log(),
             "mongodb+srv:// with replicaSet and authSource is accepted, its password not logged")
        await srv.stop()
        exits(c, ["--store", "mongodb", "--mongo",
                  "mongodb+srv://ann:hunter2-15@cluster0.sss-test.invalid:27017/x"], {},
              "Port numbers are prohibited in an SRV URI", "a URI libmongoc refuses",
              secret="hunter2-15")
        exits(c, ["--store", "mongodb", "--mongo", "postgres://127.0.0.1/x"], {},
              "not a MongoDB URI", "another scheme")
    finally:
        redis.close()
        stop_all()
        pki.close()


if __name__ == "__main__":
    h.main([test_acl, test_tls, test_mongo], "test_prod_urls")
