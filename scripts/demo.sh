#!/usr/bin/env bash
# Install, start the server with the built-in probe model on 127.0.0.1:8080, and watch its video:
# our Python SDK connects, saves the newest frame to ./openreactor-frame.png every second and prints
# what it sees. Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
MODEL=${MODEL:-world}
.venv/bin/openreactor serve --model "$MODEL" --ice-host 127.0.0.1 --port 8080 --log-level warning &
SERVER=$!
trap 'kill -TERM $SERVER 2>/dev/null; wait $SERVER 2>/dev/null' EXIT
for _ in $(seq 100); do curl -sf http://127.0.0.1:8080/health >/dev/null && break; sleep 0.2; done
.venv/bin/python examples/watch.py --model "$MODEL" --url http://127.0.0.1:8080 --out openreactor-frame.png "$@"
