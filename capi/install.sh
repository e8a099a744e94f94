#!/usr/bin/env bash
# Install libextism under a prefix, or uninstall it.
#
#   capi/install.sh [--prefix DIR] [--features ENGINES] [--lib-dir DIR] [--force]
#   capi/install.sh --uninstall [--prefix DIR]
#
# --prefix     where to install (default /usr/local)
# --features   comma-separated engines to compile in (default: every engine, the features `NAME = ["extism/NAME"]` of
#              capi/Cargo.toml); the default engine is the first compiled in, in that order; EXTISM_BACKEND picks
#              another at run time
# --lib-dir    install the libextism.so and libextism.a already built in DIR (e.g. target/release) instead of
#              building them in release; --features must then name the engines they were built with
# --force      overwrite files under the prefix that this script did not install (an earlier libextism, say);
#              without it such a file stops the install before anything is written
# --uninstall  remove exactly what the last install under the prefix installed (files still as installed, links
#              still pointing where they did, and the directories it created if they are empty again), as listed in
#              DIR/share/extism/install-manifest.txt; a file changed since is left, with a warning
#
# Installs DIR/include/extism.h; DIR/lib/libextism.so.X.Y.Z (SONAME libextism.so.X) with the symbolic links
# libextism.so.X and libextism.so, and libextism.a (both without debug information); DIR/lib/pkgconfig/extism.pc
# (shared) and extism-static.pc;
# DIR/lib/cmake/extism/ (find_package(extism 1.0 CONFIG): targets extism::extism and extism::extism-static).
# Then: cc host.c $(pkg-config --cflags --libs extism), with PKG_CONFIG_PATH=DIR/lib/pkgconfig for a custom prefix.
set -euo pipefail

prefix=/usr/local
# Every engine libextism can be built with, in the order of extism's engine registry (capi/Cargo.toml lists them so).
all_engines=$(sed -n '/^\[features\]/,/^\[/s/^\([a-z0-9_-]*\) = \["extism\/\1"\]$/\1/p' \
    "$(dirname "$0")/Cargo.toml")
[ -n "$all_engines" ] || { echo "install.sh: no engine features found in capi/Cargo.toml" >&2; exit 1; }
features=$(printf '%s\n' $all_engines | paste -sd, -)
lib_dir=
uninstall=false
force=false
while [ $# -gt 0 ]; do
    case "$1" in
        --prefix) prefix="$2"; shift 2 ;;
        --prefix=*) prefix="${1#--prefix=}"; shift ;;
        --features) features="$2"; shift 2 ;;
        --features=*) features="${1#--features=}"; shift ;;
        --lib-dir) lib_dir="$2"; shift 2 ;;
        --lib-dir=*) lib_dir="${1#--lib-dir=}"; shift ;;
        --uninstall) uninstall=true; shift ;;
        --force) force=true; shift ;;
        -h|--help) sed -n '2,23p' "$0"; exit 0 ;;
        *) echo "install.sh: unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
done

prefix=$(realpath -m "$prefix")
# pkg-config splits flags at white space, and the templates are filled with sed: refuse what neither survives.
case "$prefix" in
    *[[:space:]]* | *'|'* | *'&'* | *'\'*)
        echo "install.sh: the prefix \"$prefix\" contains white space, '|', '&' or '\\', which pkg-config files cannot carry" >&2
        exit 2 ;;
esac
if [ -n "$lib_dir" ]; then lib_dir=$(realpath -m "$lib_dir"); fi
manifest="$prefix/share/extism/install-manifest.txt"

# Remove what the manifest lists ("file SHA256 PATH", "link TARGET PATH" and "dir PATH" lines): files still as
# installed and links still pointing where they did, the manifest itself, then the directories the install created,
# deepest first, each only if nothing else has been put in it since. A file changed since is someone else's now.
remove_installed() {
    [ -f "$manifest" ] || return 0
    local kind what path dirs=()
    while read -r kind what path; do
        case "$kind" in
            file)
                if [ -f "$path" ] && [ ! -L "$path" ] && [ "$(sha256sum < "$path" | cut -d' ' -f1)" = "$what" ]; then
                    rm -f "$path"
                elif [ -e "$path" ]; then
                    echo "install.sh: left $path: it changed since it was installed" >&2
                fi ;;
            link)
                if [ -L "$path" ] && [ "$(readlink "$path")" = "$what" ]; then rm -f "$path"; fi ;;
            dir) dirs+=("$what") ;;
        esac
    done < "$manifest"
    rm -f "$manifest"
    if [ ${#dirs[@]} -gt 0 ]; then
        printf '%s\n' "${dirs[@]}" | sort -r | while read -r path; do rmdir "$path" 2>/dev/null || true; done
    fi
}

if $uninstall; then
    if [ ! -f "$manifest" ]; then
        echo "install.sh: nothing to uninstall: no $manifest" >&2
        exit 1
    fi
    remove_installed
    echo "uninstalled libextism from $prefix"
    exit 0
fi

cd "$(dirname "$0")/.."
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
major=${version%%.*}
if [ -z "$lib_dir" ]; then
    cargo build --release -p libextism --no-default-features --features "$features"
    # Where cargo put the build (honours CARGO_TARGET_DIR and .cargo/config).
    target=$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
    lib_dir="$target/release"
fi
for lib in libextism.so libextism.a; do
    [ -f "$lib_dir/$lib" ] || { echo "install.sh: no $lib in $lib_dir" >&2; exit 1; }
done

# What a static link needs besides libextism.a: the native libraries of Rust's standard library, as rustc reports
# them for a static library. libextism's dependencies add none of their own (capi/tests/install.rs links a static
# host with exactly these).
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
: > "$scratch/empty.rs"
native_libs=$(rustc --crate-type staticlib --crate-name empty --print native-static-libs -o "$scratch/libempty.a" \
    "$scratch/empty.rs" 2>&1 | sed -n 's/.*native-static-libs: //p')
[ -n "$native_libs" ] || { echo "install.sh: rustc did not print native-static-libs" >&2; exit 1; }
cmake_native_libs=$(echo "$native_libs" | tr ' ' ';')
# The engines in the library's own order (extism_backends()), whatever the order given.
engines=$(for engine in $all_engines; do
    case ",${features// /}," in *",$engine,"*) printf '%s\n' "$engine" ;; esac
done | paste -sd, -)

# A reinstall replaces the previous install exactly (its directories are recorded again below).
remove_installed

# What this install writes; anything already there is someone else's, and stays unless --force.
dests=("$prefix/include/extism.h" "$prefix/lib/libextism.so.$version" "$prefix/lib/libextism.so.$major"
    "$prefix/lib/libextism.so" "$prefix/lib/libextism.a" "$prefix/lib/pkgconfig/extism.pc"
    "$prefix/lib/pkgconfig/extism-static.pc" "$prefix/lib/cmake/extism/extism-config.cmake"
    "$prefix/lib/cmake/extism/extism-config-version.cmake")
if ! $force; then
    for dest in "${dests[@]}"; do
        if [ -e "$dest" ] || [ -L "$dest" ]; then
            echo "install.sh: $dest exists and was not installed by this script; remove it or pass --force" >&2
            exit 1
        fi
    done
fi

# Each directory this install creates and each file it writes is recorded as soon as it exists, so that an install
# that fails part-way can still be uninstalled.
make_dir() {
    local dir=$1 missing=()
    while [ ! -d "$dir" ]; do missing=("$dir" "${missing[@]}"); dir=$(dirname "$dir"); done
    for dir in "${missing[@]}"; do
        mkdir "$dir"
        if $recording; then echo "dir $dir" >> "$manifest"; else pending_dirs+=("$dir"); fi
    done
}
# The manifest's own directories are recorded once it exists.
recording=false
pending_dirs=()
make_dir "$(dirname "$manifest")"
: > "$manifest"
recording=true
for dir in "${pending_dirs[@]}"; do echo "dir $dir" >> "$manifest"; done
record() { # record DEST: a file as installed (with its checksum)
    echo "file $(sha256sum < "$1" | cut -d' ' -f1) $1" >> "$manifest"
}
put() { # put MODE SOURCE DEST
    make_dir "$(dirname "$3")"
    install -m "$1" "$2" "$3"
    record "$3"
}
put_library() { # put_library MODE SOURCE DEST: without debug information, as distributions install libraries (a
    # release build has little; a --lib-dir debug build gigabytes, which every static host would carry)
    if command -v strip >/dev/null; then
        make_dir "$(dirname "$3")"
        strip --strip-debug -o "$3" "$2"
        chmod "$1" "$3"
        record "$3"
    else
        put "$@"
    fi
}
link() { # link TARGET NAME
    ln -sfn "$1" "$2"
    echo "link $1 $2" >> "$manifest"
}
fill() { # fill TEMPLATE: substitute the @VARIABLES@ and drop the template's own comment lines
    sed -e "s|@PREFIX@|$prefix|g" -e "s|@VERSION@|$version|g" -e "s|@MAJOR@|$major|g" -e "s|@ENGINES@|$engines|g" \
        -e "s|@NATIVE_LIBS@|$native_libs|g" -e "s|@CMAKE_NATIVE_LIBS@|$cmake_native_libs|g" "$1" | grep -v '^#@'
}

put 644 capi/extism.h "$prefix/include/extism.h"
put_library 755 "$lib_dir/libextism.so" "$prefix/lib/libextism.so.$version"
link "libextism.so.$version" "$prefix/lib/libextism.so.$major"
link "libextism.so.$major" "$prefix/lib/libextism.so"
put_library 644 "$lib_dir/libextism.a" "$prefix/lib/libextism.a"
for template in capi/extism.pc.in capi/extism-static.pc.in capi/cmake/extism-config.cmake.in \
    capi/cmake/extism-config-version.cmake.in; do
    name=$(basename "$template" .in)
    case "$name" in
        *.pc) dest="$prefix/lib/pkgconfig/$name" ;;
        *) dest="$prefix/lib/cmake/extism/$name" ;;
    esac
    fill "$template" > "$scratch/$name"
    put 644 "$scratch/$name" "$dest"
done

echo "installed libextism $version (engines: $engines) under $prefix"
