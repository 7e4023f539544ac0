"""The HTTP API of a host (src/http/sss_api.h), served by the scaler:
publish and broadcast reach WebSocket clients on every worker (once, in
order, byte for byte), the bearer key, every error status with its reason,
/metrics in Prometheus text format, /api/stats, /healthz, the tools/sss CLI,
many requests at once, and a slow client that is closed without blocking
anyone else."""
import asyncio
import json
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sss_harness as h  # noqa: E402

KEY = "secret"
MAX = 64 * 1024  # --max-message-size
FLAGS = ["--api-listen", "127.0.0.1:0", "--api-key", KEY, "--max-message-size", "64k",
         "--log-level", "debug"]
CLI = os.path.join(os.environ.get("SSS_SOURCE_DIR") or
                   os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."),
                   "tools", "sss")


class Api:
    def __init__(self, port):
        self.port = port
        self.url = f"http://127.0.0.1:{port}"

    async def req(self, method, path, body=None, key=KEY, headers=(), timeout=20):
        """One request on a new connection: the harness's HttpResponse."""
        c = await h.RawClient.connect(self.port)
        try:
            c.send(self.raw(method, path, body, key, headers))
            await c.drain()
            return await c.read_http(timeout)
        finally:
            c.close()

    @staticmethod
    def raw(method, path, body=None, key=KEY, headers=(), close=True):
        if isinstance(body, str):
            body = body.encode()
        hs = [("Host", "127.0.0.1")]
        if key is not None:
            hs.append(("Authorization", f"Bearer {key}"))
        if body is not None:
            hs.append(("Content-Type", "application/json"))
            hs.append(("Content-Length", str(len(body))))
        if close:
            hs.append(("Connection", "close"))
        hs += list(headers)
        head = f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in hs) + "\r\n"
        return head.encode() + (body or b"")

    async def publish(self, channel, topic, raw_msg):
        body = '{"channel":%s,"topic":%s,"msg":%s}' % (json.dumps(channel), json.dumps(topic), raw_msg)
        return await self.req("POST", "/api/publish", body)


def jbody(resp):
    try:
        return json.loads(resp.body)
    except ValueError:
        return None


async def rx(ws, timeout=20):
    return await asyncio.wait_for(ws.recv(), h.T(timeout))


begun = h.begun


async def clients_on_each_worker(server, want, channel):
    """Open begun, subscribed connections until each worker holds `want`: {role: [ws]}."""
    by = {"w0": [], "w1": []}
    extra = []
    for _ in range(200):
        ws = await begun(server)
        role = [l.split()[1] for l in server.log_lines() if "upgraded" in l][-1]
        if len(by.get(role, [])) < want:
            await ws.send(json.dumps({"sys": 1, "channel": channel, "id": 1}))
            r = json.loads(await rx(ws))
            assert r.get("result") is True, r
            by[role].append(ws)
        else:
            extra.append(ws)
        if all(len(v) == want for v in by.values()):
            break
    for ws in extra:
        await ws.close()
    if not all(len(v) == want for v in by.values()):
        raise RuntimeError(f"could not place clients on both workers: {by}")
    return by


async def no_more(ws, wait=0.3):
    try:
        m = await asyncio.wait_for(ws.recv(), h.T(wait))
        return m
    except asyncio.TimeoutError:
        return None


# ---------------------------------------------------------------------------


async def publish_reaches_all(c, srv, api, subs):
    raws = ['{"i":0}', '  { "i" : 1 , "x":[1, 2,3] }  ', '"caf\\u00e9 \\"q\\""', '12345678901234567890123',
            '1e400', 'null', '[]', '{"deep":{"a":{"b":{"c":[true,false,null]}}}}', '"\u00e9\u4e2d"',
            '-0.0']
    raws += ['{"n":%d}' % i for i in range(2, 12)]
    uids = []
    for raw in raws:
        r = await api.publish("news", "t", raw)
        if not c.eq(r.status, 200, f"publish {raw[:30]!r}: 200"):
            log_body(r)
            return
        uid = (jbody(r) or {}).get("uid")
        c.ok(isinstance(uid, str) and re.fullmatch(r"\d+-\d+", uid), f"publish answer has a uid: {uid!r}")
        uids.append(uid)
    c.eq(len(set(uids)), len(uids), "every publish got its own uid")
    for role, lst in subs.items():
        for k, ws in enumerate(lst):
            got = []
            for _ in raws:
                got.append(await rx(ws))
            want = ['{"sys":8,"channel":"news","topic":"t","msg":%s,"uid":"%s"}' % (raw.strip(), uid)
                    for raw, uid in zip(raws, uids)]
            # The msg is a raw span: inner whitespace survives; the decoder's span
            # starts and ends at the value (outer whitespace is not part of it).
            c.eq(got, want, f"{role} client {k}: every API publish once, in order, byte for byte, with its uid")
            c.eq(await no_more(ws), None, f"{role} client {k}: nothing more")
    r = await api.publish("_server_only", "t", "1")
    c.eq(r.status, 200, "publish to a reserved _ channel is allowed from the API")


def log_body(r):
    h.log(f"#   answer: {r!r}")


async def broadcast_reaches_all(c, srv, api, subs, plain):
    raw = '{"note": "maintenance", "at": [12, 0]}'
    r = await api.req("POST", "/api/broadcast", '{"topic":"notice","msg":%s}' % raw)
    c.eq(r.status, 200, "broadcast: 200")
    c.eq(jbody(r), {}, "broadcast answers {}")
    want = '{"sys":11,"topic":"notice","msg":%s}' % raw
    every = [ws for lst in subs.values() for ws in lst] + plain
    for k, ws in enumerate(every):
        c.eq(await rx(ws), want, f"begun client {k} gets the broadcast as sys 11, msg byte for byte")


async def auth(c, api):
    for what, key, extra in (("no key", None, ()), ("a wrong key", "wrong", ()),
                             ("a longer key", KEY + "x", ()), ("a prefix of the key", KEY[:-1], ()),
                             ("Basic auth", None, [("Authorization", "Basic c2VjcmV0")])):
        for method, path, body in (("GET", "/api/stats", None), ("POST", "/api/publish",
                                                                 '{"channel":"c","topic":"t","msg":1}'),
                                   ("GET", "/metrics", None)):
            r = await api.req(method, path, body, key=key, headers=extra)
            c.eq(r.status, 401, f"{method} {path} with {what}: 401")
            err = (jbody(r) or {}).get("error")
            c.ok(isinstance(err, str) and err and r.body.count(b"\n") <= 1,
                 f"{method} {path} with {what}: one-line JSON error", repr(r.body))
    r = await api.req("GET", "/api/stats", key=None, headers=[("Authorization", f"bearer   {KEY}")])
    c.eq(r.status, 200, "scheme is case-insensitive, extra spaces allowed")
    r = await api.req("GET", "/healthz", key=None)
    c.eq((r.status, r.body.strip()), (200, b"ok"), "/healthz needs no key: 200 ok")


async def bad_requests(c, api):
    cases = [
        ("bad JSON", '{"channel":"c","topic":"t","msg":', "bad JSON"),
        ("not an object", '[1,2]', "JSON object"),
        ("empty body", '', "empty"),
        ("invalid channel", '{"channel":"no spaces","topic":"t","msg":1}', "invalid channel"),
        ("channel too long", '{"channel":"%s","topic":"t","msg":1}' % ("c" * 129), "invalid channel"),
        ("channel not a string", '{"channel":5,"topic":"t","msg":1}', "channel must be a string"),
        ("missing channel", '{"topic":"t","msg":1}', "missing channel"),
        ("missing topic", '{"channel":"c","msg":1}', "missing topic"),
        ("missing msg", '{"channel":"c","topic":"t"}', "missing msg"),
        ("trailing garbage", '{"channel":"c","topic":"t","msg":1} x', "bad JSON"),
        ("a sys field", '{"sys":5,"channel":"c","topic":"t","msg":1}', "sys"),
    ]
    for what, body, reason in cases:
        r = await api.req("POST", "/api/publish", body)
        err = (jbody(r) or {}).get("error", "")
        c.ok(r.status == 400 and reason in err, f"publish with {what}: 400 '{reason}'", f"{r!r}")
    r = await api.req("POST", "/api/broadcast", '{"msg":1}')
    c.ok(r.status == 400 and "missing topic" in (jbody(r) or {}).get("error", ""), "broadcast without topic: 400",
         repr(r))
    r = await api.req("POST", "/api/broadcast", '{"topic":"t"}')
    c.ok(r.status == 400 and "missing msg" in (jbody(r) or {}).get("error", ""), "broadcast without msg: 400",
         repr(r))
    # Sizes.
    big = '{"channel":"c","topic":"t","msg":"%s"}' % ("x" * (MAX + 4096))
    r = await api.req("POST", "/api/publish", big)
    c.eq(r.status, 413, f"body over max-message-size + 4k: 413")
    c.ok("too large" in (jbody(r) or {}).get("error", ""), "413 says why", repr(r.body))
    r = await api.req("POST", "/api/publish", '{"channel":"c","topic":"t","msg":"%s"}' % ("x" * MAX))
    c.eq(r.status, 413, "msg over max-message-size (body within the limit): 413")
    r = await api.publish("c", "t", '"%s"' % ("x" * (MAX - 2)))
    c.eq(r.status, 200, "msg of exactly max-message-size: 200")
    # Chunked body over the limit.
    cl = await h.RawClient.connect(api.port)
    try:
        cl.send(b"POST /api/publish HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer secret\r\n"
                b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
        chunk = b"y" * 16384
        try:
            for _ in range(6):
                cl.send(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
                await cl.drain()
        except ConnectionError:
            pass
        r = await cl.read_http()
        c.eq(r.status, 413, "chunked body over the limit: 413")
    finally:
        cl.close()
    # Routes and methods.
    r = await api.req("GET", "/api/nope")
    c.eq(r.status, 404, "unknown path: 404")
    c.ok("error" in (jbody(r) or {}), "404 body is {\"error\":...}", repr(r.body))
    r = await api.req("GET", "/api/publish")
    c.eq((r.status, r.header("Allow")), (405, "POST"), "GET /api/publish: 405 with Allow: POST")
    r = await api.req("POST", "/metrics", "{}")
    c.eq((r.status, r.header("Allow")), (405, "GET"), "POST /metrics: 405 with Allow: GET")
    c.ok("error" in (jbody(r) or {}), "405 body is {\"error\":...}", repr(r.body))
    r = await api.req("GET", "/api/stats", headers=[("X-Filler", "f" * 9000)])
    c.eq(r.status, 431, "request head over --max-handshake-size: 431")
    r = await api.req("GET", "/api/stats?pretty=1")
    c.eq(r.status, 200, "a query string is ignored")
    cl = await h.RawClient.connect(api.port)
    try:
        cl.send(b"NOT HTTP AT ALL\r\n\r\n")
        r = await cl.read_http()
        c.eq(r.status, 400, "garbage request: 400")
    finally:
        cl.close()


METRIC_LINE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="[^"\\]*"'
                         r'(,[a-zA-Z_][a-zA-Z0-9_]*="[^"\\]*")*)?\})? (-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?)$')


async def metrics_and_stats(c, api, nclients, npublished):
    # Closed connections leave the counters a moment after the close handshake.
    deadline = time.monotonic() + h.T(5)
    while True:
        r = await api.req("GET", "/metrics")
        n = sum(float(l.rsplit(" ", 1)[1]) for l in r.body.decode().splitlines()
                if l.startswith("sss_connections{"))
        if n == nclients or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.1)
    c.eq(r.status, 200, "/metrics: 200")
    c.ok((r.header("Content-Type") or "").startswith("text/plain"), "/metrics is text/plain",
         r.header("Content-Type"))
    text = r.body.decode()
    bad, samples, types = [], {}, {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, typ = line.split(" ", 3)
            types[name] = typ
            continue
        if line.startswith("#") or not line:
            continue
        m = METRIC_LINE.match(line)
        if not m:
            bad.append(line)
            continue
        samples.setdefault(m.group(1), []).append((m.group(3) or "", float(m.group(5))))
    c.ok(not bad, "every /metrics sample line is `name{labels} value`", repr(bad[:3]))
    def family(n):
        # A summary's or histogram's samples carry the family name plus a suffix.
        for suffix in ("_sum", "_count", "_bucket"):
            base = n[:-len(suffix)]
            if n.endswith(suffix) and types.get(base) in ("summary", "histogram"):
                return base
        return n
    c.ok(all(family(n) in types for n in samples), "every metric has a # TYPE line",
         sorted(n for n in samples if family(n) not in types))
    c.ok(all(n.endswith("_total") for n, t in types.items() if t == "counter"), "counters end in _total",
         repr(types))
    ws = samples.get("sss_websockets", [])
    c.eq(sorted(l for l, _ in ws), ['worker="0"', 'worker="1"'], "sss_websockets has one sample per worker")
    c.eq(sum(v for _, v in ws), nclients, "sss_websockets matches the clients opened")
    c.eq(sum(v for _, v in samples.get("sss_connections", [])), nclients, "sss_connections matches the clients opened")
    c.ok(samples.get("sss_publishes_total", [("", 0)])[0][1] >= npublished, "sss_publishes_total counts the publishes")
    r = await api.req("GET", "/api/stats")
    st = jbody(r)
    c.ok(r.status == 200 and isinstance(st, dict), "/api/stats: 200 JSON", repr(r))
    if not isinstance(st, dict):
        return
    c.eq(len(st.get("workers", [])), 2, "/api/stats lists both workers")
    c.eq(st.get("total", {}).get("websockets"), nclients, "/api/stats total websockets")
    c.eq(sum(w.get("websockets", 0) for w in st.get("workers", [])), nclients, "per-worker websockets sum up")
    c.ok(all(w.get("pid", 0) > 0 for w in st.get("workers", [])), "each worker has its pid")
    c.ok(st.get("scaler", {}).get("publishes", 0) >= npublished, "/api/stats scaler publishes", repr(st.get("scaler")))


async def run_cli(*args, env=None):
    e = {k: v for k, v in os.environ.items() if not k.startswith("SSS_") and "proxy" not in k.lower()}
    e.update(env or {})
    p = await asyncio.create_subprocess_exec(sys.executable, CLI, *args, stdout=asyncio.subprocess.PIPE,
                                             stderr=asyncio.subprocess.PIPE, env=e)
    out, err = await asyncio.wait_for(p.communicate(), h.T(30))
    return p.returncode, out.decode(), err.decode()


async def drain_all(clients):
    for ws in clients:
        while await no_more(ws, 0.5) is not None:
            pass


async def cli(c, api, subs, others):
    c.ok(os.access(CLI, os.X_OK), "tools/sss is executable")
    ws = subs["w0"][0]
    rc, out, err = await run_cli("--url", api.url, "--key", KEY, "publish", "news", "cli", '{"from": "cli"}')
    c.ok(rc == 0, "sss publish: exit 0", err)
    uid = out.strip()
    c.ok(re.fullmatch(r"\d+-\d+", uid), "sss publish prints the uid", repr(out))
    c.eq(await rx(ws), '{"sys":8,"channel":"news","topic":"cli","msg":{"from": "cli"},"uid":"%s"}' % uid,
         "sss publish reaches a subscriber")
    rc, out, err = await run_cli("broadcast", "hello", '"all"', env={"SSS_API_URL": api.url, "SSS_API_KEY": KEY})
    c.ok(rc == 0, "sss broadcast (url and key from the environment): exit 0", err)
    c.eq(await rx(ws), '{"sys":11,"topic":"hello","msg":"all"}', "sss broadcast reaches a client")
    # The publish and the broadcast reached the other clients too: take them off their queues.
    await drain_all([w for lst in subs.values() for w in lst] + others)
    rc, out, err = await run_cli("--url", api.url, "--key", KEY, "stats")
    c.ok(rc == 0 and "total" in out and "worker" in out and "scaler" in out, "sss stats prints a table",
         out + err)
    rc, out, err = await run_cli("--url", api.url, "--key", KEY, "metrics")
    c.ok(rc == 0 and "# TYPE sss_websockets gauge" in out, "sss metrics prints the exposition", err)
    rc, out, err = await run_cli("--url", api.url, "health")
    c.ok(rc == 0 and out.strip() == "ok", "sss health", out + err)
    rc, out, err = await run_cli("--url", api.url, "--key", "wrong", "publish", "news", "t", "1")
    c.ok(rc != 0 and "401" in err and "key" in err, "sss with a wrong key: non-zero exit, clear message",
         f"rc={rc} err={err!r}")
    rc, out, err = await run_cli("--url", api.url, "--key", KEY, "publish", "bad name", "t", "1")
    c.ok(rc != 0 and "400" in err and "invalid channel" in err, "sss publish to a bad channel: the reason",
         f"rc={rc} err={err!r}")
    rc, out, err = await run_cli("--url", api.url, "--key", KEY, "publish", "news", "t", "{oops")
    c.ok(rc == 2 and "JSON" in err, "sss with invalid JSON: usage error", f"rc={rc} err={err!r}")
    rc, out, err = await run_cli("--url", "http://127.0.0.1:1", "health")
    c.ok(rc != 0 and "cannot reach" in err, "sss with nothing listening: clear message", err)


async def parallel(c, api, subs, n=200, at_once=8):
    # At most --api-max-per-address (8) connections at once: one address may
    # hold no more before the server has read their key (test_api_slots).
    gate = asyncio.Semaphore(at_once)

    async def one(i):
        async with gate:
            return await one_request(i)

    async def one_request(i):
        if i % 2:
            r = await api.publish("par", "t", '{"i":%d}' % i)
            return r.status, (jbody(r) or {}).get("uid")
        r = await api.req("GET", "/api/stats" if i % 4 else "/healthz")
        return r.status, None

    t0 = time.monotonic()
    res = await asyncio.gather(*(one(i) for i in range(n)), return_exceptions=True)
    errors = [r for r in res if isinstance(r, BaseException)]
    c.ok(not errors, f"{n} parallel API requests ({at_once} at once): none failed", repr(errors[:3]))
    ok = [r for r in res if not isinstance(r, BaseException)]
    c.eq(sum(1 for s, _ in ok if s == 200), n, f"{n} parallel API requests all answered 200")
    h.log(f"#   {n} parallel requests in {time.monotonic() - t0:.2f}s")
    uids = {u for s, u in ok if u}
    c.eq(len(uids), n // 2, "parallel publishes got distinct uids")
    # The subscriber of "par" (subscribed before) gets each once.
    ws = subs["par"]
    got = []
    for _ in range(n // 2):
        got.append(json.loads(await rx(ws)))
    c.eq(sorted(m["uid"] for m in got), sorted(uids), "the subscriber got every parallel publish once")
    offs = [int(m["uid"].split("-")[1]) for m in got]
    c.eq(offs, sorted(offs), "... in uid order")


async def keep_alive(c, api):
    cl = await h.RawClient.connect(api.port)
    try:
        cl.send(Api.raw("POST", "/api/publish", '{"channel":"ka","topic":"t","msg":1}', close=False))
        r1 = await cl.read_http()
        cl.send(Api.raw("GET", "/healthz", close=False))
        r2 = await cl.read_http()
        # Two pipelined in one write.
        cl.send(Api.raw("GET", "/healthz", close=False) + Api.raw("GET", "/healthz", close=True))
        r3 = await cl.read_http()
        r4 = await cl.read_http()
        c.eq([r1.status, r2.status, r3.status, r4.status], [200] * 4, "keep-alive and pipelining")
        c.eq(r4.header("Connection"), "close", "Connection: close honoured")
        c.ok(await cl.at_eof(5), "connection closed after Connection: close")
    finally:
        cl.close()
    # A connection that has not shown the key is closed after its answer:
    # test_api_slots.keyless_requests_close.


async def slowloris(c, api):
    slow = await h.RawClient.connect(api.port)
    silent = await h.RawClient.connect(api.port)
    t0 = time.monotonic()
    slow.send(b"POST /api/publish HTTP/1.1\r\nHost: x\r\n")
    await slow.drain()

    async def trickle():
        try:
            while True:
                await asyncio.sleep(0.5)
                slow.send(b"X")
                await slow.drain()
        except (ConnectionError, OSError):
            return

    task = asyncio.create_task(trickle())
    try:
        worst = 0.0
        for _ in range(10):
            t = time.monotonic()
            r = await api.req("GET", "/healthz")
            worst = max(worst, time.monotonic() - t)
            c.eq(r.status, 200, "while a slow client trickles, others are served")
            await asyncio.sleep(0.2)
        c.ok(worst < h.T(1), f"... promptly (worst {worst:.3f}s)")
        closed = await slow.at_eof(15)
        took = time.monotonic() - t0
        c.ok(closed and took < h.T(9), f"the slow client is closed after the timeout ({took:.1f}s)")
        c.ok(await silent.at_eof(5), "a silent client is closed too")
    finally:
        task.cancel()
        slow.close()
        silent.close()


async def run(c):
    srv, port = await h.api_server(c, "the scaler logs 'api listening on 127.0.0.1:PORT'",
                                   flags=FLAGS, workers=2, echo=False, name="api")
    if not srv:
        return
    api = Api(port)
    c.ok(not re.search(r"HTTP API is open", srv.log()), "no open-API warning with a key")
    subs = await clients_on_each_worker(srv, 2, "news")
    plain = [await begun(srv)]  # begun, subscribed to nothing: gets broadcasts only
    par = await begun(srv)
    await par.send(json.dumps({"sys": 1, "channel": "par", "id": 1}))
    json.loads(await rx(par))
    nclients = sum(len(v) for v in subs.values()) + len(plain) + 1
    await c.section("publish reaches subscribers on both workers", publish_reaches_all, c, srv, api, subs)
    await c.section("broadcast reaches every begun client", broadcast_reaches_all, c, srv, api, subs, plain + [par])
    await c.section("bearer key", auth, c, api)
    await c.section("bad requests", bad_requests, c, api)
    await c.section("metrics and stats", metrics_and_stats, c, api, nclients, 21)
    await c.section("tools/sss", cli, c, api, subs, plain + [par])
    await c.section("parallel requests", parallel, c, api, {"par": par})
    await c.section("keep-alive", keep_alive, c, api)
    await c.section("slow clients", slowloris, c, api)
    r = await api.req("GET", "/healthz")
    c.eq(r.status, 200, "the API still answers at the end")
    for ws in [w for lst in subs.values() for w in lst] + plain + [par]:
        await ws.close()
    await srv.stop()

    # Without a key: a warning, and the API is open.
    srv, port = await h.api_server(c, "open API listens", flags=["--api-listen", "127.0.0.1:0"],
                                   workers=1, echo=False, name="open-api")
    if srv:
        c.ok(await srv.wait_log(r"warn .*open", timeout=5), "no --api-key: a warning is logged")
        r = await Api(port).req("GET", "/api/stats", key=None)
        c.eq(r.status, 200, "no --api-key: /api/stats without a key")
        await srv.stop()


if __name__ == "__main__":
    h.main(run, "test_api")
