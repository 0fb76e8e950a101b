#!/usr/bin/env bash
# Install what running needs (once), start the server with the default `world` model on
# 127.0.0.1:8080 and show its video:
#  - open http://127.0.0.1:8080/ in a browser on this machine for the playground (live video,
#    prompt, uploads, webcam);
#  - meanwhile our Python SDK joins too and saves the newest frame to ./openreactor-frame.png
#    once a second (handy on a machine without a screen).
# Ctrl-C stops both. MODEL=probe serves another built-in; PORT=8081 another port; the rest of the
# arguments go to examples/watch.py (e.g. --seconds 10).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install_run.sh
MODEL=${MODEL:-world}
PORT=${PORT:-8080}
URL="http://127.0.0.1:$PORT"

# A busy port would let us stream from whatever else answers there: refuse up front.
# SO_REUSEADDR as the server binds: connections of a previous run in TIME_WAIT are no conflict.
if ! .venv/bin/python -c 'import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError as exc:
    sys.exit(f"port {sys.argv[1]} on 127.0.0.1 is busy ({exc.strerror}): stop what runs there, or PORT=8081 bash scripts/demo.sh")' "$PORT"; then
    exit 1
fi

# HTTP on loopback only; ICE offers this machine's network interfaces (the default), which a
# browser on this machine can use (browsers ignore loopback ICE candidates).
.venv/bin/openreactor serve --model "$MODEL" --host 127.0.0.1 --port "$PORT" --log-level warning &
SERVER=$!
WATCHER=""
# Whatever ends the demo (Ctrl-C, a SIGTERM to this script, the watcher exiting) stops both.
trap 'kill -TERM $SERVER $WATCHER 2>/dev/null; wait 2>/dev/null' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
until .venv/bin/python -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1] + "/health", timeout=1)' "$URL" 2>/dev/null; do
    if ! kill -0 "$SERVER" 2>/dev/null; then
        wait "$SERVER" && status=0 || status=$?
        echo "demo.sh: the server exited ($status) before it was ready; see its messages above" >&2
        exit 1
    fi
    sleep 0.2
done
echo "playground: $URL/"
# In the background with `wait`, so that a signal to this script is handled at once.
.venv/bin/python examples/watch.py --model "$MODEL" --url "$URL" --out openreactor-frame.png "$@" &
WATCHER=$!
wait "$WATCHER"
