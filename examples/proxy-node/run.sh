#!/usr/bin/env bash
# The chat demo with the Node backend in place of the C module (`make run-proxy`):
# starts examples/proxy-node/server.mjs, waits until it listens, runs sss-server
# with the chat page and --proxy-url, and stops the backend when sss-server exits.
#
#   examples/proxy-node/run.sh BUILD_DIR [sss-server flags...]
#
# BACKEND_PORT (8000), API_LISTEN (127.0.0.1:9090) and SSS_API_KEY (a random
# demo key) may be set in the environment.
set -euo pipefail

build=${1:?usage: run.sh BUILD_DIR [sss-server flags...]}
shift
here=$(cd "$(dirname "$0")" && pwd)
backend_port=${BACKEND_PORT:-8000}
api=${API_LISTEN:-127.0.0.1:9090}
key=${SSS_API_KEY:-demo-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')}

PORT=$backend_port SSS_API_URL=http://$api SSS_API_KEY=$key node "$here/server.mjs" &
backend=$!
trap 'kill "$backend" 2>/dev/null || true' EXIT

# Wait until the backend accepts connections (or has died: no point going on).
until (exec 3<>"/dev/tcp/127.0.0.1/$backend_port") 2>/dev/null; do
    if ! kill -0 "$backend" 2>/dev/null; then
        echo "run.sh: the backend did not start (is port $backend_port taken? set BACKEND_PORT)" >&2
        exit 1
    fi
    sleep 0.1
done

"$build/sss-server" --static "$build/www" --proxy-url "http://127.0.0.1:$backend_port" \
    --api-listen "$api" --api-key "$key" "$@"
