"""`cmake --install` into a temporary prefix, then use what it put there:

- the layout: bin/sss-server, bin/sss-bench, bin/sss, lib/libsss-client.so,
  include/sss/{sss.h,sss_limits.h,sss_client.h}, lib/pkgconfig/sss-client.pc,
  lib/systemd/system/sss.service naming the installed sss-server;
- a tiny C program built against the installed libsss-client through
  pkg-config (nothing of the source tree on its paths) connects to the
  installed sss-server, subscribes, and receives a message published with the
  installed `sss` tool through the server's HTTP API;
- a module built against the installed sss.h alone loads into it;
- `systemd-analyze verify` accepts the installed unit (when systemd-analyze
  exists; its absence is reported, not failed).

Needs SSS_BUILD_DIR (the build tree to install; ctest sets it)."""
import asyncio
import os
import shutil
import subprocess
import tempfile

import sss_harness as h
from sss_harness import T

TINY_CLIENT = r"""
#include <stdio.h>
#include <string.h>
#include <sss/sss_client.h>

static int got;

static void on_feed(struct sss_client *c, const char *channel, const char *topic,
                    const char *msg, size_t len, const char *uid, void *data)
{
    (void)c, (void)data;
    printf("FEED %s %s %.*s %s\n", channel, topic, (int)len, msg, uid);
    fflush(stdout);
    got = 1;
}

static void on_sub(struct sss_client *c, const char *err_name, const char *err_message,
                   const char *msg, size_t len, void *data)
{
    (void)c, (void)msg, (void)len, (void)data;
    if (err_name)
        printf("SUBSCRIBE failed %s %s\n", err_name, err_message);
    else
        printf("SUBSCRIBED\n");
    fflush(stdout);
}

int main(int argc, char **argv)
{
    struct sss_client_opts o = {.url = argv[1], .no_reconnect = true};
    struct sss_client *c;

    if (argc != 2 || !(c = sss_client_create(&o)))
        return 2;
    if (sss_client_connect(c) || sss_client_wait_ready(c, 20000))
        return 3;
    sss_client_subscribe(c, "installed", NULL, on_feed, on_sub, NULL);
    for (int i = 0; i < 600 && !got; i++)
        sss_client_run_for(c, 100);
    sss_client_destroy(c);
    return got ? 0 : 4;
}
"""

TINY_MODULE = r"""
#include <sss/sss.h>

static void ask_installed(struct sss_socket *s, const char *msg, size_t len,
                          struct sss_reply *r, void *data)
{
    (void)s, (void)msg, (void)len, (void)data;
    sss_reply_ok(r, "\"from the installed headers\"", 28);
}

int sss_module_init(struct sss_app *app)
{
    return sss_on_ask(app, "installed", ask_installed, NULL);
}
"""


def run(argv, **kw):
    return subprocess.run(argv, capture_output=True, text=True, timeout=T(300), **kw)


async def test(c):
    build = os.environ.get("SSS_BUILD_DIR")
    if not c.ok(build and os.path.isdir(build), "SSS_BUILD_DIR names the build tree"):
        return
    prefix = tempfile.mkdtemp(prefix="sss-install-")
    try:
        r = run(["cmake", "--install", build, "--prefix", prefix])
        if not c.eq(r.returncode, 0, "cmake --install into a temporary prefix"):
            h.log(r.stdout + r.stderr)
            return
        for rel in ("bin/sss-server", "bin/sss-bench", "bin/sss"):
            c.ok(os.access(os.path.join(prefix, rel), os.X_OK), f"{rel} is installed, executable")
        for rel in ("include/sss/sss.h", "include/sss/sss_limits.h", "include/sss/sss_client.h",
                    "lib/pkgconfig/sss-client.pc", "lib/systemd/system/sss.service",
                    "share/doc/sss/deploy.md"):
            c.ok(os.path.isfile(os.path.join(prefix, rel)), f"{rel} is installed")
        unit = os.path.join(prefix, "lib/systemd/system/sss.service")
        text = open(unit).read() if os.path.isfile(unit) else ""
        c.ok(f"ExecStart={prefix}/bin/sss-server\n" in text,
             "the unit starts the sss-server of the install prefix")
        for line in ("LimitNOFILE=", "NoNewPrivileges=yes", "ProtectSystem=strict",
                     "ProtectHome=yes", "PrivateTmp=yes", "DynamicUser=yes", "KillMode=mixed"):
            c.ok(line in text, f"the unit sets {line}")
        sa = shutil.which("systemd-analyze")
        if sa:
            # It exits 0 even for unknown keys or bad values ("..., ignoring"):
            # any output is a finding.
            r = run([sa, "verify", unit])
            c.ok(r.returncode == 0 and not (r.stdout + r.stderr).strip(),
                 "systemd-analyze verify accepts the unit without a remark",
                 r.stdout + r.stderr)
        else:
            h.log("# systemd-analyze is not installed: the unit was not verified")

        # A program built against the installed library through pkg-config only.
        env = dict(os.environ, PKG_CONFIG_PATH=os.path.join(prefix, "lib", "pkgconfig"))
        r = run(["pkg-config", "--cflags", "--libs", "sss-client"], env=env)
        c.eq(r.returncode, 0, "pkg-config knows sss-client")
        flags = r.stdout.split()
        c.ok(f"-I{prefix}/include" in flags and f"-L{prefix}/lib" in flags,
             "sss-client.pc points into the install prefix", r.stdout)
        src = os.path.join(prefix, "tiny.c")
        with open(src, "w") as f:
            f.write(TINY_CLIENT)
        sanitized = "libasan" in run(["ldd", os.path.join(prefix, "lib", "libsss-client.so")]).stdout
        san = ["-fsanitize=address,undefined"] if sanitized else []
        tiny = os.path.join(prefix, "tiny")
        r = run(["cc", "-Wall", "-Wextra", "-Werror", *san, "-o", tiny, src, *flags,
                 f"-Wl,-rpath,{prefix}/lib"], env=env)
        if not c.eq(r.returncode, 0, "a C program builds against the installed libsss-client"):
            h.log(r.stderr)
            return
        mod_src = os.path.join(prefix, "mod.c")
        with open(mod_src, "w") as f:
            f.write(TINY_MODULE)
        mod = os.path.join(prefix, "libmod.so")
        r = run(["cc", "-Wall", "-Wextra", "-Werror", *san, "-shared", "-fPIC",
                 f"-I{prefix}/include", "-o", mod, mod_src])
        c.eq(r.returncode, 0, "a module builds against the installed sss.h alone")

        # The installed server, with the module, its API driven by the installed tool.
        srv = h.Server(c, flags=["--app", mod, "--api-listen", "127.0.0.1:0"], workers=1,
                       echo=False, name="installed")
        srv.binary = os.path.join(prefix, "bin", "sss-server")
        await srv.start()
        m = await srv.wait_log(r"api listening on 127\.0\.0\.1:(\d+)", timeout=20)
        api = f"http://127.0.0.1:{m.group(1)}"
        tool = os.path.join(prefix, "bin", "sss")
        r = run([tool, "--url", api, "health"])
        c.eq((r.returncode, r.stdout.strip()), (0, "ok"), "the installed sss tool: health")

        proc = await asyncio.create_subprocess_exec(tiny, srv.url, stdout=asyncio.subprocess.PIPE,
                                                    stderr=asyncio.subprocess.STDOUT)
        line = await asyncio.wait_for(proc.stdout.readline(), T(30))
        c.eq(line.decode().strip(), "SUBSCRIBED", "the tiny client subscribed")
        r = run([tool, "--url", api, "publish", "installed", "hello", '{"n":1}'])
        c.ok(r.returncode == 0, "the installed sss tool publishes", r.stdout + r.stderr)
        rest = (await asyncio.wait_for(proc.stdout.read(), T(30))).decode()
        status = await asyncio.wait_for(proc.wait(), T(30))
        c.ok(status == 0 and rest.startswith('FEED installed hello {"n":1} '),
             "the tiny client received the message through the installed server",
             f"status {status}, output {rest!r}")
        async with h.ws_connect(srv) as ws:
            await ws.send('{"sys":3}')
            await h.rx(ws)
            await ws.send('{"sys":5,"topic":"installed","msg":null,"id":1}')
            reply = await h.rx(ws, heartbeats=True)
        c.eq(reply.get("msg"), "from the installed headers", "the module answers its ask")
        await srv.stop()
    finally:
        shutil.rmtree(prefix, ignore_errors=True)


if __name__ == "__main__":
    h.main(test, "test_install")
