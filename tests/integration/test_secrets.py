"""Issue 18: secrets off the command line. The attack: any local user reads
--jwt-secret, --api-key and the Redis password of a running sss-server in
/proc/PID/cmdline (ps shows them). Now:
- a secret given on the command line gets a warning on stderr and is
  overwritten with '*' in the argument area, so neither the master's nor any
  child's cmdline shows it (the server still uses it);
- the same secrets come from files (--jwt-secret-file, --api-key-file,
  --redis-url-file) or the environment (SSS_*) without a warning;
- an HS256 key under 32 bytes, a secret given both ways, and a bad --redis
  URL stop the server at start (exit 2), the last without echoing the
  password.
The real sss-server, a real redis-server that requires a password, and the
API and WebSocket clients of the harness."""
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sss_harness as h  # noqa: E402
from svc_redis import Redis  # noqa: E402
from test_api import Api  # noqa: E402
from test_jwt import token  # noqa: E402

JWT_KEY = "jwt-key-for-test-secrets-0123456789"
API_KEY = "api-key-for-test-secrets-9876"
REDIS_PW = "redis-pw-for-test-secrets-4242"


def cmdlines(master_pid):
    """{pid: argv bytes} of the master and every process whose parent it is."""
    out = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            if int(d) == master_pid or ppid == master_pid:
                with open(f"/proc/{d}/cmdline", "rb") as f:
                    out[int(d)] = f.read()
        except (OSError, ValueError, IndexError):
            continue
    return out


def write_secret(dirname, name, text, mode=0o600):
    path = os.path.join(dirname, name)
    with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode), "w") as f:
        f.write(text + "\n")
    return path


async def works(c, srv, what):
    """The server uses the secrets it was given: the API key, Redis's password, the JWT key."""
    m = await srv.wait_log(r"api listening on 127\.0\.0\.1:(\d+)", timeout=20)
    if not c.ok(m, f"{what}: the API listens"):
        return
    api = Api(int(m.group(1)))
    r = await api.req("POST", "/api/publish", json.dumps({"channel": "c", "topic": "t", "msg": 1}),
                      key=API_KEY)
    c.ok(r.status == 200 and b"uid" in r.body,
         f"{what}: a publish with the API key reaches Redis with its password",
         f"{r.status} {r.body[:200]!r}")
    r = await api.req("GET", "/api/stats", key="wrong")
    c.eq(r.status, 401, f"{what}: another API key is refused")
    ws = await h.ws_connect(srv, additional_headers={
        "Authorization": "Bearer " + token({"sub": "ann"}, secret=JWT_KEY)})
    await ws.send(json.dumps({"sys": 3}))
    reply = await h.rx(ws)
    c.eq(reply.get("channel"), "_u_ann", f"{what}: a token signed with the JWT key is accepted")
    await ws.close()


def exposed(srv):
    """Which secrets some process of the server shows in its cmdline."""
    lines = cmdlines(srv.proc.pid)
    found = set()
    for argv in lines.values():
        for s in (JWT_KEY, API_KEY, REDIS_PW):
            if s.encode() in argv:
                found.add(s)
    return found, len(lines)


async def test(c):
    redis = Redis(persist=False)
    try:
        redis.command("CONFIG", "SET", "requirepass", REDIS_PW)
        url = f"redis://:{REDIS_PW}@127.0.0.1:{redis.port}/0"
        common = ["--api-listen", "127.0.0.1:0", "--engine", "redis"]

        # The attack: every secret on the command line.
        srv = await h.Server(c, flags=common + ["--jwt-secret", JWT_KEY, "--api-key", API_KEY,
                                                "--redis", url],
                             echo=False, name="cmdline").start()
        found, nprocs = exposed(srv)
        c.ok(nprocs >= 4, "the master, its 2 workers and its scaler are seen", str(nprocs))
        c.eq(sorted(found), [], "no process of the server shows a secret in /proc/PID/cmdline")
        for flag in ("--jwt-secret", "--api-key", "--redis"):
            c.ok(f"warning: {flag} on the command line is visible" in srv.log(),
                 f"{flag} on the command line: a warning on stderr")
        await works(c, srv, "from the command line")
        c.ok(REDIS_PW not in srv.log() and JWT_KEY not in srv.log() and API_KEY not in srv.log(),
             "no secret in the log")
        await srv.stop()

        # From files and the environment: no warning.
        d = tempfile.mkdtemp(prefix="sss-secrets-")
        jwt_file = write_secret(d, "jwt", JWT_KEY)
        api_file = write_secret(d, "api", API_KEY)
        srv = await h.Server(c, flags=common + ["--jwt-secret-file", jwt_file,
                                                "--api-key-file", api_file],
                             env={"SSS_REDIS": url}, echo=False, name="files").start()
        c.ok("warning" not in srv.log(), "secrets from files and SSS_REDIS: no warning",
             srv.log()[-500:])
        c.eq(sorted(exposed(srv)[0]), [], "and none in any cmdline")
        await works(c, srv, "from files and the environment")
        await srv.stop()
        redis_file = write_secret(d, "redis", url)
        srv = await h.Server(c, flags=common + ["--redis-url-file", redis_file],
                             env={"SSS_JWT_SECRET": JWT_KEY, "SSS_API_KEY": API_KEY},
                             echo=False, name="env").start()
        c.ok("warning" not in srv.log(), "--redis-url-file and SSS_*: no warning")
        await works(c, srv, "--redis-url-file and the environment")
        await srv.stop()

        # Refused at start, with a clear line, and no secret echoed.
        short = "s" * 31
        bad = [
            (["--jwt-secret-file", write_secret(d, "short", short)],
             "an HS256 key needs at least 32"),
            (["--jwt-secret", JWT_KEY, "--jwt-secret-file", jwt_file], "not both"),
            (["--engine", "redis", "--redis", "redis://:hunter2-pw@bad host/0"],
             "--redis redis://:[redacted]@bad host/0"),
        ]
        for flags, want in bad:
            p = subprocess.run([h.server_binary(), "--host", "127.0.0.1", "--port", "0"] + flags,
                               capture_output=True, timeout=h.T(30), cwd=d,
                               env={k: v for k, v in os.environ.items()
                                    if not k.startswith("SSS_")})
            err = p.stderr.decode()
            c.ok(p.returncode == 2 and want in err, f"exit 2 with '{want}'",
                 f"status {p.returncode}: {err[-400:]}")
            c.ok("hunter2" not in err and short not in err, "no secret echoed", err[-400:])
        shutil.rmtree(d, ignore_errors=True)
    finally:
        redis.close()


if __name__ == "__main__":
    h.main(test, "test_secrets")
