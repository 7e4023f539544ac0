#!/usr/bin/env bash
# enc.sh [ROUNDS] [OUT] [SET]: sss's W1 and W2 (bench/README.md, "Comparison")
# in one sitting: each round runs every configuration of SET once, in the
# same order, each on a fresh server; the summary gives medians over the
# rounds and ratios taken within each round (bench/enc_summary.py).
#   SET tls (default): JSON and sss.v1.msgpack over ws:// and over wss://,
#       and uWS.js as App and as SSLApp; 64-byte payloads.
#   SET deflate: JSON and msgpack, each without and with permessage-deflate
#       (sss-server --deflate, defaults --deflate-min-size 256 and
#       --deflate-level 1; sss-bench --deflate or not), and uWS.js with
#       UWS_COMPRESSION=shared without and with sss-bench --deflate; 512-byte
#       payloads of chat-like text (sss-bench --size 512 --payload text),
#       so that a FEED is over --deflate-min-size and compresses as text.
#       Also W1 at 4 publishes/s (W1-40k: 40,000 deliveries/s), a rate that
#       sss-bench's inflating keeps up with on two shared cores.
#   SET proto: sss JSON and msgpack beside Centrifugo's JSON and Protobuf
#       (sss-bench --proto centrifugo --encoding json|protobuf against
#       peers/centrifugo/start.sh); 64-byte payloads.
#   W1: fanout, 10,000 subscribers of one channel, 1 publisher at 20/s
#       (200,000 deliveries/s): server CPU and bytes on the wire per delivery.
#   W2: fanout, 10,000 subscribers over 1,000 channels, 10 publishers,
#       closed loop: deliveries/s at saturation, p99.
# The certificate is a throwaway EC P-256 one made by openssl, so sss-bench
# runs with --tls-no-verify. Results: one JSON line per run in
# bench/results/OUT.jsonl (default: the UTC time), then the summary.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
ROUNDS=${1:-3}
SET=${3:-tls}
case "$SET" in tls | deflate | proto) ;; *) echo "enc.sh: SET is tls, deflate or proto, not '$SET'" >&2; exit 1 ;; esac
OUT=${2:-$(date -u +%Y-%m-%dT%H%MZ)-enc$([ "$SET" = tls ] || echo "-$SET")}
BENCH=${SSS_BENCH:-$ROOT/build/dev/bench/sss-bench}
RES="$HERE/results/$OUT.jsonl"
PORT=${SSS_ENC_PORT:-18990}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"; for p in sss uws centrifugo; do "$HERE/peers/$p/stop.sh" "$PORT" 2>/dev/null || true; done' EXIT
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$TMP/key.pem" \
  -out "$TMP/cert.pem" -days 2 -subj /CN=localhost \
  -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" 2>/dev/null
: >"$RES"
W1=(fanout --subscribers 10000 --channels 1 --publishers 1 --rate 20)
W2=(fanout --subscribers 10000 --channels 1000 --publishers 10 --rate 0)
W1_40K=(fanout --subscribers 10000 --channels 1 --publishers 1 --rate 4)
COMMON=(--procs 2 --duration 5 --warmup 1 --json-only)
[ "$SET" = deflate ] && COMMON+=(--size 512 --payload text)

run() { # round peer encoding transport workload [deflate: 0 or 1]
  local round=$1 peer=$2 enc=$3 tr=$4 wl=$5 dfl=${6:-0} pids url args line
  if [ "$peer" = centrifugo ]; then
    pids=$("$HERE/peers/centrifugo/start.sh" "$PORT" 2>/dev/null | tail -1)
  elif [ "$SET" = deflate ] && [ "$peer" = sss ]; then
    pids=$(SSS_EXTRA_ARGS="--deflate" "$HERE/peers/sss/start.sh" "$PORT" 2 2>/dev/null | tail -1)
  elif [ "$SET" = deflate ]; then
    pids=$(UWS_COMPRESSION=shared "$HERE/peers/uws/start.sh" "$PORT" 2>/dev/null | tail -1)
  elif [ "$peer" = sss ]; then
    if [ "$tr" = wss ]; then
      pids=$(SSS_EXTRA_ARGS="--tls-cert $TMP/cert.pem --tls-key $TMP/key.pem" \
             "$HERE/peers/sss/start.sh" "$PORT" 2 2>/dev/null | tail -1)
    else
      pids=$("$HERE/peers/sss/start.sh" "$PORT" 2 2>/dev/null | tail -1)
    fi
  else
    if [ "$tr" = wss ]; then
      pids=$(UWS_TLS_CERT=$TMP/cert.pem UWS_TLS_KEY=$TMP/key.pem \
             "$HERE/peers/uws/start.sh" "$PORT" 2>/dev/null | tail -1)
    else
      pids=$("$HERE/peers/uws/start.sh" "$PORT" 2>/dev/null | tail -1)
    fi
  fi
  url="$tr://127.0.0.1:$PORT/"
  case "$wl" in
    W1) args=("${W1[@]}") ;;
    W1-40k) args=("${W1_40K[@]}") ;;
    *) args=("${W2[@]}") ;;
  esac
  [ "$tr" = wss ] && args+=(--tls-no-verify)
  [ "$peer" = uws ] && args+=(--proto uws)
  [ "$peer" = centrifugo ] && args+=(--proto centrifugo --encoding "$enc")
  [ "$peer" = sss ] && args+=(--encoding "$enc")
  [ "$dfl" = 1 ] && args+=(--deflate)
  echo "# round $round: $peer $enc $tr $wl: sss-bench ${args[*]} --url $url ${COMMON[*]}" >&2
  line=$("$BENCH" "${args[@]}" --url "$url" "${COMMON[@]}" --server-pid "${pids// /,}" | tail -1) || true
  "$HERE/peers/$peer/stop.sh" "$PORT" >/dev/null 2>&1 || true
  sleep 1
  printf '{"round":%d,"peer":"%s","enc":"%s","transport":"%s","workload":"%s","deflate":%s,"run":%s}\n' \
    "$round" "$peer" "$enc" "$tr" "$wl" "$([ "$dfl" = 1 ] && echo true || echo false)" \
    "${line:-null}" >>"$RES"
}

echo "# $(date -u +%FT%TZ) sss at $(git -C "$ROOT" rev-parse --short HEAD), $ROUNDS rounds of $SET, $RES" >&2
WLS=(W1 W2)
[ "$SET" = deflate ] && WLS=(W1 W2 W1-40k)
[ -n "${SSS_ENC_WORKLOADS:-}" ] && read -r -a WLS <<<"$SSS_ENC_WORKLOADS"
for r in $(seq 1 "$ROUNDS"); do
  for wl in "${WLS[@]}"; do
    if [ "$SET" = proto ]; then
      run "$r" sss json ws "$wl"
      run "$r" sss msgpack ws "$wl"
      run "$r" centrifugo json ws "$wl"
      run "$r" centrifugo protobuf ws "$wl"
      continue
    fi
    if [ "$SET" = deflate ]; then
      for enc in json msgpack; do
        run "$r" sss "$enc" ws "$wl" 0
        run "$r" sss "$enc" ws "$wl" 1
      done
      run "$r" uws json ws "$wl" 0
      run "$r" uws json ws "$wl" 1
      continue
    fi
    for tr in ws wss; do
      for enc in json msgpack; do
        run "$r" sss "$enc" "$tr" "$wl"
      done
      run "$r" uws json "$tr" "$wl"
    done
  done
done
echo "# $(date -u +%FT%TZ) done" >&2
python3 "$HERE/enc_summary.py" "$RES"
