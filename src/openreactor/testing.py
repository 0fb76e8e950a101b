"""Test a model without a server: commands in, frames and replies out, no network, no pacing.

The harness drives the model exactly as a session does (same validation against the published
schema, same worker-thread driver, same frame conversion), only as fast as the model runs::

    from openreactor.testing import run_model

    run = run_model(MyModel(), frames=30, commands=[(10, "set_speed", {"speed": 2})])
    assert run.replies[0].error is None
    assert run.frames[29].shape == (360, 640, 3)

For hooks, uploads and step-by-step control use :class:`ModelHarness`::

    with ModelHarness(MyModel()) as h:
        h.connect()
        h.command("set_speed", speed=2)
        frame = h.frames(1)[0]
"""

from __future__ import annotations

import mimetypes
import tempfile
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from openreactor.models.api import CommandError, Frame, Message, Model, UploadedFile
from openreactor.models.arguments import to_wire
from openreactor.models.runner import CommandCall, HookCall, ModelDriver, RunnerContext
from openreactor.models.schema import CommandValidator, component_schemas

__all__ = ["ModelHarness", "ModelRun", "Reply", "run_model"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Reply:
    """What one command got back: a message (``None`` for a bare ack) or an error."""

    name: str
    frame: int
    """Index of the first frame generated after the command was applied."""
    message: Message | None = None
    error: CommandError | None = None


@dataclass(slots=True)
class ModelRun:
    """The result of :func:`run_model`."""

    frames: list[Frame] = field(default_factory=list)
    """Every frame generated, in order (idle ticks produce none)."""
    replies: list[Reply] = field(default_factory=list)
    """One per command, in the order they were applied."""
    messages: list[Message] = field(default_factory=list)
    """Everything the model broadcast."""


def _without_files(value: Any, files: dict[str, UploadedFile]) -> Any:
    """``value`` with UploadedFile objects as FileRef objects (what the wire carries)."""
    if isinstance(value, UploadedFile):
        files[value.upload_id] = value
        wire: dict[str, Any] = to_wire(value)
        return wire
    if isinstance(value, dict):
        return {k: _without_files(v, files) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_without_files(v, files) for v in value]
    return value


def _with_files(value: Any, files: dict[str, UploadedFile]) -> Any:
    if isinstance(value, dict):
        upload_id = value.get("upload_id")
        if set(value) == {"upload_id", "name", "mime_type", "size"} and upload_id in files:
            return files[upload_id]
        return {k: _with_files(v, files) for k, v in value.items()}
    if isinstance(value, list):
        return [_with_files(v, files) for v in value]
    return value


class ModelHarness:
    """One session of ``model``, driven by hand. Calls run on one worker thread, like the server's.

    Raises :class:`CommandError` from :meth:`command` just as a client would get it, and whatever
    the model raises from :meth:`start`, :meth:`frames` and :meth:`ticks`.
    """

    def __init__(self, model: Model, *, session_id: str = "test-session", timeout_s: float = 60.0) -> None:
        self.model = model
        self.messages: list[Message] = []
        """Everything the model broadcast so far."""
        self.inputs: dict[str, Frame] = {}
        """What ``ctx.input_frame(track)`` returns; set entries to feed input tracks."""
        self.timeout_s = timeout_s
        self._ctx = RunnerContext(model, session_id, self.messages.append, self.inputs.get)
        self._validator = CommandValidator(model.command_specs(), component_schemas(model))
        self._driver = ModelDriver(model, self._ctx, self._validator)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="model-harness")
        self._uploads = Path(tempfile.mkdtemp(prefix="openreactor-harness-"))
        self._started = False
        self._closed = False

    def _run(self, fn: Callable[..., T], *args: Any) -> T:
        return self._executor.submit(fn, *args).result(self.timeout_s)

    def __enter__(self) -> ModelHarness:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @property
    def frame_index(self) -> int:
        """Index of the next frame the model will generate."""
        return self._driver.frame_index

    def start(self) -> None:
        """Reset state fields and run ``on_session_start``."""
        if self._started:
            raise RuntimeError("the harness was already started")
        self._started = True
        self._run(self._driver.start)

    def connect(self, connection_id: int = 1) -> None:
        """A client attaches: ``on_client_connected``."""
        self._run(self._driver.apply, HookCall("client_connected", connection_id))

    def disconnect(self, connection_id: int = 1) -> None:
        """A client goes away: ``on_client_disconnected``."""
        self._run(self._driver.apply, HookCall("client_disconnected", connection_id))

    def upload(self, data: bytes, name: str = "file.bin", mime_type: str | None = None) -> UploadedFile:
        """Store ``data`` as an upload and run ``on_file_uploaded``; pass the file to commands."""
        upload_id = uuid.uuid4().hex
        path = self._uploads / upload_id / name
        path.parent.mkdir(parents=True)
        path.write_bytes(data)
        mime = mime_type or mimetypes.guess_type(name)[0] or "application/octet-stream"
        file = UploadedFile(upload_id, name, mime, len(data), path)
        self._run(self._driver.apply, HookCall("file_uploaded", file))
        return file

    def validate(self, name: str, data: dict[str, Any]) -> dict[str, Any]:
        """``data`` checked against the published schema, as the server would; ``invalid_command``."""
        files: dict[str, UploadedFile] = {}
        wire = _without_files(data, files)
        if name in self.model.command_specs():
            wire = self._validator.validate(name, wire)
        elif not self.model.accepts_any_command():
            raise CommandError("invalid_command", f"unknown command {name!r}")
        result: dict[str, Any] = _with_files(wire, files)
        return result

    def command(self, name: str, data: dict[str, Any] | None = None, **kwargs: Any) -> Message | None:
        """Send one command, applied at once (between two frames); its reply or ``CommandError``."""
        args = self.validate(name, {**(data or {}), **kwargs})
        result = self._run(self._driver.apply, CommandCall(name, args))
        if isinstance(result, CommandError):
            raise result
        return result

    def ticks(self, count: int) -> list[Frame | None]:
        """Resume generation ``count`` times; every frame of each output (``None``: idle tick)."""
        out: list[Frame | None] = []
        for _ in range(count):
            out.extend(self._run(self._driver.produce))
        return out

    def frames(self, count: int, *, max_ticks: int | None = None) -> list[Frame]:
        """Generate until ``count`` frames came out (whole chunks: maybe a few more).

        Raises ``TimeoutError`` when ``max_ticks`` (default ``10 * count + 10``) outputs brought
        too few frames, e.g. a model that keeps idling.
        """
        limit = 10 * count + 10 if max_ticks is None else max_ticks
        got: list[Frame] = []
        for _ in range(limit):
            if len(got) >= count:
                return got
            got.extend(f for f in self._run(self._driver.produce) if f is not None)
        if len(got) >= count:
            return got
        raise TimeoutError(f"only {len(got)} of {count} frames after {limit} outputs")

    def close(self) -> None:
        """Close generation and run ``on_session_end``. Idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            if self._started:
                self._run(self._driver.finish, [])
        finally:
            self._executor.shutdown(wait=True)
            for path in sorted(self._uploads.rglob("*"), reverse=True):
                path.unlink() if path.is_file() else path.rmdir()
            self._uploads.rmdir()


def run_model(
    model: Model,
    *,
    frames: int,
    commands: Iterable[tuple[int, str, dict[str, Any]]] = (),
    connect: bool = True,
) -> ModelRun:
    """Run one session of ``model`` for ``frames`` frames, sending each ``(at_frame, name, args)``
    command just before the output that contains frame ``at_frame`` is generated (frame indices
    as the model sees them in ``ctx.frame_index``; idle ticks count).

    Command errors are recorded in the replies, never raised; what the model raises while
    generating is raised.
    """
    schedule = sorted(commands, key=lambda c: c[0])
    run = ModelRun()
    with ModelHarness(model) as harness:
        run.messages = harness.messages
        if connect:
            harness.connect()
        idle = 0
        while len(run.frames) < frames:
            while schedule and schedule[0][0] <= harness.frame_index:
                _, name, args = schedule.pop(0)
                try:
                    run.replies.append(Reply(name, harness.frame_index, harness.command(name, args)))
                except CommandError as exc:
                    run.replies.append(Reply(name, harness.frame_index, None, exc))
            produced = [f for f in harness.ticks(1) if f is not None]
            run.frames.extend(produced)
            idle = 0 if produced else idle + 1
            if idle > 10 * frames + 10:
                raise TimeoutError(f"the model idled; only {len(run.frames)} of {frames} frames")
        if connect:
            harness.disconnect()
    del run.frames[frames:]
    return run
