#!/usr/bin/env bash
# Install whatever this machine lacks to build and test sss, and nothing
# more: Debian packages (apt-get), the Python test clients in .venv (pip), the
# Node test clients (npm) and the Autobahn testsuite. Safe to run again: each
# step checks first. `make run` calls it with --build-only, `make test` with
# no argument.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

BUILD_PKGS=(gcc make cmake ninja-build pkg-config liburing-dev libwslay-dev libssl-dev node-llhttp
    libyajl-dev libcjson-dev libhiredis-dev libmsgpack-dev libmongoc-dev libbson-dev)
# nginx and haproxy: the balancers of test_balancer and `make cluster`, run from
# their own configurations in temp dirs (tests/integration/svc_balancer.py).
TEST_PKGS=(clang libclang-rt-14-dev nodejs python3-venv patch chromium redis-server nginx haproxy)

missing=()
need() {
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
            missing+=("$p")
    done
}
need "${BUILD_PKGS[@]}"
[ "${1:-}" = "--build-only" ] || need "${TEST_PKGS[@]}"
if [ ${#missing[@]} -gt 0 ]; then
    echo "bootstrap: installing Debian packages: ${missing[*]}"
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
        "${missing[@]}" >/dev/null
    # Debian starts the services of the server packages it installs (nginx on port
    # 80, redis-server on 6379); the tests run their own, so stop and disable the
    # ones installed just now (a service the machine already had is left alone).
    if [ -d /run/systemd/system ]; then
        for p in "${missing[@]}"; do
            case "$p" in
            nginx | haproxy | redis-server) $SUDO systemctl disable --now "$p" >/dev/null 2>&1 || true ;;
            esac
        done
    fi
fi
[ "${1:-}" = "--build-only" ] && exit 0

# Python clients for the integration tests (pinned in tests/requirements.txt).
PY=${SSS_PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    echo "bootstrap: creating .venv"
    "$PY" -m venv .venv
fi
if ! .venv/bin/python -c 'import websockets, pymongo' 2>/dev/null; then
    .venv/bin/pip install -q --disable-pip-version-check -r tests/requirements.txt
fi

# Node clients (ws), pinned by the lock file.
if [ ! -d tests/integration/node/node_modules/ws ]; then
    echo "bootstrap: npm install in tests/integration/node"
    (cd tests/integration/node && npm ci --no-audit --no-fund --silent)
fi

# playwright-core drives Debian's chromium in the end-to-end test of the chat demo.
if [ ! -d tests/e2e/node_modules/playwright-core ]; then
    echo "bootstrap: npm install in tests/e2e"
    (cd tests/e2e && npm ci --no-audit --no-fund --silent)
fi

# JS client devDependencies (ws for its integration tests, typescript for its
# declarations test), pinned by its lock file.
if [ ! -d clients/js/node_modules/ws ] || [ ! -d clients/js/node_modules/typescript ]; then
    echo "bootstrap: npm install in clients/js"
    (cd clients/js && npm ci --no-audit --no-fund --silent)
fi

# The Autobahn testsuite, in a venv of its own (it needs a Python 3 port).
if [ -x tools/autobahn/install.sh ]; then
    tools/autobahn/install.sh "$ROOT/.venv-autobahn"
fi

# FerretDB (MongoDB wire protocol on SQLite) for the MongoDB store's tests,
# built from the Go module proxy into .tools/bin (needs Go).
tools/ferretdb.sh install
