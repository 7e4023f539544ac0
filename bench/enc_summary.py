#!/usr/bin/env python3
"""enc_summary.py RESULTS.jsonl: the tables of bench/enc.sh from its JSON
lines: per configuration the median over rounds (min-max) of the figures,
and ratios taken within each round, as medians: msgpack/JSON and wss/ws
(enc.sh's set tls), or with/without permessage-deflate (set deflate)."""
import json
import statistics
import sys

FIG = [("server_cpu_us_per_delivery", "server CPU µs/delivery", "{:.2f}"),
       ("wire_bytes_in_per_delivery", "bytes received/delivery", "{:.1f}"),
       ("deliveries_per_s", "deliveries/s", "{:,.0f}"),
       ("p99_ms", "p99 ms", "{:.1f}"),
       ("bench_cpu_us_per_delivery", "sss-bench CPU µs/delivery", "{:.2f}")]


def load(path):
    runs = {}
    for line in open(path):
        r = json.loads(line)
        j = r["run"]
        if not j:
            continue
        j["p99_ms"] = j["latency_us"]["p99"] / 1000
        tr = r["transport"] + ("+deflate" if r.get("deflate") else "")
        runs[(r["round"], r["peer"], r["enc"], tr, r["workload"])] = j
    return runs


def cell(vals, fmt):
    if not vals:
        return "—"
    m = statistics.median(vals)
    s = fmt.format(m)
    if len(vals) > 1:
        s += f" ({fmt.format(min(vals))}–{fmt.format(max(vals))})"
    return s


def main():
    runs = load(sys.argv[1])
    rounds = sorted({k[0] for k in runs})
    deflate = any(k[3].endswith("+deflate") for k in runs)
    proto = any(k[1] == "centrifugo" for k in runs)
    if proto:
        confs = [("sss", "json", "ws"), ("sss", "msgpack", "ws"), ("centrifugo", "json", "ws"),
                 ("centrifugo", "protobuf", "ws")]
    elif deflate:
        confs = [("sss", "json", "ws"), ("sss", "json", "ws+deflate"), ("sss", "msgpack", "ws"),
                 ("sss", "msgpack", "ws+deflate"), ("uws", "json", "ws"),
                 ("uws", "json", "ws+deflate")]
    else:
        confs = [("sss", "json", "ws"), ("sss", "msgpack", "ws"), ("sss", "json", "wss"),
                 ("sss", "msgpack", "wss"), ("uws", "json", "ws"), ("uws", "json", "wss")]
    order = ["W1", "W2", "W1-40k"]
    for wl in [w for w in order if any(k[4] == w for k in runs)]:
        print(f"\n{wl}: median over {len(rounds)} rounds (min–max)\n")
        names = {"sss": "sss", "uws": "uWS.js", "centrifugo": "Centrifugo"}
        print("| figure | " + " | ".join(f"{p} {e} {t}" if p == "sss" else
                                         f"{names[p]} {e} {t}" if p == "centrifugo" else
                                         f"uWS.js {t}" for p, e, t in confs) + " |")
        print("|---" * (len(confs) + 1) + "|")
        for key, name, fmt in FIG:
            row = [cell([runs[(r, p, e, t, wl)][key] for r in rounds if (r, p, e, t, wl) in runs],
                        fmt) for p, e, t in confs]
            print(f"| {name} | " + " | ".join(row) + " |")
        errs = [f"{p} {e} {t} round {r}: {runs[(r, p, e, t, wl)]['error']}"
                for r in rounds for p, e, t in confs
                if (r, p, e, t, wl) in runs and runs[(r, p, e, t, wl)]["errors"]]
        if errs:
            print("\nerrors: " + "; ".join(errs))
        print(f"\n{wl}: ratios within each round, median (min–max)\n")
        pairs = [("sss msgpack / JSON", ("sss", "msgpack", "ws"), ("sss", "json", "ws")),
                 ("Centrifugo Protobuf / JSON", ("centrifugo", "protobuf", "ws"),
                  ("centrifugo", "json", "ws")),
                 ("sss JSON / Centrifugo JSON", ("sss", "json", "ws"), ("centrifugo", "json", "ws")),
                 ("sss msgpack / Centrifugo Protobuf", ("sss", "msgpack", "ws"),
                  ("centrifugo", "protobuf", "ws"))] if proto else [
                 ("sss JSON deflate / JSON", ("sss", "json", "ws+deflate"), ("sss", "json", "ws")),
                 ("sss msgpack deflate / msgpack", ("sss", "msgpack", "ws+deflate"),
                  ("sss", "msgpack", "ws")),
                 ("sss msgpack deflate / JSON", ("sss", "msgpack", "ws+deflate"),
                  ("sss", "json", "ws")),
                 ("uWS.js deflate / plain", ("uws", "json", "ws+deflate"), ("uws", "json", "ws")),
                 ("sss JSON deflate / uWS.js deflate", ("sss", "json", "ws+deflate"),
                  ("uws", "json", "ws+deflate"))] if deflate else [
                 ("sss msgpack / json, ws", ("sss", "msgpack", "ws"), ("sss", "json", "ws")),
                 ("sss msgpack / json, wss", ("sss", "msgpack", "wss"), ("sss", "json", "wss")),
                 ("sss wss / ws, json", ("sss", "json", "wss"), ("sss", "json", "ws")),
                 ("sss wss / ws, msgpack", ("sss", "msgpack", "wss"), ("sss", "msgpack", "ws")),
                 ("uWS.js SSLApp / App", ("uws", "json", "wss"), ("uws", "json", "ws"))]
        print("| ratio | " + " | ".join(name for _, name, _ in FIG) + " |")
        print("|---" * (len(FIG) + 1) + "|")
        for name, a, b in pairs:
            row = []
            for key, _, _ in FIG:
                v = [runs[(r,) + a + (wl,)][key] / runs[(r,) + b + (wl,)][key] for r in rounds
                     if (r,) + a + (wl,) in runs and (r,) + b + (wl,) in runs
                     and runs[(r,) + b + (wl,)][key]]
                row.append(cell(v, "×{:.2f}"))
            print(f"| {name} | " + " | ".join(row) + " |")


main()
