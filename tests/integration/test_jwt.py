"""The built-in JWT HS256 session parser (--jwt-secret): tokens from the
Authorization header, the token query parameter or the cookie --jwt-cookie names; a bad,
expired or missing token gets 401 with a reason; `sub` names the user, who is
subscribed to _u_<user> before the BEGIN reply. Issue 18: a token without
exp is refused unless --jwt-require-exp false; --jwt-issuer, --jwt-audience
and --jwt-leeway; no token reaches the log, not even at debug."""
import asyncio
import base64
import hashlib
import hmac
import json
import time

from sss_harness import T, Server, main, ws_connect, upgrade_request, raw_http

SECRET = "s3cret-for-tests-0123456789abcdef"  # 32 bytes at least (HS256)


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def token(payload, secret=SECRET, alg="HS256", exp=True):
    """payload signed; an hour's exp added unless it has one or exp is False
    (the server refuses a token without exp: --jwt-require-exp)."""
    if exp and "exp" not in payload:
        payload = dict(payload, exp=int(time.time()) + 3600)
    head = b64(json.dumps({"alg": alg, "typ": "JWT"}).encode())
    body = b64(json.dumps(payload).encode())
    sig = b64(hmac.new(secret.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest())
    return f"{head}.{body}.{sig}"


async def rx(ws):
    return json.loads(await asyncio.wait_for(ws.recv(), T(20)))


async def status_of(server, path="/", headers=None):
    req = upgrade_request(path=path, extra=list((headers or {}).items()))
    resp = await raw_http(server, req)
    return resp.status, resp.body.decode("utf-8", "replace").strip()


async def test(checks):
    # --jwt-cookie: the cookie is read only when named (test_browser: and only with an Origin
    # list, or --allow-any-origin as here).
    server = await Server(checks, flags=["--jwt-secret", SECRET, "--jwt-cookie", "token",
                                         "--allow-any-origin"], echo=False, name="jwt").start()
    now = int(time.time())
    good = token({"sub": "alice", "exp": now + 600})
    cases = [
        ("no token", "/", {}, 401, "missing token"),
        ("bad signature", "/", {"Authorization": "Bearer " + token({"sub": "alice"}, secret="x")},
         401, "bad signature"),
        ("expired", "/", {"Authorization": "Bearer " + token({"sub": "alice", "exp": now - 5})},
         401, "token expired"),
        ("alg none", "/", {"Authorization": "Bearer " + token({"sub": "a"}, alg="none")}, 401,
         "unsupported alg"),
        ("no sub", "/", {"Authorization": "Bearer " + token({"exp": now + 60})}, 401, "missing sub"),
        ("no exp (--jwt-require-exp is on by default)", "/",
         {"Authorization": "Bearer " + token({"sub": "alice"}, exp=False)}, 401, "missing exp"),
    ]
    for what, path, headers, want, reason in cases:
        st, body = await status_of(server, path, headers)
        checks.eq((st, body), (want, reason), f"{what}: {want} with its reason")
    # Three places to bring a valid token.
    for what, kw in (("Authorization header", {"additional_headers": {"Authorization": "Bearer " + good}}),
                     ("cookie", {"additional_headers": {"Cookie": "x=1; token=" + good}}),
                     ("query", {})):
        url = server.url + ("?token=" + good if what == "query" else "")
        ws = await ws_connect(url, **kw)
        await ws.send(json.dumps({"sys": 3}))
        r = await rx(ws)
        checks.ok(r.get("channel") == "_u_alice" and "lastUid" in r and r["lastUid"] is None,
                  f"{what}: BEGIN reply names the user channel", str(r))
        await ws.close()
    ws = await ws_connect(server.url, additional_headers={"Authorization": "Bearer " + good})
    await ws.send(json.dumps({"sys": 3}))
    await rx(ws)
    await ws.send(json.dumps({"sys": 1, "channel": "_u_alice", "id": 1}))
    r = await rx(ws)
    checks.ok(r.get("result") is False, "SUBSCRIBE to a user channel is refused", str(r))
    await ws.send(json.dumps({"sys": 4, "id": 2, "subscriptions": [
        {"channel": "_u_alice", "lastUid": None}, {"channel": "_u_bob", "lastUid": None}]}))
    r = await rx(ws)
    checks.eq(r.get("result"), {"_u_alice": True, "_u_bob": False},
              "SYNC gives back the own user channel only")
    await ws.close()
    # A SYNC that comes first subscribes the user channel too, without a BEGIN reply.
    ws = await ws_connect(server.url, additional_headers={"Authorization": "Bearer " + good})
    await ws.send(json.dumps({"sys": 4, "id": 3, "subscriptions": []}))
    r = await rx(ws)
    checks.eq(r, {"sys": 4, "id": 3, "result": {}, "records": []}, "SYNC first: only its own reply")
    await ws.close()
    await server.stop()
    await test_rules(checks)


async def test_rules(checks):
    """Issue 18: the deployment's rules, and tokens kept out of the debug log."""
    server = await Server(checks, flags=["--jwt-secret", SECRET, "--jwt-issuer", "https://id.example",
                                         "--jwt-audience", "sss", "--jwt-leeway", "30s",
                                         "--jwt-require-exp=false", "--log-level", "debug",
                                         "--jwt-cookie", "token", "--allow-any-origin"],
                          echo=False, name="jwt-rules").start()
    now = int(time.time())
    right = {"sub": "alice", "iss": "https://id.example", "aud": ["app", "sss"]}
    cases = [
        ("no exp, --jwt-require-exp=false", dict(right), False, 101, ""),
        ("aud as a string", dict(right, aud="sss"), True, 101, ""),
        ("expired 5 s ago, within --jwt-leeway 30s", dict(right, exp=now - 5), True, 101, ""),
        ("expired 10 min ago", dict(right, exp=now - 600), True, 401, "token expired"),
        ("another issuer", dict(right, iss="https://evil.example"), True, 401, "bad issuer"),
        ("no issuer", {"sub": "alice", "aud": "sss"}, True, 401, "bad issuer"),
        ("another audience", dict(right, aud=["app"]), True, 401, "bad audience"),
    ]
    for what, payload, exp, want, reason in cases:
        tok = token(payload, exp=exp)
        st, body = await status_of(server, "/", {"Authorization": "Bearer " + tok})
        checks.eq((st, body), (want, reason), f"{what}: {want}")
    # A token in the query, in a cookie, in the header: the debug log shows none.
    tok = token(dict(right, sub="bob"))
    for where in ("query", "cookie", "header"):
        headers = {"Cookie": f"token={tok}"} if where == "cookie" else (
            {"Authorization": f"Bearer {tok}"} if where == "header" else {})
        st, _ = await status_of(server, "/?token=" + tok if where == "query" else "/?x=1",
                                headers)
        checks.eq(st, 101, f"token in the {where}: accepted")
    m = await server.wait_log(r"upgraded .*target=/\?token=\[redacted\]")
    checks.ok(m, "the debug log shows the query's token as [redacted]")
    sig = tok.rsplit(".", 1)[1]
    checks.ok(sig not in server.log() and tok.split(".")[1] not in server.log(),
              "no part of a token is in the log")
    await server.stop()


if __name__ == "__main__":
    main(test, "test_jwt")
