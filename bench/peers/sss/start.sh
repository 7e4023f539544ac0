#!/usr/bin/env bash
# start.sh PORT [N]: sss-server from build/dev on 127.0.0.1:PORT with N workers
# (default 2: one per core), the bench module (ASK "echo") when it is built,
# client PUBLISH allowed on bench-*, no per-connection rate limit.
# SSS_BUILD overrides the build directory (default build/dev); SSS_EXTRA_ARGS
# adds flags. Last stdout line: the master PID (workers and scaler are its
# children).
set -euo pipefail
PEER=sss
# shellcheck source=SCRIPTDIR/../lib.sh
source "$(dirname "$0")/../lib.sh"
start_args "${1:-}" "${2:-2}"
BUILD=${SSS_BUILD:-$ROOT/build/dev}
if [ ! -x "$BUILD/sss-server" ]; then
  log "building $BUILD"
  (cd "$ROOT" && cmake -S . -B "$BUILD" -G Ninja >&2 && cmake --build "$BUILD" >&2)
fi
fresh_state
APP=()
if [ -f "$BUILD/bench/libsss-bench.so" ]; then
  APP=(--app "$BUILD/bench/libsss-bench.so")
else
  log "no $BUILD/bench/libsss-bench.so yet: starting without --app (ASK unanswered)"
fi
ulimit -n 20000 2>/dev/null || true
# shellcheck disable=SC2086
"$BUILD/sss-server" --host 127.0.0.1 --port "$PORT" --workers "$N" "${APP[@]}" \
  --allow-client-publish 'bench-*' --max-message-rate 0 --max-client-channels-per-conn 100000 \
  ${SSS_EXTRA_ARGS:-} \
  >"$STATE/server.log" 2>&1 &
PID=$!
echo $PID >"$STATE/pids"
wait_port "$PORT" 20 || { tail -5 "$STATE/server.log" >&2; die "sss-server did not start"; }
log "sss-server, $N workers, log in $STATE/server.log"
echo $PID
