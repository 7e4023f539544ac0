#!/usr/bin/env bash
# The standard sss workloads (`make bench`): a fresh build/dev/sss-server on a
# free port with the bench module, sss-bench against it, the tables, then one
# summary. Killed servers after, whatever happens.
#
#   W3       connect 20,000 subscribed connections: rate, server memory per connection
#   W1 sat   fan-out, 10,000 subscribers on one channel, closed loop (saturation)
#   W1 rate  the same at 200,000 deliveries/s (20 publishes/s): latency percentiles
#   W2       10,000 subscribers over 1,000 channels, closed loop
#   ask      100 askers, one ASK outstanding each (ASK "echo" of libsss-bench.so)
#   echo     raw WebSocket echo, 100 connections (sss-server --echo)
#
# Environment (or flags of the same name in lower case, e.g. --duration 30s):
#   SSS_BENCH_DURATION   measured window of each workload (10s)
#   SSS_BENCH_WARMUP     warm-up before it (2s)
#   SSS_BENCH_WORKERS    sss-server --workers (2; at least 2 so that each stays under
#                        the 20,000-file limit in W3)
#   SSS_BENCH_PROCS      sss-bench --procs (default: sss-bench's own choice, one process per
#                        19,000 connections, so one for 10,000 subscribers: on 2 cores every
#                        extra bench process competes with the server; W3 uses 2 at least)
#   SSS_BENCH_ONLY       space-separated subset of: w3 w1sat w1rate w2 ask echo
#   SSS_BUILD            build directory (build/dev)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

DURATION=${SSS_BENCH_DURATION:-10s}
WARMUP=${SSS_BENCH_WARMUP:-2s}
WORKERS=${SSS_BENCH_WORKERS:-2}
PROCS=${SSS_BENCH_PROCS:-}
ONLY=${SSS_BENCH_ONLY:-w3 w1sat w1rate w2 ask echo}
BUILD=${SSS_BUILD:-build/dev}
while [ $# -gt 0 ]; do
    case "$1" in
    --duration) DURATION=$2; shift 2 ;;
    --warmup) WARMUP=$2; shift 2 ;;
    --workers) WORKERS=$2; shift 2 ;;
    --procs) PROCS=$2; shift 2 ;;
    --only) ONLY=$2; shift 2 ;;
    --build) BUILD=$2; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d'; exit 0 ;;
    *) echo "run.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
done

SERVER=$BUILD/sss-server
BENCH=$BUILD/bench/sss-bench
APP=$BUILD/bench/libsss-bench.so
for f in "$SERVER" "$BENCH" "$APP"; do
    [ -e "$f" ] || { echo "run.sh: $f is missing: build first (make bench builds)" >&2; exit 1; }
done

TMP=$(mktemp -d /tmp/sss-bench-run.XXXXXX)
RESULTS=$BUILD/bench/results-$(date -u +%Y%m%dT%H%M%SZ).jsonl
: >"$RESULTS"
SRV_PID=
SRV_PORT=

stop_server() {
    if [ -n "$SRV_PID" ]; then
        kill -TERM "$SRV_PID" 2>/dev/null || true
        for _ in $(seq 1 100); do
            kill -0 "$SRV_PID" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$SRV_PID" 2>/dev/null || true
        wait "$SRV_PID" 2>/dev/null || true
        SRV_PID=
    fi
}
trap 'stop_server; rm -rf "$TMP"' EXIT
trap 'exit 130' INT TERM

# start_server NAME FLAGS...: sss-server on a port the kernel picks, waits until it serves.
start_server() {
    local name=$1 log=$TMP/$1.log
    shift
    "$SERVER" --host 127.0.0.1 --port 0 --workers "$WORKERS" "$@" >"$log" 2>&1 &
    SRV_PID=$!
    SRV_PORT=
    for _ in $(seq 1 300); do
        SRV_PORT=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$log" | head -1)
        [ -n "$SRV_PORT" ] && break
        kill -0 "$SRV_PID" 2>/dev/null || break
        sleep 0.05
    done
    if [ -z "$SRV_PORT" ]; then
        # --log-level warn hides the listening line on some builds: find the port from /proc
        SRV_PORT=$(ss -ltnpH 2>/dev/null | awk -v p="pid=$SRV_PID," 'index($0, p) {sub(/.*:/, "", $4); print $4; exit}')
    fi
    if [ -z "$SRV_PORT" ]; then
        echo "run.sh: $name server did not start:" >&2
        tail -20 "$log" >&2
        exit 1
    fi
    sleep 0.5
    echo "== $name server: pid $SRV_PID, ws://127.0.0.1:$SRV_PORT/, --workers $WORKERS $*"
}

# bench NAME ARGS...: one sss-bench run, its table, its JSON line kept in $RESULTS.
bench() {
    local name=$1 out=$TMP/out rc=0
    shift
    echo
    echo "== $name"
    "$BENCH" "$@" --url "ws://127.0.0.1:$SRV_PORT/" --server-pid "$SRV_PID" >"$out" || rc=$?
    cat "$out" | sed '$d'
    if tail -1 "$out" | grep -q '^{'; then
        printf '{"name":"%s","rc":%d,"result":%s}\n' "$name" "$rc" "$(tail -1 "$out")" >>"$RESULTS"
    else
        printf '{"name":"%s","rc":%d,"result":null}\n' "$name" "$rc" >>"$RESULTS"
    fi
    [ "$rc" -eq 0 ] || echo "   (sss-bench exit status $rc)"
}

want() { case " $ONLY " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }

COMMON=(--duration "$DURATION" --warmup "$WARMUP")
if [ -n "$PROCS" ]; then COMMON+=(--procs "$PROCS"); fi
# W2's 10 publishers each create about 100 of its 1,000 channels: lift the
# per-connection limit of channels a client may create (its default is 100).
MODULE=(--app "$APP" --allow-client-publish 'bench-*' --max-message-rate 0
        --max-client-channels-per-conn 100000)
echo "sss-bench standard workloads: window $DURATION after $WARMUP warm-up, sss-server --workers $WORKERS, sss-bench --procs ${PROCS:-auto}, $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"

if want w3; then
    # A fresh server, so that its memory before the connections is its idle memory.
    start_server "W3" "${MODULE[@]}"
    bench "W3 connect: 20,000 subscribed connections over 1,000 channels" \
        connect --connections 20000 --channels 1000 --procs "$(( ${PROCS:-2} < 2 ? 2 : ${PROCS:-2} ))" --hold 3s
    stop_server
fi
if want w1sat || want w1rate || want w2 || want ask; then
    start_server "pubsub" "${MODULE[@]}"
    want w1sat && bench "W1 saturation: 10,000 subscribers on 1 channel, closed loop" \
        fanout --subscribers 10000 --channels 1 --publishers 1 --rate 0 "${COMMON[@]}"
    want w1rate && bench "W1 fixed rate: 10,000 subscribers on 1 channel at 200,000 deliveries/s" \
        fanout --subscribers 10000 --channels 1 --publishers 1 --rate 20 "${COMMON[@]}"
    want w2 && bench "W2: 10,000 subscribers over 1,000 channels, 10 publishers, closed loop" \
        fanout --subscribers 10000 --channels 1000 --publishers 10 --rate 0 "${COMMON[@]}"
    want ask && bench "ask: 100 askers, one ASK outstanding each" \
        ask --askers 100 "${COMMON[@]}"
    stop_server
fi
if want echo; then
    start_server "echo" --echo
    bench "echo: raw WebSocket echo, 100 connections, window 1" \
        echo --connections 100 --window 1 "${COMMON[@]}"
    stop_server
fi

echo
echo "== summary (JSON lines in $RESULTS)"
python3 - "$RESULTS" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
print(f"{'workload':<62} {'rate':>12} {'p50':>9} {'p99':>9} {'srv us':>7} {'bench us':>8} {'errors':>6}")
for r in rows:
    j = r["result"]
    if not j:
        print(f"{r['name']:<62} no result (exit {r['rc']})")
        continue
    if j["workload"] == "connect":
        rate = f"{j['connect_per_s']:.0f} c/s"
        p50 = f"{j['connect_latency_us']['p50'] / 1000:.1f}ms"
        p99 = f"{j['connect_latency_us']['p99'] / 1000:.1f}ms"
        srv = f"{j['server_pss_per_conn_bytes'] / 1024:.1f}KiB/c"
        bch = ""
    else:
        rate = f"{j['deliveries_per_s']:.0f}/s"
        p50 = f"{j['latency_us']['p50'] / 1000:.2f}ms"
        p99 = f"{j['latency_us']['p99'] / 1000:.2f}ms"
        srv = f"{j['server_cpu_us_per_delivery']:.3f}"
        bch = f"{j['bench_cpu_us_per_delivery']:.3f}"
    err = j["errors"] + j.get("lost", 0) * (j["workload"] in ("fanout", "cluster"))
    print(f"{r['name'][:62]:<62} {rate:>12} {p50:>9} {p99:>9} {srv:>7} {bch:>8} {err:>6}")
PY
