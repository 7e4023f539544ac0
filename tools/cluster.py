#!/usr/bin/env python3
"""`make cluster`: the many-hosts demo in one command, on loopback.

Starts redis-server, FerretDB (the MongoDB store), three sss-server hosts
(h1, h2, h3: the chat module and its page, --engine redis, --store mongodb,
one HTTP API each) and nginx in front of them with dist/nginx/sss.conf (the
configuration docs/deploy.md describes), prints the address to open, and
stops everything on Ctrl-C (or SIGTERM): the hosts drain, then nginx, Redis
and FerretDB stop and their temp dirs go.

  tools/cluster.py [--build build/dev] [--port 8080] [--workers 1] [--log-level info]

Every service runs in a temp dir of its own; each host's log is a file there,
whose path is printed (`tail -f` it). Uses the services of the integration
tests (tests/integration/svc_*.py); Python 3 standard library only. Needs
redis-server, nginx and FerretDB: tools/bootstrap.sh installs them.
"""
import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
os.environ.setdefault("SSS_SOURCE_DIR", ROOT)

import svc_balancer  # noqa: E402
import svc_ferretdb  # noqa: E402
import svc_redis  # noqa: E402

HOSTS = ("h1", "h2", "h3")


class Stop(Exception):
    pass


def on_signal(signum, frame):
    raise Stop()


def start_host(hid, args, redis, ferret, www, chat):
    d = tempfile.mkdtemp(prefix=f"sss-cluster-{hid}-")
    log = os.path.join(d, "server.log")
    argv = [os.path.join(args.build, "sss-server"), "--host", "127.0.0.1", "--port", "0",
            "--workers", str(args.workers), "--host-id", hid, "--app", chat, "--static", www,
            "--engine", "redis", "--redis", redis.url, "--store", "mongodb",
            "--mongo", ferret.url("sss_cluster"), "--api-listen", "127.0.0.1:0",
            "--log-level", args.log_level]
    env = {k: v for k, v in os.environ.items() if not k.startswith("SSS_")}
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=open(log, "wb"),
                            stderr=subprocess.STDOUT, env=env, start_new_session=True, cwd=d)
    return {"id": hid, "dir": d, "log": log, "proc": proc, "port": None, "api": None}


def wait_ready(host, timeout=60):
    """The host's WebSocket and API ports, once both Redis connections are up."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = open(host["log"], errors="replace").read()
        port = re.search(r"listening on 127\.0\.0\.1:(\d+) workers", text)
        api = re.search(r"api listening on 127\.0\.0\.1:(\d+)", text)
        up = all(re.search(rf"{r} connection to .* is up", text)
                 for r in ("commands", "subscriptions"))
        if port and api and up:
            host["port"], host["api"] = int(port.group(1)), int(api.group(1))
            return
        if host["proc"].poll() is not None:
            raise RuntimeError(f"{host['id']} exited with status {host['proc'].returncode}:\n"
                               + text[-2000:])
        time.sleep(0.05)
    raise RuntimeError(f"{host['id']} not ready within {timeout}s (log: {host['log']})")


def stop_host(host):
    p = host["proc"]
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)  # drain: close 1001 to its clients
        try:
            p.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
    try:
        os.killpg(p.pid, signal.SIGKILL)  # a child left behind, if any
    except ProcessLookupError:
        pass


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build", "dev"),
                    help="build directory with sss-server, the chat module and www/")
    ap.add_argument("--port", type=int, default=8080, help="nginx's port (0: a free one)")
    ap.add_argument("--workers", type=int, default=1, help="workers per host")
    ap.add_argument("--log-level", default="info", help="the hosts' --log-level")
    args = ap.parse_args()
    args.build = os.path.abspath(args.build)
    chat = os.path.join(args.build, "examples", "libsss-chat.so")
    www = os.path.join(args.build, "www")
    missing = [p for p in (os.path.join(args.build, "sss-server"), chat,
                           os.path.join(www, "index.html")) if not os.path.exists(p)]
    missing += [n for n in ("nginx",) if not svc_balancer.binary(n)]
    if not shutil.which("redis-server") and not os.access("/usr/bin/redis-server", os.X_OK):
        missing.append("redis-server")
    if not svc_ferretdb.installed():
        missing.append("FerretDB (tools/ferretdb.sh install)")
    if missing:
        print("cluster: missing " + ", ".join(missing) + " (make; tools/bootstrap.sh)",
              file=sys.stderr)
        return 1

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    redis = ferret = lb = None
    hosts = []
    try:
        redis = svc_redis.Redis(persist=False)
        ferret = svc_ferretdb.FerretDB().start()
        for hid in HOSTS:
            hosts.append(start_host(hid, args, redis, ferret, www, chat))
        for host in hosts:
            wait_ready(host)
        lb = svc_balancer.Balancer("nginx", [x["port"] for x in hosts], port=args.port).start()
        print(f"cluster: redis {redis.url}, FerretDB {ferret.url('sss_cluster')}", flush=True)
        for x in hosts:
            print(f"cluster: {x['id']} on 127.0.0.1:{x['port']}, API http://127.0.0.1:{x['api']}"
                  f", log {x['log']}", flush=True)
        print(f"cluster: nginx on 127.0.0.1:{lb.port} (config {lb.dir}/nginx.conf)", flush=True)
        print(f"cluster: open http://127.0.0.1:{lb.port}/ in several tabs; they land on "
              "different hosts and talk through Redis. Ctrl-C stops everything.", flush=True)
        while True:
            for x in hosts:
                if x["proc"].poll() is not None and not x.get("exited"):
                    x["exited"] = True
                    print(f"cluster: {x['id']} exited with status {x['proc'].returncode} "
                          f"(log {x['log']})", flush=True)
            time.sleep(1)
    except Stop:
        print("cluster: stopping", flush=True)
    except RuntimeError as e:
        print(f"cluster: {e}", file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        for x in hosts:
            stop_host(x)
        if lb:
            lb.remove()
        if redis:
            redis.close()
        if ferret:
            ferret.remove()
        for x in hosts:
            shutil.rmtree(x["dir"], ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
