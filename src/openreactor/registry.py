"""Local-mode registry: one model loaded once, at most one running session at a time."""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import uuid
from pathlib import Path

from openreactor.metrics import ServerMetrics
from openreactor.models.api import Model
from openreactor.session_host import InProcessSessionHost
from openreactor.settings import Settings

log = logging.getLogger(__name__)

ENDED_SESSIONS_KEPT = 16
"""Ended sessions stay visible (state ``closed``) so late callers learn it ended, not 'unknown'."""


class SessionBusyError(RuntimeError):
    pass


class LocalRegistry:
    """Owns the loaded model and the session hosts of a local-mode server."""

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

    def start_session(self, owner: str | None = None) -> InProcessSessionHost:
        if self.shutting_down:
            raise SessionBusyError("cannot start session while shutting down")
        running = self.running
        if running is not None:
            raise SessionBusyError(f"cannot start session while {running.session.state.value}")
        session_id = str(uuid.uuid4())
        host = InProcessSessionHost(
            session_id,
            self.model,
            self.settings,
            uploads_dir=self.uploads_root / session_id,
            metrics=self.metrics,
        )
        host.owner = owner
        host.start()
        self.current = host
        return host

    def get(self, session_id: str) -> InProcessSessionHost | None:
        running = self.running
        if running is not None and running.session_id == session_id:
            return running
        return self.ended.get(session_id)

    def host_of_upload(self, upload_id: str) -> InProcessSessionHost | None:
        """The running session that issued ``upload_id`` (ended sessions keep no uploads)."""
        host = self.running
        if host is not None and host.has_upload(upload_id):
            return host
        return None

    def upload_file_count(self) -> int:
        """Files under the uploads root, whichever session they belong to (for leak checks)."""
        return sum(len(files) for _, _, files in os.walk(self.uploads_root))

    async def shutdown(self, reason: str) -> None:
        """End the running session (clients get ``session_ended``), then wait for it to close."""
        self.shutting_down = True
        host = self.running
        if host is not None:
            await host.stop(reason)
        if self._owns_uploads_root:
            shutil.rmtree(self.uploads_root, ignore_errors=True)
