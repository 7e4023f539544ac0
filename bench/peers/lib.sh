# Shared helpers for bench/peers/*/start.sh and stop.sh (sourced, bash).
# Each running peer instance keeps its state (logs, pid list) in
# $SSS_PEERS_STATE/<peer>.<port>/ (default /tmp/sss-peers/<tree>, <tree> the
# name of this checkout's folder, so that two checkouts on one machine never
# stop each other's servers); start.sh prints the server PIDs as the last
# stdout line, stop.sh kills what start.sh recorded.
PEERS_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$PEERS_DIR/../.." && pwd)"
STATE_ROOT="${SSS_PEERS_STATE:-/tmp/sss-peers/$(basename "$ROOT")}"
TOOLS_BIN="$ROOT/.tools/bin"

log() { echo "[$PEER] $*" >&2; }
die() { echo "[$PEER] error: $*" >&2; exit 1; }

# start.sh PORT [N] of a peer that always runs one process: sets PORT; an N
# other than 1 is ignored with a note saying why ($1 after PORT and N).
one_process_args() { # port n why
  PORT=${1:?usage: start.sh PORT}
  [ "${2:-1}" = 1 ] || log "$3: ignoring N=$2"
}

# start.sh PORT [N] of a peer that takes N: sets PORT and N (the caller passes N's default).
start_args() { # port n
  PORT=${1:?usage: start.sh PORT [N]}
  N=$2
}

state_dir() { # peer port
  local d="$STATE_ROOT/$1.$2"
  mkdir -p "$d"
  echo "$d"
}

# start_fresh for PORT..PORT+COUNT-1 (COUNT default 1) in $PEER.$PORT's state dir: sets STATE.
fresh_state() { # [count]
  STATE=$(state_dir "$PEER" "$PORT")
  start_fresh "$STATE" "$PORT" "${1:-1}"
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

# Waits LIMIT s for each of COUNT ports from PORT, or dies: LOG's tail, MSG (@PORT@: the port).
wait_hosts() { # count limit msg [log]
  local count=$1 limit=$2 msg=$3 log=${4:-} p
  for p in $(seq "$PORT" $((PORT + count - 1))); do
    wait_port "$p" "$limit" && continue
    if [ -n "$log" ]; then tail -5 "${log//@PORT@/$p}" >&2; fi
    die "${msg//@PORT@/$p}"
  done
}

# Records the last background job ($!) as a host: appends it to HOST_PIDS and to $STATE/pids.
HOST_PIDS=""
record_host() {
  HOST_PIDS="$HOST_PIDS $!"
  echo $! >>"$STATE/pids"
}

# start_fresh STATE PORT [COUNT]: stop what this checkout started in STATE
# before, then make sure nothing else listens on PORT..PORT+COUNT-1 (another
# checkout's benchmark, say): measuring someone else's server, or stopping
# it, would be wrong either way.
start_fresh() {
  local state=$1 port=$2 count=${3:-1} i
  kill_pidfiles "$state/pids"
  for i in $(seq 0 $((count - 1))); do
    if (exec 3<>/dev/tcp/127.0.0.1/$((port + i))) 2>/dev/null; then
      die "127.0.0.1:$((port + i)) is in use by a program this checkout did not start (another benchmark on this machine? choose other ports, e.g. bench/compare --base-port)"
    fi
  done
}

# A free loopback TCP port, outside the kernel's ephemeral range: a port there
# can be handed to another socket (an outgoing connection, a port-0 server)
# before the peer binds it. With "pair", one whose cluster bus port (+10000) is
# free and outside it too, for a Redis Cluster node. The tests' pickers do it
# (tests/integration: svc_redis.free_port, svc_redis_cluster.cluster_port).
free_port() { # [pair]
  PYTHONPATH="$ROOT/tests/integration" python3 - "${1:-}" <<'PY'
import sys
from svc_redis import free_port
from svc_redis_cluster import cluster_port
try:
    print(cluster_port(set()) if sys.argv[1] == "pair" else free_port())
except RuntimeError as e:  # no free pair
    sys.exit(str(e))
PY
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

# --- Redis for start-cluster.sh (two hosts of a peer on one Redis or a cluster)

# start-cluster.sh PORT TOPOLOGY: sets PORT and TOPOLOGY (the usage message when one is missing).
cluster_args() { # port topology
  PORT=${1:?usage: start-cluster.sh PORT redis|cluster}
  TOPOLOGY=${2:?usage: start-cluster.sh PORT redis|cluster}
}

# fresh_state for PORT and PORT+1, then start_redis_topology: sets STATE and REDIS_*.
cluster_redis() {
  fresh_state 2
  start_redis_topology "$STATE" "$TOPOLOGY"
}

# start-cluster.sh to its hosts: cluster_args, the peer's install.sh, cluster_redis; sets theirs.
cluster_begin() { # port topology
  cluster_args "$@"
  # shellcheck source=/dev/null
  source "$PEERS_DIR/$PEER/install.sh"
  cluster_redis
}

# start_redis_topology STATE TOPOLOGY: TOPOLOGY "redis" starts one redis-server,
# "cluster" a Redis Cluster of 3 masters (no replicas: every core on this
# machine goes to the measured path), each without persistence, in
# $STATE/redis*/, their PIDs appended to $STATE/pids. Sets REDIS_PIDS (space
# separated), REDIS_ADDRS (host:port,host:port...: the one Redis, or the 3
# masters) and REDIS_PORT (the first one's port).
start_redis_topology() {
  local state=$1 topology=$2 n port dir addrs="" i
  command -v redis-server >/dev/null || { log "apt-get install redis-server"; apt-get install -y redis-server >&2; }
  case "$topology" in
    redis) n=1 ;;
    cluster) n=3 ;;
    *) die "topology is redis or cluster, not '$topology'" ;;
  esac
  REDIS_PIDS=""
  for i in $(seq 1 $n); do
    port=$(free_port pair)
    dir="$state/redis$i"; rm -rf "$dir"; mkdir -p "$dir"
    local extra=()
    [ "$topology" = cluster ] && extra=(--cluster-enabled yes --cluster-config-file "$dir/nodes.conf"
                                       --cluster-node-timeout 5000)
    redis-server --bind 127.0.0.1 --port "$port" --dir "$dir" --save '' --appendonly no \
      --daemonize no --maxclients 10000 "${extra[@]}" >"$dir/redis.log" 2>&1 &
    REDIS_PIDS="$REDIS_PIDS $!"
    echo $! >>"$state/pids"
    wait_port "$port" 20 || die "redis-server did not start (see $dir/redis.log)"
    addrs="$addrs${addrs:+,}127.0.0.1:$port"
    [ -n "${REDIS_PORT:-}" ] || REDIS_PORT=$port
  done
  REDIS_ADDRS=$addrs
  if [ "$topology" = cluster ]; then
    # shellcheck disable=SC2046
    redis-cli --cluster create $(echo "$addrs" | tr , ' ') --cluster-replicas 0 --cluster-yes \
      >"$state/cluster-create.log" 2>&1 || die "redis-cli --cluster create failed (see $state)"
    for i in $(seq 100); do
      local ok=1 a
      for a in $(echo "$addrs" | tr , ' '); do
        redis-cli -p "${a##*:}" cluster info 2>/dev/null | grep -q cluster_state:ok || ok=0
      done
      [ $ok = 1 ] && break
      sleep 0.1
    done
    [ $ok = 1 ] || die "the cluster never became ok"
  fi
  log "redis ($topology): $REDIS_ADDRS"
}
