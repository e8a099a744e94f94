#!/usr/bin/env bash
# Builds the test plug-ins in this directory for wasm32-unknown-unknown (or the
# target a crate names in its Cargo.toml, see below) and copies each one to
# tests/wasm/<crate name with '-' as '_'>.wasm.
#
#   tests/plugins/build.sh           rebuild and update tests/wasm/*.wasm
#   tests/plugins/build.sh --check   rebuild in a temporary directory and fail
#                                    if tests/wasm/*.wasm differs from it
#
# The build is reproducible: the same sources, Cargo.lock and toolchain
# (rust-toolchain.toml) give the same bytes whatever the checkout path, $HOME
# or $CARGO_HOME, because every absolute path that could end up in a binary
# (panic locations name source files) is remapped to a fixed prefix.
set -euo pipefail

usage() {
    cat <<'EOF'
usage: build.sh [--check]

  (no option)  build every plug-in (release, wasm32-unknown-unknown unless its
               Cargo.toml says otherwise) and copy it to tests/wasm/<name>.wasm
  --check      build into a temporary directory and compare with the
               committed tests/wasm/*.wasm; exit 1 naming every stale,
               missing or source-less file
EOF
}

mode=build
case "$#:${1-}" in
    0:) ;;
    1:--check) mode=check ;;
    1:-h | 1:--help)
        usage
        exit 0
        ;;
    *)
        usage >&2
        exit 2
        ;;
esac

plugins_dir=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
wasm_dir=$(dirname -- "$plugins_dir")/wasm
default_target=wasm32-unknown-unknown
cd -- "$plugins_dir"

# A crate built for another target says so in its Cargo.toml:
#   [package.metadata.extism-test]
#   target = "wasm32-wasip1"
crate_target() {
    awk -v default="$default_target" '
        /^[[:space:]]*\[/ { in_table = ($0 ~ /^[[:space:]]*\[package\.metadata\.extism-test\][[:space:]]*$/) }
        in_table && /^[[:space:]]*target[[:space:]]*=/ {
            if (match($0, /"[^"]*"/)) { print substr($0, RSTART + 1, RLENGTH - 2); found = 1; exit }
        }
        END { if (!found) print default }' "$1"
}

# --- toolchain --------------------------------------------------------------
# rustup picks the toolchain from rust-toolchain.toml (we are in its
# directory); anything else (RUSTUP_TOOLCHAIN, a plain rustc) must match it,
# or the bytes cannot match the committed ones.
expected=$(sed -n 's/^[[:space:]]*channel[[:space:]]*=[[:space:]]*"\([^"]*\)".*/\1/p' rust-toolchain.toml)
actual=$(rustc -V)
if [[ "$actual" != "rustc $expected "* ]]; then
    echo "build.sh: rust-toolchain.toml pins Rust $expected but rustc is: $actual" >&2
    echo "build.sh: unset RUSTUP_TOOLCHAIN or install the pinned toolchain (rustup toolchain install $expected)" >&2
    exit 1
fi
sysroot=$(rustc --print sysroot)

# --- members ----------------------------------------------------------------
# Every member is a sub-directory with its own Cargo.toml (see the workspace
# Cargo.toml); its wasm is named after the crate with '-' turned into '_'.
names=()   # wasm file names, '-' as '_'
crates=()  # package names, for `cargo build -p`
targets=() # the target of each crate
for manifest in */Cargo.toml; do
    crate=$(sed -n 's/^name[[:space:]]*=[[:space:]]*"\([^"]*\)".*/\1/p' "$manifest" | head -n 1)
    if [[ -z "$crate" ]]; then
        echo "build.sh: no package name in $manifest" >&2
        exit 1
    fi
    names+=("${crate//-/_}")
    crates+=("$crate")
    targets+=("$(crate_target "$manifest")")
done
if [[ ${#names[@]} -eq 0 ]]; then
    echo "build.sh: no plug-in crates found in $plugins_dir" >&2
    exit 1
fi
# The distinct targets, in a fixed order.
mapfile -t distinct_targets < <(printf '%s\n' "${targets[@]}" | sort -u)
for target in "${distinct_targets[@]}"; do
    if ! rustc --print target-list | grep -qx "$target"; then
        echo "build.sh: rustc does not know the target $target" >&2
        exit 1
    fi
    if [[ ! -d "$sysroot/lib/rustlib/$target" ]]; then
        echo "build.sh: the standard library for $target is not installed (rustup target add $target)" >&2
        exit 1
    fi
done

# --- where to build ---------------------------------------------------------
if [[ $mode == check ]]; then
    work=$(mktemp -d "${TMPDIR:-/tmp}/extism-test-plugins.XXXXXX")
    trap 'rm -rf -- "$work"' EXIT
    target_dir=$work/target
    out_dir=$work/wasm
else
    target_dir=$plugins_dir/target
    out_dir=$wasm_dir
fi
mkdir -p -- "$target_dir" "$out_dir"

# --- flags ------------------------------------------------------------------
# Paths are remapped so that no checkout path, home directory or temporary
# directory reaches the output. rustc applies the last matching
# --remap-path-prefix, so the most specific prefixes come last.
cargo_home=${CARGO_HOME:-${HOME:?HOME or CARGO_HOME must be set}/.cargo}
case "$cargo_home" in
    /*) ;;
    *) cargo_home=$plugins_dir/$cargo_home ;;
esac
rustflags=(
    "--remap-path-prefix=$sysroot=/rust-sysroot"
    "--remap-path-prefix=$cargo_home=/cargo"
)
if [[ -d "$cargo_home" ]]; then
    physical_cargo_home=$(cd -- "$cargo_home" && pwd -P)
    if [[ "$physical_cargo_home" != "$cargo_home" ]]; then
        rustflags+=("--remap-path-prefix=$physical_cargo_home=/cargo")
    fi
fi
rustflags+=(
    "--remap-path-prefix=$plugins_dir=/plugins"
    "--remap-path-prefix=$target_dir=/target"
)
# CARGO_ENCODED_RUSTFLAGS (0x1f-separated) wins over RUSTFLAGS and over any
# rustflags from a .cargo/config.toml, and keeps paths with spaces intact.
encoded=$(printf '%s\x1f' "${rustflags[@]}")
export CARGO_ENCODED_RUSTFLAGS=${encoded%$'\x1f'}
export CARGO_INCREMENTAL=0
unset RUSTC_WORKSPACE_WRAPPER

# --- build ------------------------------------------------------------------
echo "build.sh: $actual, building ${names[*]} into $target_dir" >&2
# One cargo run per crate, for that crate's own target: built together, cargo would unify their dependencies'
# features, and one plug-in turning on a PDK feature (http_client's `http`) would change the bytes of the others.
for i in "${!crates[@]}"; do
    cargo build --locked --release --target "${targets[$i]}" --target-dir "$target_dir" -p "${crates[$i]}"
done

for i in "${!names[@]}"; do
    name=${names[$i]}
    built=$target_dir/${targets[$i]}/release/$name.wasm
    if [[ ! -f "$built" ]]; then
        echo "build.sh: cargo did not produce $built" >&2
        exit 1
    fi
    cp -- "$built" "$out_dir/$name.wasm.tmp"
    chmod 0644 -- "$out_dir/$name.wasm.tmp"
    mv -f -- "$out_dir/$name.wasm.tmp" "$out_dir/$name.wasm"
done

sha256() {
    if command -v sha256sum >/dev/null 2>&1; then
        sha256sum "$1" | cut -d' ' -f1
    else
        shasum -a 256 "$1" | cut -d' ' -f1
    fi
}

if [[ $mode == build ]]; then
    for name in "${names[@]}"; do
        file=$wasm_dir/$name.wasm
        printf '%s  %8d  tests/wasm/%s.wasm\n' "$(sha256 "$file")" "$(wc -c <"$file")" "$name"
    done
    exit 0
fi

# --- check ------------------------------------------------------------------
problems=()
for name in "${names[@]}"; do
    committed=$wasm_dir/$name.wasm
    if [[ ! -f "$committed" ]]; then
        problems+=("tests/wasm/$name.wasm: missing (built from tests/plugins, not committed)")
    elif ! cmp -s -- "$out_dir/$name.wasm" "$committed"; then
        problems+=("tests/wasm/$name.wasm: stale (committed sha256 $(sha256 "$committed"), fresh build $(sha256 "$out_dir/$name.wasm"))")
    fi
done
shopt -s nullglob
for committed in "$wasm_dir"/*.wasm; do
    name=$(basename -- "$committed" .wasm)
    if [[ ! -f "$out_dir/$name.wasm" ]]; then
        problems+=("tests/wasm/$name.wasm: no source (no crate in tests/plugins builds it)")
    fi
done

if [[ ${#problems[@]} -gt 0 ]]; then
    {
        echo "build.sh --check: tests/wasm does not match tests/plugins:"
        printf '  %s\n' "${problems[@]}"
        echo "Run tests/plugins/build.sh and commit tests/wasm (or remove files that have no source)."
    } >&2
    exit 1
fi
echo "build.sh --check: all ${#names[@]} plug-ins in tests/wasm match a fresh build" >&2
