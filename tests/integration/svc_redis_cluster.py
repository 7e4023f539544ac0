"""A real Redis Cluster for the integration tests: 6 of Debian's
redis-server with cluster-enabled yes (3 masters, 3 replicas), each in its
own temp dir on a free loopback port below 55536 (each node's cluster bus
listens on port + 10000), created with redis-cli --cluster create and
waited for until every node says cluster_state:ok and every master has its
replica. cluster-node-timeout is short, so that a replica takes over a
dead master in a few seconds. With tls (svc_tls.Pki) every node speaks only
TLS (port 0, tls-port, tls-cluster and tls-replication: clients, the
cluster bus and replication) and asks clients for a certificate; with users
({name: (password, rules)}) the default user is off, the nodes replicate as
the first user (masteruser), and the test's own commands (command(), info(),
redis-cli --cluster create) log in as that user. The test fails, never
skips, when redis-server or redis-cli is missing: tools/bootstrap.sh
installs them."""
import os
import re
import shutil
import socket
import ssl
import subprocess
import time

from svc_redis import Redis, bindable, ephemeral_range, free_port, resp_command

NODE_TIMEOUT_MS = 1000


def cluster_port(taken):
    """A free loopback port (svc_redis.free_port) whose bus port (+10000) is
    free too and, like it, outside the kernel's ephemeral range (unless
    free_port found no room there and fell back to the kernel's choice)."""
    lo, hi = ephemeral_range()
    for _ in range(1000):
        port = free_port()
        bus = port + 10000
        outside = not lo <= bus <= hi or lo <= port <= hi
        if bus <= 65535 and outside and port not in taken and bus not in taken and bindable(bus):
            return port
    raise RuntimeError("no free port pair outside the ephemeral range")


def _resp_end(data, i):
    """Where the RESP value starting at data[i] ends, or None when incomplete."""
    eol = data.find(b"\r\n", i)
    if eol < 0:
        return None
    kind, head = data[i:i + 1], data[i + 1:eol]
    if kind in (b"+", b"-", b":"):
        return eol + 2
    if kind == b"$":
        n = int(head)
        end = eol + 2 + n + 2 if n >= 0 else eol + 2
        return end if len(data) >= end else None
    if kind == b"*":
        j = eol + 2
        for _ in range(max(int(head), 0)):
            j = _resp_end(data, j)
            if j is None:
                return None
        return j
    raise ValueError(f"not RESP: {data[i:i + 20]!r}")


def _user_args(users):
    """redis-server flags for ACL users: the default user off, each user on
    with its password and rules, replication as the first user."""
    if not users:
        return []
    args = ["--user", "default", "off"]
    for name, (password, rules) in users.items():
        args += ["--user", name, "on", ">" + password, *rules.split()]
    admin, (admin_pw, _) = next(iter(users.items()))
    return args + ["--masteruser", admin, "--masterauth", admin_pw]


class Node(Redis):
    """One cluster node: svc_redis.Redis with cluster flags, on a given port
    (with tls, its TLS port; the plain port is then off)."""

    def __init__(self, port, tls=None, users=None):
        self._fixed_port = port
        self._pki = tls
        self._login = next(iter(users.items())) if users else None
        args = ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                "--cluster-node-timeout", str(NODE_TIMEOUT_MS)]
        if tls:
            args += ["--port", "0", "--tls-port", str(port), "--tls-cluster", "yes",
                     "--tls-replication", "yes", "--tls-cert-file", tls.server_cert,
                     "--tls-key-file", tls.server_key, "--tls-ca-cert-file", tls.ca,
                     "--tls-client-cert-file", tls.client_cert,  # the bus's and replicas'
                     "--tls-client-key-file", tls.client_key,    # outgoing connections
                     "--tls-auth-clients", "yes"]
        super().__init__(persist=False, args=args + _user_args(users))

    def start(self):
        self.port = self._fixed_port
        super().start()

    def _connect(self):
        s = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        if not self._pki:
            return s
        ctx = ssl.create_default_context(cafile=self._pki.ca)
        ctx.load_cert_chain(self._pki.client_cert, self._pki.client_key)
        return ctx.wrap_socket(s, server_hostname="127.0.0.1")

    def command(self, *args):
        """One command and its whole raw reply, read until the RESP value is
        complete (svc_redis's reader waits for a timeout on arrays); logged
        in first as the admin user, if there are users."""
        with self._connect() as s:
            out, skip = resp_command(*args), 0
            if self._login:
                out = resp_command("AUTH", self._login[0], self._login[1][0]) + out
            s.sendall(out)
            data = b""
            while True:
                end = _resp_end(data, 0)
                if end is not None and self._login and not skip:
                    data, skip = data[end:], 1   # AUTH's +OK (or its error, then ours)
                    continue
                if end is not None:
                    return data
                chunk = s.recv(65536)
                if not chunk:
                    return data
                data += chunk

    def info(self):
        return self.command("CLUSTER", "INFO").decode(errors="replace")


def add_nodes(nodes, count, tls=None, users=None):
    """Start count cluster-enabled redis-servers on port pairs of their own
    (cluster_port), appending each to nodes as it starts, so that a caller
    that fails half-way still has the started ones to close."""
    taken = {p for n in nodes for p in (n.port, n.port + 10000)}
    for _ in range(count):
        port = cluster_port(taken)
        taken.update((port, port + 10000))
        nodes.append(Node(port, tls, users))
    return nodes


class RedisCluster:
    def __init__(self, tls=None, users=None):
        for tool in ("redis-server", "redis-cli"):
            if not shutil.which(tool):
                raise RuntimeError(f"{tool} is not installed (tools/bootstrap.sh installs it)")
        self.nodes = []
        try:
            add_nodes(self.nodes, 6, tls, users)
            addrs = [f"127.0.0.1:{n.port}" for n in self.nodes]
            cli, env = ["redis-cli"], dict(os.environ)
            if tls:
                cli += ["--tls", "--cacert", tls.ca, "--cert", tls.client_cert,
                        "--key", tls.client_key]
            if users:
                name, (password, _) = next(iter(users.items()))
                cli += ["--user", name]
                env["REDISCLI_AUTH"] = password
            p = subprocess.run(cli + ["--cluster", "create", *addrs,
                                      "--cluster-replicas", "1", "--cluster-yes"],
                               capture_output=True, timeout=60, env=env)
            if p.returncode != 0:
                raise RuntimeError("redis-cli --cluster create failed: "
                                   + p.stdout.decode(errors="replace")[-1500:])
            self.wait_ok()
        except BaseException:
            self.close()
            raise

    @property
    def seeds(self):
        return ",".join(f"127.0.0.1:{n.port}" for n in self.nodes[:2])

    def alive(self):
        return [n for n in self.nodes if n.proc is not None and n.proc.poll() is None]

    def masters(self):
        """The live nodes that are masters with slots now."""
        return [n for n in self.alive() if self.slots_of(n)]

    def slots_of(self, node):
        """The slot ranges ("0-5460") a master serves, from its own CLUSTER NODES line."""
        for line in node.command("CLUSTER", "NODES").decode(errors="replace").split("\n"):
            f = line.split()
            if len(f) > 2 and "myself" in f[2] and "master" in f[2]:
                return [s for s in f[8:] if s[0].isdigit()]
        return []

    def wait_ok(self, timeout=60):
        """Every live node says cluster_state:ok and every master has a live replica."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            alive = self.alive()
            if all("cluster_state:ok" in n.info() for n in alive):
                ms = self.masters()
                if len(ms) == 3 and all(self.replicas(m) >= (1 if len(alive) == 6 else 0)
                                        for m in ms):
                    return
            time.sleep(0.1)
        raise RuntimeError("the cluster never became ok: "
                           + " | ".join(n.info().split("\r\n")[0] for n in self.alive()))

    def replicas(self, master):
        """Replicas of master that are in sync (state=online): only those can
        take over, and only those count for WAIT."""
        raw = master.command("INFO", "replication").decode(errors="replace")
        return len(re.findall(r"slave\d+:.*state=online", raw))

    def keyslot(self, key):
        raw = self.alive()[0].command("CLUSTER", "KEYSLOT", key)
        return int(raw.strip().lstrip(b":"))

    def master_of(self, key):
        slot = self.keyslot(key)
        for m in self.masters():
            for r in self.slots_of(m):
                lo, _, hi = r.partition("-")
                if int(lo) <= slot <= int(hi or lo):
                    return m
        return None

    def close(self):
        for n in self.nodes:
            n.close()
        self.nodes = []


def bulk_strings(raw):
    """The bulk strings of a RESP array reply (names from PUBSUB SHARDCHANNELS...)."""
    return [m.group(2).decode() for m in re.finditer(rb"\$(\d+)\r\n([^\r]*)\r\n", raw)]


def ints(raw):
    return [int(x) for x in re.findall(rb":(\d+)\r\n", raw)]

