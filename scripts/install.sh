#!/usr/bin/env bash
# Create .venv with openreactor (server extra + dev tools) and .interop-venv with the official client.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/pip install -q --upgrade pip
.venv/bin/pip install -q -e '.[dev]'
# The official reactor-sdk takes the same import name as ours, so it lives in a venv of its own.
[ -x .interop-venv/bin/python ] || "$PY" -m venv .interop-venv
.interop-venv/bin/pip install -q --upgrade pip
.interop-venv/bin/pip install -q 'reactor-sdk==1.13.0' numpy
bash scripts/runtime_venv.sh
# torch (CPU) for the torch example model's test; this machine kind ships the 2.13.0 CPU wheel locally.
.venv/bin/pip install -q 'torch==2.13.0'
