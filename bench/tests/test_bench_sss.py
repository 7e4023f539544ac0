"""sss-bench against the real sss-server (with bench/bench_app.c loaded):
exact delivery counts, no loss/duplicates/reordering, ask round trips, the
connect workload's memory figure, raw echo, server CPU over all its
processes, and clear one-line errors for bad input."""
import math
import sys

import sb_harness as h
from sb_harness import T

h.init()
c = h.Checks("test_bench_sss")
srv = h.Server(["--app", h.APP, "--allow-client-publish", "bench-*", "--max-message-rate", "0"])
echo = h.Server(["--echo"], workers=1)
common = ["--timeout", T(20), "--tail", T(10)]
try:
    # Fan-out, one channel, two procs: exactly K*S deliveries.
    K, S = 400, 30
    rc, out, err, j = h.bench(["fanout", "--url", srv.url, "--subscribers", S, "--publishers", 2,
                               "--messages", K, "--procs", 2, "--duration", "1.5s",
                               "--warmup", 0, "--server-pid", srv.pid] + common)
    c.ok(rc == 0 and j is not None, "fanout runs", f"rc={rc}")
    if j:
        c.ok(j["sent"] == K and j["acked"] == K, "fanout: K publishes sent and acknowledged",
             f"sent={j['sent']} acked={j['acked']}")
        c.ok(j["delivered"] == K * S, "fanout: delivered == K*S", f"{j['delivered']} != {K * S}")
        c.ok(j["expected"] == K * S, "fanout: expected == K*S", f"{j['expected']}")
        c.ok(j["lost"] == 0 and j["duplicates"] == 0 and j["out_of_order"] == 0
             and j["gaps"] == 0, "fanout: no loss, duplicate, reordering or gap")
        c.ok(j["connections_ok"] == S + 2 and j["errors"] == 0, "fanout: no errors")
        c.ok(j["latency_us"]["count"] > 0 and j["latency_us"]["p50"] > 0
             and j["latency_us"]["p50"] <= j["latency_us"]["p99"] <= j["latency_us"]["max"],
             "fanout: latency percentiles ordered")
        # master, 2 workers, scaler: the descendants are counted.
        c.ok(j["server_procs"] >= 4, "fanout: server processes include the descendants",
             f"server_procs={j['server_procs']}")
        c.ok(j["server_rss_bytes"] > 0, "fanout: server memory read")
        c.ok(out.strip().splitlines()[-1].startswith("{"), "the JSON line is the last line")
        c.ok("delivered" in out and "latency" in out, "the human table is printed")

    # Several channels, three publishers, paced: delivered == expected computed here.
    K, S, C, P = 300, 25, 3, 3
    rc, out, err, j = h.bench(["fanout", "--url", srv.url, "--subscribers", S, "--publishers", P,
                               "--channels", C, "--messages", K, "--rate", 600, "--procs", 2,
                               "--duration", "1s", "--warmup", 0, "--json-only"] + common)
    members = [len([i for i in range(S) if i % C == ch]) for ch in range(C)]
    want = 0
    for p in range(P):
        for n in range(K // P + (1 if p < K % P else 0)):
            want += members[(p + n) % C]
    c.ok(rc == 0 and j is not None, "fanout over channels runs", f"rc={rc}")
    if j:
        c.ok(len(out.strip().splitlines()) == 1, "--json-only prints one line")
        c.ok(j["sent"] == K, "channels: K publishes", f"sent={j['sent']}")
        c.ok(j["expected"] == want, "channels: expected matches channel membership",
             f"{j['expected']} != {want}")
        c.ok(j["delivered"] == want and j["lost"] == 0 and j["duplicates"] == 0
             and j["out_of_order"] == 0 and j["gaps"] == 0, "channels: every delivery, once, in order",
             f"delivered={j['delivered']}")

    # --order spread, paced and then closed loop: expected computed here from the order
    # (bench.unit.test_sb_order checks the inverse the closed loop's window uses).
    K, S, C, P = 300, 28, 7, 3
    stride = next(x for x in range(max(1, C * 618 // 1000), 0, -1) if math.gcd(x, C) == 1)
    members = [len([i for i in range(S) if i % C == ch]) for ch in range(C)]
    want = sum(members[(p + (n % C) * stride) % C]
               for p in range(P) for n in range(K // P + (1 if p < K % P else 0)))
    for rate in (600, 0):
        rc, out, err, j = h.bench(["fanout", "--url", srv.url, "--subscribers", S, "--publishers", P,
                                   "--channels", C, "--order", "spread", "--messages", K,
                                   "--rate", rate, "--window", 1, "--procs", 2, "--duration", "1.5s",
                                   "--warmup", 0, "--json-only"] + common)
        what = f"spread order at rate {rate}"
        c.ok(rc == 0 and j is not None and j["params"]["order"] == "spread", what + " runs",
             f"rc={rc}")
        if j:
            c.ok(j["sent"] == K and j["expected"] == want, what + ": K publishes, expected from "
                 "the order", f"sent={j['sent']} expected={j['expected']} want={want}")
            c.ok(j["delivered"] == want and j["lost"] == 0 and j["duplicates"] == 0
                 and j["out_of_order"] == 0 and j["gaps"] == 0,
                 what + ": every delivery, once, in order", f"delivered={j['delivered']}")

    # Ask: closed loop, every ASK answered by the module.
    rc, out, err, j = h.bench(["ask", "--url", srv.url, "--askers", 8, "--duration", "1s",
                               "--warmup", 0, "--server-pid", srv.pid] + common)
    c.ok(rc == 0 and j is not None, "ask runs", f"rc={rc}")
    if j:
        c.ok(j["sent"] > 0 and j["delivered"] == j["sent"] and j["errors"] == 0,
             "ask: every ask answered", f"sent={j['sent']} delivered={j['delivered']}")
        c.ok(j["latency_us"]["p50"] > 0 and j["server_cpu_s"] >= 0, "ask: latency measured")

    # Connect: subscribed connections and the server's memory per connection.
    rc, out, err, j = h.bench(["connect", "--url", srv.url, "--connections", 400, "--channels", 10,
                               "--procs", 2, "--hold", "0.5s", "--server-pid", srv.pid] + common)
    c.ok(rc == 0 and j is not None, "connect runs", f"rc={rc}")
    if j:
        c.ok(j["connections_ok"] == 400 and j["connections_failed"] == 0, "connect: 400 ready")
        c.ok(j["connect_per_s"] > 0 and (j["server_pss_per_conn_bytes"] > 0
                                         or j["server_rss_per_conn_bytes"] > 0),
             "connect: rate and memory per connection",
             f"pss={j['server_pss_per_conn_bytes']} rss={j['server_rss_per_conn_bytes']}")

    # Raw echo against sss-server --echo, 4 KiB payloads, window 4.
    rc, out, err, j = h.bench(["echo", "--url", echo.url, "--connections", 10, "--window", 4,
                               "--size", "4k", "--duration", "1s", "--warmup", 0] + common)
    c.ok(rc == 0 and j is not None, "echo runs", f"rc={rc}")
    if j:
        c.ok(j["sent"] > 0 and j["delivered"] == j["sent"] and j["bad_payloads"] == 0,
             "echo: every message back", f"sent={j['sent']} delivered={j['delivered']}")

    # Asks to a server that does not answer them (echo server, sss proto): an error, not a hang.
    rc, out, err, j = h.bench(["ask", "--url", echo.url, "--askers", 2, "--duration", "0.3s",
                               "--warmup", 0, "--tail", "0.5s", "--timeout", T(20)])
    c.ok(rc == 3 and j is not None and j["errors"] > 0 and "no answer" in (j["error"] or ""),
         "unanswered asks are errors (exit 3)", f"rc={rc}")

    # Bad input: one line on stderr, exit 1, never a hang.
    bad = [
        (["fanout", "--url", "ws://127.0.0.1:1/", "--duration", "1s"], "Connection refused"),
        (["fanout", "--url", "http://127.0.0.1:1/"], "ws://"),
        (["fanout"], "--url"),
        (["nosuch", "--url", srv.url], "unknown workload"),
        (["fanout", "--url", srv.url, "--rate", "fast"], "--rate"),
        (["fanout", "--url", srv.url, "--bogus"], "--bogus"),
        (["ask", "--proto", "nchan", "--url", srv.url], "not supported"),
        (["cluster", "--url", srv.url], "two URLs"),
        (["fanout", "--url", srv.url, "--order", "random"], "--order"),
        (["fanout", "--url", srv.url, "--proto", "nchan", "--order", "spread"], "--order"),
        (["connect", "--url", srv.url, "--order", "spread"], "--order"),
        (["fanout", "--url", srv.url, "--server-pid", "0x"], "--server-pid"),
        # the echo server answers SUBSCRIBE with its own text: refused
        (["fanout", "--url", echo.url, "--subscribers", 3, "--duration", "1s"], "SUBSCRIBE"),
    ]
    for args, word in bad:
        rc, out, err, j = h.bench(args + ["--timeout", T(10)], timeout=60)
        lines = err.strip().splitlines()
        c.ok(rc == 1 and len(lines) == 1 and word in lines[0] and lines[0].startswith("sss-bench: "),
             f"bad input {args[:3]}: one clear line, exit 1", f"rc={rc} stderr={err.strip()!r}")
finally:
    srv.stop()
    echo.stop()
c.finish()
