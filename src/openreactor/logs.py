"""Structured logs: every record carries ``session_id`` and ``connection_id`` (``-`` when none).

The ids come from context variables, set with :func:`log_context` around the code (and the tasks
it starts) that works for one session or one connection, or from ``extra=`` on the call itself.
``openreactor serve --log-format json`` writes one JSON object per line; ``text`` (the default)
appends ``[session=… connection=…]`` when a record has them.

Keys and tokens are never logged on purpose; :class:`RedactingFilter` is a safety net that masks
anything shaped like a JWT or an API key that slips into a message anyway.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import re
import sys
import time
from collections.abc import Iterator
from typing import Any

session_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("session_id", default=None)
connection_id_var: contextvars.ContextVar[int | None] = contextvars.ContextVar("connection_id", default=None)

LOG_FORMATS = ("text", "json")

_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*")
_BEARER = re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]{8,}")
_API_KEY = re.compile(r"\brk_[A-Za-z0-9_-]{20,}")
"""``auth.keys.KEY_PREFIX`` plus ``token_urlsafe(32)``."""
REDACTED = "[redacted]"


def redact(text: str) -> str:
    """``text`` with JWTs, bearer credentials and API-key-shaped strings masked."""
    text = _JWT.sub(REDACTED, text)
    text = _BEARER.sub(lambda m: m.group(1) + REDACTED, text)
    return _API_KEY.sub(REDACTED, text)


@contextlib.contextmanager
def log_context(*, session_id: str | None = None, connection_id: int | None = None) -> Iterator[None]:
    """Tag the records logged (and the tasks and callbacks scheduled) inside the block."""
    tokens: list[tuple[contextvars.ContextVar[Any], contextvars.Token[Any]]] = []
    if session_id is not None:
        tokens.append((session_id_var, session_id_var.set(session_id)))
    if connection_id is not None:
        tokens.append((connection_id_var, connection_id_var.set(connection_id)))
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


class ContextFilter(logging.Filter):
    """Fills ``record.session_id`` / ``record.connection_id`` from ``extra=`` or the context."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "session_id", None) is None:
            record.session_id = session_id_var.get()
        if getattr(record, "connection_id", None) is None:
            record.connection_id = connection_id_var.get()
        return True


class RedactingFilter(logging.Filter):
    """Masks credentials in the formatted message (and drops the args it was built from)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: leave it to the formatter's error path
            return True
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        ids = []
        session_id = getattr(record, "session_id", None)
        connection_id = getattr(record, "connection_id", None)
        if session_id is not None:
            ids.append(f"session={session_id}")
        if connection_id is not None:
            ids.append(f"connection={connection_id}")
        if not ids:
            return line
        head, sep, rest = line.partition("\n")
        return f"{head} [{' '.join(ids)}]{sep}{rest}"


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ts, level, logger, message, session_id, connection_id[, exc]."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "session_id": getattr(record, "session_id", None),
            "connection_id": getattr(record, "connection_id", None),
        }
        if record.exc_info:
            entry["exc"] = redact(self.formatException(record.exc_info))
        return json.dumps(entry, default=str)


def make_handler(log_format: str = "text") -> logging.Handler:
    if log_format not in LOG_FORMATS:
        raise ValueError(f"unknown log format {log_format!r}; one of {', '.join(LOG_FORMATS)}")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    handler.addFilter(ContextFilter())
    handler.addFilter(RedactingFilter())
    return handler


def configure_logging(level: str = "info", log_format: str = "text") -> dict[str, Any]:
    """Route every logger (uvicorn's too) through one handler; returns uvicorn's ``log_config``."""
    handler = make_handler(log_format)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # aioice narrates every candidate-pair check and every mDNS name it could not resolve at INFO:
    # a few lines per connection that only help when debugging ICE (--log-level debug shows them).
    logging.getLogger("aioice").setLevel(logging.NOTSET if level.upper() == "DEBUG" else logging.WARNING)
    # uvicorn keeps its loggers but lets them propagate to ours (no handlers of its own).
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "loggers": {
            name: {"handlers": [], "propagate": True, "level": level.upper()}
            for name in ("uvicorn", "uvicorn.error", "uvicorn.access")
        },
    }
