#!/usr/bin/env bash
# Install, start the server with the default `world` model on port 8080, and show its video:
#  - open http://127.0.0.1:8080/ in a browser for the playground (live video, prompt, upload, webcam);
#  - meanwhile our Python SDK connects too and saves the newest frame to ./openreactor-frame.png
#    once a second (handy on a machine without a screen).
# Ctrl-C stops both. MODEL=probe bash scripts/demo.sh serves another built-in.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
MODEL=${MODEL:-world}
# Default ICE addresses (every interface but loopback), so a browser on this machine or the LAN connects.
.venv/bin/openreactor serve --model "$MODEL" --host 0.0.0.0 --port 8080 --log-level warning &
SERVER=$!
trap 'kill -TERM $SERVER 2>/dev/null; wait $SERVER 2>/dev/null' EXIT
for _ in $(seq 100); do curl -sf http://127.0.0.1:8080/health >/dev/null && break; sleep 0.2; done
echo "playground: http://127.0.0.1:8080/"
.venv/bin/python examples/watch.py --model "$MODEL" --url http://127.0.0.1:8080 --out openreactor-frame.png "$@"
