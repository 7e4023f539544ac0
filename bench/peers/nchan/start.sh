#!/usr/bin/env bash
# start.sh PORT [N]: Debian's nginx with libnginx-mod-nchan on 127.0.0.1:PORT,
# N worker processes (default 2: one per core), its own prefix in a state dir.
#   ws://HOST:PORT/sub/<channel>   websocket subscriber
#   ws://HOST:PORT/pub/<channel>   websocket (or HTTP POST) publisher
# Last stdout line: the nginx master PID (the workers are its children).
set -euo pipefail
PEER=nchan
# shellcheck source=SCRIPTDIR/../lib.sh
source "$(dirname "$0")/../lib.sh"
start_args "${1:-}" "${2:-2}"
source "$(dirname "$0")/install.sh"
fresh_state
rm -rf "$STATE/prefix"; mkdir -p "$STATE/prefix"
PREFIX="$STATE/prefix"
# Load the module unless nginx was built with it (Debian: a dynamic module).
MODULES="load_module $MOD;"
sed -e "s|@PORT@|$PORT|g" -e "s|@PREFIX@|$PREFIX|g" -e "s|@WORKERS@|$N|g" \
    -e "s|@MODULES@|$MODULES|g" -e "s|@REDIS_UPSTREAM@||g" -e "s|@REDIS_PASS@||g" \
    "$PEERS_DIR/nchan/nginx.conf.in" >"$PREFIX/nginx.conf"
ulimit -n 20000 2>/dev/null || true
"$NGINX" -t -p "$PREFIX" -c "$PREFIX/nginx.conf" -e "$PREFIX/error.log" >&2 2>"$STATE/configtest.log" || { cat "$STATE/configtest.log" >&2; die "nginx -t failed"; }
"$NGINX" -p "$PREFIX" -c "$PREFIX/nginx.conf" -e "$PREFIX/error.log" >"$STATE/nginx.out" 2>&1 &
MPID=$!
echo $MPID >"$STATE/pids"
wait_port "$PORT" 20 || die "nginx did not start (see $PREFIX/error.log)"
log "nginx $("$NGINX" -v 2>&1 | sed 's/.*\///') + nchan, $N workers, prefix $PREFIX"
echo $MPID
