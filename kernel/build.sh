#!/usr/bin/env bash
# Reproducibly builds the kernel (kernel/src) into kernel/extism-kernel.wasm.
#
#   kernel/build.sh           build and update kernel/extism-kernel.wasm
#   kernel/build.sh --check   build in a temporary directory and fail if the
#                             result differs from the committed extism-kernel.wasm
#
# Runnable from any directory. Needs only rustup/cargo: the toolchain and the
# wasm32-unknown-unknown target are pinned by kernel/rust-toolchain.toml.
# The output depends neither on the checkout path nor on $HOME/$CARGO_HOME:
# both are remapped out of the build, and the environment is cleared of
# variables that could change the compilation.
set -euo pipefail

KERNEL_DIR="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)"
TOOLCHAIN="1.95.0"
TARGET="wasm32-unknown-unknown"
ARTIFACT_NAME="extism_runtime_kernel.wasm"
COMMITTED="$KERNEL_DIR/extism-kernel.wasm"
# The shadow stack is never used by the kernel's code; keep it tiny.
STACK_SIZE=1024

usage() {
    sed -n '2,12p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

mode=build
case "${1-}" in
    "") ;;
    --check) mode=check ;;
    -h | --help) usage; exit 0 ;;
    *) echo "build.sh: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
esac
if [ "$#" -gt 1 ]; then
    echo "build.sh: too many arguments" >&2
    exit 2
fi

sha256() {
    if command -v sha256sum >/dev/null 2>&1; then
        sha256sum "$1" | cut -d' ' -f1
    else
        shasum -a 256 "$1" | cut -d' ' -f1
    fi
}

# Nothing from the caller's environment may influence the compilation.
unset RUSTFLAGS CARGO_ENCODED_RUSTFLAGS CARGO_BUILD_RUSTFLAGS \
    CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER \
    RUSTDOCFLAGS RUSTC RUSTC_WRAPPER RUSTC_WORKSPACE_WRAPPER CARGO_BUILD_RUSTC \
    CARGO_BUILD_RUSTC_WRAPPER CARGO_BUILD_RUSTC_WORKSPACE_WRAPPER CARGO_BUILD_TARGET \
    CARGO_TARGET_DIR CARGO_BUILD_TARGET_DIR CARGO_INCREMENTAL CARGO_BUILD_INCREMENTAL \
    RUSTUP_TOOLCHAIN RUSTC_BOOTSTRAP
while IFS= read -r var; do
    unset "$var"
done < <(compgen -e | grep -E '^CARGO_PROFILE_' || true)
export SOURCE_DATE_EPOCH=0

# rustup picks the toolchain from kernel/rust-toolchain.toml (in the cwd).
cd "$KERNEL_DIR"
rustc_version="$(rustc -V)"
case "$rustc_version" in
    "rustc $TOOLCHAIN "*) ;;
    *)
        echo "build.sh: need rustc $TOOLCHAIN (kernel/rust-toolchain.toml), found: $rustc_version" >&2
        exit 1
        ;;
esac

cargo_home="${CARGO_HOME:-${HOME:-/nonexistent}/.cargo}"
# Flags joined by 0x1f: paths may contain spaces.
sep=$'\x1f'
flags=(
    "-Clink-arg=-zstack-size=$STACK_SIZE"
    "--remap-path-prefix=$KERNEL_DIR=/extism-kernel"
    "--remap-path-prefix=$cargo_home=/cargo-home"
)
CARGO_ENCODED_RUSTFLAGS="$(IFS="$sep"; printf '%s' "${flags[*]}")"
export CARGO_ENCODED_RUSTFLAGS

if [ "$mode" = check ]; then
    tmp="$(mktemp -d "${TMPDIR:-/tmp}/extism-kernel-check.XXXXXX")"
    trap 'rm -rf -- "$tmp"' EXIT
    target_dir="$tmp/target"
else
    target_dir="$KERNEL_DIR/target"
fi

cargo build --release --locked --offline --target "$TARGET" --target-dir "$target_dir"
compiled="$target_dir/$TARGET/release/$ARTIFACT_NAME"

# The artefact records what it was built from: a custom section `extism-kernel-sources` holding the sha256 of the
# kernel's sources (src/, the manifests, the toolchain pin). Engines ignore custom sections; the point is that any
# change to the sources, even one that leaves the code the same, changes the committed file, so a stale artefact
# cannot pass for a rebuilt one.
sources_hash="$(find src Cargo.toml Cargo.lock rust-toolchain.toml -type f | LC_ALL=C sort |
    while IFS= read -r file; do printf '%s %s\n' "$(sha256 "$file")" "$file"; done | sha256 /dev/stdin)"
section_name="extism-kernel-sources"
built="$target_dir/extism-kernel-stamped.wasm"
{
    cat -- "$compiled"
    # id 0 (custom), then the content size and the name's length as one-byte LEB128s (both below 128), name, hash.
    printf "\\x00\\x$(printf '%02x' $((1 + ${#section_name} + ${#sources_hash})))"
    printf "\\x$(printf '%02x' ${#section_name})%s%s" "$section_name" "$sources_hash"
} >"$built"

if [ "$mode" = check ]; then
    if [ ! -f "$COMMITTED" ]; then
        echo "build.sh --check: FAILED: $COMMITTED is missing; run kernel/build.sh and commit it" >&2
        exit 1
    fi
    if ! cmp -s "$built" "$COMMITTED"; then
        echo "build.sh --check: FAILED: kernel/extism-kernel.wasm is out of date with kernel/src" >&2
        echo "  committed: $(sha256 "$COMMITTED") ($(wc -c <"$COMMITTED" | tr -d ' ') bytes)" >&2
        echo "  rebuilt:   $(sha256 "$built") ($(wc -c <"$built" | tr -d ' ') bytes)" >&2
        echo "  run kernel/build.sh and commit kernel/extism-kernel.wasm" >&2
        exit 1
    fi
    echo "build.sh --check: OK: kernel/extism-kernel.wasm is up to date ($(sha256 "$built"))"
else
    cp -- "$built" "$COMMITTED.tmp"
    chmod 0644 "$COMMITTED.tmp"
    mv -- "$COMMITTED.tmp" "$COMMITTED"
    echo "kernel/extism-kernel.wasm: $(wc -c <"$COMMITTED" | tr -d ' ') bytes, sha256 $(sha256 "$COMMITTED")"
fi
