"""The internal API between a front and the process that hosts its sessions, written once.

A worker process (``worker_app``) serves it on a unix socket; a worker node (``cluster.node``)
serves the same paths to coordinators and relays each session call to one of its worker
processes unread. ``RemoteSessionHost`` (``remote``) is the caller. The paths::

    GET  /health                       the process's state (worker: pid, session, upload files)
    GET  /metrics                      Prometheus text
    POST /sessions                     a SessionRequest -> the session's descriptor (201)
    POST /sessions/{sid}/{method}      one METHODS entry: its args record -> {"result": reply}
    GET  /uploads/{id}                 {"result": whether a live session here issued it}
    PUT  /uploads/{id}                 the bytes (header x-declared-length) -> {"result": SlotRecord}

A refusal is ``{"error": <class name>, "message": <text>}``; the caller raises the class of that
name from :data:`ERRORS`, so the front sees the exception the session host raised.

Adding a session call: a ``SessionHost`` method, its args record and a :class:`Method` in
:data:`METHODS` here, and a one-line ``RemoteSessionHost`` method that calls it.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar, cast

import httpx
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from openreactor.models.arguments import from_wire, to_wire
from openreactor.session_host import (
    ConnectionLimitError,
    InProcessSessionHost,
    SessionBusyError,
    SessionClosedError,
    SessionRequest,
    UnknownConnectionError,
)
from openreactor.sessions.session import EndReason
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

SESSIONS_PATH = "/sessions"
CALL_PATH = "/sessions/{session_id}/{method}"
UPLOAD_PATH = "/uploads/{upload_id}"
DECLARED_LENGTH = "x-declared-length"
"""The header of ``PUT /uploads/{id}`` with the client's Content-Length (the relay streams chunked)."""


# -- errors ------------------------------------------------------------------------------------------

ERRORS: dict[str, type[Exception]] = {
    cls.__name__: cls
    for cls in (
        UnknownConnectionError,
        SessionClosedError,
        ConnectionLimitError,
        OfferError,
        UploadError,
        UnknownUploadError,
        UploadConflictError,
        UploadSizeError,
        UploadTooLargeError,
        UploadStorageError,
        UnresolvedUploadError,
    )
}
"""The session host's exceptions that travel to the caller by class name."""
FORWARDED: tuple[type[Exception], ...] = tuple(ERRORS.values())


def refused(name: str, message: str, status: int, end_reason: str | None = None) -> Response:
    body = {"error": name, "message": message}
    if end_reason:
        body["end_reason"] = end_reason  # a session that ended: why, for the caller's record
    return JSONResponse(body, status_code=status)


def refusal(exc: Exception) -> Response:
    """``exc`` as a refusal, named by its nearest class in :data:`ERRORS` (else its own name)."""
    name = next((c.__name__ for c in type(exc).__mro__ if c.__name__ in ERRORS), type(exc).__name__)
    status = 409 if isinstance(exc, SessionClosedError | ConnectionLimitError) else 400
    message = exc.message if isinstance(exc, UploadError) else str(exc)
    return refused(name, message, status, exc.end_reason if isinstance(exc, SessionClosedError) else None)


def result_of(response: httpx.Response) -> Any:
    """The ``result`` of a call, or the refusal raised as the exception it names."""
    if response.status_code < 300:
        return response.json().get("result")
    try:
        body = response.json()
        name, message = str(body.get("error")), str(body.get("message"))
        end_reason = body.get("end_reason")
    except ValueError:
        name, message, end_reason = "", response.text, None
    error = ERRORS.get(name)
    if error is None:
        raise SessionClosedError(f"worker refused: {message}")
    if error is SessionClosedError:
        raise SessionClosedError(message, end_reason if isinstance(end_reason, str) else None)
    raise error(message)


# -- records -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NoArgs:
    pass


@dataclass(frozen=True)
class ConnectionArgs:
    connection_id: int


@dataclass(frozen=True)
class OfferArgs:
    connection_id: int
    sdp: str
    mapping: list[TrackMapping] = field(default_factory=list)
    create: bool = False
    wire: WireVersion | None = None


@dataclass(frozen=True)
class CandidatesArgs:
    connection_id: int
    candidates: list[Any]


@dataclass(frozen=True)
class UploadArgs:
    name: str
    size: int
    mime_type: str


@dataclass(frozen=True)
class DurationArgs:
    seconds: float


@dataclass(frozen=True)
class StopArgs:
    reason: str = EndReason.CLIENT_ENDED


@dataclass(frozen=True)
class NewConnection:
    connection_id: int
    track_map: dict[str, Any]


@dataclass(frozen=True)
class SlotRecord:
    """An ``UploadSlot`` on the wire."""

    upload_id: str
    name: str
    mime_type: str
    size: int
    path: str
    issued_at: float | None = None

    @classmethod
    def of(cls, slot: UploadSlot) -> SlotRecord:
        return cls(slot.upload_id, slot.name, slot.mime_type, slot.size, str(slot.path), slot.issued_at)

    def slot(self) -> UploadSlot:
        issued_at = time.time() if self.issued_at is None else self.issued_at
        return UploadSlot(self.upload_id, self.name, self.mime_type, self.size, Path(self.path), issued_at)


T = TypeVar("T")


def encode(record: Any) -> Any:
    """A record (or any reply) as JSON."""
    return to_wire(record)


def decode(tp: type[T], raw: Any) -> T:
    """JSON as the record ``tp``."""
    return cast(T, from_wire(tp, raw))


async def start_session(
    client: httpx.AsyncClient, base_url: str, request: SessionRequest, *, who: str, timeout: float
) -> dict[str, Any]:
    """``POST /sessions`` at ``base_url`` (a worker process, or a worker node): the new session's
    descriptor; ``SessionBusyError`` naming ``who`` when it does not answer or refuses."""
    try:
        response = await client.post(f"{base_url}{SESSIONS_PATH}", json=encode(request), timeout=timeout)
    except httpx.HTTPError as exc:
        raise SessionBusyError(f"{who} did not answer") from exc
    if response.status_code != 201:
        raise SessionBusyError(f"{who} refused: {response.text[:200]}")
    descriptor: dict[str, Any] = response.json()
    return descriptor


# -- the session calls --------------------------------------------------------------------------------

A = TypeVar("A")
R = TypeVar("R")


@dataclass(frozen=True)
class Method(Generic[A, R]):
    """One ``SessionHost`` call: its args record, its reply's type, and how a host serves it."""

    name: str
    args: type[A]
    reply: Any
    """The reply's annotation (what ``from_wire`` turns the JSON ``result`` back into)."""
    serve: Callable[[InProcessSessionHost, A], Awaitable[R]]
    long_poll: bool = False
    """Waits as long as the session lives: no timeout."""

    def decode_args(self, raw: Any) -> A:
        return cast(A, from_wire(self.args, raw))

    def decode_reply(self, raw: Any) -> R:
        return cast(R, from_wire(self.reply, raw))


async def _create_connection(host: InProcessSessionHost, _: NoArgs) -> NewConnection:
    cid, track_map = await host.create_connection()
    return NewConnection(cid, track_map)


async def _create_upload(host: InProcessSessionHost, args: UploadArgs) -> SlotRecord:
    return SlotRecord.of(await host.create_upload(args.name, args.size, args.mime_type))


async def _wait_closed(host: InProcessSessionHost, _: NoArgs) -> str | None:
    await host.wait_closed()
    return host.end_reason


DESCRIBE = Method("describe", NoArgs, dict[str, Any], lambda host, _: host.describe())
CREATE_CONNECTION = Method("create_connection", NoArgs, NewConnection, _create_connection)
OFFER = Method(
    "offer",
    OfferArgs,
    str,
    lambda host, a: host.offer(a.connection_id, a.sdp, a.mapping, create=a.create, wire=a.wire),
)
ANSWER = Method("answer", ConnectionArgs, str | None, lambda host, a: host.answer(a.connection_id))
ADD_CANDIDATES = Method(
    "add_candidates", CandidatesArgs, None, lambda host, a: host.add_candidates(a.connection_id, a.candidates)
)
CREATE_UPLOAD = Method("create_upload", UploadArgs, SlotRecord, _create_upload)
LIMIT_DURATION = Method("limit_duration", DurationArgs, None, lambda host, a: host.limit_duration(a.seconds))
STOP = Method("stop", StopArgs, None, lambda host, a: host.stop(a.reason or EndReason.CLIENT_ENDED))
WAIT_CLOSED = Method("wait_closed", NoArgs, str | None, _wait_closed, long_poll=True)

METHODS: dict[str, Method[Any, Any]] = {
    m.name: m
    for m in (
        DESCRIBE,
        CREATE_CONNECTION,
        OFFER,
        ANSWER,
        ADD_CANDIDATES,
        CREATE_UPLOAD,
        LIMIT_DURATION,
        STOP,
        WAIT_CLOSED,
    )
}


def timeout_of(name: str, default: float) -> float | None:
    """How long one call of method ``name`` may take: ``None`` for a long poll, else ``default``."""
    method = METHODS.get(name)
    return None if method is not None and method.long_poll else default


Endpoint = Callable[..., Awaitable[Response]]


def routes(*, health: Endpoint, metrics: Endpoint, start: Endpoint, call: Endpoint, upload: Endpoint) -> list[Route]:
    """The internal API's routes, served by a worker process and a worker node alike."""
    return [
        Route("/health", health, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
        Route(SESSIONS_PATH, start, methods=["POST"]),
        Route(CALL_PATH, call, methods=["POST"]),
        Route(UPLOAD_PATH, upload, methods=["GET", "PUT"]),
    ]
