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

This module is the orchestration: the flows above, the status, the events. The roles it drives
live beside it: ``session`` (the descriptor, parsed once, and the control-plane steps that obtain
or end a session), ``tokens`` (the bearer token: the caller's JWT or one minted from the key),
``http_api`` (the HTTP seam; one shared ``httpx.AsyncClient`` per client), ``connection`` (one
WebRTC connection), ``inputs`` (publishing input tracks), ``commands`` (command data to the wire
and the reply back), ``uploads`` and ``tracks``.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping, Sequence
from types import TracebackType
from typing import Any, Concatenate, Literal, ParamSpec, TypeAlias, TypeVar, overload

import httpx

from reactor_protocol.errors import ErrorCode
from reactor_protocol.limits import PING_INTERVAL_S, REQUEST_TIMEOUT_S
from reactor_protocol.messages import (
    Channel,
    ClientStats,
    Envelope,
    ErrorMessage,
    FileUploaded,
    Kind,
    ModelMessage,
    Moderation,
    PauseTrack,
    Ping,
    ResumeTrack,
    SessionEnded,
)
from reactor_rtc import set_host_addresses
from reactor_sdk import session as sessions
from reactor_sdk.commands import command_message, command_reply
from reactor_sdk.connection import PeerLink, RequestIds, TrackSpec, ice_servers_from_json
from reactor_sdk.defaults import CONNECT_READY_TIMEOUT_S, DEFAULT_API_URL, client_info
from reactor_sdk.errors import (
    AbortedError,
    DisconnectedError,
    InvalidStateError,
    ReactorError,
    SessionTerminalError,
)
from reactor_sdk.events import CONTROL_EVENTS, EventEmitter, EventName, Handler
from reactor_sdk.file_ref import FileRef
from reactor_sdk.frame_reader import Frame, FrameSinks, FrameStream, StuckFrameHandler
from reactor_sdk.http_api import ApiClient, SharedApiClient
from reactor_sdk.inputs import InputPublisher
from reactor_sdk.session import HeldSession, SessionDescriptor
from reactor_sdk.stats import REPORT_INTERVAL_S, ConnectionStats, client_stats_report
from reactor_sdk.status import ReactorStatus
from reactor_sdk.tokens import BearerTokens, JwtSource
from reactor_sdk.tracks import Completed, Track, TrackDirection, TrackList, TrackTable
from reactor_sdk.uploads import read_upload, store_upload, upload_mime_type

logger = logging.getLogger("reactor_sdk")

F = TypeVar("F", bound=Callable[..., Any])
P = ParamSpec("P")
R = TypeVar("R")

StatusFilter: TypeAlias = ReactorStatus | str | Iterable[ReactorStatus | str]


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


class _TrackPort:
    """What a client's :class:`Track` objects ask of it (:class:`~reactor_sdk.tracks.TrackHost`)."""

    __slots__ = ("_reactor",)

    def __init__(self, reactor: Reactor) -> None:
        self._reactor = reactor

    @property
    def auto_resume_tracks(self) -> bool:
        return self._reactor.auto_resume_tracks

    def add_frame_handler(self, track: str, fn: Callable[..., Any]) -> None:
        self._reactor._sinks.add_handler(track, fn)

    def remove_frame_handler(self, fn: Callable[..., Any]) -> None:
        self._reactor._sinks.remove_handler(fn)

    async def set_paused(self, track: Track, paused: bool) -> None:
        await self._reactor._set_paused(track, paused)

    def input_live(self) -> bool:
        return self._reactor._input_live()

    async def publish_track(self, name: str, source: Any = None) -> Track:
        return await self._reactor.publish_track(name, source)

    def unpublish_track(self, name: str) -> Completed:
        return self._reactor.unpublish_track(name)


class Reactor:
    """A client of one model session: connect, receive frames, send commands.

    ::

        async with Reactor("your-model-name", local=True) as reactor:
            reply = await reactor.send_command("set_prompt", {"prompt": "a forest at dawn"})

    Raises ``ValueError`` at construction with neither ``api_key`` nor ``jwt`` and ``local=False``.
    ``ice_host_addresses`` (ours) pins the ICE host candidates; it is needed on loopback, which
    aioice otherwise skips. It is a process-wide side effect of construction, not a setting of
    this client: it calls :func:`reactor_rtc.set_host_addresses`, so every peer connection this
    process makes afterwards (other ``Reactor`` instances, an in-process server) offers only those
    addresses, until the next call; a ``Reactor`` built without it leaves the setting as it is.

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
        if ice_host_addresses is not None:  # process-wide (see the class docstring)
            set_host_addresses(list(ice_host_addresses))

        self.model_name = model_name
        self.api_url = api_url.rstrip("/")
        self.local = local
        self.auto_resume_tracks = auto_resume_tracks
        self.max_session_duration_seconds = max_session_duration_seconds
        self._generation = generation
        self._tokens = BearerTokens(
            model_name=model_name,
            api_key=api_key,
            jwt=jwt,
            max_session_duration_seconds=max_session_duration_seconds,
        )

        self._status = ReactorStatus.DISCONNECTED
        self._started = False
        self._closed = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._session: HeldSession | None = None
        self._link: PeerLink | None = None
        self._closing_links: set[PeerLink] = set()
        self._attempt: asyncio.Task[None] | None = None
        self._heartbeat: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[Any]] = set()
        self._teardown_lock: asyncio.Lock | None = None
        self._events = EventEmitter()
        self._sinks = FrameSinks()
        self._request_ids = RequestIds()
        self._adopting: str | None = None
        self._last_error: ReactorError | None = None
        self._server_device: str | None = None  # server_info.device of the last descriptor
        self._tracks = TrackTable(_TrackPort(self))
        self._inputs = InputPublisher(
            self._tracks,
            model_name=model_name,
            current_link=lambda: self._link,
            live=self._input_live,
            report=self._emit_error,
        )
        # One HTTP client for the client's life (made on first use, let go of when the client
        # disconnects for good or closes). Tests replace the HTTP transport below the SDK's HTTP
        # seam (httpx.MockTransport) before the first request.
        self._http = SharedApiClient(self._new_api)
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

    def _note_server(self, device: str | None) -> None:
        """Remember what the server computes on (``server_info.device`` of its descriptor)."""
        if device:
            self._server_device = device

    def _emit_error(self, error: ReactorError) -> None:
        self._label(error)
        self._last_error = error
        self._events.emit("error", error)

    def _set_session(self, session: HeldSession | None) -> None:
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
            if session is not None and recoverable:
                return  # kept for reconnect(), and the HTTP client with it
            if session is not None:
                self._set_session(None)
                self._sinks.end_streams()
                self._inputs.release()
                if session.created:
                    await self._end_session(session)
            await self._http.release()

    async def _end_session(self, session: HeldSession) -> None:
        try:
            async with self._http.use() as api:
                await sessions.end_session(api, session.session_id, local=self.local, operation="disconnect")
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
        api = self._http.shut()
        if self._loop is not None and not self._loop.is_closed():
            for closing in links:
                self._own(self._loop.create_task(self._close_link(closing), name="reactor_sdk:close-link"))
            if api is not None:
                self._own(self._loop.create_task(api.aclose(), name="reactor_sdk:close-http"))
        self._set_status(ReactorStatus.DISCONNECTED)
        self._inputs.release()
        self._sinks.clear()
        self._events.cancel_tasks()
        self._events.clear()
        return links

    def _own(self, task: asyncio.Task[Any]) -> None:
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # ------------------------------------------------------------------------------------------
    # connect / reconnect flows

    def _new_api(self) -> ApiClient:
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
            async with self._http.use() as api:
                try:
                    descriptor: SessionDescriptor
                    if adopt_id is not None:
                        self._adopting = adopt_id
                        descriptor = await sessions.adopt_session(
                            api, adopt_id, local=self.local, model_name=self.model_name, api_url=self.api_url
                        )
                    elif self.local:
                        descriptor, started = await sessions.start_or_join_local(api, self.api_url)
                        if started:
                            created = "local"
                        # A session we started is stopped below.
                        sessions.check_model(descriptor, self.model_name, self.api_url)
                    else:
                        created = await sessions.create_session(api, self.model_name)
                        self._set_status(ReactorStatus.WAITING)
                        descriptor = await sessions.poll_session(api, created)
                    self._note_server(descriptor.server_device)
                    session = HeldSession.of(descriptor, created=created is not None)
                    session.connection_id = connection_id
                    self._set_session(session)
                    self._sync_tracks(session.tracks)
                    self._events.emit("capabilities_received", dict(session.capabilities))
                    self._sinks.primary = session.primary_video
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
            async with self._http.use() as api:
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
            await sessions.end_session(api, created, local=self.local, operation="connect")
        except ReactorError as exc:
            logger.warning("could not delete the session of a failed connect: %s", exc)

    async def _establish(
        self, api: ApiClient, session: HeldSession, *, reoffer: bool, operation: str
    ) -> None:
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
            track = self._tracks.by_name.get(entry["name"])
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
            track = self._tracks.by_name.get(spec.name)
            if spec.direction == "recvonly" and track is not None and not track.paused:
                link.notify(Channel.CONTROL, ResumeTrack(spec.name), operation=operation)
        link.notify(Channel.CONTROL, Ping(), operation=operation)
        link.mark_ready()
        self._start_heartbeat(link)
        self._set_status(ReactorStatus.READY)
        if self._inputs.any_wanted():
            assert self._loop is not None
            self._own(self._loop.create_task(self._inputs.republish(link), name="reactor_sdk:republish"))

    async def _drop_link(self, error: Callable[[], ReactorError]) -> None:
        """Detach and close the current connection (keeps the session)."""
        heartbeat, self._heartbeat = self._heartbeat, None
        if heartbeat is not None and heartbeat is not asyncio.current_task():
            heartbeat.cancel()
        link, self._link = self._link, None
        self._inputs.down()
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

    async def _bearer(self, api: ApiClient) -> str:
        """The bearer token of ``api``'s next request: the caller's JWT, or one minted through
        ``api`` from the key (bound to a session this client adopts, else model-scoped)."""
        adopted = self._adopting or (
            self._session.session_id if self._session and not self._session.created else None
        )
        return await self._tokens.bearer(adopted, api.mint_token)

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
        self._inputs.release()
        self._events.emit("runtime_message", {"type": "sessionEnded", "data": {"reason": reason}})
        self._emit_error(SessionTerminalError(f"session ended: {text}"))

    def _detach(self, link: PeerLink, error: Callable[[], ReactorError]) -> None:
        """Forget ``link`` at once, stop its frame deliveries, and close it in the background
        (``disconnect()``, ``aclose()`` and the next connection attempt wait for that)."""
        self._link = None
        self._inputs.down()
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
        message = command_message(command, data, scope=scope, timeout=timeout, operation=operation)
        link = self._require_ready(operation)
        reply = await link.request(Channel.DATA, message, timeout=timeout, operation=operation)
        result = command_reply(command, reply.payload, operation)
        if result is not None:
            self._events.emit("message", dict(result))
        return result

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
        return self._tracks.get(name)

    @property
    def tracks(self) -> TrackList:
        """The model's declared tracks in declared order (empty until they are known)."""
        return self._tracks.listed()

    @property
    def paused_tracks(self) -> frozenset[str]:
        """The output tracks currently paused for this client."""
        return frozenset(t.name for t in self.tracks if t.direction is TrackDirection.RECVONLY and t.paused)

    def get_remote_tracks(self) -> dict[str, Track]:
        """The output tracks by name (compat)."""
        return {t.name: t for t in self.tracks if t.direction is TrackDirection.RECVONLY}

    def _sync_tracks(self, specs: Sequence[TrackSpec]) -> None:
        self._tracks.sync(specs)

    def _on_remote_track(self, link: PeerLink, spec: TrackSpec, mid: str | None) -> None:
        if link is not self._link:
            return
        track = self._tracks.by_name.get(spec.name)
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
        self._inputs.check_request(name, source, operation)
        link = self._require_ready(operation)
        return await self._inputs.publish(link, name, source, operation)

    def unpublish_track(self, name: str) -> Completed:
        """Stop sending input ``name`` and free its slot. Acts at once and returns an
        already-completed awaitable (``await`` it or not); never raises (failures are logged)."""
        return self._inputs.unpublish(name)

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
        async with self._http.use() as api:
            ref = await store_upload(
                api, session.session_id, data, file_name, mime, local=self.local, operation=operation
            )
        link = self._require_ready(operation)
        link.notify(
            Channel.CONTROL,
            FileUploaded(ref.upload_id, ref.name, ref.mime_type, ref.size),
            operation=operation,
        )
        return ref


# ==============================================================================================
# helpers


def _status_set(arg: StatusFilter) -> frozenset[ReactorStatus]:
    if isinstance(arg, str):
        return frozenset({ReactorStatus(arg)})
    return frozenset(ReactorStatus(s) for s in arg)


__all__ = ["Frame", "Reactor"]
