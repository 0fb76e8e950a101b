#!/usr/bin/env bash
# Install everything the server, the SDKs and the tests need; idempotent.
#   .venv            openreactor (server extra + dev tools), torch (CPU) for the torch example
#   .interop-venv    the official reactor-sdk 1.13.0 (same import name as ours, so a venv of its own)
#   .runtime-venv    Reactor's runtime 3.10.0 (Python >= 3.12), for our SDK's interop test
#   js/node_modules  the JS SDK's toolchain and the official JS client
#   Debian packages  chromium (browser tests), iproute2 + util-linux (netns-run), curl,
#                    redis-server (scale-out tests), coturn (TURN relay test)
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v chromium >/dev/null || need_apt+=(chromium)
command -v ip >/dev/null || need_apt+=(iproute2)
command -v unshare >/dev/null || need_apt+=(util-linux)
command -v curl >/dev/null || need_apt+=(curl)
command -v redis-server >/dev/null || need_apt+=(redis-server)
command -v turnserver >/dev/null || need_apt+=(coturn)
if [ ${#need_apt[@]} -gt 0 ]; then
    SUDO=""
    [ "$(id -u)" = "0" ] || SUDO="sudo"
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/pip install -q --upgrade pip
.venv/bin/pip install -q -e '.[dev]'
# torch (CPU) for the torch example model's test; this machine kind ships the 2.13.0 CPU wheel locally.
.venv/bin/pip install -q 'torch==2.13.0'

[ -x .interop-venv/bin/python ] || "$PY" -m venv .interop-venv
.interop-venv/bin/pip install -q --upgrade pip
.interop-venv/bin/pip install -q 'reactor-sdk==1.13.0' numpy

bash scripts/runtime_venv.sh

(cd js && npm ci --no-audit --no-fund --loglevel=error)
