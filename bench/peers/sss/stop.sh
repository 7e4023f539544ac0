#!/usr/bin/env bash
# stop.sh [PORT]: stop what start.sh started (every instance without PORT).
set -euo pipefail
PEER=sss
source "$(dirname "$0")/../lib.sh"
stop_peer "${1:-}"
