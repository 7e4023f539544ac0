# Sourced by start.sh and start-cluster.sh (after ../lib.sh): Centrifugo v6
# (go install into .tools/bin on first use, CENTRIFUGO_VERSION to choose);
# sets BIN.
VERSION=${CENTRIFUGO_VERSION:-v6.9.1}
BIN="$TOOLS_BIN/centrifugo"
if [ ! -x "$BIN" ]; then
  command -v go >/dev/null || die "go is missing (apt-get install golang, or /usr/local/go)"
  log "go install github.com/centrifugal/centrifugo/v6@$VERSION into $TOOLS_BIN (takes a few minutes)"
  mkdir -p "$TOOLS_BIN"
  GOBIN="$TOOLS_BIN" go install "github.com/centrifugal/centrifugo/v6@$VERSION" >&2
fi
