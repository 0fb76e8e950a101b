"""One session: its model runner, its client connections, and the parts that serve them.

:class:`Session` is what the rest of the server holds (the session host, each ``Peer``). It owns
the parts and the order they start and stop in, and gives them to each other:

* :mod:`~openreactor.sessions.lifecycle`: the state (WAITING, ACTIVE, SUSPENDED, CLOSED) and the
  timers: keep-alive while no client is attached, the liveness watchdog, the memory limit;
* :mod:`~openreactor.sessions.dispatch`: each message from a client, one ``case`` per type;
* :mod:`~openreactor.sessions.commands`: commands on their way to the model, in order, with
  their uploads resolved (``sessions.uploads``), and the replies;
* :mod:`~openreactor.sessions.inputs`: input tracks' publisher slots and newest frames.

The session also owns its uploads (``sessions.uploads``). A model that misbehaves ends it: a
call into the model that overruns ``model_step_timeout_s`` (``model_timeout``, enforced by the
runner), a crash (``model_error``), or, with ``max_session_memory_mb``, process memory grown past
that limit (``memory_limit``). Every client is told why, on ``data``, before the session ends.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import tempfile
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from openreactor.logs import log_context
from openreactor.metrics import ServerMetrics
from openreactor.models.api import Frame, Message, Model
from openreactor.models.frame_slot import FrameSlot
from openreactor.models.runner import ModelRunner, ModelTimeoutError
from openreactor.sessions.client_link import ClientLink
from openreactor.sessions.commands import CommandPipeline
from openreactor.sessions.dispatch import MessageDispatcher
from openreactor.sessions.inputs import InputFrame, InputPublishers
from openreactor.sessions.lifecycle import EndReason, SessionLifecycle, SessionState
from openreactor.sessions.uploads import UploadStore
from openreactor.settings import Settings
from reactor_protocol.errors import ErrorCode
from reactor_protocol.messages import Channel, Envelope, ErrorMessage, ModelMessage, SessionEnded

__all__ = ["EndReason", "InputFrame", "Session", "SessionState"]
"""``EndReason`` and ``SessionState`` live in ``sessions.lifecycle``, ``InputFrame`` in
``sessions.inputs``; the rest of the server imports them from here."""

log = logging.getLogger(__name__)


class Session:
    """Everything one session needs: the model runner, attached clients, timers."""

    def __init__(
        self,
        session_id: str,
        model: Model,
        settings: Settings,
        *,
        on_closed: Callable[[Session], None] | None = None,
        uploads_dir: Path | None = None,
        metrics: ServerMetrics | None = None,
    ) -> None:
        self.id = session_id
        self.metrics = metrics
        """The server's metrics (``None``: not recorded); peers and tracks report through it too."""
        self.model = model
        self.settings = settings
        self.end_reason: str | None = None
        self.created_at = time.time()
        self.slot = FrameSlot()
        self.links: dict[int, ClientLink] = {}
        self._on_closed = on_closed
        self.uploads = UploadStore(
            uploads_dir or Path(tempfile.gettempdir()) / f"openreactor-uploads-{session_id}",
            max_bytes=settings.max_upload_bytes,
            slot_ttl_s=settings.upload_slot_ttl_s,
        )
        self._inputs = InputPublishers(model)
        self._runner = ModelRunner(
            model,
            self.slot,
            session_id=session_id,
            on_message=self.broadcast_message,
            on_crash=self._crashed,
            input_frame=self.input_frame,
            on_step=metrics.on_model_step if metrics is not None else None,
            step_timeout_s=settings.model_step_timeout_s,
        )
        self._lifecycle = SessionLifecycle(
            session_id,
            settings,
            links=lambda: list(self.links.values()),
            on_keepalive_expired=functools.partial(self.end, EndReason.CLIENT_TIMEOUT),
            on_silent=self._drop_silent,
            on_memory_exceeded=lambda message: self._fail(
                ErrorCode.MEMORY_LIMIT, message, EndReason.MEMORY_LIMIT
            ),
        )
        commands = CommandPipeline(
            self._runner,
            self.uploads,
            settings,
            metrics=metrics,
            spawn=self._spawn,
            is_ending=lambda: self.is_ending,
        )
        self._dispatcher = MessageDispatcher(
            model,
            self._runner,
            self.uploads,
            self._inputs,
            commands,
            settings,
            metrics=metrics,
            spawn=self._spawn,
            is_ending=lambda: self.is_ending,
        )
        self._announced: set[int] = set()
        """Connection ids the model was told about with on_client_connected."""
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closing: asyncio.Task[None] | None = None
        self._closed = asyncio.Event()

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        # Tasks and timers started here log with this session's id.
        with log_context(session_id=self.id):
            self._runner.start()
            self._lifecycle.start()
        if self.metrics is not None:
            self.metrics.on_session_started()

    @property
    def runner(self) -> ModelRunner:
        return self._runner

    @property
    def state(self) -> SessionState:
        return self._lifecycle.state

    @property
    def is_closed(self) -> bool:
        return self._lifecycle.is_closed

    @property
    def is_ending(self) -> bool:
        """``end`` was called: the session takes no new connections, uploads or commands."""
        return self._closing is not None

    def end(self, reason: str) -> asyncio.Task[None]:
        """End the session: tell every client why, close them, stop the model. Idempotent."""
        if self._closing is None:
            self.end_reason = reason
            with log_context(session_id=self.id):
                self._closing = asyncio.create_task(self._close(reason), name=f"close-{self.id}")
        return self._closing

    async def wait_closed(self) -> None:
        await self._closed.wait()

    async def _close(self, reason: str) -> None:
        log.info("session %s ending: %s", self.id, reason)
        self._lifecycle.closing()
        links = list(self.links.values())
        for link in links:
            link.send(Envelope.notification(Channel.CONTROL, SessionEnded(reason)))
            self._client_left(link.connection_id)
            if self.metrics is not None:
                self.metrics.on_connection_detached(link.connection_id)
        # Let the goodbye leave before the transports go (closing drops queued SCTP data).
        if links:
            await asyncio.sleep(0.05)
        await asyncio.gather(*(link.close(reason) for link in links), return_exceptions=True)
        self.links.clear()
        watchdogs = self._lifecycle.closed()
        await self._runner.stop(drop_state=reason == EndReason.MEMORY_LIMIT)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._inputs.clear()
        await asyncio.to_thread(self.uploads.close)
        await asyncio.gather(*watchdogs, return_exceptions=True)
        if self.metrics is not None:
            self.metrics.on_session_ended(reason)
        self._closed.set()
        if self._on_closed is not None:
            self._on_closed(self)

    def _crashed(self, exc: BaseException) -> None:
        if isinstance(exc, ModelTimeoutError):
            self._fail(ErrorCode.MODEL_TIMEOUT, str(exc), EndReason.MODEL_TIMEOUT)
        else:
            message = f"the model crashed: {type(exc).__name__}: {exc}"
            self._fail(ErrorCode.MODEL_ERROR, message, EndReason.MODEL_ERROR)

    def _fail(self, code: str, message: str, reason: EndReason) -> None:
        """Tell every client what went wrong (an error on ``data``), then end the session."""
        message = self.uploads.redact(message)
        for link in list(self.links.values()):
            link.send(Envelope.notification(Channel.DATA, ErrorMessage(code, message)))
        self.end(reason)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- clients ----------------------------------------------------------------------------

    def attach(self, link: ClientLink) -> None:
        """A client connection (new, or re-offered on the same id) is live."""
        if self.is_closed:
            raise RuntimeError("session is closed")
        if link.connection_id not in self._announced:
            self._announced.add(link.connection_id)
            self._runner.notify_client_connected(link.connection_id)
        if self.metrics is not None and self.links.get(link.connection_id) is not link:
            self.metrics.on_connection_attached()
        self.links[link.connection_id] = link
        self._lifecycle.client_attached()

    def detach(self, link: ClientLink) -> None:
        """A client connection went away; the session lives on for the keep-alive window."""
        if self.links.get(link.connection_id) is not link:
            return
        del self.links[link.connection_id]
        if self.metrics is not None:
            self.metrics.on_connection_detached(link.connection_id)
        self._client_left(link.connection_id)
        self._inputs.release_all_of(link.connection_id)
        if not self.links and not self.is_closed:
            self._lifecycle.last_client_left()

    def _client_left(self, connection_id: int) -> None:
        """The model's on_client_disconnected, once per on_client_connected."""
        if connection_id in self._announced:
            self._announced.discard(connection_id)
            self._runner.notify_client_disconnected(connection_id)

    def _drop_silent(self, link: ClientLink) -> None:
        """The liveness watchdog found ``link`` silent for too long."""
        self.detach(link)
        self._spawn(link.close("liveness_timeout"))

    # -- messages ----------------------------------------------------------------------------

    def broadcast_message(self, message: Message) -> None:
        """A model message to every attached client (NOTIFICATION on ``data``)."""
        envelope = Envelope.notification(Channel.DATA, ModelMessage(message.type, message.data))
        for link in list(self.links.values()):
            link.send(envelope)

    def handle(self, link: ClientLink, envelope: Envelope) -> None:
        """Act on one decoded message from ``link``. Every REQUEST gets exactly one RESPONSE."""
        self._dispatcher.handle(link, envelope)

    @property
    def last_client_stats(self) -> dict[int, dict[str, Any]]:
        """Connection id -> the stats its client reported last."""
        return self._dispatcher.last_client_stats

    # -- input media -----------------------------------------------------------------------------

    @property
    def publishers(self) -> dict[str, int]:
        """Input track name -> connection id holding its publisher slot."""
        return self._inputs.publishers

    @property
    def inputs(self) -> dict[str, InputFrame]:
        """Input track name -> newest frame from its publisher (absent while nobody publishes)."""
        return self._inputs.frames

    def feed_input(
        self, connection_id: int, track: str, frame: InputFrame, *, implicit_claim: bool = False
    ) -> None:
        """Newest frame of input ``track`` from a connection; kept only from the slot's holder.

        ``implicit_claim``: a client that cannot publish explicitly (v0 JS 2.9.0 has no control
        channel) takes a free slot with its first frame.
        """
        self._inputs.feed(connection_id, track, frame, may_claim=implicit_claim and not self.is_closed)

    def forget_inputs_of(self, connection_id: int) -> None:
        """Drop the last frames of a connection whose transport went away (its claims stay)."""
        self._inputs.forget_frames_of(connection_id)

    def input_frame(self, track: str) -> Frame | None:
        """The model's ``ctx.input_frame``: converts the newest frame to RGB (on the model's thread)."""
        return self._inputs.rgb(track)

    # -- description ---------------------------------------------------------------------------

    def tracks_client_view(self) -> list[dict[str, str]]:
        """Capabilities tracks, named from the client's side (PROTOCOL.md §6.1)."""
        return [
            {"name": t.name, "kind": t.kind, "direction": "recvonly" if t.direction == "out" else "sendonly"}
            for t in self.model.tracks
        ]
