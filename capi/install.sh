#!/usr/bin/env bash
# Install libextism: build it in release, then copy extism.h, libextism.so, libextism.a and extism.pc under a prefix.
#
#   capi/install.sh [--prefix DIR] [--features ENGINES]
#
# --prefix    where to install (default /usr/local): DIR/include/extism.h, DIR/lib/libextism.{so,a},
#             DIR/lib/pkgconfig/extism.pc
# --features  comma-separated engines to compile in (default: wasmtime), e.g. --features wasmtime,wasmi
#
# Then: cc host.c $(pkg-config --cflags --libs extism) (with PKG_CONFIG_PATH=DIR/lib/pkgconfig for a custom prefix).
set -euo pipefail

prefix=/usr/local
features=wasmtime
while [ $# -gt 0 ]; do
    case "$1" in
        --prefix) prefix="$2"; shift 2 ;;
        --prefix=*) prefix="${1#--prefix=}"; shift ;;
        --features) features="$2"; shift 2 ;;
        --features=*) features="${1#--features=}"; shift ;;
        -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
        *) echo "install.sh: unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
done

cd "$(dirname "$0")/.."
cargo build --release -p libextism --no-default-features --features "$features"

# Where cargo put the build (honours CARGO_TARGET_DIR and .cargo/config).
target=$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
mkdir -p "$prefix"
prefix=$(cd "$prefix" && pwd)

install -D -m 644 capi/extism.h "$prefix/include/extism.h"
install -D -m 755 "$target/release/libextism.so" "$prefix/lib/libextism.so"
install -D -m 644 "$target/release/libextism.a" "$prefix/lib/libextism.a"
mkdir -p "$prefix/lib/pkgconfig"
sed -e "s|@PREFIX@|$prefix|" -e "s|@VERSION@|$version|" capi/extism.pc.in | grep -v '^# pkg-config file' \
    > "$prefix/lib/pkgconfig/extism.pc"
echo "installed libextism $version ($features) under $prefix"
