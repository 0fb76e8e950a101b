"""``RemoteSessionHost``: the ``SessionHost`` interface, served by another process over HTTP.

The other process is a worker process behind a unix socket (``serve --workers N``) or a worker
node on another machine (``openreactor coordinator``); both serve the internal API of ``rpc``,
and each interface call here is one entry of ``rpc.METHODS``. ``closed`` and the end reason are
the caller's own record, so a host whose worker died still answers (state ``closed``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any, TypeVar

import httpx

from openreactor.session_host import SessionClosedError, WorkerUnavailableError
from openreactor.sessions.session import EndReason, SessionState
from openreactor.sessions.uploads import UnknownUploadError, UploadSlot
from openreactor.transport.peer import TrackMapping
from openreactor.workers import rpc
from reactor_protocol.messages import WireVersion

CALL_TIMEOUT_S = 15.0
"""One interface call (an offer waits for ICE gathering, capped at a few seconds on the worker)."""
NO_TIMEOUT = httpx.Timeout(None)
"""For ``wait_closed`` (a long poll) and upload bodies (as long as the client takes to send)."""

A = TypeVar("A")
R = TypeVar("R")


class RemoteSessionView:
    """What the routes read of ``host.session``: state and end reason, kept by the front."""

    def __init__(self, session_id: str) -> None:
        self.id = session_id
        self.state = SessionState.WAITING
        self.end_reason: str | None = None

    @property
    def is_closed(self) -> bool:
        return self.state is SessionState.CLOSED

    @property
    def is_ending(self) -> bool:
        return self.end_reason is not None


class RemoteSessionHost:
    """One session hosted by another process, reached with ``client`` at ``base_url``."""

    def __init__(
        self,
        session_id: str,
        client: httpx.AsyncClient,
        base_url: str,
        descriptor: dict[str, Any],
        *,
        owner: str | None = None,
        worker_pid: int | None = None,
        owns_client: bool = False,
    ) -> None:
        self.session = RemoteSessionView(session_id)
        self.owner = owner
        self.worker_pid = worker_pid
        self.created_at = time.time()
        self.base_url = base_url.rstrip("/")
        self._client = client
        self._owns_client = owns_client
        self._descriptor = descriptor
        self._closed_event = asyncio.Event()
        self._session_url = f"{self.base_url}/sessions/{session_id}"
        self._duration_limit: float | None = None
        try:
            self.session.state = SessionState(str(descriptor.get("state", "")).lower())
        except ValueError:
            pass
        if self.session.state is SessionState.CLOSED:
            self.session.state = SessionState.WAITING
            self.mark_closed(str(descriptor.get("end_reason") or EndReason.CLIENT_ENDED))

    # -- the caller's record ---------------------------------------------------------------------

    @property
    def session_id(self) -> str:
        return self.session.id

    @property
    def model_name(self) -> str:
        return str((self._descriptor.get("model") or {}).get("name", ""))

    @property
    def closed(self) -> bool:
        return self.session.is_closed

    @property
    def end_reason(self) -> str | None:
        return self.session.end_reason

    @property
    def descriptor(self) -> dict[str, Any]:
        return dict(self._descriptor)

    def mark_closed(self, reason: str) -> None:
        """The session ended on its worker, or the worker is gone: record it, free the clients."""
        if self.session.is_closed:
            return
        self.session.end_reason = self.session.end_reason or reason
        self.session.state = SessionState.CLOSED
        self._descriptor = {**self._descriptor, "state": "closed", "end_reason": self.session.end_reason}
        self._closed_event.set()

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()

    # -- calls -----------------------------------------------------------------------------------

    async def _call(self, method: rpc.Method[A, R], args: A) -> R:
        if self.closed:
            raise SessionClosedError(
                f"session {self.session_id} has ended ({self.session.end_reason})", self.session.end_reason
            )
        try:
            response = await self._client.post(
                f"{self._session_url}/{method.name}",
                json=rpc.encode(args),
                timeout=NO_TIMEOUT if method.long_poll else CALL_TIMEOUT_S,
            )
        except httpx.HTTPError as exc:
            raise WorkerUnavailableError(f"the worker of session {self.session_id} did not answer") from exc
        return method.decode_reply(rpc.result_of(response))

    async def forward(self, method: str, body: bytes, timeout: float | None) -> httpx.Response:
        """One call with its JSON body passed through unread (a worker node relaying a coordinator)."""
        return await self._client.post(
            f"{self._session_url}/{method}",
            content=body,
            headers={"content-type": "application/json"},
            timeout=httpx.Timeout(timeout),
        )

    async def limit_duration(self, seconds: float) -> None:
        """End the session ``seconds`` from now; a later, longer limit never extends an earlier one."""
        if self._duration_limit is not None and self._duration_limit <= seconds:
            return
        self._duration_limit = seconds
        await self._call(rpc.LIMIT_DURATION, rpc.DurationArgs(seconds))

    async def describe(self) -> dict[str, Any]:
        if not self.closed:
            try:
                described = await self._call(rpc.DESCRIBE, rpc.NoArgs())
            except SessionClosedError as exc:
                # Ended where it runs, before this front heard of it (a coordinator's record can
                # lag the worker by a heartbeat): say so now rather than the stale state.
                if exc.end_reason:
                    self.mark_closed(exc.end_reason)
            else:
                self._descriptor = described
                self.session.state = SessionState(described["state"])
                return described
        return dict(self._descriptor)

    async def create_connection(self) -> tuple[int, dict[str, Any]]:
        made = await self._call(rpc.CREATE_CONNECTION, rpc.NoArgs())
        return made.connection_id, made.track_map

    async def offer(
        self,
        connection_id: int,
        sdp: str,
        mapping: list[TrackMapping],
        *,
        create: bool = False,
        wire: WireVersion | None = None,
    ) -> str:
        return await self._call(rpc.OFFER, rpc.OfferArgs(connection_id, sdp, mapping, create, wire))

    async def answer(self, connection_id: int) -> str | None:
        return await self._call(rpc.ANSWER, rpc.ConnectionArgs(connection_id))

    async def add_candidates(self, connection_id: int, candidates: list[dict[str, Any]]) -> None:
        await self._call(rpc.ADD_CANDIDATES, rpc.CandidatesArgs(connection_id, candidates))

    async def create_upload(self, name: str, size: int, mime_type: str) -> UploadSlot:
        return (await self._call(rpc.CREATE_UPLOAD, rpc.UploadArgs(name, size, mime_type))).slot()

    async def receive_upload(
        self, upload_id: str, chunks: AsyncIterator[bytes], declared_length: int | None
    ) -> UploadSlot:
        if self.closed:
            raise UnknownUploadError(f"no upload {upload_id}: the session has ended")
        headers = {} if declared_length is None else {rpc.DECLARED_LENGTH: str(declared_length)}
        try:
            response = await self._client.put(
                f"{self.base_url}/uploads/{upload_id}", content=chunks, headers=headers, timeout=NO_TIMEOUT
            )
        except httpx.HTTPError as exc:
            raise UnknownUploadError(f"no upload {upload_id}: the session's worker did not answer") from exc
        try:
            return rpc.decode(rpc.SlotRecord, rpc.result_of(response)).slot()
        except SessionClosedError as exc:
            raise UnknownUploadError(f"no upload {upload_id}: the session has ended") from exc

    async def stop(self, reason: str) -> None:
        if self.closed:
            return
        self.session.end_reason = self.session.end_reason or reason
        try:
            await self._call(rpc.STOP, rpc.StopArgs(reason))
        except SessionClosedError:
            pass
        self.mark_closed(reason)

    async def wait_closed(self) -> None:
        await self._closed_event.wait()

    async def watch(self) -> str | None:
        """Wait (on the worker) until the session ends; its end reason, or ``None`` if the worker went away."""
        try:
            reason = await self._call(rpc.WAIT_CLOSED, rpc.NoArgs())
            return str(reason or EndReason.CLIENT_ENDED)
        except SessionClosedError:
            return None
