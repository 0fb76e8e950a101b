"""The session as the client knows it (PROTOCOL.md §2): its descriptor, parsed once into a
:class:`SessionDescriptor`, the part that outlives a connection (:class:`HeldSession`), and the
control-plane steps that obtain or end one (create and poll, adopt, start or join a local one).

Each step takes the client's :class:`~reactor_sdk.http_api.ApiClient`; none keeps state.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from reactor_sdk.connection import TrackSpec
from reactor_sdk.defaults import (
    SESSION_POLL_ATTEMPTS,
    SESSION_POLL_FIRST_DELAY_S,
    SESSION_POLL_MAX_DELAY_S,
    client_info,
)
from reactor_sdk.errors import (
    ConflictError,
    DecodeError,
    InvalidStateError,
    NotFoundError,
    RequestTimeoutError,
    SessionTerminalError,
)
from reactor_sdk.http_api import ApiClient

logger = logging.getLogger("reactor_sdk")

TERMINAL_STATES = frozenset({"INACTIVE", "CLOSED"})
"""Session states after which the session never serves a connection again."""


def _decode_error(message: str) -> DecodeError:
    return DecodeError(message, component="api", operation="connect")


@dataclass(frozen=True, slots=True)
class SessionDescriptor:
    """A session descriptor (``POST /sessions``, ``GET /sessions/{id}``, ``/start_session``,
    ``GET /session``) as the client reads it. :meth:`parse` is the only reader of the JSON."""

    session_id: str
    state: str | None
    """The state as sent (``"ACTIVE"``, …), or ``None`` when absent."""
    model_name: str | None
    """The model the server runs (``model.name``), when it says."""
    server_device: str | None
    """``server_info.device`` (``"cuda"``, ``"cpu"``…), when the server says."""
    capabilities: dict[str, Any] | None
    """The capabilities object, or ``None`` while the session has none yet (``{}`` counts as
    known for a session handed over at once, and as not yet known while polling)."""
    tracks: tuple[TrackSpec, ...] | None
    """The declared tracks (from ``capabilities.tracks``), ``None`` without capabilities."""
    transport_selected: bool
    """Whether ``selected_transport`` is set (the session can take an offer)."""

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> SessionDescriptor:
        """Read a descriptor; ``DecodeError`` without a ``session_id`` or with malformed
        capabilities (a non-object, a track that is not ``{name, kind, direction}``)."""
        sid = session_id_of(raw)
        state = raw.get("state")
        model = raw.get("model")
        served = model.get("name") if isinstance(model, Mapping) else None
        info = raw.get("server_info")
        device = info.get("device") if isinstance(info, Mapping) else None
        capabilities = raw.get("capabilities")
        if capabilities is not None and not isinstance(capabilities, dict):
            raise _decode_error("session descriptor has no capabilities")
        return cls(
            session_id=sid,
            state=state if isinstance(state, str) else None,
            model_name=served if isinstance(served, str) and served else None,
            server_device=device if isinstance(device, str) and device else None,
            capabilities=dict(capabilities) if capabilities is not None else None,
            tracks=_declared_tracks(capabilities) if capabilities is not None else None,
            transport_selected=bool(raw.get("selected_transport")),
        )

    @property
    def terminal(self) -> bool:
        return self.state is not None and self.state.upper() in TERMINAL_STATES

    def check_not_terminal(self) -> None:
        """``SessionTerminalError`` when the session has ended (``INACTIVE``/``CLOSED``)."""
        if self.terminal:
            raise SessionTerminalError(
                f"session {self.session_id} is {self.state}", component="api", operation="connect"
            )

    @property
    def ready(self) -> bool:
        """Whether capabilities and transport are known, so a connection can be offered."""
        return bool(self.capabilities) and self.transport_selected


def session_id_of(raw: Mapping[str, Any]) -> str:
    """The ``session_id`` of a descriptor; ``DecodeError`` without one."""
    sid = raw.get("session_id")
    if not isinstance(sid, str) or not sid:
        raise _decode_error("session descriptor has no session_id")
    return sid


def _declared_tracks(capabilities: Mapping[str, Any]) -> tuple[TrackSpec, ...]:
    raw_tracks = capabilities.get("tracks", [])
    if not isinstance(raw_tracks, list):
        raise _decode_error("capabilities.tracks is not a list")
    tracks: list[TrackSpec] = []
    for raw in raw_tracks:
        if not isinstance(raw, dict):
            raise _decode_error("a declared track is not an object")
        name, kind, direction = raw.get("name"), raw.get("kind"), raw.get("direction")
        if not isinstance(name, str) or not name or kind not in ("video", "audio"):
            raise _decode_error(f"invalid declared track {raw!r}")
        if direction not in ("recvonly", "sendonly"):
            raise _decode_error(f"invalid declared track {raw!r}")
        tracks.append(TrackSpec(name, kind, direction))
    return tuple(tracks)


@dataclass(slots=True)
class HeldSession:
    """What outlives a connection: the session, its declared tracks, our connection id."""

    session_id: str
    created: bool
    """Whether this client created the session (and so ends it on ``disconnect()``)."""
    tracks: tuple[TrackSpec, ...]
    capabilities: dict[str, Any] = field(default_factory=dict)
    connection_id: int | None = None

    @classmethod
    def of(cls, descriptor: SessionDescriptor, *, created: bool) -> HeldSession:
        """The session to connect to; ``DecodeError`` when the descriptor has no capabilities."""
        if descriptor.capabilities is None or descriptor.tracks is None:
            raise _decode_error("session descriptor has no capabilities")
        return cls(descriptor.session_id, created, descriptor.tracks, dict(descriptor.capabilities))

    @property
    def primary_video(self) -> str | None:
        """The output ``on_frame`` gets by default: ``main_video``, else the first video output."""
        outputs = [t.name for t in self.tracks if t.kind == "video" and t.direction == "recvonly"]
        if "main_video" in outputs:
            return "main_video"
        return outputs[0] if outputs else None


# ----------------------------------------------------------------------------------------------
# control-plane steps


def same_model(asked: str, served: str) -> bool:
    """Whether ``served`` is the model asked for; ``owner/name`` and a bare ``name`` match."""
    return asked == served or asked.rsplit("/", 1)[-1] == served.rsplit("/", 1)[-1]


def check_model(descriptor: SessionDescriptor, model_name: str, api_url: str) -> None:
    """``NotFoundError`` when the (local) server runs another model than ``model_name``."""
    served = descriptor.model_name
    if served is None or same_model(model_name, served):
        return
    raise NotFoundError(
        f"model {model_name!r} is not served at {api_url}: that server runs {served!r}. "
        f"Use Reactor({served!r}, ...), or start the server with: openreactor serve --model "
        f"{model_name}",
        component="api",
        operation="connect",
    )


def create_body(model_name: str) -> dict[str, Any]:
    """The body of ``POST /sessions``."""
    return {
        "model": {"name": model_name},
        "client_info": client_info(),
        "supported_transports": [{"protocol": "webrtc", "version": "1.0"}],
    }


async def create_session(api: ApiClient, model_name: str) -> str:
    """``POST /sessions`` (cloud): the new session's id (poll the session for its descriptor)."""
    return session_id_of(await api.create_session(create_body(model_name), operation="connect"))


async def poll_session(api: ApiClient, session_id: str) -> SessionDescriptor:
    """Poll ``GET /sessions/{id}`` until capabilities and transport are known."""
    delay = SESSION_POLL_FIRST_DELAY_S
    for attempt in range(SESSION_POLL_ATTEMPTS):
        if attempt:
            await asyncio.sleep(delay)
            delay = min(delay * 2, SESSION_POLL_MAX_DELAY_S)
        descriptor = SessionDescriptor.parse(await api.get_session(session_id, operation="connect"))
        descriptor.check_not_terminal()
        if descriptor.ready:
            return descriptor
    raise RequestTimeoutError(
        f"session {session_id} not ready after {SESSION_POLL_ATTEMPTS} polls",
        component="api",
        operation="connect",
    )


async def start_or_join_local(api: ApiClient, api_url: str) -> tuple[SessionDescriptor, bool]:
    """``POST /start_session``, or, when the server already runs its one session (409), join
    that one (``GET /session``). Returns ``(descriptor, whether we started it)``."""
    conflict: ConflictError | None = None
    for _ in range(2):
        try:
            return SessionDescriptor.parse(await api.start_local_session({}, operation="connect")), True
        except ConflictError as exc:
            conflict = exc
        try:
            raw = await api.get_local_session(operation="connect")
        except NotFoundError:
            continue  # the running session ended in between: start one
        descriptor = SessionDescriptor.parse(raw)
        descriptor.check_not_terminal()
        logger.info(
            "%s already runs session %s: joining it (disconnect() will leave it running)",
            api_url,
            descriptor.session_id,
        )
        return descriptor, False
    assert conflict is not None
    raise conflict


async def adopt_session(
    api: ApiClient, session_id: str, *, local: bool, model_name: str, api_url: str
) -> SessionDescriptor:
    """The descriptor of the running session ``session_id`` (``connect(session_id=…)``)."""
    if local:
        descriptor = SessionDescriptor.parse(await api.get_local_session(operation="connect"))
        if descriptor.session_id != session_id:
            raise InvalidStateError(
                f"the local runtime runs session {descriptor.session_id}, not {session_id}",
                operation="connect",
            )
        check_model(descriptor, model_name, api_url)
    else:
        descriptor = SessionDescriptor.parse(await api.get_session(session_id, operation="connect"))
    descriptor.check_not_terminal()
    return descriptor


async def end_session(api: ApiClient, session_id: str, *, local: bool, operation: str) -> None:
    """Stop the local runtime's session, or ``DELETE`` the cloud session (404 is fine)."""
    if local:
        await api.stop_local_session(operation=operation)
    else:
        await api.delete_session(session_id, operation=operation)
