#!/usr/bin/env bash
# start.sh PORT [N]: Socket.IO 4 on 127.0.0.1:PORT. N=1 (mode A): one Node
# process. N=2 (mode B): processes on PORT..PORT+N-1 joined by
# @socket.io/redis-adapter through a private redis-server on a free port.
# Last stdout line: the server PIDs (node processes and redis-server).
set -euo pipefail
PEER=socketio
# shellcheck source=SCRIPTDIR/../lib.sh
source "$(dirname "$0")/../lib.sh"
start_args "${1:-}" "${2:-1}"
source "$(dirname "$0")/install.sh"
fresh_state "$N"
ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)"
REDIS_URL=""
if [ "$N" -gt 1 ]; then
  command -v redis-server >/dev/null || { log "apt-get install redis-server"; apt-get install -y redis-server >&2; }
  RPORT=$(free_port)
  redis-server --bind 127.0.0.1 --port "$RPORT" --save '' --appendonly no \
    --daemonize no --maxclients 1000 >"$STATE/redis.log" 2>&1 &
  RPID=$!
  echo $RPID >>"$STATE/pids"
  wait_port "$RPORT" 20 || die "redis-server did not start (see $STATE/redis.log)"
  REDIS_URL="redis://127.0.0.1:$RPORT"
fi
for i in $(seq 0 $((N - 1))); do
  P=$((PORT + i))
  REDIS_URL="$REDIS_URL" node --max-old-space-size=4096 "$HERE/server.js" "$P" >"$STATE/node.$P.log" 2>&1 &
  record_host
done
wait_hosts "$N" 30 "socket.io on port @PORT@ did not start (see $STATE)"
log "mode $([ "$N" -gt 1 ] && echo "B: $N processes + redis ${REDIS_URL}" || echo "A: 1 process"), logs in $STATE"
echo $HOST_PIDS ${RPID:-}
