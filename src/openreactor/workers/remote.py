"""``RemoteSessionHost``: the ``SessionHost`` interface, served by a worker process over its socket.

The interface's synchronous calls (describe, create_connection, answer, add_candidates,
create_upload, has_upload) are short requests over the local unix socket, made with a blocking
client and a short timeout; the asynchronous ones (offer, stop, receive_upload, wait_closed) use
an async client. ``closed`` and the end reason are the front's own record, so a host whose worker
died still answers (state ``closed``, reason ``model_error``).
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
    UploadTooLargeError,
)
from openreactor.transport.peer import OfferError, TrackMapping
from reactor_protocol.messages import WireVersion

SYNC_CALL_TIMEOUT_S = 5.0
"""A synchronous call blocks the front's event loop for one local round trip; never longer than this."""

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
    "UnresolvedUploadError": UnresolvedUploadError,
}


class WorkerUnavailableError(SessionClosedError):
    """The worker process did not answer (it died or hangs): the session is over."""


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
    """One session hosted by a worker process, reached over the worker's unix socket."""

    def __init__(
        self, session_id: str, socket_path: str, descriptor: dict[str, Any], worker_pid: int
    ) -> None:
        self.session = RemoteSessionView(session_id)
        self.socket_path = socket_path
        self.worker_pid = worker_pid
        self.owner: str | None = None
        self.created_at = time.time()
        self._descriptor = descriptor
        self._closed_event = asyncio.Event()
        self._sync = httpx.Client(
            transport=httpx.HTTPTransport(uds=socket_path),
            base_url="http://worker",
            timeout=SYNC_CALL_TIMEOUT_S,
        )
        self._async = httpx.AsyncClient(
            transport=httpx.AsyncHTTPTransport(uds=socket_path), base_url="http://worker", timeout=None
        )
        self._base = f"/sessions/{session_id}"
        self._duration_limit: float | None = None

    # -- the front's record --------------------------------------------------------------------

    @property
    def session_id(self) -> str:
        return self.session.id

    @property
    def closed(self) -> bool:
        return self.session.is_closed

    def mark_closed(self, reason: str) -> None:
        """The session ended on its worker, or the worker is gone: record it, free the clients."""
        if self.session.is_closed:
            return
        self.session.end_reason = self.session.end_reason or reason
        self.session.state = SessionState.CLOSED
        self._descriptor = {**self._descriptor, "state": "closed", "end_reason": self.session.end_reason}
        self._closed_event.set()
        self._sync.close()

    async def aclose(self) -> None:
        await self._async.aclose()

    # -- calls -----------------------------------------------------------------------------------

    def _call(self, method: str, body: dict[str, Any] | None = None) -> Any:
        if self.closed:
            raise SessionClosedError(f"session {self.session_id} has ended ({self.session.end_reason})")
        try:
            response = self._sync.post(f"{self._base}/{method}", json=body or {})
        except httpx.HTTPError as exc:
            raise WorkerUnavailableError(f"the worker of session {self.session_id} did not answer") from exc
        return _raise_for(response)

    async def _acall(self, method: str, body: dict[str, Any] | None = None) -> Any:
        if self.closed:
            raise SessionClosedError(f"session {self.session_id} has ended ({self.session.end_reason})")
        try:
            response = await self._async.post(f"{self._base}/{method}", json=body or {})
        except httpx.HTTPError as exc:
            raise WorkerUnavailableError(f"the worker of session {self.session_id} did not answer") from exc
        return _raise_for(response)

    def limit_duration(self, seconds: float) -> None:
        """End the session ``seconds`` from now; a later, longer limit never extends an earlier one."""
        if self._duration_limit is not None and self._duration_limit <= seconds:
            return
        self._duration_limit = seconds
        self._call("limit_duration", {"seconds": seconds})

    def describe(self) -> dict[str, Any]:
        if not self.closed:
            try:
                described: dict[str, Any] = self._call("describe")
            except SessionClosedError:
                pass
            else:
                self._descriptor = described
                self.session.state = SessionState(described["state"])
                return described
        return dict(self._descriptor)

    def create_connection(self) -> tuple[int, dict[str, Any]]:
        result = self._call("create_connection")
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
        return str(await self._acall("offer", body))

    def answer(self, connection_id: int) -> str | None:
        result = self._call("answer", {"connection_id": connection_id})
        return None if result is None else str(result)

    def add_candidates(self, connection_id: int, candidates: list[dict[str, Any]]) -> None:
        self._call("add_candidates", {"connection_id": connection_id, "candidates": candidates})

    def create_upload(self, name: str, size: int, mime_type: str) -> UploadSlot:
        return slot_from_json(
            self._call("create_upload", {"name": name, "size": size, "mime_type": mime_type})
        )

    def has_upload(self, upload_id: str) -> bool:
        if self.closed:
            return False
        try:
            return bool(self._sync.get(f"/uploads/{upload_id}").json().get("result"))
        except (httpx.HTTPError, ValueError):
            return False

    async def receive_upload(
        self, upload_id: str, chunks: AsyncIterator[bytes], declared_length: int | None
    ) -> UploadSlot:
        if self.closed:
            raise UnknownUploadError(f"no upload {upload_id}: the session has ended")
        headers = {} if declared_length is None else {"x-declared-length": str(declared_length)}
        try:
            response = await self._async.put(f"/uploads/{upload_id}", content=chunks, headers=headers)
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
            await self._acall("stop", {"reason": reason})
        except SessionClosedError:
            pass
        self.mark_closed(reason)

    async def wait_closed(self) -> None:
        await self._closed_event.wait()

    async def watch(self) -> str | None:
        """Wait (on the worker) until the session ends; its end reason, or ``None`` if the worker went away."""
        try:
            return str(await self._acall("wait_closed") or EndReason.CLIENT_ENDED)
        except SessionClosedError:
            return None
