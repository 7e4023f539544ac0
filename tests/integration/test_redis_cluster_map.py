"""Redis Cluster slot maps of any shape, and the bound on nodes (issue 15):

- a 2-master cluster whose slots alternate between the masters (CLUSTER
  SLOTS then lists 16,384 ranges, the most a map can have; migrations leave
  maps cut into many ranges): a host reads the whole map and delivers
  channels of both masters;
- --redis-cluster-max-nodes 1 on the same cluster: the second master is
  logged as beyond the bound, a publish on one of its channels is answered
  503, one on the first master's is delivered;
- a master replaced by one on another address (as a restarted pod comes
  back), with --redis-cluster-max-nodes 2 already taken by the two first,
  after the host read a map in which its slots had no master: the host
  reads the map again until they have one, and the place of the master the
  map names no more serves the new one (before, they were answered 503
  until a restart).
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sss_harness as h  # noqa: E402
from sss_harness import T  # noqa: E402
from svc_redis_cluster import add_nodes, bulk_strings  # noqa: E402
from test_redis_cluster import start_host, subscriber, wait_until  # noqa: E402


class AlternatingCluster:
    """Two masters, no replicas: even slots on a, odd slots on b."""

    def __init__(self):
        self.nodes = []
        try:
            add_nodes(self.nodes, 2)
            a, b = self.nodes
            b.command("CLUSTER", "MEET", "127.0.0.1", str(a.port))
            a.command("CLUSTER", "ADDSLOTS", *[str(s) for s in range(0, 16384, 2)])
            b.command("CLUSTER", "ADDSLOTS", *[str(s) for s in range(1, 16384, 2)])
            for _ in range(600):
                if all("cluster_state:ok" in n.info() for n in self.nodes):
                    return
                time.sleep(0.1)
            raise RuntimeError("the cluster never became ok: "
                               + " | ".join(n.info().split("\r\n")[0] for n in self.nodes))
        except BaseException:
            self.close()
            raise

    def on_a(self, channel):
        """Whether channel's keys (hash tag {channel}) are in one of a's (even) slots."""
        raw = self.nodes[0].command("CLUSTER", "KEYSLOT", f"sss:{{{channel}}}")
        return int(raw.strip().lstrip(b":")) % 2 == 0

    def close(self):
        for n in self.nodes:
            n.close()
        self.nodes = []


async def test_map(c):
    cl = AlternatingCluster()
    try:
        ranges = cl.nodes[0].command("CLUSTER", "SLOTS").count(b"127.0.0.1")
        c.eq(ranges, 16384, "CLUSTER SLOTS lists every slot as a range of its own")
        names = [f"m{i}" for i in range(40)]
        on_a = [n for n in names if cl.on_a(n)][:3]
        on_b = [n for n in names if not cl.on_a(n)][:3]
        c.ok(len(on_a) == 3 and len(on_b) == 3, "channels on both masters", f"{on_a} {on_b}")
        chans = on_a + on_b

        srv, api = await start_host(c, "h1", f"127.0.0.1:{cl.nodes[0].port}")
        c.ok(await srv.wait_log(r"cluster slot map read from \S+: 16384 ranges", timeout=30),
             "the host reads the whole map", srv.log()[-600:])
        c.eq(await h.metric_wait(api.port, "sss_engine_up", 1), 1, "the engine is up")
        f = await subscriber(srv, range(len(chans)), names=chans)
        for i, ch in enumerate(chans):
            status, _, _ = await api.publish_value(ch, i)
            c.eq(status, 200, f"publish on {ch} ({'a' if ch in on_a else 'b'}) acknowledged")
        await wait_until(lambda: f.count() >= len(chans), 30)
        c.eq(sorted((ch, msg) for ch, got in f.by_chan.items() for _, msg in got),
             sorted((ch, i) for i, ch in enumerate(chans)), "each delivered once")
        shard = [set(bulk_strings(n.command("PUBSUB", "SHARDCHANNELS"))) for n in cl.nodes]
        c.eq((shard[0], shard[1]), ({f"sss:{{{ch}}}" for ch in on_a},
                                    {f"sss:{{{ch}}}" for ch in on_b}),
             "each channel is subscribed on its own master")
        await srv.stop()

        srv, api = await start_host(c, "h2", f"127.0.0.1:{cl.nodes[0].port}",
                                    ["--redis-cluster-max-nodes", "1", "--redis-wait", "500ms"])
        c.ok(await srv.wait_log(r"more than 1 Redis nodes \(--redis-cluster-max-nodes\)",
                                timeout=30), "the master beyond the bound is logged",
             srv.log()[-600:])
        status, _, _ = await api.publish_value(on_a[0], "a")
        c.eq(status, 200, "a publish on the first master's channel is acknowledged")
        status, _, _ = await api.publish_value(on_b[0], "b")
        c.eq(status, 503, "a publish on the unserved master's channel is answered 503")
        c.ok(srv.proc.poll() is None, "the host runs on")
        await srv.stop()
    finally:
        cl.close()


def node_id(node):
    return node.command("CLUSTER", "MYID").decode().split("\r\n")[1]


def serves(view, nid, slots):
    """Whether node view's map gives the slot range slots ("8192-16383") to node nid."""
    for line in view.command("CLUSTER", "NODES").decode(errors="replace").split("\n"):
        f = line.split()
        if len(f) > 8 and f[0] == nid and slots in f[8:]:
            return True
    return False


async def test_node_replaced(c):
    nodes = []
    try:
        add_nodes(nodes, 3)
        a, b, new = nodes
        b.command("CLUSTER", "MEET", "127.0.0.1", str(a.port))
        a.command("CLUSTER", "ADDSLOTSRANGE", "0", "8191")
        b.command("CLUSTER", "ADDSLOTSRANGE", "8192", "16383")
        c.ok(await wait_until(lambda: all("cluster_state:ok" in n.info() for n in (a, b)), 60),
             "a 2-master cluster is up")
        srv, api = await start_host(c, "h3", f"127.0.0.1:{a.port}",
                                    ["--redis-cluster-max-nodes", "2", "--redis-wait", "2s"])
        c.eq(await h.metric_wait(api.port, "sss_engine_up", 1), 1, "the engine is up on 2 nodes")
        names = [f"r{i}" for i in range(40)]
        slot = {n: int(a.command("CLUSTER", "KEYSLOT", f"sss:{{{n}}}").strip().lstrip(b":"))
                for n in names}
        on_a = next(n for n in names if slot[n] < 8192)
        on_b = next(n for n in names if slot[n] >= 8192)
        status, _, _ = await api.publish_value(on_a, "first")
        c.eq(status, 200, "a publish on the first master's channel is acknowledged")

        # The second master leaves; a new one on another address takes its slots.
        new.command("CLUSTER", "MEET", "127.0.0.1", str(a.port))
        c.ok(await wait_until(lambda: node_id(new).encode() in a.command("CLUSTER", "NODES"),
                              60), "the new node joined")
        b.command("CLUSTER", "DELSLOTSRANGE", "8192", "16383")
        a.command("CLUSTER", "DELSLOTSRANGE", "8192", "16383")
        b.stop()
        # The host reads a map with a hole in it first (nothing sent for those
        # slots could ever bring a MOVED): it must read it again by itself.
        c.ok(await srv.wait_log(r"8192 slots have no master in the map", timeout=60),
             "the host reads the map with the second half unassigned", srv.log()[-600:])
        new.command("CLUSTER", "BUMPEPOCH")
        # The new node may still hold b's claim on the slots: b's gossip that
        # it gave them up need not have reached it before b stopped (a loaded
        # machine), and ADDSLOTSRANGE refuses busy slots. Forget them first
        # (an error when it never heard of them: nothing to forget).
        new.command("CLUSTER", "DELSLOTSRANGE", "8192", "16383")
        added = new.command("CLUSTER", "ADDSLOTSRANGE", "8192", "16383")
        c.eq(added.strip(), b"+OK", "the new node takes the second half")
        new_id = node_id(new)
        c.ok(await wait_until(lambda: serves(a, new_id, "8192-16383")
                              and "cluster_state:ok" in a.info(), 60),
             "the first master maps the second half to the new node",
             a.command("CLUSTER", "NODES").decode(errors="replace"))
        c.ok(await srv.wait_log(r"is in the slot map no more: its place serves 127\.0\.0\.1 "
                                f"port {new.port}", timeout=60),
             "the host gives the gone master's place to the new one", srv.log()[-800:])
        f = await subscriber(srv, [0], names=[on_b])
        status, _, text = await api.publish_value(on_b, "again")
        c.ok(status == 200, "a publish on a channel of the new node is acknowledged",
             f"{status} {text}")
        c.ok(await wait_until(lambda: f.count() >= 1, 30), "and delivered")
        c.ok("none of them free" not in srv.log(), "no master was left unserved",
             srv.log()[-600:])
        await srv.stop()
    finally:
        for n in nodes:
            n.close()


if __name__ == "__main__":
    h.main([test_map, test_node_replaced], "test_redis_cluster_map")
