#!/usr/bin/env bash
# Install the Autobahn WebSocket testsuite (wstest) into VENV_DIR and port it to
# Python 3 in place.  Idempotent: a venv that already holds this exact port is
# only checked.  See tools/autobahn/README.md.
#
# usage: tools/autobahn/install.sh VENV_DIR
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ABTS_VERSION=25.10.1      # autobahntestsuite (PyPI), Python 2 code
AUTOBAHN_VERSION=0.10.9   # the autobahn library it is written against
PYTHON="${AUTOBAHN_PYTHON:-/root/.pyenv/shims/python3}"

die() { echo "autobahn/install.sh: error: $*" >&2; exit 1; }

[ $# -eq 1 ] || die "usage: $0 VENV_DIR"
VENV="$1"

is311() { "$1" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null; }

if [ ! -x "$VENV/bin/python" ]; then
  # the port (lib2to3 output + our patch) was made and checked with CPython 3.11
  if ! is311 "$PYTHON"; then
    for p in python3.11 /usr/bin/python3; do
      if is311 "$p"; then PYTHON="$p"; break; fi
    done
  fi
  is311 "$PYTHON" || die "no CPython 3.11 found (set AUTOBAHN_PYTHON); lib2to3 is gone in 3.13"
  echo "creating venv $VENV with $("$PYTHON" -c 'import sys; print(sys.executable)')"
  "$PYTHON" -m venv "$VENV" || die "could not create venv $VENV"
fi
VPY="$VENV/bin/python"
"$VPY" -c 'import lib2to3' 2>/dev/null || die "$VPY has no lib2to3 (need Python <= 3.12)"

PIP=("$VPY" -m pip --disable-pip-version-check -q)
SITE="$("$VPY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"

# What the port in this venv must match: versions + our port files.
STAMP="$(cat "$HERE/requirements.txt" "$HERE/port_py3.py" "$HERE/py3port.patch" \
         <(echo "$ABTS_VERSION $AUTOBAHN_VERSION") | sha256sum | cut -d' ' -f1)"
MARKER="$SITE/autobahntestsuite/.sss_py3port"

installed() {  # version of an installed distribution, or nothing
  "$VPY" -c 'import sys
from importlib.metadata import version, PackageNotFoundError
try: print(version(sys.argv[1]))
except PackageNotFoundError: pass' "$1"
}

# setuptools (for pkg_resources, used by wstest) and wheel (to build the
# autobahn 0.10.9 sdist without build isolation), then the pinned runtime.
"${PIP[@]}" install setuptools==65.5.0 wheel==0.45.1 \
  || die "pip install setuptools/wheel failed"
"${PIP[@]}" install --no-deps -r "$HERE/requirements.txt" \
  || die "pip install -r tools/autobahn/requirements.txt failed"

if [ -f "$MARKER" ] && [ "$(cat "$MARKER")" = "$STAMP" ] \
   && [ "$(installed autobahntestsuite)" = "$ABTS_VERSION" ] \
   && [ "$(installed autobahn)" = "$AUTOBAHN_VERSION" ]; then
  echo "autobahntestsuite $ABTS_VERSION already ported to py3 in $VENV"
else
  # (re)install pristine copies: the port must start from upstream files.
  # --no-deps: their metadata pins Python-2-era packages (Twisted 19.10, ...)
  "${PIP[@]}" install --force-reinstall --no-deps --no-build-isolation \
      "autobahntestsuite==$ABTS_VERSION" "autobahn==$AUTOBAHN_VERSION" \
    || die "pip install autobahntestsuite==$ABTS_VERSION autobahn==$AUTOBAHN_VERSION failed"
  rm -f "$MARKER"
  echo "porting autobahntestsuite $ABTS_VERSION / autobahn $AUTOBAHN_VERSION to Python 3"
  "$VPY" "$HERE/port_py3.py" "$SITE" || die "py3 port failed"
  echo "$STAMP" > "$MARKER"
fi

# Verify: wstest starts, imports the whole case set, and is the ported one.
"$VENV/bin/wstest" --help >/dev/null 2>&1 \
  || { "$VENV/bin/wstest" --help >&2 || true; die "$VENV/bin/wstest --help does not work"; }
"$VPY" - <<'EOF' || die "ported testsuite failed its import check"
import autobahntestsuite.fuzzing  # noqa: F401  (imports every test case)
from autobahntestsuite.case import Cases
from autobahn.websocket.xormasker import createXorMasker
from autobahn.websocket.utf8validator import Utf8Validator
assert createXorMasker.__module__.startswith("wsaccel"), "wsaccel not in use"
assert Utf8Validator.__module__.startswith("wsaccel"), "wsaccel not in use"
n = len(Cases)
assert n > 500, "only %d cases" % n
EOF
echo "wstest ready: $VENV/bin/wstest (autobahntestsuite $ABTS_VERSION, autobahn $AUTOBAHN_VERSION, py3 port)"
