"""A session's state and its timers: keep-alive, liveness watchdog, memory limit.

States (local descriptors spell them in lower case, the cloud plane in upper case)::

    WAITING --client attaches--> ACTIVE --last client leaves--> SUSPENDED --keep-alive expires--> CLOSED
       ^                            |  ^                              |
       |                            |  +------ a client (re)attaches -+
       +-- (a new session) ---------+---------------- stop / model crash / shutdown ----------> CLOSED

While no client is attached (WAITING or SUSPENDED) the keep-alive timer runs; when it fires the
session ends with reason ``client_timeout``. A watchdog drops connections that have sent nothing
for ``liveness_timeout_s``. With ``max_session_memory_mb``, process memory grown past that limit
ends the session (``memory_limit``, sampled here). What ending means (telling the clients,
stopping the model) is the session's business: this module only calls back.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import Callable

from openreactor import process_memory
from openreactor.sessions.client_link import ClientLink
from openreactor.settings import Settings

log = logging.getLogger(__name__)

MEMORY_CHECK_S = 0.5
"""How often the memory limit samples the process's RSS (one small read of ``/proc``)."""


class SessionState(enum.StrEnum):
    WAITING = "waiting"
    ACTIVE = "active"
    SUSPENDED = "suspended"
    CLOSED = "closed"


class EndReason(enum.StrEnum):
    """Why a session ended (PROTOCOL.md §8.4), sent to clients in ``session_ended``."""

    CLIENT_ENDED = "client_ended"
    CLIENT_TIMEOUT = "client_timeout"
    MAX_DURATION = "max_duration"
    MEMORY_LIMIT = "memory_limit"
    MODEL_ERROR = "model_error"
    MODEL_TIMEOUT = "model_timeout"
    SERVER_SHUTDOWN = "server_shutdown"
    WORKER_LOST = "worker_lost"
    """The worker node hosting the session stopped answering (cluster mode): recoverable by a new session."""


class SessionLifecycle:
    """The state machine above and the timers each state runs.

    ``links`` lists the attached connections, ``on_keepalive_expired`` ends the session,
    ``on_silent`` drops one connection the watchdog found silent, and ``on_memory_exceeded`` ends
    the session with the message it is given.
    """

    def __init__(
        self,
        session_id: str,
        settings: Settings,
        *,
        links: Callable[[], list[ClientLink]],
        on_keepalive_expired: Callable[[], object],
        on_silent: Callable[[ClientLink], None],
        on_memory_exceeded: Callable[[str], None],
    ) -> None:
        self.session_id = session_id
        self.settings = settings
        self.state = SessionState.WAITING
        self._links = links
        self._on_keepalive_expired = on_keepalive_expired
        self._on_silent = on_silent
        self._on_memory_exceeded = on_memory_exceeded
        self._loop = asyncio.get_running_loop()
        self._keepalive: asyncio.TimerHandle | None = None
        self._watchdog: asyncio.Task[None] | None = None
        self._memory_watch: asyncio.Task[None] | None = None

    @property
    def is_closed(self) -> bool:
        return self.state is SessionState.CLOSED

    # -- transitions -----------------------------------------------------------------------------

    def start(self) -> None:
        """The session started (WAITING): the watchdogs run, and the keep-alive until a client comes."""
        self._watchdog = asyncio.create_task(self._watch_liveness(), name=f"watchdog-{self.session_id}")
        if self.settings.max_session_memory_mb:
            self._memory_watch = asyncio.create_task(
                self._watch_memory(self.settings.max_session_memory_mb), name=f"memory-{self.session_id}"
            )
        self._arm_keepalive()

    def client_attached(self) -> None:
        """ACTIVE: a client is attached, the keep-alive stops."""
        self._disarm_keepalive()
        self.state = SessionState.ACTIVE

    def last_client_left(self) -> None:
        """SUSPENDED: no client is attached, the keep-alive runs."""
        self.state = SessionState.SUSPENDED
        self._arm_keepalive()

    def closing(self) -> None:
        """The session is ending: the keep-alive can no longer end it."""
        self._disarm_keepalive()

    def closed(self) -> list[asyncio.Task[None]]:
        """CLOSED: the watchdogs are cancelled; returns them, for the caller to await."""
        self.state = SessionState.CLOSED
        watchdogs = [t for t in (self._watchdog, self._memory_watch) if t is not None]
        for watchdog in watchdogs:
            watchdog.cancel()
        return watchdogs

    # -- timers ----------------------------------------------------------------------------------

    def _arm_keepalive(self) -> None:
        self._disarm_keepalive()
        self._keepalive = self._loop.call_later(self.settings.keepalive_s, self._on_keepalive_expired)

    def _disarm_keepalive(self) -> None:
        if self._keepalive is not None:
            self._keepalive.cancel()
            self._keepalive = None

    async def _watch_liveness(self) -> None:
        while True:
            await asyncio.sleep(self.settings.liveness_check_s)
            deadline = self._loop.time() - self.settings.liveness_timeout_s
            for link in self._links():
                if link.last_inbound < deadline:
                    log.info(
                        "connection %s silent for %.0f s: dropped",
                        link.connection_id,
                        self.settings.liveness_timeout_s,
                    )
                    self._on_silent(link)

    async def _watch_memory(self, limit_mb: float) -> None:
        base = process_memory.baseline() or process_memory.rss_bytes()
        if base is None:
            log.warning("max_session_memory_mb is not enforced: this system reports no RSS")
            return
        while True:
            await asyncio.sleep(MEMORY_CHECK_S)
            rss = process_memory.rss_bytes()
            grown_mb = 0.0 if rss is None else (rss - base) / 2**20
            if grown_mb > limit_mb:
                log.error(
                    "session %s: process RSS %.0f MiB, %.0f MiB above its baseline (limit %g MiB)",
                    self.session_id,
                    (rss or 0) / 2**20,
                    grown_mb,
                    limit_mb,
                )
                message = (
                    f"the session's process grew by {grown_mb:.0f} MiB, over its limit of {limit_mb:g} MiB"
                )
                self._on_memory_exceeded(message)
                return
