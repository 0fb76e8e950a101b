"""A client's messages to its session: one ``case`` per message type.

:meth:`MessageDispatcher.handle` takes one decoded :class:`Envelope` from a connection and acts
on it with the session's parts: commands go to the :class:`CommandPipeline`, input publishing to
the :class:`InputPublishers`, output pausing to the connection itself. Every REQUEST gets exactly
one RESPONSE (an acknowledgement, a payload or an error); a message this server does not support
is refused with ``unsupported_request``. To handle a new message type: its dataclass and codecs in
``reactor_protocol``, then a ``case`` here.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from openreactor.metrics import ServerMetrics
from openreactor.models.api import Model
from openreactor.models.runner import ModelRunner
from openreactor.models.schema import openapi_document
from openreactor.sessions.client_link import ClientLink, answer, refuse
from openreactor.sessions.commands import CommandPipeline
from openreactor.sessions.inputs import InputPublishers
from openreactor.sessions.uploads import UnresolvedUploadError, UploadStore
from openreactor.settings import Settings
from reactor_protocol.errors import ErrorCode
from reactor_protocol.messages import (
    ClientStats,
    ClipFailed,
    Command,
    Envelope,
    ErrorMessage,
    FileUploaded,
    Kind,
    ModelSchema,
    PauseTrack,
    Ping,
    PublishTrack,
    PublishTrackResponse,
    RequestClip,
    RequestRecording,
    RequestSchema,
    ResumeTrack,
    UnpublishTrack,
)

log = logging.getLogger(__name__)


class MessageDispatcher:
    """Acts on each message of a session's clients."""

    def __init__(
        self,
        model: Model,
        runner: ModelRunner,
        uploads: UploadStore,
        inputs: InputPublishers,
        commands: CommandPipeline,
        settings: Settings,
        *,
        metrics: ServerMetrics | None,
        spawn: Callable[[Coroutine[Any, Any, None]], None],
        is_ending: Callable[[], bool],
    ) -> None:
        self._model = model
        self._runner = runner
        self._uploads = uploads
        self._inputs = inputs
        self._commands = commands
        self._settings = settings
        self._metrics = metrics
        self._spawn = spawn
        self._is_ending = is_ending
        self._loop = asyncio.get_running_loop()
        self.last_client_stats: dict[int, dict[str, Any]] = {}
        """Connection id -> the stats its client reported last."""

    def handle(self, link: ClientLink, envelope: Envelope) -> None:
        """Act on one decoded message from ``link``. Every REQUEST gets exactly one RESPONSE."""
        payload = envelope.payload
        match payload:
            case Command():
                self._commands.handle(link, envelope, payload)
            case Ping():
                answer(link, envelope, None)
            case ClientStats():
                self.last_client_stats[link.connection_id] = payload.stats
                if self._metrics is not None:
                    self._metrics.on_client_stats(link.connection_id, payload.stats)
                answer(link, envelope, None)
            case FileUploaded():
                self._file_uploaded(link, payload.upload_id)
                answer(link, envelope, None)
            case ErrorMessage():
                log.info("client %s reported %s: %s", link.connection_id, payload.code, payload.message)
                answer(link, envelope, None)
            case ResumeTrack(name):
                self._set_output_paused(link, envelope, name, paused=False)
            case PauseTrack(name):
                self._set_output_paused(link, envelope, name, paused=True)
            case RequestSchema():
                schema = ModelSchema(openapi_document(self._model))
                if envelope.kind is Kind.REQUEST:
                    answer(link, envelope, schema)
                else:  # v0 (js-sdk) asks with a notification and waits for the schema frame
                    link.send(Envelope(envelope.channel, Kind.NOTIFICATION, schema))
            case PublishTrack(name):
                refused = self._inputs.claim(name, link.connection_id)
                if refused is not None:
                    self._refuse(link, envelope, *refused)
                else:
                    answer(link, envelope, PublishTrackResponse(name))
            case UnpublishTrack(name):
                self._inputs.unpublish(name, link.connection_id)
                answer(link, envelope, None)
            case RequestClip():
                answer(link, envelope, ClipFailed("recorder disabled"))
            case RequestRecording():
                answer(link, envelope, ClipFailed("recorder disabled"))
            case _:
                self._refuse(
                    link,
                    envelope,
                    ErrorCode.UNSUPPORTED_REQUEST,
                    f"{type(payload).__name__} is not supported by this server",
                )

    def _refuse(self, link: ClientLink, request: Envelope, code: str, message: str) -> None:
        refuse(link, request, ErrorMessage(code, self._uploads.redact(message)))

    def _set_output_paused(self, link: ClientLink, envelope: Envelope, name: str, *, paused: bool) -> None:
        if not link.set_output_paused(name, paused):
            self._refuse(link, envelope, ErrorCode.UNKNOWN_TRACK, f"no output track named {name!r}")
        else:
            answer(link, envelope, None)

    def _file_uploaded(self, link: ClientLink, upload_id: str) -> None:
        slot = self._uploads.get(upload_id)
        first = slot is not None and not slot.notified
        known = self._uploads.mark_notified(upload_id)
        if first:  # the model's on_file_uploaded, once per upload, once stored
            self._spawn(self._notify_model(upload_id))
        log.info(
            "client %s uploaded %s (%s)",
            link.connection_id,
            upload_id,
            "known" if known else "unknown to this session",
        )

    async def _notify_model(self, upload_id: str) -> None:
        deadline = self._loop.time() + self._settings.upload_resolve_timeout_s
        try:
            file = await self._uploads.resolve(upload_id, deadline)
        except UnresolvedUploadError as exc:
            log.info("no on_file_uploaded for %s: %s", upload_id, exc.message)
            return
        if not self._is_ending():
            self._runner.notify_file_uploaded(file)
