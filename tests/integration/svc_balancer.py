"""A real load balancer in front of sss hosts: Debian's nginx or HAProxy,
run from the configurations users copy (dist/nginx/sss.conf,
dist/haproxy/sss.cfg) with only the addresses replaced: its own listening
port on loopback, the hosts' ports, and a temp dir of its own for prefix,
pid, logs and temp files. It runs in the foreground as a child of the test
(nginx: `-e stderr`, `daemon off`; HAProxy: `-db`). A missing binary is a
failure, not a skip: tools/bootstrap.sh installs both."""
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time

from sss_harness import read_log
from svc_redis import free_port

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.environ.get("SSS_SOURCE_DIR") or os.path.join(HERE, "..", "..")
NGINX_CONF = os.path.join(ROOT, "dist", "nginx", "sss.conf")
HAPROXY_CONF = os.path.join(ROOT, "dist", "haproxy", "sss.cfg")

_ALL = []


def binary(name):
    """Path of nginx or haproxy (PATH, then /usr/sbin), or None."""
    path = shutil.which(name) or f"/usr/sbin/{name}"
    return path if os.access(path, os.X_OK) else None


def nginx_http_block(host_ports, listen):
    """dist/nginx/sss.conf with its upstream servers replaced by host_ports
    (each keeping the shipped parameters) and its listen by `listen`."""
    text = open(NGINX_CONF).read()
    rx = re.compile(r"^(\s*)server\s+[\d.]+:\d+(.*);\n", re.M)
    first = rx.search(text)
    if not first or "listen 80;" not in text:
        raise RuntimeError(f"{NGINX_CONF}: no upstream server line or no 'listen 80;'")
    indent, params = first.group(1), first.group(2)
    servers = "".join(f"{indent}server 127.0.0.1:{p}{params};\n" for p in host_ports)
    text = rx.sub("", text)
    text = text[:first.start()] + servers + text[first.start():]
    return text.replace("listen 80;", f"listen 127.0.0.1:{listen};")


def haproxy_config(host_ports, listen, sock):
    """dist/haproxy/sss.cfg with its servers h1.. pointed at host_ports, its
    bind at `listen` and its runtime socket at `sock`."""
    text = open(HAPROXY_CONF).read()
    rx = re.compile(r"^(\s*)server\s+(\S+)\s+[\d.]+:\d+(.*)\n", re.M)
    first = rx.search(text)
    if not first or "bind :80" not in text or "/run/haproxy/sss.sock" not in text:
        raise RuntimeError(f"{HAPROXY_CONF}: no server line, 'bind :80' or stats socket")
    indent, params = first.group(1), first.group(3)
    servers = "".join(f"{indent}server h{i + 1} 127.0.0.1:{p}{params}\n"
                      for i, p in enumerate(host_ports))
    text = rx.sub("", text)
    text = text[:first.start()] + servers + text[first.start():]
    text = text.replace("bind :80", f"bind 127.0.0.1:{listen}")
    return text.replace("/run/haproxy/sss.sock", sock)


class Balancer:
    """One nginx or HAProxy: .port, .url, .log(); start(), stop()."""

    def __init__(self, kind, host_ports, port=0):
        self.kind = kind
        self.want_port = port  # 0: a free port
        self.host_ports = list(host_ports)
        self.dir = tempfile.mkdtemp(prefix=f"sss-{kind}-")
        self.port = None
        self.proc = None
        self.log_path = os.path.join(self.dir, "stderr.log")
        self.sock = os.path.join(self.dir, "admin.sock")
        _ALL.append(self)

    @property
    def url(self):
        return f"ws://127.0.0.1:{self.port}/"

    def argv(self):
        if self.kind == "nginx":
            conf = os.path.join(self.dir, "nginx.conf")
            for d in ("logs", "tmp"):
                os.makedirs(os.path.join(self.dir, d), exist_ok=True)
            tmp = os.path.join(self.dir, "tmp")
            # Run as root (as on the test machines), nginx would switch its
            # workers to "nobody", who cannot enter this 0700 temp dir.
            user = "user root;\n" if os.geteuid() == 0 else ""
            with open(conf, "w") as f:
                f.write(f"{user}worker_processes 1;\ndaemon off;\n"
                        f"pid {self.dir}/nginx.pid;\nerror_log stderr notice;\n"
                        "events { worker_connections 4096; }\n"
                        "http {\n"
                        f"access_log off;\nclient_body_temp_path {tmp}/body;\n"
                        f"proxy_temp_path {tmp}/proxy;\nfastcgi_temp_path {tmp}/fastcgi;\n"
                        f"uwsgi_temp_path {tmp}/uwsgi;\nscgi_temp_path {tmp}/scgi;\n"
                        + nginx_http_block(self.host_ports, self.port) + "}\n")
            return [binary("nginx"), "-p", self.dir, "-c", conf, "-e", "stderr"]
        conf = os.path.join(self.dir, "haproxy.cfg")
        with open(conf, "w") as f:
            f.write(haproxy_config(self.host_ports, self.port, self.sock))
        return [binary("haproxy"), "-db", "-f", conf]

    def start(self, timeout=20):
        if not binary(self.kind):
            raise RuntimeError(f"{self.kind} is not installed (tools/bootstrap.sh installs it)")
        self.port = self.want_port or free_port()
        logf = open(self.log_path, "wb")
        self.proc = subprocess.Popen(self.argv(), stdin=subprocess.DEVNULL, stdout=logf,
                                     stderr=subprocess.STDOUT, start_new_session=True,
                                     cwd=self.dir)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"{self.kind} did not listen on {self.port}: {self.log()[-2000:]}")

    def admin(self, command):
        """HAProxy's runtime API: one command, its answer."""
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(5)
            s.connect(self.sock)
            s.sendall(command.encode() + b"\n")
            out = b""
            while chunk := s.recv(65536):
                out += chunk
            return out.decode()

    def log(self):
        return read_log(self.log_path)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, 9)
                self.proc.wait()

    def remove(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def stop_all():
    for b in _ALL:
        b.remove()
