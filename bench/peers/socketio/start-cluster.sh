#!/usr/bin/env bash
# start-cluster.sh PORT TOPOLOGY: two Socket.IO processes on 127.0.0.1:PORT
# and PORT+1 joined through a private Redis: TOPOLOGY "redis" one
# redis-server (@socket.io/redis-adapter, classic pub/sub: mode B of
# start.sh), "cluster" a 3-master Redis Cluster (its sharded adapter,
# SSUBSCRIBE/SPUBLISH). Last stdout line: the node PIDs and the redis-server
# PIDs.
set -euo pipefail
PEER=socketio
# shellcheck source=SCRIPTDIR/../lib.sh
source "$(dirname "$0")/../lib.sh"
cluster_begin "$@"
if [ "$TOPOLOGY" = cluster ]; then
  export REDIS_CLUSTER=$REDIS_ADDRS
else
  export REDIS_URL="redis://$REDIS_ADDRS"
fi
ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)"
for i in 0 1; do
  P=$((PORT + i))
  node --max-old-space-size=4096 "$HERE/server.js" "$P" >"$STATE/node.$P.log" 2>&1 &
  record_host
done
wait_hosts 2 30 "socket.io on port @PORT@ did not start (see $STATE)"
log "2 processes on $TOPOLOGY $REDIS_ADDRS, logs in $STATE"
echo $HOST_PIDS $REDIS_PIDS
