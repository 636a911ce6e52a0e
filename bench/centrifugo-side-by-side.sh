#!/usr/bin/env bash
# presenced side by side with Centrifugo (issue 9): JSON over WebSocket on
# loopback, the same load generator for both, idle sessions and a fan-out,
# in interleaved rounds. Builds Centrifugo from the Go module proxy into a
# temporary directory (it never enters presenced's go.mod), builds presenced
# and the comparison tool (bench/centrifugo, a module of its own), runs it and
# writes the result into docs/benchmarks.md between its
# centrifugo-side-by-side markers. See bench/README.md.
#
#   bench/centrifugo-side-by-side.sh                          # 15,000 idle sessions, 1,000 watchers, 3 rounds
#   SESSIONS=2000 ROUNDS=1 bench/centrifugo-side-by-side.sh
#   DOCS=0 bench/centrifugo-side-by-side.sh --rate 50        # print only; extra flags go to centrifugo-compare
#   CENTRIFUGO=/path/to/centrifugo bench/centrifugo-side-by-side.sh   # a binary already built
set -euo pipefail
cd "$(dirname "$0")/.."

SESSIONS=${SESSIONS:-15000}
ROUNDS=${ROUNDS:-3}
DOCS=${DOCS:-1}
CENTRIFUGO_VERSION=${CENTRIFUGO_VERSION:-v6.9.1}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
if [ -z "${CENTRIFUGO:-}" ]; then
  echo "building centrifugo $CENTRIFUGO_VERSION from the Go module proxy…" >&2
  # outside any module, so that its own go.mod and go.sum decide its dependencies
  (cd "$work" && GOBIN="$work" GOFLAGS= go install \
    -ldflags "-X github.com/centrifugal/centrifugo/v6/internal/build.Version=${CENTRIFUGO_VERSION#v}" \
    "github.com/centrifugal/centrifugo/v6@$CENTRIFUGO_VERSION")
  CENTRIFUGO="$work/centrifugo"
fi
go build -buildvcs=auto -o "$work/presenced" ./cmd/presenced # the version shows the commit
(cd bench/centrifugo && go build -o "$work/centrifugo-compare" .)
# each side holds up to SESSIONS sockets in one process: the load generator
# needs as many open files
ulimit -n 20000 2>/dev/null || true
args=(--presenced "$work/presenced" --centrifugo "$CENTRIFUGO" --sessions "$SESSIONS" --rounds "$ROUNDS" "$@")
echo "centrifugo-compare ${args[*]}" >&2
"$work/centrifugo-compare" "${args[@]}" >"$work/result.md"
cat "$work/result.md"

[ "$DOCS" = 1 ] || exit 0
{
  echo "Written by \`bench/centrifugo-side-by-side.sh\` (SESSIONS=$SESSIONS ROUNDS=$ROUNDS${*:+, flags $*})."
  echo
  cat "$work/result.md"
} >"$work/section.md"
bench/docs-section.sh centrifugo-side-by-side "JSON over WebSocket side by side with Centrifugo" "$work/section.md"
