#!/usr/bin/env bash
# The XMPP comparison that counts (issue 9): presenced, Prosody and ejabberd
# on this machine, in one run, interleaved, with the same accounts, rosters,
# certificate, TLS 1.3, SCRAM-SHA-256 storage and client. Installs Prosody
# and ejabberd from Debian's packages if missing, builds presenced, runs
# `presenced bench xmpp-compare` and writes the result into
# docs/benchmarks.md between its xmpp-side-by-side markers. See bench/README.md.
#
#   bench/xmpp-side-by-side.sh                      # 2,000 sessions, 20 contacts, 3 rounds
#   SESSIONS=500 ROUNDS=1 bench/xmpp-side-by-side.sh
#   DOCS=0 bench/xmpp-side-by-side.sh --churn-rate 500   # print only; extra flags go to xmpp-compare
set -euo pipefail
cd "$(dirname "$0")/.."

SESSIONS=${SESSIONS:-2000}
CONTACTS=${CONTACTS:-20}
ROUNDS=${ROUNDS:-3}
DOCS=${DOCS:-1}

export DEBIAN_FRONTEND=noninteractive
missing=()
command -v prosody >/dev/null 2>&1 || missing+=(prosody)
dpkg-query -W -f '${Status}' ejabberd 2>/dev/null | grep -q "ok installed" || missing+=(ejabberd)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing ${missing[*]} from Debian's packages…" >&2
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
  # The packages' own services are never what is measured (each server is
  # started on its own configuration, data directory and free port); stop
  # them if the installation started them, so they take no CPU or memory.
  for s in "${missing[@]}"; do invoke-rc.d "$s" stop >/dev/null 2>&1 || true; done
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
go build -buildvcs=auto -o "$work/presenced" ./cmd/presenced # the version shows the commit
args=(bench xmpp-compare --server "$work/presenced" --servers presenced,prosody,ejabberd
  --sessions "$SESSIONS" --contacts "$CONTACTS" --rounds "$ROUNDS" "$@")
echo "presenced ${args[*]}" >&2
"$work/presenced" "${args[@]}" >"$work/result.md"
cat "$work/result.md"

[ "$DOCS" = 1 ] || exit 0
{
  echo "Written by \`bench/xmpp-side-by-side.sh\`: \`presenced bench xmpp-compare --servers presenced,prosody,ejabberd --sessions $SESSIONS --contacts $CONTACTS --rounds $ROUNDS${*:+ $*}\`."
  echo
  cat "$work/result.md"
} >"$work/section.md"
bench/docs-section.sh xmpp-side-by-side "XMPP side by side with Prosody and ejabberd" "$work/section.md"
