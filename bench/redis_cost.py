#!/usr/bin/env python3
"""bench/redis_cost.py: what one sss publish costs Redis (docs/scaling.md).

    bench/redis_cost.py publish [--topology redis|cluster] [--messages N]
        two sss hosts (bench/peers/sss/start-cluster.sh) on a private Redis
        or 3-master cluster; CONFIG RESETSTAT, then sss-bench's cluster
        workload publishes N messages (10 s at most; publishers on host 1, one
        subscriber host); prints INFO commandstats per publish (calls and
        microseconds of EVALSHA and of each command the script runs) and
        Redis's CPU per publish from /proc/PID/stat.
    bench/redis_cost.py saturate [--topology redis|cluster] [--subscribers K]
        Redis alone: redis-benchmark sends sss's own publish script (EVALSHA,
        loaded from src/scaler/sss_redis_lua.h) pipelined to each master, one
        channel per master, K idle subscriber connections (redis-cli) on each
        channel; prints publishes/s and Redis CPU per publish.

Python 3 standard library; redis-server, redis-cli and redis-benchmark
(Debian's redis-tools) and build/dev.
"""
import argparse
import json
import os
import re
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
TICK = os.sysconf("SC_CLK_TCK")


def cpu_s(pid):
    with open(f"/proc/{pid}/stat") as f:
        st = f.read()
    fields = st[st.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def tree_cpu_s(pid):
    """CPU seconds of pid and all its descendants (sss-server's workers and scaler)."""
    kids = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    st = f.read()
                kids.setdefault(int(st[st.rindex(")") + 2:].split()[1]), []).append(int(d))
            except (OSError, ValueError, IndexError):
                pass
    total, todo = 0.0, [pid]
    while todo:
        p = todo.pop()
        try:
            total += cpu_s(p)
        except OSError:
            pass
        todo.extend(kids.get(p, []))
    return total


def redis_port(pid):
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        title = f.read().decode(errors="replace")
    m = re.search(r"127\.0\.0\.1:(\d+)", title)
    return int(m.group(1)) if m else None


def cli(port, *args):
    return subprocess.run(["redis-cli", "-p", str(port), *map(str, args)], capture_output=True,
                          text=True, timeout=30).stdout


def commandstats(port):
    out = {}
    for line in cli(port, "INFO", "commandstats").splitlines():
        m = re.match(r"cmdstat_([^:]+):calls=(\d+),usec=(\d+)", line)
        if m:
            out[m.group(1)] = (int(m.group(2)), int(m.group(3)))
    return out


def start(topology, port):
    p = subprocess.run(["bash", os.path.join(HERE, "peers/sss/start-cluster.sh"), str(port),
                        topology], capture_output=True, text=True, timeout=120)
    if p.returncode != 0:
        sys.exit(f"start-cluster.sh failed: {p.stderr[-500:]}")
    pids = [int(x) for x in p.stdout.strip().splitlines()[-1].split()]
    redis = [(pid, redis_port(pid)) for pid in pids[2:]]
    return pids, redis


def stop(port, script="peers/sss/stop.sh"):
    subprocess.run(["bash", os.path.join(HERE, script), str(port)], capture_output=True,
                   timeout=60)


def publish(o):
    pids, redis = start(o.topology, o.port)
    try:
        time.sleep(1)
        for _, port in redis:
            cli(port, "CONFIG", "RESETSTAT")
        c0 = {pid: cpu_s(pid) for pid, _ in redis}
        h0 = [tree_cpu_s(pid) for pid in pids[:2]]
        t0 = time.time()
        cmd = [os.path.join(ROOT, "build/dev/bench/sss-bench"), "cluster", "--url",
               f"ws://127.0.0.1:{o.port}/,ws://127.0.0.1:{o.port + 1}/", "--subscribers",
               str(o.subscribers), "--channels", str(o.channels), "--publishers", "10",
               "--rate", "0", "--messages", str(o.messages), "--duration", "10s",
               "--warmup", "0", "--procs", "1", "--json-only"]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        secs = time.time() - t0
        js = json.loads(p.stdout.strip().splitlines()[-1])
        c1 = {pid: cpu_s(pid) for pid, _ in redis}
        h1 = [tree_cpu_s(pid) for pid in pids[:2]]
        total = {}
        for _, port in redis:
            for k, (calls, usec) in commandstats(port).items():
                a = total.setdefault(k, [0, 0])
                a[0] += calls
                a[1] += usec
        n = total.get("evalsha", [js["acked"]])[0]  # the publishes Redis ran
        cpu = sum(c1[p] - c0[p] for p in c1)
        print(f"topology {o.topology}: {n} EVALSHA, {js['acked']} publishes acknowledged,"
              f" {js['delivered']} delivered"
              f" (lost {js['lost']}), {secs:.1f} s")
        print(f"Redis CPU (/proc, {len(redis)} redis-server): {cpu:.2f} s ="
              f" {cpu / n * 1e6:.1f} µs per publish; load average {os.getloadavg()[0]:.2f}")
        print(f"sss hosts' CPU per publish (each with its workers and scaler): publishers' host"
              f" {(h1[0] - h0[0]) / n * 1e6:.1f} µs, subscribers' host"
              f" {(h1[1] - h0[1]) / n * 1e6:.1f} µs ({js['delivered'] / max(js['acked'], 1):.1f}"
              f" deliveries per publish)")
        print("command          calls/publish  µs/call  µs/publish  (INFO commandstats)")
        for k, (calls, usec) in sorted(total.items(), key=lambda kv: -kv[1][1]):
            if calls >= n / 100:
                print(f"{k:16} {calls / n:13.2f} {usec / max(calls, 1):8.2f} {usec / n:11.2f}")
    finally:
        stop(o.port)


def lua_publish_script():
    with open(os.path.join(ROOT, "src/scaler/sss_redis_lua.h")) as f:
        text = f.read()
    body = text[text.index("SSS_REDIS_LUA_PUBLISH[] ="):]
    body = body[:body.index(";\n")]
    parts = re.findall(r'"((?:[^"\\]|\\.)*)"', body)
    return "".join(parts).encode().decode("unicode_escape")


def saturate(o):
    state = os.path.join(os.environ.get("SSS_PEERS_STATE") or
                         os.path.join("/tmp/sss-peers", os.path.basename(ROOT)),
                         f"redis-cost.{o.port}")
    os.makedirs(state, exist_ok=True)
    # Redis only: start it with the peers' helper through a tiny shell.
    sh = (f'PEER=redis-cost; source {HERE}/peers/lib.sh; : >"{state}/pids";'
          f' start_redis_topology "{state}" {o.topology}; echo $REDIS_PIDS')
    p = subprocess.run(["bash", "-c", sh], capture_output=True, text=True, timeout=120)
    if p.returncode != 0:
        sys.exit(p.stderr[-500:])
    rpids = [int(x) for x in p.stdout.split()]
    ports = [redis_port(pid) for pid in rpids]
    subs = []
    try:
        script = lua_publish_script()
        sha = cli(ports[0], "SCRIPT", "LOAD", script).strip()
        for port in ports[1:]:
            cli(port, "SCRIPT", "LOAD", script)
        sharded = "1" if o.topology == "cluster" else "0"
        chans = {}
        if o.topology == "cluster":
            for i in range(1000):
                ch = f"b{i}"
                slot = int(cli(ports[0], "CLUSTER", "KEYSLOT", f"sss:{{{ch}}}").strip())
                owner = cli(ports[0], "CLUSTER", "SLOTS")
                for port in ports:
                    if port in chans:
                        continue
                    ranges = re.findall(r"^(\d+)\n(\d+)\n127\.0\.0\.1\n(\d+)", owner, re.M)
                    for lo, hi, pt in ranges:
                        if int(lo) <= slot <= int(hi) and int(pt) == port:
                            chans[port] = ch
                if len(chans) == len(ports):
                    break
        else:
            chans[ports[0]] = "b0"
        for port, ch in chans.items():
            for _ in range(o.subscribers):
                subs.append(subprocess.Popen(
                    ["redis-cli", "-p", str(port), "SSUBSCRIBE" if sharded == "1" else "SUBSCRIBE",
                     f"sss:{{{ch}}}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        time.sleep(0.5)
        # Each publish names its own origins hash (random, same hash tag), so
        # the script never takes the "applied before" path: redis-benchmark
        # cannot count a seq up.
        msg = "x" * 64
        tail = "y" * 100
        if o.baseline:
            # The same Redis, the same minute: a bare PUBLISH and a bare XADD, for scale.
            port, ch = next(iter(chans.items()))
            pid = rpids[ports.index(port)]
            for name, cmd in (("PUBLISH", ["PUBLISH", f"sss:{{{ch}}}", tail + msg]),
                              ("XADD", ["XADD", f"sss:{{{ch}}}:x", "MAXLEN", "256", "*", "t", "t",
                                        "m", msg, "w", "1796288286000", "q", "o:1"])):
                b0, w0 = cpu_s(pid), time.time()
                out = subprocess.run(["redis-benchmark", "-p", str(port), "-c", "8", "-P", "16",
                                      "-n", str(o.requests), "--csv", *cmd], capture_output=True,
                                     text=True, timeout=600).stdout
                m = re.findall(r'"[A-Z]+[^"]*","([\d.]+)"', out)
                print(f"baseline {name}: {float(m[-1]) if m else 0:,.0f}/s, Redis CPU"
                      f" {(cpu_s(pid) - b0) / o.requests * 1e6:.1f} µs each"
                      f" ({time.time() - w0:.1f} s)")
        benches = []
        c0 = {pid: cpu_s(pid) for pid in rpids}
        t0 = time.time()
        for port, ch in chans.items():
            args = ["redis-benchmark", "-p", str(port), "-c", "8", "-P", "16", "-n",
                    str(o.requests), "-r", "1000000000", "--csv", "EVALSHA", sha, "3",
                    f"sss:{{{ch}}}:h", f"sss:{{{ch}}}:e", f"sss:{{{ch}}}:o__rand_int__", "t", msg,
                    "256", "300000", tail, "o", "1", sharded, f"sss:{{{ch}}}"]
            benches.append(subprocess.Popen(args, stdout=subprocess.PIPE, text=True))
        rps = []
        for b in benches:
            out, _ = b.communicate(timeout=600)
            m = re.findall(r'"EVALSHA[^"]*","([\d.]+)"', out)
            rps.append(float(m[-1]) if m else 0.0)
        secs = time.time() - t0
        c1 = {pid: cpu_s(pid) for pid in rpids}
        cpu = {pid: c1[pid] - c0[pid] for pid in rpids}
        n = o.requests * len(chans)
        print(f"topology {o.topology}, {len(chans)} master(s), {o.subscribers} subscriber"
              f" connection(s) per channel: {sum(rps):,.0f} publishes/s in all"
              f" ({', '.join(f'{r:,.0f}' for r in rps)}), {secs:.1f} s")
        print(f"Redis CPU: {sum(cpu.values()):.2f} s = {sum(cpu.values()) / n * 1e6:.1f} µs per"
              f" publish; per process {', '.join(f'{c / secs:.2f}' for c in cpu.values())} cores;"
              f" load average {os.getloadavg()[0]:.2f}")
    finally:
        for s in subs:
            s.terminate()
        subprocess.run(["bash", "-c", f'PEER=redis-cost; source {HERE}/peers/lib.sh;'
                        f' kill_pidfiles "{state}/pids"'], timeout=60)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=["publish", "saturate"])
    ap.add_argument("--topology", default="redis", choices=["redis", "cluster"])
    ap.add_argument("--messages", type=int, default=50000, help="publish: publishes in all")
    ap.add_argument("--subscribers", type=int, default=None,
                    help="publish: sss subscribers (default 1000); saturate: idle redis-cli"
                    " subscriber connections per channel (default 0)")
    ap.add_argument("--channels", type=int, default=100, help="publish: channels")
    ap.add_argument("--requests", type=int, default=200000, help="saturate: EVALSHA per master")
    ap.add_argument("--baseline", action="store_true",
                    help="saturate: first a bare PUBLISH and a bare XADD on the same Redis")
    ap.add_argument("--port", type=int, default=18400)
    o = ap.parse_args()
    if o.subscribers is None:
        o.subscribers = 1000 if o.what == "publish" else 0
    (publish if o.what == "publish" else saturate)(o)


if __name__ == "__main__":
    main()
