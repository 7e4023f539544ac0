#!/usr/bin/env bash
# start-cluster.sh PORT TOPOLOGY: two Centrifugo nodes on 127.0.0.1:PORT and
# PORT+1 (GOMAXPROCS=1 each: the two together have the 2 cores of start.sh's
# one process), the config of start.sh with the Redis engine ("engine":
# {"type": "redis"}) on a private Redis: TOPOLOGY "redis" one redis-server
# (redis.address), "cluster" a 3-master Redis Cluster (redis.cluster_address;
# Centrifugo's open-source edition uses classic pub/sub there, sharded
# pub/sub is in its paid edition). CENTRIFUGO_HISTORY_SIZE (default 0: no
# history) and CENTRIFUGO_HISTORY_TTL (default 300s) give the bench channels
# a history in Redis, as sss keeps one (its defaults: 256 messages, 5 min).
# Last stdout line: the centrifugo PIDs and the redis-server PIDs.
set -euo pipefail
PEER=centrifugo
# shellcheck source=SCRIPTDIR/../lib.sh
source "$(dirname "$0")/../lib.sh"
cluster_begin "$@"
if [ "$TOPOLOGY" = cluster ]; then
  ENGINE="{ \"type\": \"redis\", \"redis\": { \"cluster_address\": [\"$REDIS_ADDRS\"] } }"
else
  ENGINE="{ \"type\": \"redis\", \"redis\": { \"address\": [\"redis://$REDIS_ADDRS\"] } }"
fi
HSIZE=${CENTRIFUGO_HISTORY_SIZE:-0}
HTTL=${CENTRIFUGO_HISTORY_TTL:-300s}
[ "$HSIZE" = 0 ] && HTTL=0s   # Centrifugo wants both or neither
ulimit -n 20000 2>/dev/null || true
for i in 0 1; do
  P=$((PORT + i))
  sed -e "s|@PORT@|$P|g" -e "s|@ENGINE@|$ENGINE|g" \
      -e "s|@HISTORY_SIZE@|$HSIZE|g" -e "s|@HISTORY_TTL@|$HTTL|g" \
      "$PEERS_DIR/centrifugo/config.json.in" \
    >"$STATE/config.$P.json"
  GOMAXPROCS=1 "$BIN" --config "$STATE/config.$P.json" >"$STATE/centrifugo.$P.log" 2>&1 &
  record_host
done
wait_hosts 2 30 "centrifugo on @PORT@ did not start" "$STATE/centrifugo.@PORT@.log"
log "2 centrifugo nodes (GOMAXPROCS=1, history $HSIZE) on $TOPOLOGY $REDIS_ADDRS, logs in $STATE"
echo $HOST_PIDS $REDIS_PIDS
