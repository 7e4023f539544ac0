# Shared helpers for bench/peers/*/start.sh and stop.sh (sourced, bash).
# Each running peer instance keeps its state (logs, pid list) in
# $SSS_PEERS_STATE/<peer>.<port>/ (default /tmp/sss-peers); start.sh prints the
# server PIDs as the last stdout line, stop.sh kills what start.sh recorded.
PEERS_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$PEERS_DIR/../.." && pwd)"
STATE_ROOT="${SSS_PEERS_STATE:-/tmp/sss-peers}"
TOOLS_BIN="$ROOT/.tools/bin"

log() { echo "[$PEER] $*" >&2; }
die() { echo "[$PEER] error: $*" >&2; exit 1; }

# start.sh PORT [N] of a peer that always runs one process: sets PORT; an N
# other than 1 is ignored with a note saying why ($1 after PORT and N).
one_process_args() { # port n why
  PORT=${1:?usage: start.sh PORT}
  [ "${2:-1}" = 1 ] || log "$3: ignoring N=$2"
}

state_dir() { # peer port
  local d="$STATE_ROOT/$1.$2"
  mkdir -p "$d"
  echo "$d"
}

# Wait until something accepts TCP connections on 127.0.0.1:$1 (up to $2 s).
wait_port() {
  local port=$1 limit=${2:-30} i=0
  while [ $i -lt $((limit * 10)) ]; do
    if (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null; then return 0; fi
    sleep 0.1; i=$((i + 1))
  done
  return 1
}

# A free loopback TCP port.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# Kill every PID listed in the files given (TERM, then KILL after 5 s).
kill_pidfiles() {
  local pids="" f p
  for f in "$@"; do [ -f "$f" ] && pids="$pids $(cat "$f")"; done
  [ -n "${pids// /}" ] || return 0
  for p in $pids; do kill -TERM "$p" 2>/dev/null || true; done
  for _ in $(seq 50); do
    local alive=0
    for p in $pids; do kill -0 "$p" 2>/dev/null && alive=1; done
    [ $alive = 0 ] && break
    sleep 0.1
  done
  for p in $pids; do kill -KILL "$p" 2>/dev/null || true; done
  rm -f "$@"
}

# stop.sh body: stop.sh [PORT]; without PORT stops every instance of the peer.
stop_peer() {
  local port=${1:-} d
  for d in "$STATE_ROOT/$PEER".*; do
    [ -d "$d" ] || continue
    if [ -n "$port" ] && [ "$d" != "$STATE_ROOT/$PEER.$port" ]; then continue; fi
    kill_pidfiles "$d/pids"
  done
}
