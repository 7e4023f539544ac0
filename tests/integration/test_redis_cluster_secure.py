"""A Redis Cluster as hosted services run it (issue 15, items 3 and 4):
6 nodes that speak only TLS (port 0, tls-port, tls-cluster and
tls-replication: clients, the cluster bus and replication; each asks
clients for a certificate) with the default user off and an ACL user
limited to sss's keys and channels (svc_redis_cluster.py, certificates made
by openssl in svc_tls.py). One cluster serves every check:

- two sss hosts on rediss://app:password@ seeds (host 1: the first seed
  with the user, a second seed as bare host:port, which takes the first's
  TLS and user; host 2: one seed, a replica) deliver channels spread over
  the 3 masters across hosts, once and in order: every connection a host
  opens after the seed (commands and shard subscriptions on each master it
  learns from CLUSTER SLOTS) speaks TLS and logs in as the ACL user (CLIENT
  LIST on every master shows the user's connections and nobody else's);
  the password is not in the log;
- a wrong password, and a server certificate from another CA, leave the
  engine down with the reason in the log, publishes answered 503, no
  restart;
- seeds that name different schemes stop the server at start.
"""
import asyncio
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sss_harness as h  # noqa: E402
from sss_cluster import Api, uid_key  # noqa: E402
from sss_harness import T  # noqa: E402
from svc_redis_cluster import RedisCluster  # noqa: E402
from svc_tls import Pki  # noqa: E402
from test_redis_cluster import (exits, publish_alternately, shard_channels, subscriber,  # noqa: E402
                                wait_until)

APP_PW = "app-pw-for-test-redis-cluster-secure-29"
USERS = {"admin": ("admin-pw-secure-31", "~* &* +@all"),
         "app": (APP_PW, "~sss:* &sss:* +@all")}
NCHAN = 12
NMSG = 4


def chan(i):
    return f"s{i}"


async def start_host(c, name, seeds, flags):
    """A host on the cluster; the seeds (with the password) in the environment."""
    srv = await h.Server(c, flags=["--engine", "redis", "--host-id", name,
                                   "--api-listen", "127.0.0.1:0", *flags],
                         echo=False, env={"SSS_REDIS_CLUSTER": seeds}, name=name).start()
    m = await srv.wait_log(r"api listening on 127\.0\.0\.1:(\d+)", timeout=20)
    return srv, Api(int(m.group(1)))


def app_clients(node):
    """The users of the clients connected to node (CLIENT LIST), but the test's own."""
    raw = node.command("CLIENT", "LIST").decode(errors="replace")
    return [m.group(1) for m in re.finditer(r" user=(\S+)", raw)
            if m.group(1) != "admin"]


async def down(c, name, seeds, flags, reason, what):
    """The server runs on, the engine stays down with reason in the log, a publish is 503."""
    srv, api = await start_host(c, name, seeds, flags + ["--redis-wait", "500ms",
                                                         "--redis-connect-timeout", "500ms"])
    c.ok(await srv.wait_log(reason, timeout=20), f"{what}: the log says why ({reason})",
         srv.log()[-800:])
    c.eq(await h.metric_sum(api.port, "sss_engine_up"), 0, f"{what}: sss_engine_up is 0")
    r = await api.publish("x", "t", "1")
    c.eq(r.status, 503, f"{what}: a publish is answered 503")
    await asyncio.sleep(T(1))
    c.ok(srv.proc.poll() is None and "restarting" not in srv.log(),
         f"{what}: the server runs on, nothing restarts")
    c.ok(APP_PW not in srv.log(), f"{what}: the password is not in the log")
    await srv.stop()


async def test_tls_acl(c):
    pki = Pki()
    cl = None
    try:
        cl = RedisCluster(tls=pki, users=USERS)
        n = cl.nodes
        tls = ["--redis-ca-file", pki.ca, "--redis-cert-file", pki.client_cert,
               "--redis-key-file", pki.client_key]
        user = f"rediss://app:{APP_PW}@"
        h1, a1 = await start_host(c, "h1", f"{user}127.0.0.1:{n[0].port},127.0.0.1:{n[1].port}",
                                  tls)
        h2, a2 = await start_host(c, "h2", f"{user}127.0.0.1:{n[5].port}", tls)
        for srv, api in ((h1, a1), (h2, a2)):
            c.eq(await h.metric_wait(api.port, "sss_engine_up", 1), 1,
                 f"{srv.name}: the engine is up on the TLS cluster as the ACL user")
        f1 = await subscriber(h1, range(NCHAN), names=[chan(i) for i in range(NCHAN)])
        f2 = await subscriber(h2, range(NCHAN), names=[chan(i) for i in range(NCHAN)])
        got = shard_channels(cl)
        c.ok(len(got) == 3 and all(got.values()),
             "the channels are SSUBSCRIBEd on all 3 masters", str(got))
        c.eq(set().union(*got.values()), {f"sss:{{{chan(i)}}}" for i in range(NCHAN)},
             "SHARDCHANNELS: exactly the hosts' channels")

        acked = await publish_alternately(c, a1, a2, [chan(i) for i in range(NCHAN)], NMSG,
                                          "over TLS as the ACL user")
        total = NCHAN * NMSG
        c.eq(sum(len(v) for v in acked.values()), total, "every publish is acknowledged")
        await wait_until(lambda: f1.count() >= total and f2.count() >= total, 30)
        for name, f in (("host 1", f1), ("host 2", f2)):
            bad = [chan(i) for i in range(NCHAN) if f.by_chan.get(chan(i), []) != acked[i]]
            c.eq(bad, [], f"{name}: every channel has every message once, in uid order")
        c.ok(all(all(uid_key(a[0]) < uid_key(b[0]) for a, b in zip(v, v[1:]))
                 for v in acked.values()), "uids grow per channel")

        for m in cl.masters():
            users = app_clients(m)
            c.ok(users and set(users) == {"app"},
                 f"master {m.port}: the hosts' connections are the ACL user's, no other",
                 str(users))
        for srv in (h1, h2):
            c.ok(APP_PW not in srv.log(), f"{srv.name}: the password is not in the log")
            c.ok("restarting" not in srv.log(), f"{srv.name}: no process restarted")
        await f1.ws.close()
        await f2.ws.close()
        await h1.stop()
        await h2.stop()

        await down(c, "h-wrongpw", f"rediss://app:wrong-pw@127.0.0.1:{n[0].port}", tls,
                   "WRONGPASS", "a wrong password")
        other = ["--redis-ca-file", pki.other_ca] + tls[2:]
        await down(c, "h-otherca", f"{user}127.0.0.1:{n[0].port}", other,
                   "certificate verify failed", "a server certificate of another CA")
        exits(c, ["--engine", "redis", "--redis-cluster",
                  f"rediss://127.0.0.1:{n[0].port},redis://127.0.0.1:{n[1].port}"] + tls,
              "seeds mix", "seeds naming rediss:// and redis://")
    finally:
        if cl:
            cl.close()
        pki.close()


if __name__ == "__main__":
    h.main([test_tls_acl], "test_redis_cluster_secure")
