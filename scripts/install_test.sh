#!/usr/bin/env bash
# Install what the tests need on top of what running needs; idempotent, and a second run needs
# no network. scripts/test.sh runs it.
#   Debian packages  chromium (browser tests), iproute2 + util-linux (netns-run, setpriv), curl,
#                    redis-server (scale-out tests), coturn (TURN relay test); their services are
#                    not started: the tests start their own processes
#   .venv            openreactor with the dev extra (server + test and lint tools), torch (CPU)
#   .interop-venv    the official reactor-sdk 1.13.0 (same import name as ours: a venv of its own)
#   .runtime-venv    Reactor's runtime 3.10.0, which needs Python >= 3.12; on a machine without
#                    one it is skipped (scripts/runtime_venv.sh says so), and so are its tests
#   js/node_modules  the JS SDK's toolchain and the official JS client (npm ci, when the lock changed)
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v chromium >/dev/null || need_apt+=(chromium)
command -v ip >/dev/null || need_apt+=(iproute2)
command -v setpriv >/dev/null || need_apt+=(util-linux)
command -v curl >/dev/null || need_apt+=(curl)
command -v redis-server >/dev/null || need_apt+=(redis-server)
command -v turnserver >/dev/null || need_apt+=(coturn)
command -v node >/dev/null || need_apt+=(nodejs npm)
if [ ${#need_apt[@]} -gt 0 ]; then
    SUDO=""
    [ "$(id -u)" = "0" ] || SUDO="sudo"
    export DEBIAN_FRONTEND=noninteractive
    # Debian starts redis-server and coturn as services on install; the tests want neither.
    # policy-rc.d (honoured by invoke-rc.d and deb-systemd-invoke) says no, for this install only.
    policy=""
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        policy=/usr/sbin/policy-rc.d
        printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
        $SUDO chmod +x "$policy"
        trap '$SUDO rm -f "$policy"' EXIT
    fi
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

OPENREACTOR_EXTRA=dev bash scripts/install_run.sh

# torch for the torch example model's test: the CPU build. This machine kind keeps the 2.13.0 CPU
# wheel on disk (pip's find-links); elsewhere PyTorch's CPU index, never PyPI's multi-GB CUDA build.
if ! .venv/bin/python -c 'import torch' 2>/dev/null; then
    if ls "${PIP_FIND_LINKS:-/nonexistent}"/torch-2.13.0*.whl >/dev/null 2>&1; then
        .venv/bin/python -m pip install -q 'torch==2.13.0'
    else
        .venv/bin/python -m pip install -q --timeout 30 'torch==2.13.0' \
            --index-url https://download.pytorch.org/whl/cpu --extra-index-url https://pypi.org/simple \
            || echo "install_test.sh: torch (CPU) not installed; the torch example's test will say so" >&2
    fi
fi

PY=${PYTHON:-python3}
if ! .interop-venv/bin/python -c 'from importlib.metadata import version; assert version("reactor-sdk") == "1.13.0"' 2>/dev/null; then
    [ -x .interop-venv/bin/python ] || "$PY" -m venv .interop-venv
    .interop-venv/bin/python -m pip install -q 'reactor-sdk==1.13.0' numpy
fi

bash scripts/runtime_venv.sh

# npm ci wipes node_modules and needs the registry: only when package-lock.json changed.
lock_hash=$(sha256sum js/package-lock.json | cut -d' ' -f1)
if [ "$(cat js/node_modules/.openreactor-lock 2>/dev/null)" != "$lock_hash" ]; then
    (cd js && npm ci --no-audit --no-fund --loglevel=error)
    echo "$lock_hash" > js/node_modules/.openreactor-lock
fi
