"""sss-bench's --deflate (permessage-deflate) and --payload text against the
real sss-server --deflate: exact delivery counts in JSON and msgpack with
every FEED received compressed and inflated, fewer bytes on the wire than
the same run without --deflate (byte counts, not timings), asks and raw
echoes compressed, and one line and exit 1 for --deflate against a server
that does not agree to it, for the protocols it is refused with, and for an
unknown --payload."""
import sb_harness as h
from sb_harness import T

h.init()
c = h.Checks("test_bench_deflate")
flags = ["--app", h.APP, "--allow-client-publish", "bench-*", "--max-message-rate", "0"]
srv = h.Server(flags + ["--deflate"])
plain = h.Server(flags)
echo = h.Server(["--echo", "--deflate"], workers=1)
common = ["--timeout", T(20), "--tail", T(10), "--warmup", 0, "--duration", "1s", "--json-only"]
K, S = 300, 20


def fanout(encoding, deflate):
    rc, out, err, j = h.bench(["fanout", "--url", srv.url, "--subscribers", S, "--publishers", 2,
                               "--messages", K, "--procs", 2, "--encoding", encoding, "--size",
                               512, "--payload", "text"] + (["--deflate"] if deflate else [])
                              + common)
    what = f"{encoding}{' + deflate' if deflate else ''}"
    c.ok(rc == 0 and j is not None, f"fanout runs ({what})", f"rc={rc} err={err[-300:]}")
    if not j:
        return None
    c.ok(j["deflate"] is deflate and j["payload"] == "text",
         f"the JSON line names deflate and the payload ({what})")
    c.ok(j["sent"] == K and j["acked"] == K, f"every publish acknowledged ({what})",
         f"sent={j['sent']} acked={j['acked']}")
    c.ok(j["delivered"] == K * S and j["expected"] == K * S and j["lost"] == 0
         and j["duplicates"] == 0 and j["out_of_order"] == 0 and j["gaps"] == 0
         and j["bad_payloads"] == 0 and j["errors"] == 0,
         f"every delivery, once, in order ({what})",
         f"delivered={j['delivered']} errors={j['errors']} {j['error']}")
    if deflate:
        # every FEED (over --deflate-min-size 256) arrives compressed; the publish replies
        # (under 256 bytes) do not
        c.ok(j["deflated_messages"] == K * S, f"every FEED received compressed ({what})",
             f"deflated_messages={j['deflated_messages']}")
        c.ok(j["inflated_bytes"] > 512 * K * S > j["bytes_in"],
             f"inflated bytes beside the compressed ones ({what})",
             f"inflated={j['inflated_bytes']} bytes_in={j['bytes_in']}")
    else:
        c.eq(j["deflated_messages"], 0, f"nothing compressed without --deflate ({what})")
    return j


try:
    for enc in ("json", "msgpack"):
        a = fanout(enc, False)
        b = fanout(enc, True)
        if a and b:
            # the same deliveries; a 512-byte text payload deflates to about half
            c.ok(b["wire_bytes_in"] < 0.8 * a["wire_bytes_in"],
                 f"{enc}: fewer bytes on the wire with --deflate",
                 f"deflate {b['wire_bytes_in']} plain {a['wire_bytes_in']}")
            c.ok(b["wire_bytes_in_per_delivery"] < a["wire_bytes_in_per_delivery"],
                 f"{enc}: fewer bytes on the wire per delivery with --deflate")

    rc, out, err, j = h.bench(["ask", "--url", srv.url, "--deflate", "--size", "2k", "--payload",
                               "text", "--askers", 4] + common)
    c.ok(rc == 0 and j is not None and j["sent"] > 0 and j["delivered"] == j["sent"]
         and j["deflated_messages"] >= j["delivered"] and j["errors"] == 0,
         "ask: every answer compressed and inflated", f"rc={rc} {j and j['error']}")

    rc, out, err, j = h.bench(["echo", "--url", echo.url, "--deflate", "--size", "4k",
                               "--payload", "text", "--connections", 4] + common)
    c.ok(rc == 0 and j is not None and j["sent"] > 0 and j["delivered"] == j["sent"]
         and j["deflated_messages"] == j["delivered"] and j["bad_payloads"] == 0
         and j["errors"] == 0, "echo: every echo compressed, inflated and matched",
         f"rc={rc} {j and j['error']}")

    bad = [
        ("--deflate against a server without --deflate",
         ["fanout", "--url", plain.url, "--subscribers", 2, "--deflate", "--timeout", T(10)],
         "does not agree to permessage-deflate"),
        ("--deflate with --proto socketio", ["fanout", "--url", srv.url, "--proto", "socketio",
                                             "--deflate"], "--deflate: --proto socketio"),
        ("--deflate with --proto centrifugo", ["fanout", "--url", srv.url, "--proto",
                                               "centrifugo", "--deflate"],
         "--deflate: --proto centrifugo"),
        ("--deflate with --proto nchan", ["fanout", "--url", srv.url, "--proto", "nchan",
                                          "--deflate"], "--deflate: --proto nchan"),
        ("an unknown --payload", ["fanout", "--url", srv.url, "--payload", "lorem"],
         "--payload: unknown 'lorem'"),
    ]
    h.refused(c, bad)
finally:
    srv.stop()
    plain.stop()
    echo.stop()
c.finish()
