"""The interfaces between the HTTP front and the sessions it serves (ARCHITECTURE.md).

The front (``openreactor.http``) only ever calls ``SessionRegistry`` (find, start and stop
sessions) and ``SessionHost`` (one session), and maps the errors defined here to HTTP statuses.
``InProcessSessionHost`` runs the session in the front's own process (local mode); the registries
(``registry.LocalRegistry``, ``workers.pool.WorkerRegistry``, ``cluster.coordinator.ClusterRegistry``)
implement ``SessionRegistry`` and hand out hosts in this process, in a worker process or on a
worker node, without the front knowing which.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from openreactor import __version__
from openreactor.device import compute_device
from openreactor.metrics import ServerMetrics
from openreactor.models.api import Model
from openreactor.sessions.session import EndReason, Session
from openreactor.sessions.uploads import UnknownUploadError, UploadSlot
from openreactor.settings import Settings
from openreactor.transport.peer import OfferError, Peer, TrackMapping
from reactor_protocol.messages import WireVersion

LEGACY_CONNECTION_ID = 1001
"""The implicit connection of the legacy flat signalling routes (PROTOCOL.md §3.2)."""


class UnknownConnectionError(LookupError):
    pass


class SessionClosedError(RuntimeError):
    """The session has ended (or is not there); ``end_reason`` says why when it is known, and
    travels with the refusal across the worker RPC so that every front records the same end."""

    def __init__(self, message: str, end_reason: str | None = None) -> None:
        super().__init__(message)
        self.end_reason = end_reason


class ConnectionLimitError(RuntimeError):
    pass


class WorkerUnavailableError(SessionClosedError):
    """The session's worker did not answer: it died (the session is over) or is briefly unreachable."""


class SessionBusyError(RuntimeError):
    """No room for another session (429 on the cloud plane, 409 on the local one)."""


class SessionLimitError(SessionBusyError):
    """The caller's API key already holds its maximum of concurrent sessions."""


class UnknownModelError(LookupError):
    """No host here serves the requested model (404)."""


class SessionHost(Protocol):
    """Everything the front may ask of one session.

    Every call is a coroutine: the host may be in this process, in a worker process behind a unix
    socket, or on another machine (``openreactor coordinator``), and the front's event loop must
    never wait on I/O synchronously.
    """

    owner: str | None
    """The API key id that created the session on the cloud plane; ``None`` for local sessions."""

    @property
    def session_id(self) -> str: ...

    @property
    def model_name(self) -> str: ...

    @property
    def closed(self) -> bool: ...

    @property
    def end_reason(self) -> str | None: ...

    async def describe(self) -> dict[str, Any]: ...

    async def create_connection(self) -> tuple[int, dict[str, Any]]: ...

    async def offer(
        self,
        connection_id: int,
        sdp: str,
        mapping: list[TrackMapping],
        *,
        create: bool = False,
        wire: WireVersion | None = None,
    ) -> str: ...

    async def answer(self, connection_id: int) -> str | None: ...

    async def add_candidates(self, connection_id: int, candidates: list[dict[str, Any]]) -> None: ...

    async def create_upload(self, name: str, size: int, mime_type: str) -> UploadSlot: ...

    async def receive_upload(
        self, upload_id: str, chunks: AsyncIterator[bytes], declared_length: int | None
    ) -> UploadSlot: ...

    async def limit_duration(self, seconds: float) -> None: ...

    async def stop(self, reason: str) -> None: ...


@dataclass(frozen=True, slots=True)
class SessionRequest:
    """What a new session is asked for: all ``None`` on the local plane (``/start_session``)."""

    owner: str | None = None
    """The API key id behind the cloud plane's ``POST /sessions``."""
    model: str | None = None
    """The model's name, and ``version`` if the client named one: checked against what is served."""
    version: str | None = None
    session_id: str | None = None
    """Chosen by the caller (a coordinator that placed the session on a worker node), else made up."""
    max_duration_s: float | None = None
    """The token's cap on the session's length, if any."""


@dataclass(frozen=True, slots=True)
class DebugStatus:
    """What ``GET /debug/resources`` and ``GET /debug/workers`` report of a registry."""

    sessions: int
    """Live sessions."""
    upload_files: int
    """Files in the upload folders of this machine (for leak checks)."""
    workers: dict[str, Any] | None = None
    """The worker processes and the pool's limits (``serve --workers N``); ``None`` without a pool."""


class SessionRegistry(Protocol):
    """Everything the front asks of the sessions it serves, whoever hosts them.

    Errors: ``start_session`` raises ``UnknownModelError`` and ``SessionBusyError``; ``schema``
    raises ``WorkerUnavailableError`` (or ``UnknownModelError`` where there is no one model).
    """

    @property
    def running(self) -> SessionHost | None:
        """The local-plane session (``/start_session``, no owner) if one runs."""
        ...

    async def start_session(self, request: SessionRequest) -> SessionHost: ...

    async def get(self, session_id: str) -> SessionHost | None:
        """The session, live or recently ended (then ``closed``); ``None`` if unknown."""
        ...

    async def host_of_upload(self, upload_id: str) -> SessionHost | None:
        """The live session that issued ``upload_id`` (the credential of ``PUT /uploads/{id}``)."""
        ...

    async def stop_session(self, host: SessionHost, reason: str) -> None: ...

    async def schema(self) -> dict[str, Any]:
        """The model's OpenAPI document (``GET /schema``)."""
        ...

    async def health(self) -> tuple[int, dict[str, Any]]:
        """The status and body of ``GET /health``."""
        ...

    async def metrics_sources(self) -> list[tuple[str, str]] | None:
        """Other processes' Prometheus texts, labelled (``worker``), to merge with this process's
        own; ``None`` when this process's metrics are the whole story."""
        ...

    async def debug_status(self) -> DebugStatus: ...

    async def shutdown(self, reason: str) -> None:
        """End what this registry hosts (clients get ``session_ended``) and free its resources."""
        ...


class InProcessSessionHost:
    """A session hosted in this process: the ``Session`` plus one ``Peer`` per connection id."""

    def __init__(
        self,
        session_id: str,
        model: Model,
        settings: Settings,
        *,
        uploads_dir: Path | None = None,
        metrics: ServerMetrics | None = None,
    ) -> None:
        self.settings = settings
        self.session = Session(session_id, model, settings, uploads_dir=uploads_dir, metrics=metrics)
        self.peers: dict[int, Peer] = {}
        self.owner: str | None = None
        """The API key id that created the session on the cloud plane; ``None`` for local sessions."""
        self._duration_limit: asyncio.TimerHandle | None = None
        # Runtime 3.10 mints random ids in 5000-9999, never reused within a session.
        self._ids = iter(random.sample(range(5000, 10000), 5000))

    @property
    def session_id(self) -> str:
        return self.session.id

    @property
    def model_name(self) -> str:
        return self.session.model.name

    @property
    def closed(self) -> bool:
        return self.session.is_closed

    @property
    def end_reason(self) -> str | None:
        return self.session.end_reason

    @classmethod
    async def open(
        cls,
        request: SessionRequest,
        model: Model,
        settings: Settings,
        *,
        uploads_root: Path,
        metrics: ServerMetrics | None = None,
    ) -> InProcessSessionHost:
        """A started session for ``request``; its uploads go to ``<uploads_root>/<session id>``."""
        session_id = request.session_id or str(uuid.uuid4())
        host = cls(session_id, model, settings, uploads_dir=uploads_root / session_id, metrics=metrics)
        host.owner = request.owner
        host.start()
        if request.max_duration_s is not None:
            await host.limit_duration(request.max_duration_s)
        return host

    def start(self) -> None:
        self.session.start()

    async def limit_duration(self, seconds: float) -> None:
        """End the session ``seconds`` from now (reason ``max_duration``); only ever sooner."""
        loop = asyncio.get_running_loop()
        if self._duration_limit is not None:
            if self._duration_limit.when() <= loop.time() + seconds:
                return
            self._duration_limit.cancel()
        self._duration_limit = loop.call_later(seconds, self.session.end, EndReason.MAX_DURATION)

    async def describe(self) -> dict[str, Any]:
        model = self.session.model
        return {
            "session_id": self.session.id,
            "state": self.session.state.value,
            "cluster": self.settings.worker_id or "local",
            "model": {"name": model.name},
            "server_info": {"server_version": __version__, "device": compute_device()},
            "generation": "streamed",
            "selected_transport": {"protocol": "webrtc", "version": "1.0"},
            "capabilities": {
                "protocol_version": "1.0",
                "tracks": self.session.tracks_client_view(),
                "commands": [],
                "emission_fps": model.fps,
            },
            **({"end_reason": self.session.end_reason} if self.session.end_reason else {}),
        }

    def track_map(self) -> dict[str, Any]:
        return {
            t.name: {"kind": t.kind, "direction": t.direction, "rate": 0.0} for t in self.session.model.tracks
        }

    def _check_open(self) -> None:
        if self.session.is_ending or self.session.is_closed:
            raise SessionClosedError(
                f"session {self.session.id} has ended ({self.session.end_reason})", self.session.end_reason
            )

    async def create_connection(self) -> tuple[int, dict[str, Any]]:
        self._check_open()
        if len(self.peers) >= self.settings.max_connections:
            raise ConnectionLimitError("Connection limit reached")
        cid = next(self._ids, None)
        if cid is None:
            raise ConnectionLimitError("No connection ids left")
        self.peers[cid] = Peer(cid, self.session, self.settings)
        return cid, self.track_map()

    def _peer(self, connection_id: int) -> Peer:
        peer = self.peers.get(connection_id)
        if peer is None:
            raise UnknownConnectionError(f"unknown connection {connection_id}")
        return peer

    async def offer(
        self,
        connection_id: int,
        sdp: str,
        mapping: list[TrackMapping],
        *,
        create: bool = False,
        wire: WireVersion | None = None,
    ) -> str:
        """Apply an offer (or re-offer) and return the answer; raises ``OfferError`` on bad SDP."""
        self._check_open()
        if create and connection_id not in self.peers:
            self.peers[connection_id] = Peer(connection_id, self.session, self.settings, wire=wire)
        return await self._peer(connection_id).apply_offer(sdp, mapping)

    async def answer(self, connection_id: int) -> str | None:
        self._check_open()
        return self._peer(connection_id).answer

    async def add_candidates(self, connection_id: int, candidates: list[dict[str, Any]]) -> None:
        self._check_open()
        self._peer(connection_id).add_candidates(candidates)

    # -- uploads (PROTOCOL.md §7) -------------------------------------------------------------------

    async def create_upload(self, name: str, size: int, mime_type: str) -> UploadSlot:
        """Issue an upload slot; raises ``UploadTooLargeError`` when ``size`` is over the limit."""
        self._check_open()
        return self.session.uploads.issue(name, size, mime_type)

    def has_upload(self, upload_id: str) -> bool:
        return not self.closed and self.session.uploads.get(upload_id) is not None

    async def receive_upload(
        self, upload_id: str, chunks: AsyncIterator[bytes], declared_length: int | None
    ) -> UploadSlot:
        """Store the bytes of an upload; raises the ``UploadError`` subclasses of ``sessions.uploads``."""
        if self.closed:
            raise UnknownUploadError(f"no upload {upload_id}: the session has ended")
        return await self.session.uploads.receive(upload_id, chunks, declared_length)

    async def stop(self, reason: str) -> None:
        if self._duration_limit is not None:
            self._duration_limit.cancel()
        await self.session.end(reason)
        await asyncio.gather(*(p.close(reason) for p in self.peers.values()), return_exceptions=True)
        self.peers.clear()

    async def wait_closed(self) -> None:
        await self.session.wait_closed()


__all__ = [
    "LEGACY_CONNECTION_ID",
    "ConnectionLimitError",
    "DebugStatus",
    "InProcessSessionHost",
    "OfferError",
    "SessionBusyError",
    "SessionClosedError",
    "SessionHost",
    "SessionLimitError",
    "SessionRegistry",
    "SessionRequest",
    "UnknownConnectionError",
    "UnknownModelError",
    "WorkerUnavailableError",
]
