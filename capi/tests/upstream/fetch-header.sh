#!/usr/bin/env bash
# Fetch upstream's extism.h for the C library's compatibility tests (capi/tests/header.rs, capi/tests/c_programs.rs):
# the header shipped in the `extism` crate on crates.io, at the version pinned here. Like setup-sdk.sh for the Python
# test, this is a setup step that needs the network (CI runs it); the tests themselves run offline and, outside CI,
# are skipped with a message naming this script when the header is missing.
#
#   capi/tests/upstream/fetch-header.sh [DIR]
#
# DIR defaults to $CARGO_TARGET_DIR/upstream-extism (or target/upstream-extism), where the tests look.
set -euo pipefail
version=1.41.0
here=$(cd "$(dirname "$0")" && pwd)
# Tells capi/build.rs that this setup ran, so that the tests it enables are built enabled (not ignored). The stamp
# is touched only when something changed (touching it rebuilds the library).
setup_done() {
    local stamp="$here/../setup-done/upstream-header"
    if [ "${1:-}" = changed ] || [ ! -e "$stamp" ]; then mkdir -p "$(dirname "$stamp")" && touch "$stamp"; fi
}
target="${CARGO_TARGET_DIR:-$here/../../../target}"
dir="${1:-$target/upstream-extism}"
if [ -f "$dir/extism.h" ] && [ "$(cat "$dir/VERSION" 2>/dev/null)" = "$version" ]; then
    echo "upstream's extism.h $version is already in $dir"
    setup_done
    exit 0
fi
url="https://static.crates.io/crates/extism/extism-$version.crate"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if command -v curl >/dev/null; then
    curl -sSfL -o "$tmp/extism.crate" "$url"
else
    python3 -c 'import sys, urllib.request; urllib.request.urlretrieve(sys.argv[1], sys.argv[2])' "$url" "$tmp/extism.crate"
fi
tar -xzf "$tmp/extism.crate" -C "$tmp" "extism-$version/extism.h"
mkdir -p "$dir"
cp "$tmp/extism-$version/extism.h" "$dir/extism.h"
echo "$version" > "$dir/VERSION"
echo "fetched upstream's extism.h $version into $dir"
setup_done changed
