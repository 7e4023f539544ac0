# Sourced by start.sh and start-cluster.sh (after ../lib.sh): node and the
# peer's npm packages (npm ci on first use); sets HERE.
HERE="$PEERS_DIR/socketio"
command -v node >/dev/null || die "node is missing (apt-get install nodejs npm)"
if [ ! -d "$HERE/node_modules/socket.io" ] || [ ! -d "$HERE/node_modules/@socket.io/redis-adapter" ]; then
  log "npm ci"
  (cd "$HERE" && npm ci --no-audit --no-fund >&2)
fi
