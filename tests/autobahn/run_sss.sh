#!/usr/bin/env bash
# Conformance: run the Autobahn testsuite (sections 1-10) against
# `sss-server --echo` on a loopback port of its own.
# Usage: run_sss.sh SSS_SERVER OUTDIR [--tls|--deflate]   (SSS_SOURCE_DIR names the checkout)
# --deflate: sections 12 and 13 (permessage-deflate) against --echo --deflate.
# --tls: the server gets --tls-cert/--tls-key (a self-signed certificate made
# here with openssl) and wstest connects to wss://.
set -uo pipefail
SERVER=$1
OUT=$2
TLS=${3:-}
SRC=${SSS_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
VENV=${SSS_AUTOBAHN_VENV:-$SRC/.venv-autobahn}
mkdir -p "$OUT"
if [ ! -x "$VENV/bin/wstest" ]; then
    echo "autobahn: $VENV/bin/wstest is missing (tools/bootstrap.sh installs it)"
    exit 1
fi
LOG=$OUT/server.log
SCHEME=ws
TLS_FLAGS=()
if [ "$TLS" = "--tls" ]; then
    # wstest does not check the certificate: a self-signed one will do.
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
        -subj /CN=localhost -addext subjectAltName=IP:127.0.0.1 \
        -keyout "$OUT/key.pem" -out "$OUT/cert.pem" >/dev/null 2>&1 ||
        { echo "autobahn: openssl could not make a certificate"; exit 1; }
    SCHEME=wss
    TLS_FLAGS=(--tls-cert "$OUT/cert.pem" --tls-key "$OUT/key.pem")
elif [ "$TLS" = "--deflate" ]; then
    TLS_FLAGS=(--deflate)
    export AUTOBAHN_SECTIONS="${AUTOBAHN_SECTIONS:-12 13}"
fi
# Section 9 sends messages of up to 16 MiB and expects them echoed.
"$SERVER" --host 127.0.0.1 --port 0 --workers 2 --echo --max-message-size 32m \
    --max-send-queue 64m --idle-timeout 0 --ping-interval 0 "${TLS_FLAGS[@]}" >"$LOG" 2>&1 &
PID=$!
PORT=
for _ in $(seq 1 100); do
    PORT=$(grep -o 'listening on 127.0.0.1:[0-9]*' "$LOG" | head -1 | cut -d: -f2)
    [ -n "$PORT" ] && break
    sleep 0.1
done
if [ -z "$PORT" ]; then
    echo "autobahn: the server did not start"
    cat "$LOG"
    kill "$PID" 2>/dev/null
    exit 1
fi
"$SRC/tests/autobahn/run.sh" "$VENV" "$SCHEME://127.0.0.1:$PORT/" "$OUT"
rc=$?
kill -TERM "$PID"
wait "$PID"
src=$?
if [ "$src" -ne 0 ]; then
    echo "autobahn: the server exited with status $src"
    rc=1
fi
if grep -E " (error|warn) " "$LOG" | grep -v "drain" >/dev/null; then
    echo "autobahn: the server logged errors:"
    grep -E " (error|warn) " "$LOG" | head -20
fi
exit $rc
