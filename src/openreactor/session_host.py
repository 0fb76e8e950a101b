"""The one interface between the HTTP front and a session host (ARCHITECTURE.md).

The front only ever calls these methods. ``InProcessSessionHost`` runs the session in the
front's own process (local mode); a worker-process implementation can serve the same calls
over a local channel without the front or the session changing.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
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
    pass


class ConnectionLimitError(RuntimeError):
    pass


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
            raise SessionClosedError(f"session {self.session.id} has ended ({self.session.end_reason})")

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
    "InProcessSessionHost",
    "OfferError",
    "SessionClosedError",
    "SessionHost",
    "UnknownConnectionError",
]
