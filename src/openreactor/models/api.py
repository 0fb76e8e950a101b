"""The model-author API: a model is a small Python class.

A model declares its tracks, its state fields (:func:`state`, each one a ``set_<field>``
command), its commands (methods marked with :func:`command`, their JSON schema derived from the
signature) and the messages it sends. It produces video either one frame at a time in
:meth:`Model.next_frame` or from a generator, :meth:`Model.generate`, that yields frames
``(H, W, 3)`` or chunks ``(N, H, W, 3)``. The runner paces the output at the model's ``fps``
and calls the model (hooks, handlers, generation) on one worker thread, never on the event
loop. Commands are applied between two frames (or two yields).

Example::

    class Gradient(Model):
        name = "gradient"
        fps = 30.0

        level: int = state(0, ge=0, le=255, description="Grey level")   # → set_level

        @command
        def pulse(self, times: Annotated[int, Arg(ge=1, le=10)] = 1) -> None:
            '''Flash the picture ``times`` times.'''
            ...

        def next_frame(self, ctx: ModelContext) -> Frame:
            return np.full((360, 640, 3), self.level, np.uint8)
"""

from __future__ import annotations

import copy
import dataclasses
import inspect
import typing
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, Literal, Protocol, TypeAlias, TypeVar, cast, overload

import numpy as np
import numpy.typing as npt

from openreactor.models.arguments import Arg, object_schema, snake_case
from openreactor.models.files import UploadedFile

__all__ = [
    "Arg",
    "Chunk",
    "CommandError",
    "CommandSpec",
    "Frame",
    "Message",
    "Model",
    "ModelContext",
    "Output",
    "StateField",
    "TrackSpec",
    "UploadedFile",
    "command",
    "state",
]

Frame = npt.NDArray[np.uint8]
"""One RGB frame, shape (H, W, 3), dtype uint8."""

Chunk = npt.NDArray[np.uint8]
"""Consecutive RGB frames, shape (N, H, W, 3), dtype uint8, played out one per tick."""

Output: TypeAlias = Any
"""What generation produces: a :data:`Frame`, a :data:`Chunk`, a torch tensor (``(C, H, W)``
float in [0, 1] or ``(H, W, C)`` uint8, batched with a leading N), or ``None`` for "nothing this
tick" (clients keep showing the last frame)."""

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")

RESERVED_COMMANDS = frozenset({"connected", "disconnected"})
"""Names no command may take (SDK-API.md R-C8)."""


@dataclass(frozen=True, slots=True)
class TrackSpec:
    """A declared track, named from the model's side: ``out`` is an output, ``in`` an input."""

    name: str
    kind: Literal["video", "audio"] = "video"
    direction: Literal["out", "in"] = "out"


@dataclass(frozen=True, slots=True)
class Message:
    """A message from the model to clients: a command's reply, or a broadcast.

    Declared message records (dataclasses listed in :attr:`Model.messages`) can be sent instead;
    they travel as ``Message(snake_case(class name), fields)``.
    """

    type: str
    data: dict[str, Any] | None = None


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
    """Name of the handler method on the model class ("" for a state field's setter)."""
    arg_types: Mapping[str, Any] = field(default_factory=dict)
    """Annotation of each argument, to turn validated JSON into what the handler expects."""
    reply: type | None = None
    """The message record the handler returns as its correlated reply, if it declares one."""
    state_field: str | None = None
    """For a generated ``set_<field>`` command: the field it sets."""


# -- commands ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _CommandMark:
    name: str | None
    schema: dict[str, Any] | None
    description: str


@overload
def command(name: F, /) -> F: ...


@overload
def command(
    name: str | None = None, /, *, schema: dict[str, Any] | None = None, description: str = ""
) -> Callable[[F], F]: ...


def command(name: Any = None, /, *, schema: dict[str, Any] | None = None, description: str = "") -> Any:
    """Mark a model method as the handler of command ``name`` (default: the method's name).

    Without ``schema`` the argument schema is derived from the signature: annotations give the
    types (``Annotated[int, Arg(ge=0)]`` adds constraints), defaults make arguments optional.
    The handler gets the validated arguments as keyword arguments. It returns ``None`` (a bare
    acknowledgement), a :class:`Message` or a declared message record (the correlated reply), or
    raises :class:`CommandError`. It may be ``async``. Usable bare (``@command``) or called.
    """
    if callable(name):
        return command()(name)

    def mark(fn: F) -> F:
        fn.__openreactor_command__ = _CommandMark(name, schema, description)  # type: ignore[attr-defined]
        return fn

    return mark


def _derive_spec(cls: type, fn: Callable[..., Any], mark: _CommandMark) -> CommandSpec:
    name = mark.name or fn.__name__
    if name in RESERVED_COMMANDS:
        raise TypeError(f"{cls.__name__}.{fn.__name__}: the command name {name!r} is reserved")
    description = mark.description or inspect.getdoc(fn) or ""
    try:
        hints = typing.get_type_hints(fn, include_extras=True)
    except Exception as exc:
        raise TypeError(f"{cls.__name__}.{fn.__name__}: cannot resolve annotations: {exc}") from exc
    reply = hints.get("return")
    is_record = isinstance(reply, type) and dataclasses.is_dataclass(reply) and reply is not Message
    reply_type = reply if is_record else None
    params = list(inspect.signature(fn).parameters.values())[1:]  # skip self
    arg_types = {p.name: hints.get(p.name, Any) for p in params if p.kind is not p.VAR_KEYWORD}
    if mark.schema is not None:
        return CommandSpec(name, description, mark.schema, fn.__name__, {}, reply_type)
    fields: dict[str, tuple[Any, Any]] = {}
    for p in params:
        if p.kind in (p.VAR_POSITIONAL, p.POSITIONAL_ONLY):
            raise TypeError(f"{cls.__name__}.{fn.__name__}: arguments must be passable by keyword")
        if p.kind is p.VAR_KEYWORD:
            continue
        default = dataclasses.MISSING if p.default is p.empty else p.default
        fields[p.name] = (arg_types[p.name], default)
    try:
        schema = object_schema(fields)
    except TypeError as exc:
        raise TypeError(f"{cls.__name__}.{fn.__name__}: {exc}") from exc
    if any(p.kind is p.VAR_KEYWORD for p in params):
        schema["additionalProperties"] = True
    return CommandSpec(name, description, schema, fn.__name__, arg_types, reply_type)


# -- state fields --------------------------------------------------------------------------------


class StateField(Generic[T]):
    """A typed, per-session value on a model, settable by clients with ``set_<name>``.

    Created with :func:`state`. Reading ``self.<name>`` gives the current value; the runner
    resets it to a copy of the default at the start of every session.
    """

    def __init__(self, default: T, arg: Arg) -> None:
        self.default = default
        self.arg = arg
        self.name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, obj: None, owner: type | None = None) -> StateField[T]: ...

    @overload
    def __get__(self, obj: object, owner: type | None = None) -> T: ...

    def __get__(self, obj: object | None, owner: type | None = None) -> T | StateField[T]:
        if obj is None:
            return self
        # Non-data descriptor: the first read stores a copy on the instance, which wins afterwards.
        value: T = copy.deepcopy(self.default)
        obj.__dict__[self.name] = value
        return value

    @property
    def public(self) -> bool:
        """Private fields (a leading underscore) get no ``set_`` command."""
        return not self.name.startswith("_")


def state(
    default: T,
    *,
    description: str = "",
    ge: float | None = None,
    le: float | None = None,
    min_length: int | None = None,
    max_length: int | None = None,
    choices: list[Any] | tuple[Any, ...] | None = None,
    moderate: bool = True,
) -> T:
    """Declare a state field: ``value: int = state(0, ge=0, le=65535, description="...")``.

    Clients set it with the generated command ``set_value`` (one argument ``value``, the field's
    type and constraints, a bare acknowledgement); an explicit ``@command("set_value")`` wins.
    The model reads it as ``self.value``; it is back at its default when a session starts.
    """
    arg = Arg(description, ge, le, min_length, max_length, choices, moderate)
    return cast(T, StateField(default, arg))


# -- what a running model sees -------------------------------------------------------------------


class ModelContext(Protocol):
    """What a running model can see and do in its session."""

    @property
    def session_id(self) -> str: ...

    @property
    def frame_index(self) -> int:
        """Index of the (first) frame being generated (0 for the session's first frame)."""
        ...

    @property
    def client_count(self) -> int:
        """How many clients are connected right now."""
        ...

    def broadcast(self, message: Any) -> None:
        """Send a :class:`Message` or a declared message record to every connected client.

        Thread-safe; usable from handlers, hooks and generation.
        """
        ...

    def input_frame(self, track: str) -> Frame | None:
        """The newest frame received on input track ``track`` (RGB (H, W, 3) uint8), or ``None``
        while nobody publishes it. Newest wins: frames the model did not look at are skipped."""
        ...


_SPEC_CACHE: dict[type, dict[str, CommandSpec]] = {}


class Model:
    """Base class of every model. Subclasses set the class attributes and override the hooks.

    Hooks run on the model's worker thread, in the order things happen, between two frames:
    ``on_session_start`` → ``on_client_connected`` → commands / ``on_file_uploaded`` →
    ``on_client_disconnected`` → ``on_session_end``. Any hook may be ``async``.
    """

    name: ClassVar[str] = "model"
    version: ClassVar[str] = "1"
    """Matched against ``model.version`` of ``POST /sessions`` when a client names one; a worker
    node announces ``name@version`` so placement can pick workers with the requested version."""
    description: ClassVar[str] = ""
    tracks: ClassVar[tuple[TrackSpec, ...]] = (TrackSpec("main_video"),)
    messages: ClassVar[tuple[type, ...]] = ()
    """Message records (dataclasses) the model sends; their wire ``type`` is the snake_case
    class name. Records returned as command replies are declared by the return annotation."""
    fps: float = 30.0

    @classmethod
    def state_fields(cls) -> dict[str, StateField[Any]]:
        """The state fields this class declares, by name (inherited ones included)."""
        fields: dict[str, StateField[Any]] = {}
        for klass in reversed(cls.__mro__):
            for attr in vars(klass).values():
                if isinstance(attr, StateField):
                    fields[attr.name] = attr
        return fields

    @classmethod
    def command_specs(cls) -> dict[str, CommandSpec]:
        """The commands this class declares, by name: state setters first, then ``@command``s.

        Raises ``TypeError`` when a signature or annotation has no JSON mapping.
        """
        cached = _SPEC_CACHE.get(cls)
        if cached is not None:
            return cached
        specs: dict[str, CommandSpec] = {}
        fields = cls.state_fields()
        try:
            hints = typing.get_type_hints(cls, include_extras=True) if fields else {}
        except Exception as exc:
            raise TypeError(f"{cls.__name__}: cannot resolve state field annotations: {exc}") from exc
        for fname, fld in fields.items():
            if not fld.public:
                continue
            tp = hints.get(fname, type(fld.default))
            schema = object_schema({fname: (tp, dataclasses.MISSING)})
            schema["properties"][fname] = fld.arg.apply(schema["properties"][fname])
            specs[f"set_{fname}"] = CommandSpec(
                f"set_{fname}", f"Set {fname}", schema, "", {fname: tp}, None, fname
            )
        for klass in reversed(cls.__mro__):
            for attr in vars(klass).values():
                mark = getattr(attr, "__openreactor_command__", None)
                if isinstance(mark, _CommandMark):
                    spec = _derive_spec(cls, attr, mark)
                    specs[spec.name] = spec
        _SPEC_CACHE[cls] = specs
        return specs

    @classmethod
    def message_types(cls) -> dict[str, type]:
        """Declared message records by wire ``type``: :attr:`messages` plus typed replies."""
        found = list(cls.messages) + [s.reply for s in cls.command_specs().values() if s.reply]
        return {snake_case(t.__name__): t for t in found}

    def reset_state(self) -> None:
        """Put every state field back to (a copy of) its default; the runner calls it per session."""
        for fname, fld in type(self).state_fields().items():
            self.__dict__[fname] = copy.deepcopy(fld.default)

    def accepts_any_command(self) -> bool:
        """True when :meth:`on_command` handles names that no :func:`command` declares."""
        return type(self).on_command is not Model.on_command

    # -- hooks (override any of them; each may be async) ---------------------------------------

    def on_session_start(self, ctx: ModelContext) -> Awaitable[None] | None:
        """Called before the session's first frame, after state fields were reset."""

    def on_session_end(self, ctx: ModelContext) -> Awaitable[None] | None:
        """Called once when the session ends, after generation was closed."""

    def on_client_connected(self, ctx: ModelContext, connection_id: int) -> Awaitable[None] | None:
        """A client connection attached (``ctx.client_count`` already counts it)."""

    def on_client_disconnected(self, ctx: ModelContext, connection_id: int) -> Awaitable[None] | None:
        """A client connection went away (``ctx.client_count`` no longer counts it)."""

    def on_file_uploaded(self, ctx: ModelContext, file: UploadedFile) -> Awaitable[None] | None:
        """A client finished an upload (once per upload, whether or not a command uses it)."""

    def on_command(self, name: str, data: dict[str, Any]) -> Message | None:
        """Fallback for commands with no declared handler (override to accept any name)."""
        raise CommandError("invalid_command", f"unknown command {name!r}")

    # -- generation ----------------------------------------------------------------------------

    def next_frame(self, ctx: ModelContext) -> Output:
        """Produce the next frame (see :data:`Output`), or ``None`` to emit nothing this tick."""
        return None

    def generate(self, ctx: ModelContext) -> Iterator[Output]:
        """The generation loop: yield frames or chunks (see :data:`Output`); ``None`` idles a tick.

        The runner resumes it only when its playout buffer (one chunk) has room, applies commands
        between yields, closes it when the session ends, and restarts it if it returns. The
        default calls :meth:`next_frame` forever.
        """
        while True:
            yield self.next_frame(ctx)

    @classmethod
    def uses_generate(cls) -> bool:
        return cls.generate is not Model.generate
