#!/usr/bin/env bash
# Prepare the virtualenv for capi/tests/python_sdk.rs: the official Python host SDK, unmodified, at the version
# pinned in requirements.txt beside this script. This is the one step of the C library's tests that needs the network
# (PyPI); the test itself runs offline and is skipped, with a message naming this script, when the virtualenv is
# missing (outside CI).
#
#   capi/tests/python/setup-sdk.sh [VENV_DIR]
#
# VENV_DIR defaults to $CARGO_TARGET_DIR/capi-python-venv (or target/capi-python-venv), where the test looks.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# Tells capi/build.rs that this setup ran, so that the tests it enables are built enabled (not ignored). The stamp
# is touched only when something changed (touching it rebuilds the library).
setup_done() {
    local stamp="$here/../setup-done/python-sdk"
    if [ "${1:-}" = changed ] || [ ! -e "$stamp" ]; then mkdir -p "$(dirname "$stamp")" && touch "$stamp"; fi
}
target="${CARGO_TARGET_DIR:-$here/../../../target}"
venv="${1:-$target/capi-python-venv}"
python="${PYTHON:-python3}"

if [ -x "$venv/bin/python" ] && "$venv/bin/python" -m pip freeze --disable-pip-version-check 2>/dev/null \
    | grep -qxF -f <(grep -v '^#' "$here/requirements.txt"); then
    echo "the Python SDK is already installed in $venv"
    setup_done
    exit 0
fi
"$python" -m venv --clear "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$here/requirements.txt"
echo "installed the Python SDK in $venv"
setup_done changed
