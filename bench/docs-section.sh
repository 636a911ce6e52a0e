#!/usr/bin/env bash
# Writes a side-by-side script's result into docs/benchmarks.md: replaces
# what stands between the markers `<!-- NAME: begin -->` and
# `<!-- NAME: end -->`, or appends the section under HEADING when the markers
# are not there yet.
#
#   bench/docs-section.sh NAME HEADING SECTION_FILE
set -euo pipefail
cd "$(dirname "$0")/.."
name=$1 heading=$2 body=$3
doc=docs/benchmarks.md
begin="<!-- $name: begin -->"
end="<!-- $name: end -->"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
{ echo "$begin"; echo; cat "$body"; echo; echo "$end"; } >"$tmp/section.md"
if grep -qF "$begin" "$doc"; then
  awk -v begin="$begin" -v end="$end" -v section="$tmp/section.md" '
    $0 == begin { while ((getline line < section) > 0) print line; skip = 1; next }
    $0 == end { skip = 0; next }
    !skip { print }' "$doc" >"$tmp/doc.md"
else
  { cat "$doc"; echo; echo "## $heading"; echo; cat "$tmp/section.md"; } >"$tmp/doc.md"
fi
cp "$tmp/doc.md" "$doc"
echo "updated $doc" >&2
