#!/usr/bin/env bash
# Install what the tests need (idempotent), then every check: lint, types, the whole suite, and a
# check that the suite left no process behind. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install_test.sh
.venv/bin/ruff check src tests bench
.venv/bin/mypy

# Every process the suite starts inherits this mark; scripts/leftover_processes.py finds the ones
# still alive afterwards (servers, workers, redis, browsers), reports and kills them.
export OPENREACTOR_TEST_RUN="$$-$(date +%s%N)"
before=$(mktemp)
trap 'rm -f "$before"' EXIT
python3 scripts/leftover_processes.py snapshot "$before"
status=0
# Most tests wait on real peers (servers, browsers, the official clients) rather than compute, so
# they run in parallel: one file per worker at a time (--dist loadfile keeps a module's shared
# server in one worker). OPENREACTOR_TEST_WORKERS=0 runs them one by one.
.venv/bin/pytest -n "${OPENREACTOR_TEST_WORKERS:-3}" --dist loadfile "$@" || status=$?
python3 scripts/leftover_processes.py check "$before" || { [ "$status" -ne 0 ] || status=1; }

if [ -f .runtime-venv.unavailable ]; then
    echo "NOTE: the tests against Reactor's runtime were skipped: $(cat .runtime-venv.unavailable)"
fi
exit "$status"
