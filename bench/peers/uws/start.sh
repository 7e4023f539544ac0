#!/usr/bin/env bash
# start.sh PORT: uWebSockets.js (npm mirror @trufflesuite/uws-js-unofficial,
# uWS.js v20.30.0) on 127.0.0.1:PORT, one process (uWS pub/sub does not span
# processes). Last stdout line: the server PID.
set -euo pipefail
PEER=uws
# shellcheck source=SCRIPTDIR/../lib.sh
source "$(dirname "$0")/../lib.sh"
one_process_args "${1:-}" "${2:-1}" "uws has no cross-process pub/sub: starting 1 process"
HERE="$PEERS_DIR/uws"
command -v node >/dev/null || die "node is missing (apt-get install nodejs npm)"
if [ ! -d "$HERE/node_modules/@trufflesuite/uws-js-unofficial" ]; then
  log "npm ci"
  (cd "$HERE" && npm ci --no-audit --no-fund >&2)
fi
fresh_state
ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)"
node "$HERE/server.js" "$PORT" >"$STATE/node.log" 2>&1 &
PID=$!
echo $PID >"$STATE/pids"
wait_port "$PORT" 20 || { cat "$STATE/node.log" >&2; die "uws did not start"; }
log "mode: 1 process, logs in $STATE"
echo $PID
