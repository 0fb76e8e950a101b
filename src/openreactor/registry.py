"""Local-mode registry: one model loaded once, at most one running session at a time."""

from __future__ import annotations

import logging
import uuid

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

    def __init__(self, model: Model, settings: Settings) -> None:
        self.model = model
        self.settings = settings
        self.current: InProcessSessionHost | None = None
        self.ended: dict[str, InProcessSessionHost] = {}
        self.shutting_down = False

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

    def start_session(self) -> InProcessSessionHost:
        if self.shutting_down:
            raise SessionBusyError("cannot start session while shutting down")
        running = self.running
        if running is not None:
            raise SessionBusyError(f"cannot start session while {running.session.state.value}")
        host = InProcessSessionHost(str(uuid.uuid4()), self.model, self.settings)
        host.start()
        self.current = host
        return host

    def get(self, session_id: str) -> InProcessSessionHost | None:
        running = self.running
        if running is not None and running.session_id == session_id:
            return running
        return self.ended.get(session_id)

    async def shutdown(self, reason: str) -> None:
        """End the running session (clients get ``session_ended``), then wait for it to close."""
        self.shutting_down = True
        host = self.running
        if host is not None:
            await host.stop(reason)
