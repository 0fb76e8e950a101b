#!/usr/bin/env bash
# Install what running the server needs, and nothing else: .venv with openreactor and its
# `server` extra (Starlette, uvicorn, aiortc, PyAV, numpy, ...). Skipped when .venv already has
# it for this pyproject.toml, so a second run costs nothing and needs no network.
#
# Python: $PYTHON if set, else python3 (>= 3.11; Debian 12's python3 will do).
set -euo pipefail
cd "$(dirname "$0")/.."

EXTRA=${OPENREACTOR_EXTRA:-server}  # scripts/install_test.sh asks for "dev" (which includes server)
STAMP=.venv/.openreactor-installed    # one line "<extra> <sha256 of pyproject.toml>" per extra
HASH=$(sha256sum pyproject.toml | cut -d' ' -f1)
installed() { [ -x .venv/bin/python ] && [ -f "$STAMP" ] && grep -qx "$1 $HASH" "$STAMP"; }
if installed "$EXTRA" || { [ "$EXTRA" = server ] && installed dev; }; then
    exit 0
fi

PY=${PYTHON:-python3}
if ! command -v "$PY" >/dev/null 2>&1; then
    echo "install_run.sh: $PY not found; install Python >= 3.11 (Debian: apt-get install python3 python3-venv)" >&2
    exit 1
fi
if ! "$PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)'; then
    echo "install_run.sh: $("$PY" --version 2>&1) is too old; openreactor needs Python >= 3.11 (set PYTHON=...)" >&2
    exit 1
fi
if [ ! -x .venv/bin/python ]; then
    if ! "$PY" -m venv .venv; then
        rm -rf .venv
        echo "install_run.sh: '$PY -m venv' failed; on Debian/Ubuntu: apt-get install python3-venv" >&2
        exit 1
    fi
fi
.venv/bin/python -m pip install -q -e ".[$EXTRA]"
{ grep -x "[a-z]* $HASH" "$STAMP" 2>/dev/null || true; echo "$EXTRA $HASH"; } > "$STAMP.new"
mv "$STAMP.new" "$STAMP"
