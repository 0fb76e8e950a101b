"""``RemoteSessionHost``: the ``SessionHost`` interface, served by another process over HTTP.

The other process is a worker process behind a unix socket (``serve --workers N``) or a worker
node on another machine (``openreactor coordinator``); both serve the same internal API
(``worker_app``), one ``POST /sessions/{sid}/{method}`` per interface call. ``closed`` and the end
reason are the caller's own record, so a host whose worker died still answers (state ``closed``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import httpx

from openreactor.session_host import (
    ConnectionLimitError,
    SessionClosedError,
    UnknownConnectionError,
)
from openreactor.sessions.session import EndReason, SessionState
from openreactor.sessions.uploads import (
    UnknownUploadError,
    UnresolvedUploadError,
    UploadConflictError,
    UploadError,
    UploadSizeError,
    UploadSlot,
    UploadStorageError,
    UploadTooLargeError,
)
from openreactor.transport.peer import OfferError, TrackMapping
from reactor_protocol.messages import WireVersion

CALL_TIMEOUT_S = 15.0
"""One interface call (an offer waits for ICE gathering, capped at a few seconds on the worker)."""
NO_TIMEOUT = httpx.Timeout(None)
"""For ``wait_closed`` (a long poll) and upload bodies (as long as the client takes to send)."""

_ERRORS: dict[str, Callable[[str], Exception]] = {
    "UnknownConnectionError": UnknownConnectionError,
    "SessionClosedError": SessionClosedError,
    "ConnectionLimitError": ConnectionLimitError,
    "OfferError": OfferError,
    "UploadError": UploadError,
    "UnknownUploadError": UnknownUploadError,
    "UploadConflictError": UploadConflictError,
    "UploadSizeError": UploadSizeError,
    "UploadTooLargeError": UploadTooLargeError,
    "UploadStorageError": UploadStorageError,
    "UnresolvedUploadError": UnresolvedUploadError,
}


class WorkerUnavailableError(SessionClosedError):
    """The session's worker did not answer: it died (the session is over) or is briefly unreachable."""


def _raise_for(response: httpx.Response) -> Any:
    if response.status_code < 300:
        return response.json().get("result")
    try:
        body = response.json()
        name, message = str(body.get("error")), str(body.get("message"))
    except ValueError:
        name, message = "", response.text
    factory = _ERRORS.get(name)
    if factory is None:
        raise SessionClosedError(f"worker refused: {message}")
    raise factory(message)


def slot_from_json(data: dict[str, Any]) -> UploadSlot:
    return UploadSlot(
        upload_id=data["upload_id"],
        name=data["name"],
        mime_type=data["mime_type"],
        size=int(data["size"]),
        path=Path(data["path"]),
        issued_at=float(data.get("issued_at", time.time())),
    )


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

    async def _call(
        self, method: str, body: dict[str, Any] | None = None, timeout: httpx.Timeout | float = CALL_TIMEOUT_S
    ) -> Any:
        if self.closed:
            raise SessionClosedError(f"session {self.session_id} has ended ({self.session.end_reason})")
        try:
            response = await self._client.post(
                f"{self._session_url}/{method}", json=body or {}, timeout=timeout
            )
        except httpx.HTTPError as exc:
            raise WorkerUnavailableError(f"the worker of session {self.session_id} did not answer") from exc
        return _raise_for(response)

    async def forward(
        self, method: str, body: bytes, timeout: httpx.Timeout | float = CALL_TIMEOUT_S
    ) -> httpx.Response:
        """One call with its JSON body passed through unread (a worker node relaying a coordinator)."""
        return await self._client.post(
            f"{self._session_url}/{method}",
            content=body,
            headers={"content-type": "application/json"},
            timeout=timeout,
        )

    async def limit_duration(self, seconds: float) -> None:
        """End the session ``seconds`` from now; a later, longer limit never extends an earlier one."""
        if self._duration_limit is not None and self._duration_limit <= seconds:
            return
        self._duration_limit = seconds
        await self._call("limit_duration", {"seconds": seconds})

    async def describe(self) -> dict[str, Any]:
        if not self.closed:
            try:
                described: dict[str, Any] = await self._call("describe")
            except SessionClosedError:
                pass
            else:
                self._descriptor = described
                self.session.state = SessionState(described["state"])
                return described
        return dict(self._descriptor)

    async def create_connection(self) -> tuple[int, dict[str, Any]]:
        result = await self._call("create_connection")
        return int(result["connection_id"]), dict(result["track_map"])

    async def offer(
        self,
        connection_id: int,
        sdp: str,
        mapping: list[TrackMapping],
        *,
        create: bool = False,
        wire: WireVersion | None = None,
    ) -> str:
        body = {
            "connection_id": connection_id,
            "sdp": sdp,
            "mapping": [asdict(m) for m in mapping],
            "create": create,
            "wire": wire,
        }
        return str(await self._call("offer", body))

    async def answer(self, connection_id: int) -> str | None:
        result = await self._call("answer", {"connection_id": connection_id})
        return None if result is None else str(result)

    async def add_candidates(self, connection_id: int, candidates: list[dict[str, Any]]) -> None:
        await self._call("add_candidates", {"connection_id": connection_id, "candidates": candidates})

    async def create_upload(self, name: str, size: int, mime_type: str) -> UploadSlot:
        return slot_from_json(
            await self._call("create_upload", {"name": name, "size": size, "mime_type": mime_type})
        )

    async def receive_upload(
        self, upload_id: str, chunks: AsyncIterator[bytes], declared_length: int | None
    ) -> UploadSlot:
        if self.closed:
            raise UnknownUploadError(f"no upload {upload_id}: the session has ended")
        headers = {} if declared_length is None else {"x-declared-length": str(declared_length)}
        try:
            response = await self._client.put(
                f"{self.base_url}/uploads/{upload_id}", content=chunks, headers=headers, timeout=NO_TIMEOUT
            )
        except httpx.HTTPError as exc:
            raise UnknownUploadError(f"no upload {upload_id}: the session's worker did not answer") from exc
        try:
            return slot_from_json(_raise_for(response))
        except SessionClosedError as exc:
            raise UnknownUploadError(f"no upload {upload_id}: the session has ended") from exc

    async def stop(self, reason: str) -> None:
        if self.closed:
            return
        self.session.end_reason = self.session.end_reason or reason
        try:
            await self._call("stop", {"reason": reason})
        except SessionClosedError:
            pass
        self.mark_closed(reason)

    async def wait_closed(self) -> None:
        await self._closed_event.wait()

    async def watch(self) -> str | None:
        """Wait (on the worker) until the session ends; its end reason, or ``None`` if the worker went away."""
        try:
            return str(await self._call("wait_closed", timeout=NO_TIMEOUT) or EndReason.CLIENT_ENDED)
        except SessionClosedError:
            return None
