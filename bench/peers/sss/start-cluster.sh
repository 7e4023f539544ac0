#!/usr/bin/env bash
# start-cluster.sh PORT TOPOLOGY: two sss hosts on 127.0.0.1:PORT and PORT+1
# (host ids h0, h1; --workers SSS_HOST_WORKERS, default 1: the two hosts
# together have the 2 workers of start.sh) joined by --engine redis through
# a private Redis: TOPOLOGY "redis" one redis-server (--redis), "cluster" a
# 3-master Redis Cluster (--redis-cluster, sharded pub/sub). The flags of
# start.sh otherwise (SSS_BUILD, SSS_EXTRA_ARGS too). Last stdout line: both
# masters' PIDs and the redis-server PIDs (so --server-pid counts Redis's CPU).
set -euo pipefail
PEER=sss
# shellcheck source=SCRIPTDIR/../lib.sh
source "$(dirname "$0")/../lib.sh"
cluster_args "$@"
N=${SSS_HOST_WORKERS:-1}
BUILD=${SSS_BUILD:-$ROOT/build/dev}
[ -x "$BUILD/sss-server" ] || die "no $BUILD/sss-server: cmake --build $BUILD"
cluster_redis
if [ "$TOPOLOGY" = cluster ]; then
  ENGINE=(--redis-cluster "$REDIS_ADDRS")
else
  ENGINE=(--redis "redis://$REDIS_ADDRS/0")
fi
APP=()
[ -f "$BUILD/bench/libsss-bench.so" ] && APP=(--app "$BUILD/bench/libsss-bench.so")
ulimit -n 20000 2>/dev/null || true
for i in 0 1; do
  P=$((PORT + i))
  # shellcheck disable=SC2086
  "$BUILD/sss-server" --host 127.0.0.1 --port "$P" --workers "$N" "${APP[@]}" \
    --host-id "h$i" --engine redis "${ENGINE[@]}" \
    --allow-client-publish 'bench-*' --max-message-rate 0 --max-client-channels-per-conn 100000 \
    ${SSS_EXTRA_ARGS:-} >"$STATE/server.$P.log" 2>&1 &
  record_host
done
wait_hosts 2 20 "sss-server on @PORT@ did not start" "$STATE/server.@PORT@.log"
for i in 0 1; do
  P=$((PORT + i))
  for _ in $(seq 100); do
    grep -q "subscriptions connection to .* is up\|commands connection to .* is up" "$STATE/server.$P.log" && break
    sleep 0.1
  done
done
log "2 sss hosts ($N workers each) on $TOPOLOGY $REDIS_ADDRS, logs in $STATE"
echo $HOST_PIDS $REDIS_PIDS
