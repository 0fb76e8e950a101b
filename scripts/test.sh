#!/usr/bin/env bash
# Install (idempotent) and run every check: lint, types, then the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
.venv/bin/ruff check src tests bench
.venv/bin/mypy
.venv/bin/pytest "$@"
