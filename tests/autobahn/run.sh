#!/usr/bin/env bash
# Run the Autobahn WebSocket testsuite (wstest -m fuzzingclient, cases 1.* to
# 10.*, or the sections AUTOBAHN_SECTIONS names, e.g. "12 13" for
# permessage-deflate) against a running server.
#
# usage: tests/autobahn/run.sh VENV_DIR URL OUTDIR
#   VENV_DIR  venv made by tools/autobahn/install.sh
#   URL       e.g. ws://127.0.0.1:9001/
#   OUTDIR    gets fuzzingclient.json, wstest.log and reports/ (index.json,
#             per-case JSON and HTML); an old OUTDIR/reports is removed first
#
# env: AUTOBAHN_TIMEOUT  seconds for the whole wstest run (default 600)
#      AUTOBAHN_SECTIONS  space-separated sections ("12") or case ids ("12.1.1") to run
#                         (default sections 1 to 10)
#      AUTOBAHN_AGENT    agent name in the reports (default sss)
#
# Exit status: 0 if every case is OK/NON-STRICT/INFORMATIONAL/UNIMPLEMENTED,
# 1 if any case FAILED or is missing, or wstest timed out, crashed or logged a
# Python traceback; 2 on usage errors.
set -uo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

if [ $# -ne 3 ]; then
  echo "usage: $0 VENV_DIR URL OUTDIR" >&2
  exit 2
fi
VENV="$1"
URL="$2"
OUTDIR="$3"
TIMEOUT="${AUTOBAHN_TIMEOUT:-600}"
AGENT="${AUTOBAHN_AGENT:-sss}"
SECTIONS="${AUTOBAHN_SECTIONS:-1 2 3 4 5 6 7 8 9 10}"

WSTEST="$VENV/bin/wstest"
if [ ! -x "$WSTEST" ]; then
  echo "run.sh: $WSTEST not found; run tools/autobahn/install.sh $VENV first" >&2
  exit 2
fi
case "$URL" in
  ws://*|wss://*) ;;
  *) echo "run.sh: URL must start with ws:// or wss:// (got $URL)" >&2; exit 2 ;;
esac

mkdir -p "$OUTDIR" || exit 2
OUTDIR="$(cd "$OUTDIR" && pwd)"
rm -rf "$OUTDIR/reports" "$OUTDIR/wstest.log"
SPEC="$OUTDIR/fuzzingclient.json"

"$VENV/bin/python" - "$SPEC" "$URL" "$AGENT" "$OUTDIR/reports" "$SECTIONS" <<'EOF' || exit 2
import json, sys
spec_path, url, agent, reports, sections = sys.argv[1:]
wanted = sections.split()
spec = {
    "outdir": reports,
    "servers": [{"agent": agent, "url": url}],
    # A section ("12") means all its cases; a case id ("12.1.1") means that case.
    "cases": [s if "." in s else "%s.*" % s for s in wanted],
    "exclude-cases": [c for c in ("12.*", "13.*")
                      if not any(w.split(".")[0] == c[:-2] for w in wanted)],
    "exclude-agent-cases": {},
}
with open(spec_path, "w") as f:
    json.dump(spec, f, indent=2)
    f.write("\n")
EOF

echo "run.sh: wstest fuzzingclient -> $URL (sections $SECTIONS, timeout ${TIMEOUT}s, log $OUTDIR/wstest.log)"
start=$(date +%s)
# wstest writes relative paths nowhere else, but keep its cwd inside OUTDIR
( cd "$OUTDIR" && PYTHONUNBUFFERED=1 timeout --kill-after=10 "$TIMEOUT" \
    "$WSTEST" -m fuzzingclient -s "$SPEC" ) > "$OUTDIR/wstest.log" 2>&1
rc=$?
end=$(date +%s)
echo "run.sh: wstest exited with $rc after $((end - start))s"
if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
  echo "run.sh: wstest TIMED OUT after ${TIMEOUT}s (set AUTOBAHN_TIMEOUT to change)"
fi
tracebacks=0
if grep -q "Traceback" "$OUTDIR/wstest.log"; then
  # the testsuite itself raised: its verdicts cannot be trusted
  tracebacks=1
  echo "run.sh: ERROR: wstest logged Python tracebacks (see $OUTDIR/wstest.log):"
  grep -n -A3 "Traceback" "$OUTDIR/wstest.log" | head -40
fi

"$VENV/bin/python" "$HERE/summarize.py" "$OUTDIR" --agent "$AGENT"
status=$?
if { [ $rc -ne 0 ] || [ $tracebacks -ne 0 ]; } && [ $status -eq 0 ]; then
  status=1
fi
exit $status
