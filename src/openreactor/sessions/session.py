"""One session: its model runner, its client connections, its timers.

States (local descriptors spell them in lower case, the cloud plane in upper case)::

    WAITING --client attaches--> ACTIVE --last client leaves--> SUSPENDED --keep-alive expires--> CLOSED
       ^                            |  ^                              |
       |                            |  +------ a client (re)attaches -+
       +-- (a new session) ---------+---------------- stop / model crash / shutdown ----------> CLOSED

While no client is attached (WAITING or SUSPENDED) the keep-alive timer runs; when it fires the
session ends with reason ``client_timeout``. A watchdog drops connections that have sent nothing
for ``liveness_timeout_s``. Two more end a session whose model misbehaves: a call into the model
that overruns ``model_step_timeout_s`` (``model_timeout``, enforced by the runner), and, with
``max_session_memory_mb``, process memory grown past that limit (``memory_limit``, sampled here).

The session also owns its uploads (``sessions.uploads``: resolved into ``UploadedFile`` objects
before a command reaches the model) and the newest frame of each input track, kept only from the
connection that holds that input's publisher slot.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from openreactor import process_memory
from openreactor.logs import log_context
from openreactor.metrics import ServerMetrics
from openreactor.models.api import CommandError, Frame, Message, Model, UploadedFile
from openreactor.models.frame_slot import FrameSlot
from openreactor.models.runner import ModelRunner, ModelTimeoutError
from openreactor.models.schema import openapi_document
from openreactor.sessions.client_link import ClientLink
from openreactor.sessions.uploads import (
    UnresolvedUploadError,
    UploadStore,
    find_references,
    replace_references,
)
from openreactor.settings import Settings
from reactor_protocol.errors import ErrorCode
from reactor_protocol.messages import (
    Channel,
    ClientStats,
    ClipFailed,
    Command,
    Envelope,
    ErrorMessage,
    FileUploaded,
    Kind,
    ModelMessage,
    ModelSchema,
    PauseTrack,
    Ping,
    PublishTrack,
    PublishTrackResponse,
    RequestClip,
    RequestRecording,
    RequestSchema,
    ResumeTrack,
    SessionEnded,
    UnpublishTrack,
)

log = logging.getLogger(__name__)

MEMORY_CHECK_S = 0.5
"""How often the memory limit samples the process's RSS (one small read of ``/proc``)."""


class InputFrame(Protocol):
    """A received video frame as the transport stores it (an ``av.VideoFrame``)."""

    def to_ndarray(self, *, format: str) -> Any: ...


class SessionState(enum.StrEnum):
    WAITING = "waiting"
    ACTIVE = "active"
    SUSPENDED = "suspended"
    CLOSED = "closed"


class EndReason(enum.StrEnum):
    """Why a session ended (PROTOCOL.md §8.4), sent to clients in ``session_ended``."""

    CLIENT_ENDED = "client_ended"
    CLIENT_TIMEOUT = "client_timeout"
    MAX_DURATION = "max_duration"
    MEMORY_LIMIT = "memory_limit"
    MODEL_ERROR = "model_error"
    MODEL_TIMEOUT = "model_timeout"
    SERVER_SHUTDOWN = "server_shutdown"
    WORKER_LOST = "worker_lost"
    """The worker node hosting the session stopped answering (cluster mode): recoverable by a new session."""


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
        self.state = SessionState.WAITING
        self.end_reason: str | None = None
        self.created_at = time.time()
        self.slot = FrameSlot()
        self.links: dict[int, ClientLink] = {}
        self.publishers: dict[str, int] = {}
        """Input track name -> connection id holding its publisher slot."""
        self.inputs: dict[str, InputFrame] = {}
        """Input track name -> newest frame from its publisher (absent while nobody publishes)."""
        self._input_rgb: dict[str, tuple[InputFrame, Frame]] = {}
        """The model thread's cache of the last conversion, so asking twice converts once."""
        self.last_client_stats: dict[int, dict[str, Any]] = {}
        self._on_closed = on_closed
        self._loop = asyncio.get_running_loop()
        self.uploads = UploadStore(
            uploads_dir or Path(tempfile.gettempdir()) / f"openreactor-uploads-{session_id}",
            max_bytes=settings.max_upload_bytes,
            slot_ttl_s=settings.upload_slot_ttl_s,
        )
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
        self._announced: set[int] = set()
        """Connection ids the model was told about with on_client_connected."""
        self._command_tail: dict[int, asyncio.Future[None]] = {}
        """Per connection: resolves once its latest command reached the model's queue (R-C6)."""
        self._tasks: set[asyncio.Task[Any]] = set()
        self._keepalive: asyncio.TimerHandle | None = None
        self._watchdog: asyncio.Task[None] | None = None
        self._memory_watch: asyncio.Task[None] | None = None
        self._closing: asyncio.Task[None] | None = None
        self._closed = asyncio.Event()

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        # Tasks and timers started here log with this session's id.
        with log_context(session_id=self.id):
            self._runner.start()
            self._watchdog = asyncio.create_task(self._watch_liveness(), name=f"watchdog-{self.id}")
            if self.settings.max_session_memory_mb:
                self._memory_watch = asyncio.create_task(
                    self._watch_memory(self.settings.max_session_memory_mb), name=f"memory-{self.id}"
                )
            self._arm_keepalive()
        if self.metrics is not None:
            self.metrics.on_session_started()

    @property
    def runner(self) -> ModelRunner:
        return self._runner

    @property
    def is_closed(self) -> bool:
        return self.state is SessionState.CLOSED

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
        self._disarm_keepalive()
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
        self.state = SessionState.CLOSED
        watchdogs = [t for t in (self._watchdog, self._memory_watch) if t is not None]
        for watchdog in watchdogs:
            watchdog.cancel()
        await self._runner.stop(drop_state=reason == EndReason.MEMORY_LIMIT)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self.inputs.clear()
        self._input_rgb.clear()
        self.publishers.clear()
        await asyncio.to_thread(self.uploads.close)
        await asyncio.gather(*watchdogs, return_exceptions=True)
        if self.metrics is not None:
            self.metrics.on_session_ended(reason)
        self._closed.set()
        if self._on_closed is not None:
            self._on_closed(self)

    async def _file_uploaded(self, upload_id: str) -> None:
        deadline = self._loop.time() + self.settings.upload_resolve_timeout_s
        try:
            file = await self.uploads.resolve(upload_id, deadline)
        except UnresolvedUploadError as exc:
            log.info("no on_file_uploaded for %s: %s", upload_id, exc.message)
            return
        if not self.is_ending:
            self._runner.notify_file_uploaded(file)

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

    async def _watch_memory(self, limit_mb: float) -> None:
        base = process_memory.baseline() or process_memory.rss_bytes()
        if base is None:
            log.warning("max_session_memory_mb is not enforced: this system reports no RSS")
            return
        while True:
            await asyncio.sleep(MEMORY_CHECK_S)
            rss = process_memory.rss_bytes()
            grown_mb = 0.0 if rss is None else (rss - base) / 2**20
            if grown_mb > limit_mb:
                log.error(
                    "session %s: process RSS %.0f MiB, %.0f MiB above its baseline (limit %g MiB)",
                    self.id,
                    (rss or 0) / 2**20,
                    grown_mb,
                    limit_mb,
                )
                message = (
                    f"the session's process grew by {grown_mb:.0f} MiB, over its limit of {limit_mb:g} MiB"
                )
                self._fail(ErrorCode.MEMORY_LIMIT, message, EndReason.MEMORY_LIMIT)
                return

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
        self._disarm_keepalive()
        self.state = SessionState.ACTIVE

    def detach(self, link: ClientLink) -> None:
        """A client connection went away; the session lives on for the keep-alive window."""
        if self.links.get(link.connection_id) is not link:
            return
        del self.links[link.connection_id]
        if self.metrics is not None:
            self.metrics.on_connection_detached(link.connection_id)
        self._client_left(link.connection_id)
        for track, holder in list(self.publishers.items()):
            if holder == link.connection_id:
                self._release_input(track)
        if not self.links and not self.is_closed:
            self.state = SessionState.SUSPENDED
            self._arm_keepalive()

    def _client_left(self, connection_id: int) -> None:
        """The model's on_client_disconnected, once per on_client_connected."""
        if connection_id in self._announced:
            self._announced.discard(connection_id)
            self._runner.notify_client_disconnected(connection_id)

    def _arm_keepalive(self) -> None:
        self._disarm_keepalive()
        self._keepalive = self._loop.call_later(self.settings.keepalive_s, self.end, EndReason.CLIENT_TIMEOUT)

    def _disarm_keepalive(self) -> None:
        if self._keepalive is not None:
            self._keepalive.cancel()
            self._keepalive = None

    async def _watch_liveness(self) -> None:
        while True:
            await asyncio.sleep(self.settings.liveness_check_s)
            deadline = self._loop.time() - self.settings.liveness_timeout_s
            for link in list(self.links.values()):
                if link.last_inbound < deadline:
                    log.info(
                        "connection %s silent for %.0f s: dropped",
                        link.connection_id,
                        self.settings.liveness_timeout_s,
                    )
                    self.detach(link)
                    self._spawn(link.close("liveness_timeout"))

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- messages ----------------------------------------------------------------------------

    def broadcast_message(self, message: Message) -> None:
        """A model message to every attached client (NOTIFICATION on ``data``)."""
        envelope = Envelope.notification(Channel.DATA, ModelMessage(message.type, message.data))
        for link in list(self.links.values()):
            link.send(envelope)

    def handle(self, link: ClientLink, envelope: Envelope) -> None:
        """Act on one decoded message from ``link``. Every REQUEST gets exactly one RESPONSE."""
        payload = envelope.payload
        match payload:
            case Command():
                self._handle_command(link, envelope, payload)
            case Ping() | ClientStats() | FileUploaded() | ErrorMessage():
                if isinstance(payload, ClientStats):
                    self.last_client_stats[link.connection_id] = payload.stats
                    if self.metrics is not None:
                        self.metrics.on_client_stats(link.connection_id, payload.stats)
                elif isinstance(payload, FileUploaded):
                    slot = self.uploads.get(payload.upload_id)
                    first = slot is not None and not slot.notified
                    known = self.uploads.mark_notified(payload.upload_id)
                    if first:  # the model's on_file_uploaded, once per upload, once stored
                        self._spawn(self._file_uploaded(payload.upload_id))
                    log.info(
                        "client %s uploaded %s (%s)",
                        link.connection_id,
                        payload.upload_id,
                        "known" if known else "unknown to this session",
                    )
                elif isinstance(payload, ErrorMessage):
                    log.info("client %s reported %s: %s", link.connection_id, payload.code, payload.message)
                self._answer(link, envelope, None)
            case ResumeTrack(name) | PauseTrack(name):
                if not link.set_output_paused(name, isinstance(payload, PauseTrack)):
                    self._refuse(link, envelope, ErrorCode.UNKNOWN_TRACK, f"no output track named {name!r}")
                else:
                    self._answer(link, envelope, None)
            case RequestSchema():
                schema = ModelSchema(openapi_document(self.model))
                if envelope.kind is Kind.REQUEST:
                    self._answer(link, envelope, schema)
                else:  # v0 (js-sdk) asks with a notification and waits for the schema frame
                    link.send(Envelope(envelope.channel, Kind.NOTIFICATION, schema))
            case PublishTrack(name):
                self._handle_publish(link, envelope, name)
            case UnpublishTrack(name):
                if self.publishers.get(name) == link.connection_id:
                    self._release_input(name)
                self._answer(link, envelope, None)
            case RequestClip() | RequestRecording():
                self._answer(link, envelope, ClipFailed("recorder disabled"))
            case _:
                self._refuse(
                    link,
                    envelope,
                    ErrorCode.UNSUPPORTED_REQUEST,
                    f"{type(payload).__name__} is not supported by this server",
                )

    def _answer(self, link: ClientLink, request: Envelope, payload: Any) -> None:
        """Reply to a REQUEST; notifications get no reply."""
        if request.kind is Kind.REQUEST:
            link.send(request.reply(payload))

    def _refuse(self, link: ClientLink, request: Envelope, code: str, message: str) -> None:
        error = ErrorMessage(code, self.uploads.redact(message))
        if request.kind is Kind.REQUEST:
            link.send(request.reply(error))
        else:
            link.send(Envelope(request.channel, Kind.NOTIFICATION, error))

    def _handle_publish(self, link: ClientLink, envelope: Envelope, name: str) -> None:
        inputs = [t.name for t in self.model.tracks if t.direction == "in"]
        if name not in inputs:
            self._refuse(
                link,
                envelope,
                ErrorCode.UNKNOWN_TRACK,
                f"the model declares no input track {name!r}; inputs: {inputs}",
            )
            return
        holder = self.publishers.get(name)
        if holder is not None and holder != link.connection_id:
            self._refuse(
                link,
                envelope,
                ErrorCode.PUBLISH_REFUSED,
                f"input track {name!r} is already published by another connection",
            )
            return
        self.publishers[name] = link.connection_id
        self._answer(link, envelope, PublishTrackResponse(name))

    def _release_input(self, track: str) -> None:
        """Free a publisher slot; the model sees ``None`` on that input from now on."""
        self.publishers.pop(track, None)
        self.inputs.pop(track, None)

    # -- input media -----------------------------------------------------------------------------

    def feed_input(
        self, connection_id: int, track: str, frame: InputFrame, *, implicit_claim: bool = False
    ) -> None:
        """Newest frame of input ``track`` from a connection; kept only from the slot's holder.

        ``implicit_claim``: a client that cannot publish explicitly (v0 JS 2.9.0 has no control
        channel) takes a free slot with its first frame.
        """
        holder = self.publishers.get(track)
        if holder is None and implicit_claim and not self.is_closed:
            self.publishers[track] = holder = connection_id
        if holder == connection_id:
            self.inputs[track] = frame

    def forget_inputs_of(self, connection_id: int) -> None:
        """Drop the last frames of a connection whose transport went away (its claims stay)."""
        for track, holder in self.publishers.items():
            if holder == connection_id:
                self.inputs.pop(track, None)

    def input_frame(self, track: str) -> Frame | None:
        """The model's ``ctx.input_frame``: converts the newest frame to RGB (on the model's thread)."""
        frame = self.inputs.get(track)
        if frame is None:
            return None
        cached = self._input_rgb.get(track)
        if cached is not None and cached[0] is frame:
            return cached[1]
        rgb: Frame = frame.to_ndarray(format="rgb24")
        self._input_rgb[track] = (frame, rgb)
        return rgb

    def _handle_command(self, link: ClientLink, envelope: Envelope, command: Command) -> None:
        """Validate (wire form), resolve uploads, then queue for the model, in arrival order.

        Top-level FileRefs (``Command.uploads``) and inline ones anywhere in ``data`` are replaced
        by :class:`UploadedFile` objects. A command whose files have not landed waits for them (up
        to ``upload_resolve_timeout_s``), and later commands of the same connection wait behind it
        (SDK-API.md R-C6); other connections are not held up.
        """
        data: dict[str, Any] = dict(command.data)
        for arg, ref in command.uploads.items():
            data[arg] = {
                "upload_id": ref.upload_id,
                "name": ref.name,
                "mime_type": ref.mime_type,
                "size": ref.size,
            }
        try:
            data = self._runner.validate(command.type, data)
            upload_ids = find_references(data)
            self.uploads.check_known(upload_ids)
        except CommandError as exc:
            self._refuse(link, envelope, exc.code, exc.message)
            return
        except UnresolvedUploadError as exc:
            self._refuse(link, envelope, ErrorCode.UNRESOLVED_UPLOAD, exc.message)
            return
        cid = link.connection_id
        ahead = self._command_tail.get(cid)
        if not upload_ids and ahead is None:
            self._submit(link, envelope, command.type, data)
            return
        queued: asyncio.Future[None] = self._loop.create_future()
        self._command_tail[cid] = queued
        deadline = self._loop.time() + self.settings.upload_resolve_timeout_s
        self._spawn(
            self._submit_when_resolved(
                link, envelope, command.type, data, upload_ids, deadline, ahead, queued
            )
        )

    async def _submit_when_resolved(
        self,
        link: ClientLink,
        envelope: Envelope,
        name: str,
        data: dict[str, Any],
        upload_ids: list[str],
        deadline: float,
        ahead: asyncio.Future[None] | None,
        queued: asyncio.Future[None],
    ) -> None:
        try:
            if ahead is not None:
                await asyncio.shield(ahead)
            files: dict[str, UploadedFile] = {}
            for upload_id in upload_ids:
                files[upload_id] = await self.uploads.resolve(upload_id, deadline)
        except UnresolvedUploadError as exc:
            self._refuse(link, envelope, ErrorCode.UNRESOLVED_UPLOAD, exc.message)
        else:
            self._submit(link, envelope, name, replace_references(data, files))
        finally:
            if not queued.done():
                queued.set_result(None)
            if self._command_tail.get(link.connection_id) is queued:
                del self._command_tail[link.connection_id]

    def _submit(self, link: ClientLink, envelope: Envelope, name: str, data: dict[str, Any]) -> None:
        if self.is_ending:
            self._refuse(link, envelope, "session_ended", "the session ended")
            return
        queued_at = time.perf_counter()
        future = self._runner.submit(name, data)
        self._spawn(self._reply_when_applied(link, envelope, future, queued_at))

    async def _reply_when_applied(
        self,
        link: ClientLink,
        envelope: Envelope,
        future: asyncio.Future[Message | None],
        queued_at: float | None = None,
    ) -> None:
        try:
            message = await future
        except CommandError as exc:
            if exc.code != "session_ended":
                self._observe_command(queued_at)
            self._refuse(link, envelope, exc.code, exc.message)
            return
        self._observe_command(queued_at)
        reply = ModelMessage(message.type, message.data) if message is not None else None
        if envelope.kind is Kind.REQUEST:
            link.send(envelope.reply(reply))
        elif reply is not None:
            # v0 has no correlation: a reply goes to the issuing connection as a plain message.
            link.send(Envelope.notification(Channel.DATA, reply))

    def _observe_command(self, queued_at: float | None) -> None:
        """Command latency: queued for the model -> applied by it (refused by its handler included)."""
        if self.metrics is not None and queued_at is not None:
            self.metrics.on_command_applied(time.perf_counter() - queued_at)

    # -- description ---------------------------------------------------------------------------

    def tracks_client_view(self) -> list[dict[str, str]]:
        """Capabilities tracks, named from the client's side (PROTOCOL.md §6.1)."""
        return [
            {"name": t.name, "kind": t.kind, "direction": "recvonly" if t.direction == "out" else "sendonly"}
            for t in self.model.tracks
        ]
