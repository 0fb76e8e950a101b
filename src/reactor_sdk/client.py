"""``Reactor``: the Python client of a Reactor-compatible server (SDK-API §1).

Lifecycle (statuses in capitals)::

    DISCONNECTED ──connect()──► CONNECTING ──session exists──► WAITING ──peer + channels──► READY
         ▲                           │ failure (session deleted, error emitted, raised)      │
         └───────────────────────────┴──── disconnect() / unexpected loss / session ended ───┘
    DISCONNECTED (session held) ──reconnect()──► CONNECTING ──► READY

One task runs each connect or reconnect attempt; concurrent calls join it, and ``disconnect()``
cancels it (the callers then get ``AbortedError``). The session (id, declared tracks, connection
id) outlives connections: an unexpected loss or ``disconnect(recoverable=True)`` keeps it for
``reconnect()``.

Every connection that goes away (``disconnect()``, ``close()``, a loss, the server ending the
session, a reconnect replacing it) is closed through :meth:`Reactor._close_link`; ``disconnect()``,
``aclose()`` and the next connection attempt wait for those closes, so frame handlers of a closed
connection never run after them (a sync handler stuck past ``JOIN_TIMEOUT_S`` is reported in
``stuck_frame_handlers`` and a warning instead of being waited on forever).
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import math
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Concatenate, Literal, ParamSpec, TypeAlias, TypeVar, overload

import av
import httpx
import numpy as np
from aiortc.mediastreams import MediaStreamError

from reactor_protocol.errors import ErrorCode
from reactor_protocol.limits import PING_INTERVAL_S, REQUEST_TIMEOUT_S
from reactor_protocol.messages import (
    Channel,
    ClientStats,
    Command,
    Envelope,
    ErrorMessage,
    FileUploaded,
    Kind,
    ModelMessage,
    Moderation,
    PauseTrack,
    Ping,
    PublishTrack,
    PublishTrackResponse,
    ResumeTrack,
    SessionEnded,
    UnpublishTrack,
    UploadRef,
)
from reactor_rtc import set_host_addresses
from reactor_sdk.connection import PeerLink, RequestIds, TrackSpec, ice_servers_from_json
from reactor_sdk.defaults import CONNECT_READY_TIMEOUT_S, DEFAULT_API_URL, client_info
from reactor_sdk.defaults import SESSION_POLL_ATTEMPTS as _POLL_ATTEMPTS
from reactor_sdk.defaults import SESSION_POLL_FIRST_DELAY_S as _POLL_FIRST
from reactor_sdk.defaults import SESSION_POLL_MAX_DELAY_S as _POLL_MAX
from reactor_sdk.errors import (
    AbortedError,
    ConflictError,
    DecodeError,
    DisconnectedError,
    InvalidStateError,
    NotFoundError,
    ReactorError,
    RequestTimeoutError,
    SessionTerminalError,
)
from reactor_sdk.events import CONTROL_EVENTS, EventEmitter, EventName, Handler
from reactor_sdk.file_ref import FileRef
from reactor_sdk.frame_reader import Frame, FrameSinks, FrameStream, StuckFrameHandler
from reactor_sdk.http_api import ApiClient
from reactor_sdk.stats import REPORT_INTERVAL_S, ConnectionStats, client_stats_report
from reactor_sdk.status import ReactorStatus
from reactor_sdk.tracks import Completed, Track, TrackDirection, TrackKind, TrackList
from reactor_sdk.uploads import read_upload, upload_mime_type

logger = logging.getLogger("reactor_sdk")

F = TypeVar("F", bound=Callable[..., Any])
P = ParamSpec("P")
R = TypeVar("R")

JwtSource: TypeAlias = str | Callable[[], str | Awaitable[str]]
StatusFilter: TypeAlias = ReactorStatus | str | Iterable[ReactorStatus | str]

_TERMINAL_STATES = frozenset({"INACTIVE", "CLOSED"})
_TOKEN_REFRESH_MARGIN_S = 60.0


def _labels_errors(
    method: Callable[Concatenate[Reactor, P], Awaitable[R]],
) -> Callable[Concatenate[Reactor, P], Coroutine[Any, Any, R]]:
    """Stamp the server's device on a ``ReactorError`` leaving ``method`` (for ``str(err)``)."""

    @functools.wraps(method)
    async def wrapper(self: Reactor, /, *args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await method(self, *args, **kwargs)
        except ReactorError as exc:
            self._label(exc)
            raise

    return wrapper


@dataclass(slots=True)
class _Session:
    """What outlives a connection: the session, its declared tracks, our connection id."""

    session_id: str
    created: bool
    """Whether this client created the session (and so ends it on ``disconnect()``)."""
    tracks: tuple[TrackSpec, ...]
    capabilities: dict[str, Any] = field(default_factory=dict)
    connection_id: int | None = None


class Reactor:
    """A client of one model session: connect, receive frames, send commands.

    ::

        async with Reactor("your-model-name", local=True) as reactor:
            reply = await reactor.send_command("set_prompt", {"prompt": "a forest at dawn"})

    Raises ``ValueError`` at construction with neither ``api_key`` nor ``jwt`` and ``local=False``.
    ``ice_host_addresses`` (ours) pins the ICE host candidates process-wide; it is needed on
    loopback, which aioice otherwise skips.

    Local mode (``local=True``): ``connect()`` starts the server's one session
    (``POST /start_session``). If the server serves another model it raises ``NotFoundError``
    naming both models and the URL (and stops the session it just started). If another client
    already runs the session (the server answers 409), ``connect()`` joins that session as one
    more client (``GET /session``): it sees the model's output and may send commands, and its
    ``disconnect()`` leaves the session running. Only the client that started the session ends it
    on ``disconnect()``, which ends it for every client joined to it.
    """

    def __init__(
        self,
        model_name: str,
        api_key: str | None = None,
        api_url: str = DEFAULT_API_URL,
        local: bool = False,
        *,
        jwt: JwtSource | None = None,
        auto_resume_tracks: bool = True,
        max_session_duration_seconds: int | None = None,
        generation: Literal["streamed", "stepped"] = "streamed",
        step_timeout: float | None = None,
        ice_host_addresses: Sequence[str] | None = None,
    ) -> None:
        if not isinstance(model_name, str) or not model_name:
            raise ValueError("model_name must be a non-empty string")
        if not local and api_key is None and jwt is None:
            raise ValueError(
                "Reactor needs credentials: pass api_key=… (or jwt=…) for a hosted API, "
                "or local=True to talk to a local runtime"
            )
        if generation not in ("streamed", "stepped"):
            raise ValueError(f"generation must be 'streamed' or 'stepped', not {generation!r}")
        if step_timeout is not None and generation != "stepped":
            raise ValueError("step_timeout applies only to generation='stepped'")
        if generation == "stepped":
            raise NotImplementedError("stepped generation is not supported by this SDK yet")
        if max_session_duration_seconds is not None and not 1 <= max_session_duration_seconds <= 86400:
            raise ValueError("max_session_duration_seconds must be between 1 and 86400")
        if not isinstance(api_url, str) or not api_url.startswith(("http://", "https://")):
            raise ValueError(f"api_url must be an http(s) URL, not {api_url!r}")
        if ice_host_addresses is not None:
            set_host_addresses(list(ice_host_addresses))

        self.model_name = model_name
        self.api_url = api_url.rstrip("/")
        self.local = local
        self.auto_resume_tracks = auto_resume_tracks
        self.max_session_duration_seconds = max_session_duration_seconds
        self._api_key = api_key
        self._jwt = jwt
        self._generation = generation

        self._status = ReactorStatus.DISCONNECTED
        self._started = False
        self._closed = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._session: _Session | None = None
        self._link: PeerLink | None = None
        self._closing_links: set[PeerLink] = set()
        self._attempt: asyncio.Task[None] | None = None
        self._heartbeat: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[Any]] = set()
        self._teardown_lock: asyncio.Lock | None = None
        self._events = EventEmitter()
        self._sinks = FrameSinks()
        self._request_ids = RequestIds()
        self._minted: tuple[str, str, float | None] | None = None  # (scope, jwt, expires_at)
        self._adopting: str | None = None
        self._last_error: ReactorError | None = None
        self._server_device: str | None = None  # server_info.device of the last descriptor
        self._tracks: dict[str, Track] = {}
        self._declared: tuple[TrackSpec, ...] | None = None
        # Tests replace the HTTP transport below the SDK's HTTP seam (httpx.MockTransport).
        self._http_transport: httpx.AsyncBaseTransport | None = None

    # ==========================================================================================
    # state

    @property
    def status(self) -> ReactorStatus:
        """The current :class:`ReactorStatus`."""
        return self._status

    def get_status(self) -> ReactorStatus:
        return self._status

    @property
    def session_id(self) -> str | None:
        """The session's id; kept across unexpected drops and ``disconnect(recoverable=True)``."""
        return self._session.session_id if self._session else None

    def get_session_id(self) -> str | None:
        return self.session_id

    @property
    def generation(self) -> Literal["streamed", "stepped"]:
        return self._generation

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The event loop that called ``connect()``; for ``asyncio.run_coroutine_threadsafe``
        from a sync frame handler. Raises ``InvalidStateError`` before ``connect()``."""
        if self._loop is None:
            raise InvalidStateError("the client has not connected yet; reactor.loop is set by connect()")
        return self._loop

    @property
    def closed(self) -> bool:
        return self._closed

    def get_capabilities(self) -> dict[str, Any] | None:
        """The session's capabilities (declared tracks, …), or ``None`` without a session."""
        return dict(self._session.capabilities) if self._session else None

    def get_last_error(self) -> ReactorError | None:
        return self._last_error

    @property
    def stuck_frame_handlers(self) -> tuple[StuckFrameHandler, ...]:
        """Sync frame handlers that were still running when their connection closed.

        Closing waits up to ``JOIN_TIMEOUT_S`` (5 s) for a running sync handler; one that has not
        returned by then is logged as a warning (track, handler, thread) and listed here, and its
        delivery thread is abandoned (it delivers nothing more and ends when the handler returns).
        """
        return tuple(self._sinks.stuck)

    # ==========================================================================================
    # events

    @overload
    def on_status(self, arg: F, /) -> F: ...

    @overload
    def on_status(self, arg: StatusFilter | None = None, /) -> Callable[[F], F]: ...

    def on_status(self, arg: Any = None, /) -> Any:
        """Register a status handler: ``@on_status`` (every change), ``@on_status(S)`` (one
        status), ``@on_status([S1, S2])`` (any of them). Handlers receive the new status.

        Registering while the client is connecting or connected replays the current status once
        if it matches. Returns the function unchanged.
        """
        if callable(arg) and not isinstance(arg, str):
            self._add_status_handler(arg, None)
            return arg
        statuses = None if arg is None else _status_set(arg)

        def decorator(fn: F) -> F:
            self._add_status_handler(fn, statuses)
            return fn

        return decorator

    def _add_status_handler(self, fn: Handler, statuses: frozenset[ReactorStatus] | None) -> None:
        self._events.add("status_changed", fn, statuses)
        if not self._started or self._closed:
            return
        status = self._status
        if statuses is not None and status not in statuses:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        loop.call_soon(self._replay_status, fn, status)

    def _replay_status(self, fn: Handler, status: ReactorStatus) -> None:
        # Skip if the status moved on meanwhile (the handler then saw the newer one) or the
        # handler was removed.
        if self._closed or self._status is not status:
            return
        if any(lst.fn is fn for lst in self._events.listeners("status_changed")):
            self._events.call("status_changed", fn, status)

    def on_error(self, fn: F) -> F:
        """Register an error handler (sync or async); it receives a :class:`ReactorError`."""
        self._events.add("error", fn)
        return fn

    def on_message(self, fn: F) -> F:
        """Register a handler for every model message, ``{"type": str, "data": dict | None}``."""
        self._events.add("message", fn)
        return fn

    def on_runtime_message(self, fn: F) -> F:
        """Register a handler for platform notices (``moderation``, ``sessionEnded``, …)."""
        self._events.add("runtime_message", fn)
        return fn

    on_internal_message = on_runtime_message

    @overload
    def on_frame(self, arg: F, /) -> F: ...

    @overload
    def on_frame(self, arg: str | None = None, /) -> Callable[[F], F]: ...

    def on_frame(self, arg: Any = None, /) -> Any:
        """Register a frame handler for the primary video track (``@on_frame``) or for a named
        track (``@on_frame("depth_map")``). Frames are RGB ``(H, W, 3)`` uint8 arrays owned by
        the handler. Sync handlers run on a per-track delivery thread, async ones on the loop;
        a busy handler gets the newest frame next (the others are counted as dropped).
        """
        if callable(arg) and not isinstance(arg, str):
            self._sinks.add_handler(None, arg)
            return arg
        track = arg

        def decorator(fn: F) -> F:
            self._sinks.add_handler(track, fn)
            return fn

        return decorator

    def off_frame(self, fn: Callable[..., Any]) -> None:
        """Remove a frame handler from every track."""
        self._sinks.remove_handler(fn)

    def on(self, event: EventName, fn: F) -> Callable[[], None]:
        """Register ``fn`` for ``event``; returns a function that unregisters it."""
        if event == "frame":
            self._sinks.add_handler(None, fn)
        elif event == "status_changed":
            self._add_status_handler(fn, None)
        elif event in CONTROL_EVENTS:
            self._events.add(event, fn)
        else:
            raise ValueError(f"unknown event {event!r}; expected one of {sorted(CONTROL_EVENTS | {'frame'})}")
        return lambda: self.off(event, fn)

    def off(self, event: EventName, fn: Callable[..., Any]) -> None:
        """Unregister ``fn`` from ``event``."""
        if event == "frame":
            self._sinks.remove_handler(fn)
        else:
            self._events.remove(event, fn)

    @overload
    def on_track(self, arg: F, /) -> F: ...

    @overload
    def on_track(self, arg: str, /) -> Callable[[F], F]: ...

    def on_track(self, arg: Any, /) -> Any:
        """``@on_track``: every output track, with its :class:`Track`, whenever it starts on a
        connection (again after each reconnect). ``@on_track("main_audio")``: one track by name."""
        if callable(arg) and not isinstance(arg, str):
            self._events.add("track_received", arg)
            return arg
        if not isinstance(arg, str):
            raise TypeError("on_track takes a handler or a track name")
        name = arg

        def decorator(fn: F) -> F:
            self._events.add("track_received", fn, where=lambda track: track.name == name)
            return fn

        return decorator

    def frames(self, track: str | None = None) -> FrameStream:
        """``async for frame in reactor.frames():`` — newest-wins frames of the primary (or a
        named) video track until ``aclose()``, ``disconnect()`` or ``close()``."""
        stream = FrameStream(track, self._sinks.remove_stream)
        self._sinks.add_stream(stream)
        return stream

    def _set_status(self, status: ReactorStatus) -> None:
        if status is self._status:
            return
        self._status = status
        self._events.emit("status_changed", status)

    def _label(self, error: ReactorError) -> None:
        """Tell ``error`` what the server computes on, so ``str(error)`` names the side truly."""
        if error.server_device is None:
            error.server_device = self._server_device

    def _note_server(self, descriptor: Mapping[str, Any]) -> None:
        info = descriptor.get("server_info")
        device = info.get("device") if isinstance(info, Mapping) else None
        if isinstance(device, str) and device:
            self._server_device = device

    def _emit_error(self, error: ReactorError) -> None:
        self._label(error)
        self._last_error = error
        self._events.emit("error", error)

    def _set_session(self, session: _Session | None) -> None:
        before = self.session_id
        self._session = session
        if self.session_id != before:
            self._events.emit("session_id_changed", self.session_id)

    # ==========================================================================================
    # lifecycle

    async def __aenter__(self) -> Reactor:
        await self.connect()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            await self.disconnect()
        except Exception:
            # Never mask the body's exception.
            logger.exception("disconnect() failed while leaving the context")
        finally:
            await self.aclose()

    def _check_open(self, operation: str) -> None:
        if self._closed:
            raise InvalidStateError(f"cannot {operation}: the client was closed", operation=operation)

    def _bind_loop(self) -> asyncio.AbstractEventLoop:
        loop = asyncio.get_running_loop()
        if self._loop is None:
            self._loop = loop
        elif self._loop is not loop and not self._loop.is_closed():
            raise InvalidStateError("the client is bound to another event loop")
        else:
            self._loop = loop
        if self._teardown_lock is None:
            self._teardown_lock = asyncio.Lock()
        return loop

    @_labels_errors
    async def connect(self, *, session_id: str | None = None, connection_id: int | None = None) -> None:
        """Create a session (or adopt ``session_id``) and connect; returns at ``READY``.

        Idempotent: while connecting or ready it joins the same attempt. On failure the error is
        emitted and raised, and a session this call created is deleted. While a recoverable
        session is held it raises ``InvalidStateError`` (use ``reconnect()`` or ``disconnect()``).
        In local mode it joins the server's running session when another client started it, and
        raises ``NotFoundError`` when the server serves another model (see the class docstring).
        """
        self._check_open("connect")
        loop = self._bind_loop()
        assert self._teardown_lock is not None
        async with self._teardown_lock:
            pass  # let a running disconnect() finish first
        if self._attempt is not None and not self._attempt.done():
            return await self._join(self._attempt, "connect")
        if self._status is ReactorStatus.READY and self._link is not None:
            return
        if self._session is not None:
            raise InvalidStateError(
                f"session {self._session.session_id} is still held; use reconnect() or disconnect() first",
                operation="connect",
            )
        self._started = True
        task = loop.create_task(self._connect_flow(session_id, connection_id), name="reactor_sdk:connect")
        self._attempt = task
        await self._await_attempt(task, "connect")

    @_labels_errors
    async def reconnect(self, *, force: bool = False) -> None:
        """Reconnect to the held session (same session, same connection id, fresh offer).

        Does nothing when ``READY`` unless ``force``. Raises ``InvalidStateError`` without a held
        session or after ``close()``; on failure emits the error and raises it.
        """
        self._check_open("reconnect")
        loop = self._bind_loop()
        assert self._teardown_lock is not None
        async with self._teardown_lock:
            pass
        if self._attempt is not None and not self._attempt.done():
            return await self._join(self._attempt, "reconnect")
        if self._status is ReactorStatus.READY and self._link is not None and not force:
            return
        if self._session is None:
            raise InvalidStateError("no session to reconnect to; call connect() first", operation="reconnect")
        self._started = True
        # The attempt is registered before the first await, so concurrent reconnect() calls
        # (forced or not) join this one instead of racing it with overlapping re-offers.
        task = loop.create_task(self._replace_link_and_reconnect(), name="reactor_sdk:reconnect")
        self._attempt = task
        await self._await_attempt(task, "reconnect")

    async def _replace_link_and_reconnect(self) -> None:
        if self._link is not None:
            await self._drop_link(
                lambda: AbortedError("connection replaced by reconnect()", operation="reconnect")
            )
        await self._reconnect_flow()

    async def _await_attempt(self, task: asyncio.Task[None], operation: str, *, shield: bool = False) -> None:
        """Await a connect/reconnect attempt; its cancellation by ``disconnect()`` is ``AbortedError``.

        ``shield`` is for callers that join an attempt they did not start: their own cancellation
        must not cancel it for the others.
        """
        try:
            await (asyncio.shield(task) if shield else task)
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if task.cancelled() and (current is None or not current.cancelling()):
                raise AbortedError(
                    f"{operation}() was cancelled by disconnect()", operation=operation
                ) from None
            raise

    async def _join(self, task: asyncio.Task[None], operation: str) -> None:
        await self._await_attempt(task, operation, shield=True)

    async def disconnect(self, recoverable: bool = False) -> None:
        """Close the connection and set ``DISCONNECTED``; returns once the frame delivery threads
        have ended, so no frame handler runs after it (a stuck one is reported, see
        :attr:`stuck_frame_handlers`).

        With ``recoverable=False`` a session this client created is ended on the server and the
        session id is cleared; with ``recoverable=True`` the session is kept for ``reconnect()``
        (the server holds it for 30 s). Safe to call repeatedly; emits no error; in-flight
        requests fail with ``AbortedError``.
        """
        if self._closed:
            return
        self._bind_loop()
        assert self._teardown_lock is not None
        async with self._teardown_lock:
            attempt = self._attempt
            if attempt is not None and not attempt.done():
                attempt.cancel()
                await asyncio.gather(attempt, return_exceptions=True)
            await self._drop_link(lambda: AbortedError("disconnect() was called", operation="disconnect"))
            await self._settle_links()
            self._set_status(ReactorStatus.DISCONNECTED)
            session = self._session
            if session is None or recoverable:
                return
            self._set_session(None)
            self._sinks.end_streams()
            self._release_inputs()
            if session.created:
                await self._end_session(session)

    async def _end_session(self, session: _Session) -> None:
        try:
            async with self._api() as api:
                if self.local:
                    await api.stop_local_session(operation="disconnect")
                else:
                    await api.delete_session(session.session_id, operation="disconnect")
        except ReactorError as exc:
            logger.warning("could not end session %s: %s", session.session_id, exc)

    def close(self) -> None:
        """Tear the client down synchronously: pending calls fail with ``AbortedError``, handler
        tasks are cancelled, delivery threads are joined (each for up to ``JOIN_TIMEOUT_S``; this
        blocks the caller), listeners dropped. A connection still open is closed in the background
        (``await reactor.aclose()`` waits for it, and joins the threads without blocking the loop)."""
        if self._closed:
            return
        for link in self._shutdown():
            link.close_media_now()

    async def aclose(self) -> None:
        """``close()`` without blocking the loop, then wait for the background teardown to finish
        (connections closed, delivery threads ended or reported stuck)."""
        if not self._closed:
            self._shutdown()
        current = asyncio.current_task()
        tasks = [t for t in (*self._background, *self._events.cancel_tasks()) if t is not current]
        for task in (self._attempt, self._heartbeat):
            if task is not None and task is not current:
                tasks.append(task)
        if tasks:
            await asyncio.wait(tasks, timeout=10.0)

    def _shutdown(self) -> list[PeerLink]:
        """The part of ``close()`` that never blocks; returns the connections being closed."""
        self._closed = True
        for task in (self._attempt, self._heartbeat):
            if task is not None and not task.done():
                task.cancel()
        link, self._link = self._link, None
        if link is not None:
            link.closing = True
            link.fail_pending(lambda: AbortedError("the client was closed"))
            link.stop_delivery()
            self._closing_links.add(link)
        links = list(self._closing_links)
        if self._loop is not None and not self._loop.is_closed():
            for closing in links:
                self._own(self._loop.create_task(self._close_link(closing), name="reactor_sdk:close-link"))
        self._set_status(ReactorStatus.DISCONNECTED)
        self._release_inputs()
        self._sinks.clear()
        self._events.cancel_tasks()
        self._events.clear()
        return links

    def _own(self, task: asyncio.Task[Any]) -> None:
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # ------------------------------------------------------------------------------------------
    # connect / reconnect flows

    def _api(self) -> ApiClient:
        return ApiClient(
            self.api_url,
            token=None if self.local else self._bearer,
            verify_tls=not self.local,
            transport=self._http_transport,
        )

    async def _connect_flow(self, adopt_id: str | None, connection_id: int | None) -> None:
        self._set_status(ReactorStatus.CONNECTING)
        created: str | None = None  # the id of a session we created, for cleanup
        try:
            async with self._api() as api:
                try:
                    if adopt_id is not None:
                        self._adopting = adopt_id
                        descriptor = await self._adopt(api, adopt_id)
                    elif self.local:
                        descriptor, started = await self._start_or_join_local(api)
                        if started:
                            created = "local"
                        self._check_model(descriptor)  # a session we started is stopped below
                    else:
                        descriptor = await api.create_session(self._create_body(), operation="connect")
                        created = _descriptor_id(descriptor)
                        self._set_status(ReactorStatus.WAITING)
                        descriptor = await self._poll_session(api, created, descriptor)
                    self._note_server(descriptor)
                    session = _session_from(descriptor, created=created is not None)
                    session.connection_id = connection_id
                    self._set_session(session)
                    self._sync_tracks(session.tracks)
                    self._events.emit("capabilities_received", dict(session.capabilities))
                    self._sinks.primary = _primary_video(session.tracks)
                    self._set_status(ReactorStatus.WAITING)
                    await self._establish(api, session, reoffer=False, operation="connect")
                except BaseException:
                    await self._abandon_attempt()
                    if created is not None:
                        await self._delete_created(api, created)
                    self._set_session(None)
                    raise
                finally:
                    self._adopting = None
        except ReactorError as exc:
            exc.operation = exc.operation or "connect"
            self._set_status(ReactorStatus.DISCONNECTED)
            self._emit_error(exc)
            raise
        except BaseException:
            self._set_status(ReactorStatus.DISCONNECTED)
            raise

    async def _reconnect_flow(self) -> None:
        self._set_status(ReactorStatus.CONNECTING)
        session = self._session
        assert session is not None
        try:
            async with self._api() as api:
                try:
                    await self._establish(
                        api, session, reoffer=session.connection_id is not None, operation="reconnect"
                    )
                except BaseException:
                    await self._abandon_attempt()
                    raise
        except ReactorError as exc:
            exc.operation = "reconnect"
            self._set_status(ReactorStatus.DISCONNECTED)
            if exc.code in (ErrorCode.SESSION_TERMINAL, ErrorCode.NOT_FOUND) and self._session is session:
                self._set_session(None)
            self._emit_error(exc)
            raise
        except BaseException:
            self._set_status(ReactorStatus.DISCONNECTED)
            raise

    async def _abandon_attempt(self) -> None:
        await self._drop_link(lambda: AbortedError("connection attempt abandoned"))

    async def _delete_created(self, api: ApiClient, created: str) -> None:
        try:
            if self.local:
                await api.stop_local_session(operation="connect")
            else:
                await api.delete_session(created, operation="connect")
        except ReactorError as exc:
            logger.warning("could not delete the session of a failed connect: %s", exc)

    async def _start_or_join_local(self, api: ApiClient) -> tuple[dict[str, Any], bool]:
        """``POST /start_session``, or, when the server already runs its one session (409), join
        that one (``GET /session``). Returns ``(descriptor, whether we started it)``."""
        conflict: ConflictError | None = None
        for _ in range(2):
            try:
                return await api.start_local_session({}, operation="connect"), True
            except ConflictError as exc:
                conflict = exc
            try:
                descriptor = await api.get_local_session(operation="connect")
            except NotFoundError:
                continue  # the running session ended in between: start one
            _check_not_terminal(descriptor)
            logger.info(
                "%s already runs session %s: joining it (disconnect() will leave it running)",
                self.api_url,
                _descriptor_id(descriptor),
            )
            return descriptor, False
        assert conflict is not None
        raise conflict

    def _check_model(self, descriptor: Mapping[str, Any]) -> None:
        """``NotFoundError`` when the local server runs another model than ``model_name``."""
        model = descriptor.get("model")
        served = model.get("name") if isinstance(model, Mapping) else None
        if not isinstance(served, str) or not served or _same_model(self.model_name, served):
            return
        raise NotFoundError(
            f"model {self.model_name!r} is not served at {self.api_url}: that server runs {served!r}. "
            f"Use Reactor({served!r}, ...), or start the server with: openreactor serve --model "
            f"{self.model_name}",
            component="api",
            operation="connect",
        )

    async def _adopt(self, api: ApiClient, session_id: str) -> dict[str, Any]:
        if self.local:
            descriptor = await api.get_local_session(operation="connect")
            if _descriptor_id(descriptor) != session_id:
                raise InvalidStateError(
                    f"the local runtime runs session {_descriptor_id(descriptor)}, not {session_id}",
                    operation="connect",
                )
            self._check_model(descriptor)
        else:
            descriptor = await api.get_session(session_id, operation="connect")
        _check_not_terminal(descriptor)
        return descriptor

    def _create_body(self) -> dict[str, Any]:
        return {
            "model": {"name": self.model_name},
            "client_info": client_info(),
            "supported_transports": [{"protocol": "webrtc", "version": "1.0"}],
        }

    async def _poll_session(
        self, api: ApiClient, session_id: str, descriptor: dict[str, Any]
    ) -> dict[str, Any]:
        """Poll ``GET /sessions/{id}`` until capabilities and transport are known."""
        delay = _POLL_FIRST
        for attempt in range(_POLL_ATTEMPTS):
            if attempt:
                await asyncio.sleep(delay)
                delay = min(delay * 2, _POLL_MAX)
            descriptor = await api.get_session(session_id, operation="connect")
            _check_not_terminal(descriptor)
            if descriptor.get("capabilities") and descriptor.get("selected_transport"):
                return descriptor
        raise RequestTimeoutError(
            f"session {session_id} not ready after {_POLL_ATTEMPTS} polls",
            component="api",
            operation="connect",
        )

    async def _establish(self, api: ApiClient, session: _Session, *, reoffer: bool, operation: str) -> None:
        """Signalling for one connection, then wait for ready, resume outputs, ping, READY."""
        await self._settle_links()  # no frame of an old connection is delivered beside the new one
        sid = session.session_id
        servers = await api.ice_servers(sid, operation=operation)
        if session.connection_id is None:
            session.connection_id = await api.create_connection(sid, operation=operation)
        cid = session.connection_id
        link = PeerLink(
            session.tracks,
            ice_servers_from_json(servers),
            request_ids=self._request_ids,
            sinks=self._sinks,
            on_envelope=self._on_envelope,
            on_lost=self._on_link_lost,
            on_track=self._on_remote_track,
        )
        self._link = link
        sdp, mapping = await link.create_offer()
        for entry in mapping:
            track = self._tracks.get(entry["name"])
            if track is not None and track.direction is TrackDirection.SENDONLY:
                track.mid = entry["mid"]
        await api.send_offer(
            sid,
            cid,
            {"sdp_offer": sdp, "client_info": client_info(), "track_mapping": mapping},
            reoffer=reoffer,
            operation=operation,
        )
        # aiortc gathered every candidate into the offer: nothing to trickle but the end.
        await api.send_candidates(sid, cid, [], final=True, operation=operation)
        answer = await api.wait_answer(sid, cid, operation=operation)
        if answer.connection_id is not None:
            session.connection_id = answer.connection_id
        await link.accept_answer(answer.sdp)
        await link.wait_ready(CONNECT_READY_TIMEOUT_S)
        for spec in session.tracks:
            track = self._tracks.get(spec.name)
            if spec.direction == "recvonly" and track is not None and not track.paused:
                link.notify(Channel.CONTROL, ResumeTrack(spec.name), operation=operation)
        link.notify(Channel.CONTROL, Ping(), operation=operation)
        link.mark_ready()
        self._start_heartbeat(link)
        self._set_status(ReactorStatus.READY)
        if any(t.wanted for t in self._tracks.values()):
            assert self._loop is not None
            self._own(self._loop.create_task(self._republish(link), name="reactor_sdk:republish"))

    async def _drop_link(self, error: Callable[[], ReactorError]) -> None:
        """Detach and close the current connection (keeps the session)."""
        heartbeat, self._heartbeat = self._heartbeat, None
        if heartbeat is not None and heartbeat is not asyncio.current_task():
            heartbeat.cancel()
        link, self._link = self._link, None
        self._inputs_down()
        if link is not None:
            await self._close_link(link, error)

    async def _close_link(self, link: PeerLink, error: Callable[[], ReactorError] | None = None) -> None:
        """Close ``link`` (readers stopped, delivery threads joined). It stays in
        ``_closing_links`` until closed, so a caller cancelled meanwhile leaves it to
        :meth:`_settle_links`."""
        self._closing_links.add(link)
        try:
            await link.close(error)
        finally:
            if link.closed:
                self._closing_links.discard(link)

    async def _settle_links(self) -> None:
        """Wait until every connection this client let go of is closed."""
        while self._closing_links:
            links = list(self._closing_links)
            await asyncio.gather(*(self._close_link(link) for link in links), return_exceptions=True)

    # ------------------------------------------------------------------------------------------
    # auth (cloud)

    async def _bearer(self) -> str:
        """The bearer token for the next request: the caller's JWT, or one minted from the key."""
        jwt = self._jwt
        if isinstance(jwt, str):
            return jwt
        if jwt is not None:
            value = jwt()
            if inspect.isawaitable(value):
                value = await value
            if not isinstance(value, str) or not value:
                raise InvalidStateError("the jwt callable returned no token", component="api")
            return value
        assert self._api_key is not None
        # Creating a session mints a model-scoped token; adopting one a token bound to it.
        adopted = self._adopting or (
            self._session.session_id if self._session and not self._session.created else None
        )
        scope = f"session:{adopted}" if adopted else "model"
        minted = self._minted
        if minted is not None and minted[0] == scope:
            expires_at = minted[2]
            if expires_at is None or time.time() < expires_at - _TOKEN_REFRESH_MARGIN_S:
                return minted[1]
        body = self._token_body(scope)
        api = ApiClient(self.api_url, token=None, transport=self._http_transport)
        try:
            token, expires_at = await api.mint_token(self._api_key, body)
        finally:
            await api.aclose()
        self._minted = (scope, token, expires_at)
        return token

    def _token_body(self, scope: str) -> dict[str, Any]:
        if scope.startswith("session:"):
            detail: dict[str, Any] = {
                "type": "session",
                "resources": {"models": {"all": True}, "sessions": {"bind": [scope.split(":", 1)[1]]}},
            }
        else:
            detail = {"type": "session", "resources": {"models": {"match": [self.model_name]}}}
            if self.max_session_duration_seconds is not None:
                detail["constraints"] = {"max_session_duration_seconds": self.max_session_duration_seconds}
        return {"authorization_details": [detail]}

    # ------------------------------------------------------------------------------------------
    # running connection

    def _start_heartbeat(self, link: PeerLink) -> None:
        assert self._loop is not None
        self._heartbeat = self._loop.create_task(self._heartbeat_loop(link), name="reactor_sdk:heartbeat")

    async def _heartbeat_loop(self, link: PeerLink) -> None:
        # The first ping went out with the resumes; then one every 10 s (server timeout: 20 s).
        # A client-stats report goes out every 5 s, the first 5 s after ready.
        ticks_per_ping = max(1, round(PING_INTERVAL_S / REPORT_INTERVAL_S))
        tick = 0
        while True:
            await asyncio.sleep(min(REPORT_INTERVAL_S, PING_INTERVAL_S))
            tick += 1
            if link is not self._link or link.closing:
                return
            try:
                if tick % ticks_per_ping == 0:
                    link.notify(Channel.CONTROL, Ping())
            except DisconnectedError:
                return  # loss detection reports it
            except ReactorError as exc:
                self._emit_error(exc)
            await self._send_client_stats(link)

    async def _send_client_stats(self, link: PeerLink) -> None:
        try:
            stats = await link.stats(link.report_sampler)
            if link is self._link and not link.closing:
                link.notify(Channel.CONTROL, ClientStats(client_stats_report(stats, self.paused_tracks)))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # telemetry only: never disturbs the connection
            logger.debug("client stats report not sent: %r", exc)

    @_labels_errors
    async def get_stats(self) -> ConnectionStats:
        """Statistics of the live connection, computed locally (nothing is sent). Bitrates come
        from byte counts between two calls (``None`` on the first call and under 200 ms apart);
        ``inbound[i].frames_dropped_by_handler`` counts newest-wins drops. Requires ``READY``."""
        link = self._require_ready("get_stats")
        return await link.stats(link.user_sampler)

    def _on_envelope(self, link: PeerLink, env: Envelope) -> None:
        if link is not self._link:
            return  # a stale transport
        payload = env.payload
        if isinstance(payload, ModelMessage):
            self._events.emit("message", {"type": payload.type, "data": payload.data})
        elif isinstance(payload, SessionEnded):
            self._on_session_ended(link, payload.reason)
        elif isinstance(payload, ErrorMessage):
            if env.kind is Kind.RESPONSE and self._request_ids.issued(env.request_id):
                logger.debug("dropping a late error reply to %s: %s", env.request_id, payload.code)
                return
            self._emit_error(ReactorError(payload.code, payload.message, component="gpu"))
        elif isinstance(payload, Moderation):
            self._events.emit(
                "runtime_message",
                {
                    "type": "moderation",
                    "data": {
                        "action": payload.action,
                        "input_kind": payload.input_kind,
                        "command": payload.command,
                        "categories": list(payload.categories),
                        "message": payload.message,
                    },
                },
            )
        elif env.kind is Kind.RESPONSE:
            logger.debug("dropping a late reply to %s", env.request_id)
        else:
            logger.debug("ignoring %s on %s", type(payload).__name__, env.channel)

    def _on_link_lost(self, link: PeerLink, reason: str) -> None:
        if link is not self._link or self._closed:
            return
        self._detach(link, lambda: DisconnectedError(f"connection lost: {reason}"))
        self._set_status(ReactorStatus.DISCONNECTED)
        self._emit_error(DisconnectedError(f"connection lost: {reason}"))

    def _on_session_ended(self, link: PeerLink, reason: str) -> None:
        text = reason or "the server ended the session"
        self._detach(link, lambda: SessionTerminalError(f"session ended: {text}"))
        self._set_status(ReactorStatus.DISCONNECTED)
        self._set_session(None)
        self._sinks.end_streams()
        self._release_inputs()
        self._events.emit("runtime_message", {"type": "sessionEnded", "data": {"reason": reason}})
        self._emit_error(SessionTerminalError(f"session ended: {text}"))

    def _detach(self, link: PeerLink, error: Callable[[], ReactorError]) -> None:
        """Forget ``link`` at once, stop its frame deliveries, and close it in the background
        (``disconnect()``, ``aclose()`` and the next connection attempt wait for that)."""
        self._link = None
        self._inputs_down()
        link.closing = True
        link.fail_pending(error)
        link.stop_delivery()
        self._closing_links.add(link)
        heartbeat, self._heartbeat = self._heartbeat, None
        if heartbeat is not None:
            heartbeat.cancel()
        assert self._loop is not None
        self._own(self._loop.create_task(self._close_link(link, error), name="reactor_sdk:close-link"))

    # ==========================================================================================
    # commands

    @_labels_errors
    async def send_command(
        self,
        command: str,
        data: Mapping[str, Any] | None = None,
        *,
        scope: Literal["application", "runtime"] = "application",
        timeout: float = REQUEST_TIMEOUT_S,
    ) -> dict[str, Any] | None:
        """Send a model command and wait for its reply.

        Returns ``{"type", "data"}`` for a reply message (also delivered to ``on_message``), or
        ``None`` for a bare acknowledgement. Raises ``DecodeError`` when ``data`` is not a JSON
        object, ``InvalidStateError`` unless ``READY``, ``MessageTooLargeError`` over 256 KiB,
        ``RequestTimeoutError`` after ``timeout``, and a ``ReactorError`` with the model's code
        (say ``invalid_command``) when the model refuses the command.
        """
        operation = "send_command"
        if not isinstance(command, str) or not command:
            raise ValueError("command must be a non-empty string")
        if data is None:
            data = {}
        elif not isinstance(data, Mapping):
            raise DecodeError("command data must be a JSON object", component="gpu", operation=operation)
        if scope != "application":
            raise ValueError("only scope='application' is supported")
        if not (isinstance(timeout, int | float) and timeout > 0 and math.isfinite(timeout)):
            raise ValueError("timeout must be a positive number of seconds")
        body, uploads = _command_body(data, operation)
        link = self._require_ready(operation)
        reply = await link.request(
            Channel.DATA, Command(command, body, uploads), timeout=timeout, operation=operation
        )
        payload = reply.payload
        if payload is None:
            return None
        if isinstance(payload, ModelMessage):
            message = {"type": payload.type, "data": payload.data}
            self._events.emit("message", dict(message))
            return message
        if isinstance(payload, ErrorMessage):
            raise ReactorError(
                payload.code,
                f"command {command!r} failed ({payload.code}): {payload.message}",
                recoverable=False,
                component="gpu",
                operation=operation,
            )
        raise DecodeError(
            f"unexpected reply {type(payload).__name__} to a command", component="gpu", operation=operation
        )

    def _require_ready(self, operation: str) -> PeerLink:
        self._check_open(operation)
        link = self._link
        if self._status is not ReactorStatus.READY or link is None or not link.ready:
            raise InvalidStateError(
                f"cannot {operation} while {self._status.value}: wait until the client is ready "
                "(ReactorStatus.READY, e.g. in an @reactor.on_status(ReactorStatus.READY) handler)",
                operation=operation,
            )
        return link

    # ==========================================================================================
    # tracks

    def track(self, name: str) -> Track:
        """The :class:`Track` called ``name``, the same object every time. Before the model's
        tracks are known any name is accepted; after, an undeclared name raises ``ValueError``."""
        track = self._tracks.get(name)
        declared = self._declared
        if declared is not None and all(spec.name != name for spec in declared):
            raise ValueError(
                f"the model declares no track {name!r}; declared tracks: {[s.name for s in declared]}"
            )
        if track is None:
            if not isinstance(name, str) or not name:
                raise ValueError("a track name must be a non-empty string")
            track = Track(self, name, TrackKind.VIDEO, TrackDirection.RECVONLY)
            self._tracks[name] = track
        return track

    @property
    def tracks(self) -> TrackList:
        """The model's declared tracks in declared order (empty until they are known)."""
        return TrackList(self._tracks[spec.name] for spec in self._declared or ())

    @property
    def paused_tracks(self) -> frozenset[str]:
        """The output tracks currently paused for this client."""
        return frozenset(t.name for t in self.tracks if t.direction is TrackDirection.RECVONLY and t.paused)

    def get_remote_tracks(self) -> dict[str, Track]:
        """The output tracks by name (compat)."""
        return {t.name: t for t in self.tracks if t.direction is TrackDirection.RECVONLY}

    def _sync_tracks(self, specs: Sequence[TrackSpec]) -> None:
        self._declared = tuple(specs)
        for spec in specs:
            track = self._tracks.get(spec.name)
            if track is None:
                track = Track(self, spec.name, TrackKind(spec.kind), TrackDirection(spec.direction))
                self._tracks[spec.name] = track
            else:
                track.kind = TrackKind(spec.kind)
                track.direction = TrackDirection(spec.direction)

    def _on_remote_track(self, link: PeerLink, spec: TrackSpec, mid: str | None) -> None:
        if link is not self._link:
            return
        track = self._tracks.get(spec.name)
        if track is None:
            return
        track.mid = mid
        self._events.emit("track_received", track)

    async def _set_paused(self, track: Track, paused: bool) -> None:
        if track.direction is not TrackDirection.RECVONLY:
            raise ValueError(f"track {track.name!r} is an input; pause() and resume() apply to outputs")
        track.paused = paused
        link = self._link
        if link is None or not link.ready or self._status is not ReactorStatus.READY:
            return  # applied when the next connection is ready
        payload = PauseTrack(track.name) if paused else ResumeTrack(track.name)
        link.notify(Channel.CONTROL, payload, operation="pause_track" if paused else "resume_track")

    def _input_live(self) -> bool:
        link = self._link
        return link is not None and link.ready and not link.closing and self._status is ReactorStatus.READY

    def _inputs_down(self) -> None:
        """The connection is going: published inputs wait for the next one (then re-published)."""
        for track in self._tracks.values():
            track.published = False

    def _release_inputs(self) -> None:
        """The session is gone (or the client closed): forget every publication."""
        for track in self._tracks.values():
            track.published = False
            track.wanted = False
            self._stop_pump(track)

    def _input_track(self, name: str, operation: str) -> Track:
        declared = self._declared
        if declared is None:
            raise InvalidStateError(
                f"cannot {operation} before the model's tracks are known: connect first", operation=operation
            )
        inputs = [spec.name for spec in declared if spec.direction == "sendonly"]
        if name not in inputs:
            raise ValueError(
                f"{name!r} is not an input track of model {self.model_name!r}; "
                f"declared input tracks: {inputs}"
            )
        return self._tracks[name]

    @_labels_errors
    async def publish_track(self, name: str, source: Any = None) -> Track:
        """Claim the model's input track ``name`` and start sending it; returns the :class:`Track`.

        Without ``source`` the app calls ``track.push_frame(...)``. With ``source`` (an object
        with ``kind`` and ``async recv()``, such as an aiortc track) the SDK pumps its frames
        until ``unpublish_track``, ``disconnect()`` or the end of the source. Requires ``READY``
        (``InvalidStateError``); an undeclared name raises ``ValueError`` listing the inputs;
        a slot held by another client raises ``ReactorError`` with code ``publish_refused``.
        After a reconnect, published tracks are re-published automatically.
        """
        operation = "publish_track"
        self._check_open(operation)
        if source is not None and not (hasattr(source, "recv") and hasattr(source, "kind")):
            raise TypeError("source must have 'kind' and an 'async recv()' (e.g. an aiortc MediaStreamTrack)")
        if self._declared is not None:
            self._input_track(name, operation)
        link = self._require_ready(operation)
        track = self._input_track(name, operation)
        if track.kind is not TrackKind.VIDEO:
            raise NotImplementedError("audio input tracks are not supported by this SDK yet")
        if source is not None and getattr(source, "kind", None) != track.kind.value:
            raise ValueError(
                f"source kind {source.kind!r} does not match track {name!r} ({track.kind.value})"
            )
        if not track.published:
            await self._claim(link, track, operation)
        track.wanted = True
        track.ever_published = True
        if source is not None:
            self._stop_pump(track)
            assert self._loop is not None
            track.source_task = self._loop.create_task(
                self._pump(track, source), name=f"reactor_sdk:source:{name}"
            )
        return track

    async def _claim(self, link: PeerLink, track: Track, operation: str) -> None:
        reply = await link.request(
            Channel.CONTROL, PublishTrack(track.name), timeout=REQUEST_TIMEOUT_S, operation=operation
        )
        payload = reply.payload
        if isinstance(payload, ErrorMessage):
            raise ReactorError(
                payload.code,
                f"publish_track({track.name!r}) refused ({payload.code}): {payload.message}",
                component="gpu",
                operation=operation,
            )
        if payload is not None and not isinstance(payload, PublishTrackResponse):
            raise DecodeError(
                f"unexpected reply {type(payload).__name__} to publish_track",
                component="gpu",
                operation=operation,
            )
        if link is not self._link or link.closing:
            raise DisconnectedError("the connection closed while publishing", operation=operation)
        link.attach_input(track.name, track.feed)
        track.published = True

    async def _republish(self, link: PeerLink) -> None:
        """After a reconnect: claim every input the app had published; refusals are emitted."""
        for track in list(self._tracks.values()):
            if not track.wanted or track.published or link is not self._link:
                continue
            try:
                await self._claim(link, track, "publish_track")
            except ReactorError as exc:
                if link is self._link and track.wanted:
                    self._emit_error(exc)

    async def _pump(self, track: Track, source: Any) -> None:
        """Copy frames from an app's media source into the track until stopped or ended."""
        try:
            while True:
                frame = await source.recv()
                if track.published and self._input_live() and isinstance(frame, av.VideoFrame):
                    track.feed.put(frame)
        except asyncio.CancelledError:
            raise
        except MediaStreamError:
            logger.info("the source of track %r ended", track.name)
        except Exception:
            logger.exception("reading the source of track %r failed; it is no longer sent", track.name)

    @staticmethod
    def _stop_pump(track: Track) -> None:
        task, track.source_task = track.source_task, None
        if task is not None and not task.done() and task is not asyncio.current_task():
            task.cancel()

    def unpublish_track(self, name: str) -> Completed:
        """Stop sending input ``name`` and free its slot. Acts at once and returns an
        already-completed awaitable (``await`` it or not); never raises (failures are logged)."""
        try:
            track = self._tracks.get(name)
            if track is None or track.direction is not TrackDirection.SENDONLY:
                logger.warning("unpublish_track(%r): no such input track", name)
                return Completed()
            was_published = track.published
            track.wanted = False
            track.published = False
            self._stop_pump(track)
            link = self._link
            if link is not None:
                link.detach_input(name)
                if was_published and link.ready and not link.closing:
                    link.notify(Channel.CONTROL, UnpublishTrack(name), operation="unpublish_track")
        except Exception as exc:
            logger.warning("unpublish_track(%r) failed: %s", name, exc)
        return Completed()

    # ==========================================================================================
    # uploads

    @_labels_errors
    async def upload_file(
        self, file: Any, *, name: str | None = None, mime_type: str | None = None
    ) -> FileRef:
        """Upload a file into the session; returns its :class:`FileRef` once the bytes are stored.

        ``file``: a path (``str`` / ``os.PathLike``), ``bytes`` / ``bytearray`` / ``memoryview``,
        or a binary file object (a text-mode file raises ``TypeError``). The name comes from
        ``name``, the path's basename or the file object's ``.name``, else ``"upload"``; the MIME
        type from ``mime_type``, else guessed from the name, else ``application/octet-stream``.
        Requires ``READY``; an empty file raises ``InvalidStateError``. A file over the server's
        limit raises ``BadRequestError`` with ``status`` 413.
        """
        operation = "upload_file"
        self._check_open(operation)
        if name is not None and (not isinstance(name, str) or not name):
            raise ValueError("name must be a non-empty string")
        self._require_ready(operation)
        data, inferred = await read_upload(file)
        file_name = name or inferred or "upload"
        mime = mime_type or upload_mime_type(file_name)
        if not data:
            raise InvalidStateError(
                f"cannot upload {file_name!r}: the file is empty", component="api", operation=operation
            )
        session = self._session
        assert session is not None
        async with self._api() as api:
            upload_id, url = await api.create_upload(
                session.session_id,
                {"name": file_name, "size": len(data), "mime_type": mime},
                operation=operation,
            )
            await api.put_upload(self._upload_url(url), data, mime, operation=operation)
        ref = FileRef(upload_id, file_name, mime, len(data))
        link = self._require_ready(operation)
        link.notify(
            Channel.CONTROL,
            FileUploaded(ref.upload_id, ref.name, ref.mime_type, ref.size),
            operation=operation,
        )
        return ref

    def _upload_url(self, url: str) -> str:
        """A relative presigned URL is made absolute against ``api_url``; in local mode the URL's
        origin is replaced by ``api_url``'s (port forwarding, proxies)."""
        parsed = httpx.URL(url)
        base = httpx.URL(self.api_url)
        if not parsed.is_absolute_url:
            return str(base.join(url))
        if self.local:
            return str(parsed.copy_with(scheme=base.scheme, host=base.host, port=base.port))
        return url


# ==============================================================================================
# helpers


def _status_set(arg: StatusFilter) -> frozenset[ReactorStatus]:
    if isinstance(arg, str):
        return frozenset({ReactorStatus(arg)})
    return frozenset(ReactorStatus(s) for s in arg)


def _same_model(asked: str, served: str) -> bool:
    """Whether ``served`` is the model asked for; ``owner/name`` and a bare ``name`` match."""
    return asked == served or asked.rsplit("/", 1)[-1] == served.rsplit("/", 1)[-1]


def _descriptor_id(descriptor: Mapping[str, Any]) -> str:
    sid = descriptor.get("session_id")
    if not isinstance(sid, str) or not sid:
        raise DecodeError("session descriptor has no session_id", component="api", operation="connect")
    return sid


def _check_not_terminal(descriptor: Mapping[str, Any]) -> None:
    state = descriptor.get("state")
    if isinstance(state, str) and state.upper() in _TERMINAL_STATES:
        raise SessionTerminalError(
            f"session {descriptor.get('session_id')} is {state}", component="api", operation="connect"
        )


def _session_from(descriptor: Mapping[str, Any], *, created: bool) -> _Session:
    sid = _descriptor_id(descriptor)
    capabilities = descriptor.get("capabilities")
    if not isinstance(capabilities, dict):
        raise DecodeError("session descriptor has no capabilities", component="api", operation="connect")
    raw_tracks = capabilities.get("tracks", [])
    if not isinstance(raw_tracks, list):
        raise DecodeError("capabilities.tracks is not a list", component="api", operation="connect")
    tracks: list[TrackSpec] = []
    for raw in raw_tracks:
        if not isinstance(raw, dict):
            raise DecodeError("a declared track is not an object", component="api", operation="connect")
        name, kind, direction = raw.get("name"), raw.get("kind"), raw.get("direction")
        if (
            not isinstance(name, str)
            or not name
            or kind not in ("video", "audio")
            or direction
            not in (
                "recvonly",
                "sendonly",
            )
        ):
            raise DecodeError(f"invalid declared track {raw!r}", component="api", operation="connect")
        tracks.append(TrackSpec(name, kind, direction))
    return _Session(sid, created, tuple(tracks), dict(capabilities))


def _primary_video(tracks: Sequence[TrackSpec]) -> str | None:
    outputs = [t.name for t in tracks if t.kind == "video" and t.direction == "recvonly"]
    if "main_video" in outputs:
        return "main_video"
    return outputs[0] if outputs else None


def _command_body(data: Mapping[str, Any], operation: str) -> tuple[dict[str, Any], dict[str, UploadRef]]:
    """Split command data: top-level ``FileRef``s go to the wire ``uploads`` map, nested ones are
    inlined; everything else must be a JSON value."""
    body: dict[str, Any] = {}
    uploads: dict[str, UploadRef] = {}
    for key, value in data.items():
        if not isinstance(key, str):
            raise DecodeError(
                "command data must be a JSON object (string keys)", component="gpu", operation=operation
            )
        if isinstance(value, FileRef):
            uploads[key] = value.to_upload_ref()
        else:
            body[key] = _json_value(value, operation)
    return body, uploads


def _json_value(value: Any, operation: str) -> Any:
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int | float):
        if isinstance(value, float) and not math.isfinite(value):
            raise DecodeError(
                f"command data holds a non-finite number {value!r}", component="gpu", operation=operation
            )
        return value
    if isinstance(value, np.generic):
        return _json_value(value.item(), operation)
    if isinstance(value, FileRef):
        return value.to_wire()
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise DecodeError(
                    "command data must be a JSON object (string keys)", component="gpu", operation=operation
                )
            out[key] = _json_value(item, operation)
        return out
    if isinstance(value, list | tuple):
        return [_json_value(item, operation) for item in value]
    raise DecodeError(
        f"command data must be a JSON object; {type(value).__name__} is not a JSON value",
        component="gpu",
        operation=operation,
    )


__all__ = ["Frame", "Reactor"]
