"""A client's commands on their way to the model: validated, uploads resolved, queued in order,
answered once the model applied them.

Top-level FileRefs (``Command.uploads``) and inline ones anywhere in ``data`` are replaced by
:class:`UploadedFile` objects. A command whose files have not landed waits for them (up to
``upload_resolve_timeout_s``), and later commands of the same connection wait behind it
(SDK-API.md R-C6); other connections are not held up.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from typing import Any

from openreactor.metrics import ServerMetrics
from openreactor.models.api import CommandError, Message, UploadedFile
from openreactor.models.runner import ModelRunner
from openreactor.sessions.client_link import ClientLink, refuse
from openreactor.sessions.uploads import (
    UnresolvedUploadError,
    UploadStore,
    find_references,
    replace_references,
)
from openreactor.settings import Settings
from reactor_protocol.errors import ErrorCode
from reactor_protocol.messages import Channel, Command, Envelope, ErrorMessage, Kind, ModelMessage


class CommandPipeline:
    """One session's commands: ``handle`` each as it arrives; replies go to the sender only."""

    def __init__(
        self,
        runner: ModelRunner,
        uploads: UploadStore,
        settings: Settings,
        *,
        metrics: ServerMetrics | None,
        spawn: Callable[[Coroutine[Any, Any, None]], None],
        is_ending: Callable[[], bool],
    ) -> None:
        self._runner = runner
        self._uploads = uploads
        self._settings = settings
        self._metrics = metrics
        self._spawn = spawn
        self._is_ending = is_ending
        self._loop = asyncio.get_running_loop()
        self._tail: dict[int, asyncio.Future[None]] = {}
        """Per connection: resolves once its latest command reached the model's queue (R-C6)."""

    def handle(self, link: ClientLink, envelope: Envelope, command: Command) -> None:
        """Validate (wire form), resolve uploads, then queue for the model, in arrival order."""
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
            self._uploads.check_known(upload_ids)
        except CommandError as exc:
            self._refuse(link, envelope, exc.code, exc.message)
            return
        except UnresolvedUploadError as exc:
            self._refuse(link, envelope, ErrorCode.UNRESOLVED_UPLOAD, exc.message)
            return
        cid = link.connection_id
        ahead = self._tail.get(cid)
        if not upload_ids and ahead is None:
            self._submit(link, envelope, command.type, data)
            return
        queued: asyncio.Future[None] = self._loop.create_future()
        self._tail[cid] = queued
        deadline = self._loop.time() + self._settings.upload_resolve_timeout_s
        self._spawn(
            self._submit_when_resolved(
                link, envelope, command.type, data, upload_ids, deadline, ahead, queued
            )
        )

    def _refuse(self, link: ClientLink, request: Envelope, code: str, message: str) -> None:
        refuse(link, request, ErrorMessage(code, self._uploads.redact(message)))

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
                files[upload_id] = await self._uploads.resolve(upload_id, deadline)
        except UnresolvedUploadError as exc:
            self._refuse(link, envelope, ErrorCode.UNRESOLVED_UPLOAD, exc.message)
        else:
            self._submit(link, envelope, name, replace_references(data, files))
        finally:
            if not queued.done():
                queued.set_result(None)
            if self._tail.get(link.connection_id) is queued:
                del self._tail[link.connection_id]

    def _submit(self, link: ClientLink, envelope: Envelope, name: str, data: dict[str, Any]) -> None:
        if self._is_ending():
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
                self._observe(queued_at)
            self._refuse(link, envelope, exc.code, exc.message)
            return
        self._observe(queued_at)
        reply = ModelMessage(message.type, message.data) if message is not None else None
        if envelope.kind is Kind.REQUEST:
            link.send(envelope.reply(reply))
        elif reply is not None:
            # v0 has no correlation: a reply goes to the issuing connection as a plain message.
            link.send(Envelope.notification(Channel.DATA, reply))

    def _observe(self, queued_at: float | None) -> None:
        """Command latency: queued for the model -> applied by it (refused by its handler included)."""
        if self._metrics is not None and queued_at is not None:
            self._metrics.on_command_applied(time.perf_counter() - queued_at)
