# openreactor server: `docker build -t openreactor . && docker run -p 8080:8080 openreactor`
# WebRTC media also needs UDP: run with `--network host`, or publish a UDP range and pass
# `--ice-host <public address>` (see README, "Operations").
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    OPENREACTOR_STATE_DIR=/var/lib/openreactor

WORKDIR /app
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install ".[server]" \
    && useradd --system --uid 10001 --home-dir /var/lib/openreactor --create-home openreactor \
    && chmod 700 /var/lib/openreactor

USER openreactor
# API keys (SQLite, hashed) and the JWT signing secret.
VOLUME ["/var/lib/openreactor"]
EXPOSE 8080

HEALTHCHECK --interval=30s --timeout=3s --start-period=20s \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/health', timeout=2)"]

# Settings also come from OPENREACTOR_<SETTING> variables or a mounted `--config` file.
# The same image runs a cluster (docs/SCALE-OUT.md): override the command with
#   openreactor coordinator --redis redis://R:6379/0 --host 0.0.0.0 --port 8080
#   openreactor worker --redis redis://R:6379/0 --workers 4 --host 0.0.0.0 --port 9001 \
#       --advertise-url http://<this host>:9001 --ice-host <public address>
CMD ["openreactor", "serve", "--host", "0.0.0.0", "--port", "8080", "--log-format", "json"]
