#!/usr/bin/env bash
# Rebuild the JS SDK (js/dist) and the playground shipped in the Python package
# (src/openreactor/playground, committed so that users need no npm).
set -euo pipefail
cd "$(dirname "$0")/../js"
[ -d node_modules ] || npm ci --no-audit --no-fund
npm run --silent build
npm run --silent build:playground
echo "built js/dist and src/openreactor/playground"
