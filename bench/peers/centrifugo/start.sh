#!/usr/bin/env bash
# start.sh PORT: Centrifugo v6 (go install github.com/centrifugal/centrifugo/v6@v6.9.1
# into .tools/bin on first use) on 127.0.0.1:PORT, JSON protocol at
# /connection/websocket; anonymous clients may connect, subscribe to and
# publish on bench-* (memory engine). One process with GOMAXPROCS=2 (Go
# schedules it on both cores). Last stdout line: the server PID.
set -euo pipefail
PEER=centrifugo
# shellcheck source=SCRIPTDIR/../lib.sh
source "$(dirname "$0")/../lib.sh"
one_process_args "${1:-}" "${2:-1}" "centrifugo with the memory engine is one process (GOMAXPROCS=2)"
source "$(dirname "$0")/install.sh"
fresh_state
sed -e "s|@PORT@|$PORT|g" -e 's|@ENGINE@|{ "type": "memory" }|g' \
    -e "s|@HISTORY_SIZE@|0|g" -e "s|@HISTORY_TTL@|0s|g" \
    "$PEERS_DIR/centrifugo/config.json.in" >"$STATE/config.json"
ulimit -n 20000 2>/dev/null || true
GOMAXPROCS=2 "$BIN" --config "$STATE/config.json" >"$STATE/centrifugo.log" 2>&1 &
PID=$!
echo $PID >"$STATE/pids"
wait_port "$PORT" 30 || { tail -5 "$STATE/centrifugo.log" >&2; die "centrifugo did not start"; }
log "centrifugo $VERSION (memory engine, GOMAXPROCS=2), logs in $STATE"
echo $PID
