#!/usr/bin/env bash
# start-cluster.sh PORT TOPOLOGY: two nginx+nchan instances on 127.0.0.1:PORT
# and PORT+1 (NCHAN_HOST_WORKERS worker processes each, default 1: the two
# together have the 2 workers of start.sh), each with its own prefix and
# shared memory, joined through a private Redis (nchan_redis_pass to an
# upstream of nchan_redis_server, storage mode distributed): TOPOLOGY
# "redis" one redis-server, "cluster" a 3-master Redis Cluster (nchan finds
# the cluster from its nodes). Last stdout line: both nginx masters' PIDs
# (their workers are children) and the redis-server PIDs.
set -euo pipefail
PEER=nchan
# shellcheck source=SCRIPTDIR/../lib.sh
source "$(dirname "$0")/../lib.sh"
N=${NCHAN_HOST_WORKERS:-1}
cluster_begin "$@"
SERVERS=""
for a in $(echo "$REDIS_ADDRS" | tr , ' '); do SERVERS="$SERVERS nchan_redis_server redis://$a;"; done
UPSTREAM="upstream nchan_redis {$SERVERS }"
ulimit -n 20000 2>/dev/null || true
for i in 0 1; do
  P=$((PORT + i))
  PREFIX="$STATE/prefix.$P"
  rm -rf "$PREFIX"; mkdir -p "$PREFIX"
  sed -e "s|@PORT@|$P|g" -e "s|@PREFIX@|$PREFIX|g" -e "s|@WORKERS@|$N|g" \
      -e "s|@MODULES@|load_module $MOD;|g" -e "s|@REDIS_UPSTREAM@|$UPSTREAM|g" \
      -e "s|@REDIS_PASS@|nchan_redis_pass nchan_redis;|g" \
      "$PEERS_DIR/nchan/nginx.conf.in" >"$PREFIX/nginx.conf"
  "$NGINX" -t -p "$PREFIX" -c "$PREFIX/nginx.conf" -e "$PREFIX/error.log" >&2 2>"$STATE/configtest.$P.log" || { cat "$STATE/configtest.$P.log" >&2; die "nginx -t failed"; }
  "$NGINX" -p "$PREFIX" -c "$PREFIX/nginx.conf" -e "$PREFIX/error.log" >"$STATE/nginx.$P.out" 2>&1 &
  record_host
done
wait_hosts 2 20 "nginx on @PORT@ did not start (see $STATE)"
# nchan connects to Redis after the start and logs nothing at warn level
# when it is ready: give it a second.
sleep 1
log "2 nginx+nchan ($N workers each) on $TOPOLOGY $REDIS_ADDRS, prefixes in $STATE"
echo $HOST_PIDS $REDIS_PIDS
