"""The model-author API: a model is a small Python class.

A model declares its tracks, its commands (methods marked with :func:`command`, each with a JSON
schema for its arguments) and produces frames in :meth:`Model.next_frame`, which the runner calls
once per frame at the model's ``fps``, off the event loop. Commands are applied between frames.

Example::

    class Gradient(Model):
        name = "gradient"
        fps = 30.0

        def __init__(self) -> None:
            self.level = 0

        @command("set_level", schema={"type": "object",
                                      "properties": {"level": {"type": "integer", "minimum": 0}},
                                      "required": ["level"]})
        def set_level(self, level: int) -> None:
            self.level = level

        def next_frame(self, ctx: ModelContext) -> Frame:
            return np.full((360, 640, 3), self.level % 256, np.uint8)
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal, Protocol, TypeVar

import numpy as np
import numpy.typing as npt

Frame = npt.NDArray[np.uint8]
"""One RGB frame, shape (H, W, 3), dtype uint8."""

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True, slots=True)
class TrackSpec:
    """A declared track, named from the model's side: ``out`` is an output, ``in`` an input."""

    name: str
    kind: Literal["video", "audio"] = "video"
    direction: Literal["out", "in"] = "out"


@dataclass(frozen=True, slots=True)
class Message:
    """A message from the model to clients: a command's reply, or a broadcast."""

    type: str
    data: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class UploadedFile:
    """A file a client uploaded, as a command handler receives it (in place of the FileRef).

    The bytes are stored by the server in the session's upload folder and stay readable until
    the session ends.
    """

    upload_id: str
    name: str
    mime_type: str
    size: int
    path: Path

    def read_bytes(self) -> bytes:
        return self.path.read_bytes()


class CommandError(Exception):
    """Raised by a command handler to refuse a command with a model-defined code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class CommandSpec:
    """A command as published in the schema: its name, description and argument schema."""

    name: str
    description: str = ""
    schema: dict[str, Any] = field(default_factory=lambda: {"type": "object", "properties": {}})
    method: str = ""
    """Name of the handler method on the model class."""


def command(
    name: str | None = None, *, schema: dict[str, Any] | None = None, description: str = ""
) -> Callable[[F], F]:
    """Mark a model method as the handler of command ``name`` (default: the method's name).

    The handler is called with the validated arguments as keyword arguments. It returns ``None``
    (a bare acknowledgement) or a :class:`Message` (the correlated reply), or raises
    :class:`CommandError`.
    """

    def mark(fn: F) -> F:
        spec = CommandSpec(
            name=name or fn.__name__,
            description=description or inspect.getdoc(fn) or "",
            schema=schema or {"type": "object", "properties": {}},
            method=fn.__name__,
        )
        fn.__openreactor_command__ = spec  # type: ignore[attr-defined]
        return fn

    return mark


class ModelContext(Protocol):
    """What a running model can see and do in its session."""

    @property
    def session_id(self) -> str: ...

    @property
    def frame_index(self) -> int:
        """Index of the frame being generated (0 for the session's first frame)."""
        ...

    def broadcast(self, message: Message) -> None:
        """Send a message to every connected client (thread-safe)."""
        ...

    def input_frame(self, track: str) -> Frame | None:
        """The newest frame received on input track ``track`` (RGB (H, W, 3) uint8), or ``None``
        while nobody publishes it. Newest wins: frames the model did not look at are skipped."""
        ...


class Model:
    """Base class of every model. Subclasses set the class attributes and override the hooks."""

    name: ClassVar[str] = "model"
    description: ClassVar[str] = ""
    tracks: ClassVar[tuple[TrackSpec, ...]] = (TrackSpec("main_video"),)
    fps: float = 30.0

    @classmethod
    def command_specs(cls) -> dict[str, CommandSpec]:
        """The commands this class declares, by name."""
        specs: dict[str, CommandSpec] = {}
        for klass in reversed(cls.__mro__):
            for attr in vars(klass).values():
                spec = getattr(attr, "__openreactor_command__", None)
                if isinstance(spec, CommandSpec):
                    specs[spec.name] = spec
        return specs

    def accepts_any_command(self) -> bool:
        """True when :meth:`on_command` handles names that no :func:`command` declares."""
        return type(self).on_command is not Model.on_command

    def on_session_start(self, ctx: ModelContext) -> None:
        """Called in the runner before the session's first frame; reset per-session state here."""

    def on_session_end(self, ctx: ModelContext) -> None:
        """Called once when the session ends."""

    def on_command(self, name: str, data: dict[str, Any]) -> Message | None:
        """Fallback for commands with no declared handler (override to accept any name)."""
        raise CommandError("invalid_command", f"unknown command {name!r}")

    def next_frame(self, ctx: ModelContext) -> Frame | None:
        """Produce the next frame (RGB (H, W, 3) uint8), or ``None`` to emit nothing this tick."""
        return None
