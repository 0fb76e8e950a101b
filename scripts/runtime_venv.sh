#!/usr/bin/env bash
# Create (idempotently) .runtime-venv holding Reactor's own runtime, reactor-runtime 3.10.0.
# It needs Python >= 3.12, so it gets a virtual environment of its own; the runtime interop
# test (tests/runtime_interop) starts it from there with our probe model.
#
# On a machine with no Python >= 3.12 (Debian 12 ships 3.11) it writes the reason to
# .runtime-venv.unavailable and exits 0: those tests then skip, saying why, and scripts/test.sh
# repeats it after the run. Everything else runs on 3.11.
#
# The interpreter: $RUNTIME_PYTHON if set, else the first of python3.13 / python3.12 / python3
# on PATH or under pyenv that really runs and is >= 3.12 (a pyenv shim may exist but refuse).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=.runtime-venv
RUNTIME_SPEC='reactor-runtime==3.10.0'

works() { "$1" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' >/dev/null 2>&1; }

find_python() {
    local candidate
    if [ -n "${RUNTIME_PYTHON:-}" ]; then
        works "$RUNTIME_PYTHON" && { echo "$RUNTIME_PYTHON"; return 0; }
        echo "runtime_venv.sh: RUNTIME_PYTHON=$RUNTIME_PYTHON is not a working Python >= 3.12" >&2
        return 1
    fi
    for candidate in python3.12 python3.13 python3; do
        candidate=$(command -v "$candidate" 2>/dev/null) || continue
        works "$candidate" && { echo "$candidate"; return 0; }
    done
    for candidate in "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.1[2-9]*/bin/python3; do
        works "$candidate" && { echo "$candidate"; return 0; }
    done
    return 1
}

UNAVAILABLE=.runtime-venv.unavailable
if ! { [ -x "$VENV/bin/python" ] && works "$VENV/bin/python"; }; then
    rm -rf "$VENV"
    if ! python=$(find_python); then
        [ -z "${RUNTIME_PYTHON:-}" ] || exit 1
        echo "no Python >= 3.12 on this machine (looked for python3.12, python3.13, python3 on PATH and under pyenv; set RUNTIME_PYTHON); Reactor's runtime needs one, so the tests that run it are skipped" > "$UNAVAILABLE"
        echo "runtime_venv.sh: $(cat "$UNAVAILABLE")" >&2
        exit 0
    fi
    "$python" -m venv "$VENV"
fi
rm -f "$UNAVAILABLE"
# Skip pip when the pinned runtime is already there (keeps repeated CI runs fast and offline).
if ! "$VENV/bin/python" -c '
import sys
from importlib.metadata import version, PackageNotFoundError
try:
    ok = version("reactor-runtime") == "3.10.0" and bool(version("numpy"))
except PackageNotFoundError:
    ok = False
sys.exit(0 if ok else 1)' 2>/dev/null; then
    "$VENV/bin/pip" install -q --upgrade pip
    "$VENV/bin/pip" install -q "$RUNTIME_SPEC" numpy
fi
