"""Local-mode registry: one model loaded once, at most one running session at a time."""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from openreactor.metrics import ServerMetrics
from openreactor.models.api import Model
from openreactor.models.schema import openapi_document
from openreactor.session_host import (
    DebugStatus,
    InProcessSessionHost,
    SessionBusyError,
    SessionHost,
    SessionRequest,
    UnknownModelError,
)
from openreactor.settings import Settings

log = logging.getLogger(__name__)

ENDED_SESSIONS_KEPT = 16
"""Ended sessions stay visible (state ``closed``) so late callers learn it ended, not 'unknown'."""


def check_model(model: Model | type[Model], name: str | None, version: str | None) -> None:
    """``UnknownModelError`` unless ``model`` is the one a client asked for (name, and version if given)."""
    if name is not None and name != model.name:
        raise UnknownModelError(f"unknown model {name!r}; this server hosts {model.name!r}")
    if version is not None and version != model.version:
        raise UnknownModelError(
            f"model {model.name!r} version {version!r} is not served here ({model.version!r} is)"
        )


def serving_health(shutting_down: bool, running: SessionHost | None) -> tuple[int, dict[str, Any]]:
    """``GET /health`` of ``openreactor serve``: 503 once shutting down, else whether a session runs."""
    state = "terminated" if shutting_down else ("serving" if running else "available")
    status = 503 if shutting_down else 200
    return status, {"status": "healthy" if status == 200 else "unhealthy", "state": state, "detail": None}


class LocalRegistry:
    """Owns the loaded model and the session hosts of a local-mode server (a ``SessionRegistry``)."""

    def __init__(self, model: Model, settings: Settings, *, metrics: ServerMetrics | None = None) -> None:
        self.model = model
        self.settings = settings
        self.metrics = metrics
        self.current: InProcessSessionHost | None = None
        self.ended: dict[str, InProcessSessionHost] = {}
        self.shutting_down = False
        self._owns_uploads_root = settings.upload_dir is None
        self.uploads_root = settings.upload_dir or Path(tempfile.mkdtemp(prefix="openreactor-uploads-"))
        """Each session stores its uploads in ``<root>/<session id>``, removed when it ends."""

    @property
    def running(self) -> InProcessSessionHost | None:
        host = self.current
        if host is not None and host.closed:
            self._retire(host)
            return None
        return host

    def _retire(self, host: InProcessSessionHost) -> None:
        if self.current is host:
            self.current = None
        self.ended[host.session_id] = host
        while len(self.ended) > ENDED_SESSIONS_KEPT:
            self.ended.pop(next(iter(self.ended)))

    async def start_session(self, request: SessionRequest) -> InProcessSessionHost:
        check_model(self.model, request.model, request.version)
        if self.shutting_down:
            raise SessionBusyError("cannot start session while shutting down")
        running = self.running
        if running is not None:
            raise SessionBusyError(f"cannot start session while {running.session.state.value}")
        host = await InProcessSessionHost.open(
            request, self.model, self.settings, uploads_root=self.uploads_root, metrics=self.metrics
        )
        self.current = host
        return host

    async def get(self, session_id: str) -> InProcessSessionHost | None:
        running = self.running
        if running is not None and running.session_id == session_id:
            return running
        return self.ended.get(session_id)

    async def host_of_upload(self, upload_id: str) -> InProcessSessionHost | None:
        """The running session that issued ``upload_id`` (ended sessions keep no uploads)."""
        host = self.running
        if host is not None and host.has_upload(upload_id):
            return host
        return None

    def upload_file_count(self) -> int:
        """Files under the uploads root, whichever session they belong to (for leak checks)."""
        return sum(len(files) for _, _, files in os.walk(self.uploads_root))

    async def stop_session(self, host: SessionHost, reason: str) -> None:
        await host.stop(reason)

    async def schema(self) -> dict[str, Any]:
        return openapi_document(self.model)

    async def health(self) -> tuple[int, dict[str, Any]]:
        return serving_health(self.shutting_down, self.running)

    async def metrics_sources(self) -> list[tuple[str, str]] | None:
        return None

    async def debug_status(self) -> DebugStatus:
        return DebugStatus(sessions=0 if self.running is None else 1, upload_files=self.upload_file_count())

    async def shutdown(self, reason: str) -> None:
        """End the running session (clients get ``session_ended``), then wait for it to close."""
        self.shutting_down = True
        host = self.running
        if host is not None:
            await host.stop(reason)
        if self._owns_uploads_root:
            shutil.rmtree(self.uploads_root, ignore_errors=True)
