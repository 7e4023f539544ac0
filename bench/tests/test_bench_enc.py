"""sss-bench's --encoding msgpack (sub-protocol sss.v1.msgpack) and wss://
URLs against the real sss-server (plain, and with --tls-cert/--tls-key and
certificates made by openssl through tests/integration/svc_tls.py): exact
delivery counts in both encodings over both transports, asks, many TLS
connections per process, fewer bytes on the wire per delivery with msgpack
(byte counts, not timings), and a clear one-line error for each bad input."""
import sb_harness as h
from sb_harness import T
from svc_tls import Pki

h.init()
c = h.Checks("test_bench_enc")
pki = Pki()
flags = ["--app", h.APP, "--allow-client-publish", "bench-*", "--max-message-rate", "0"]
srv = h.Server(flags)
tls = h.Server(flags + ["--tls-cert", pki.server_cert, "--tls-key", pki.server_key])
wss = f"wss://127.0.0.1:{tls.port}/"
common = ["--timeout", T(20), "--tail", T(10), "--warmup", 0, "--duration", "1s"]


def fanout(url, encoding, extra=()):
    K, S = 300, 20
    rc, out, err, j = h.bench(["fanout", "--url", url, "--subscribers", S, "--publishers", 2,
                               "--messages", K, "--procs", 2, "--encoding", encoding,
                               "--json-only"] + list(extra) + common)
    what = f"{encoding} over {url.split(':')[0]}"
    c.ok(rc == 0 and j is not None, f"fanout runs ({what})", f"rc={rc} err={err[-300:]}")
    if not j:
        return None
    c.eq(j["encoding"], encoding, f"the JSON line names the encoding ({what})")
    c.ok(j["sent"] == K and j["acked"] == K, f"every publish acknowledged ({what})",
         f"sent={j['sent']} acked={j['acked']}")
    c.ok(j["delivered"] == K * S and j["expected"] == K * S and j["lost"] == 0
         and j["duplicates"] == 0 and j["out_of_order"] == 0 and j["gaps"] == 0
         and j["errors"] == 0, f"every delivery, once, in order ({what})",
         f"delivered={j['delivered']} errors={j['errors']} {j['error']}")
    c.ok(j["wire_bytes_in"] > j["bytes_in"] > 0 and j["wire_bytes_out"] > j["bytes_out"] > 0,
         f"bytes on the wire counted beside the payload bytes ({what})",
         f"wire_in={j['wire_bytes_in']} in={j['bytes_in']}")
    return j


try:
    plain_json = fanout(srv.url, "json")
    plain_mp = fanout(srv.url, "msgpack")
    if plain_json and plain_mp:
        # The same deliveries: a msgpack FEED is smaller than its JSON (no quotes, no
        # field-name punctuation); were msgpack not negotiated, they would be equal.
        c.ok(plain_mp["wire_bytes_in"] < 0.95 * plain_json["wire_bytes_in"],
             "msgpack: fewer bytes received for the same deliveries",
             f"msgpack {plain_mp['wire_bytes_in']} json {plain_json['wire_bytes_in']}")
    tls_json = fanout(wss, "json", ["--tls-ca", pki.ca])
    tls_mp = fanout(wss, "msgpack", ["--tls-ca", pki.ca])
    if plain_json and tls_json:
        # TLS records add a header and a tag to what the WebSocket layer sends
        c.ok(tls_json["bytes_in"] == plain_json["bytes_in"]
             and tls_json["wire_bytes_in"] > plain_json["wire_bytes_in"],
             "wss: the same payload bytes, more bytes on the wire",
             f"tls {tls_json['wire_bytes_in']} plain {plain_json['wire_bytes_in']}")

    # Asks in msgpack, over TLS with the name localhost (SNI and the name check).
    rc, out, err, j = h.bench(["ask", "--url", f"wss://localhost:{tls.port}/", "--tls-ca",
                               pki.ca, "--encoding", "msgpack", "--askers", 8] + common)
    c.ok(rc == 0 and j is not None and j["sent"] > 0 and j["delivered"] == j["sent"]
         and j["errors"] == 0, "ask: every msgpack ask answered over wss://",
         f"rc={rc} {j and j['error']}")
    c.ok("encoding=msgpack" in out and f"wss://localhost:{tls.port}/" in out,
         "the table names the encoding and the wss:// URL")

    # Many TLS connections per process: connect 600 over two processes.
    rc, out, err, j = h.bench(["connect", "--url", wss, "--tls-ca", pki.ca, "--connections",
                               600, "--channels", 10, "--procs", 2, "--hold", "0.2s",
                               "--json-only", "--timeout", T(60)], timeout=120)
    c.ok(rc == 0 and j is not None and j["connections_ok"] == 600
         and j["connections_failed"] == 0, "connect: 600 wss:// connections ready",
         f"rc={rc} {j and j['error']}")

    # Bad input: one line on stderr, exit 1.
    bad = [
        ("a certificate not signed by a trusted CA", ["fanout", "--url", wss, "--subscribers",
                                                      2, "--timeout", T(10)],
         "certificate verify failed"),
        ("a CA file that does not exist", ["fanout", "--url", wss, "--tls-ca",
                                           "/nonexistent/ca.pem"], "TLS: "),
        ("wss:// to a port without TLS", ["fanout", "--url", f"wss://127.0.0.1:{srv.port}/",
                                          "--tls-no-verify", "--subscribers", 2, "--timeout",
                                          "1s"], "TLS handshake unanswered"),
        ("--tls-no-verify without a wss:// URL", ["fanout", "--url", srv.url, "--tls-no-verify"],
         "are for wss:// URLs"),
        ("--tls-ca with --tls-no-verify", ["fanout", "--url", wss, "--tls-ca", pki.ca,
                                           "--tls-no-verify"], "contradict"),
        ("an unknown encoding", ["fanout", "--url", srv.url, "--encoding", "cbor"],
         "--encoding: unknown 'cbor'"),
        ("msgpack for a protocol that has none", ["fanout", "--url", srv.url, "--proto", "uws",
                                                  "--encoding", "msgpack"],
         "speaks only json"),
        ("msgpack with the raw echo workload", ["echo", "--url", srv.url, "--encoding",
                                                "msgpack"], "echo is raw WebSocket"),
        ("an unknown URL scheme", ["fanout", "--url", "http://127.0.0.1:1/"],
         "is not ws://HOST:PORT/PATH or wss://"),
    ]
    h.refused(c, bad)
finally:
    srv.stop()
    tls.stop()
    pki.close()
c.finish()
