"""The JSON request bodies of the HTTP API, each described once, as a dataclass.

A body's JSON Schema comes from its fields (``openreactor.models.arguments``, the converter that
also describes model commands: ``Annotated[T, Arg(...)]`` for constraints and descriptions) and
serves twice: :func:`read_body` validates requests against it, and ``/openapi.json`` publishes it
(``components.schemas.<class name>``). A field's :class:`Refusal` is the 400's text when that
field is wrong; ``__post_init__`` holds the few rules JSON Schema cannot say (a byte length).
Properties a body does not name are ignored, as clients send more than we read.

Adding a body: a dataclass here (subclass :class:`Body`), ``await read_body(request, TheBody)`` in
the route, and ``body(TheBody)`` as the operation's ``requestBody`` in ``http.openapi``.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, ClassVar, Literal, TypeVar, get_args, get_origin

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError
from starlette.requests import Request

from openreactor.http.errors import ApiError
from openreactor.http.request_parsing import json_object
from openreactor.models.arguments import Arg, from_wire, record_schema
from openreactor.sessions.session import EndReason
from openreactor.transport.peer import TrackMapping

MAX_REASON_CHARS = 64
MAX_NAME_BYTES = 1024
DEFAULT_MIME_TYPE = "application/octet-stream"


@dataclass(frozen=True, slots=True)
class Refusal:
    """The detail of the 400 when this field is missing or wrong; ``{value!r}`` names the value."""

    text: str

    def detail(self, value: Any) -> str:
        return self.text.format(value=value)


class Body:
    """A JSON request body. Subclasses are frozen dataclasses; these class settings say how the
    raw body is read before it is validated."""

    allow_empty: ClassVar[bool] = True
    """An empty body counts as ``{}`` (else 400: a JSON body is required)."""
    allow_null: ClassVar[bool] = False
    """A JSON ``null`` counts as ``{}``."""
    aliases: ClassVar[Mapping[str, str]] = {}
    """``{other name: field}``: the other name is read when the field itself is absent."""


GENERATION = Refusal("generation {value!r} is not supported by this server (only 'streamed')")
NEEDS_MODEL_NAME = Refusal("the body needs model.name")
NEEDS_SDP = Refusal("the body needs an 'sdp_offer' string")
TRACK_ENTRY = Refusal("each track_mapping entry needs string 'name' and 'mid'")
UPLOAD_NAME = Refusal(f"'name' must be a non-empty string of at most {MAX_NAME_BYTES} bytes")

Streamed = Annotated[Literal["streamed"], Arg(description="only 'streamed' is served"), GENERATION]


# -- the local plane -------------------------------------------------------------------------------


@dataclass(frozen=True)
class StartSession(Body):
    """Start the one local session"""

    generation: Streamed = "streamed"


@dataclass(frozen=True)
class StopSession(Body):
    """Stop the running local session"""

    reason: Annotated[
        str,
        Arg(max_length=MAX_REASON_CHARS, description="why (sent to clients in session_ended)"),
        Refusal(f"reason must be a string of at most {MAX_REASON_CHARS} characters"),
    ] = EndReason.CLIENT_ENDED


# -- the cloud plane -------------------------------------------------------------------------------


@dataclass(frozen=True)
class TokenRequest(Body):
    """Mint a JWT: its lifetime and scope"""

    allow_null = True

    expires_after: Annotated[
        Any, Arg(description="lifetime in seconds (capped; anything but a positive number: the cap)")
    ] = None
    authorization_details: Annotated[
        Any, Arg(description="scope: models, sessions, max session duration (PROTOCOL.md §2.2)")
    ] = None


@dataclass(frozen=True)
class ModelChoice:
    name: Annotated[str, Arg(min_length=1), NEEDS_MODEL_NAME]
    version: Annotated[str | None, Refusal("model.version must be a string")] = None


@dataclass(frozen=True)
class ExtraConfigs:
    generation: Streamed = "streamed"


@dataclass(frozen=True)
class CreateSession(Body):
    """Create a session of a model"""

    allow_empty = False

    model: Annotated[ModelChoice, NEEDS_MODEL_NAME]
    extra_configs: Annotated[ExtraConfigs | None, Refusal("extra_configs must be an object")] = None


# -- signalling ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NewConnection(Body):
    """Open a connection id (the body is read but carries nothing)"""


@dataclass(frozen=True)
class TrackMappingEntry:
    name: Annotated[str, TRACK_ENTRY]
    mid: Annotated[str, TRACK_ENTRY]
    kind: Annotated[Any, Arg(description="video or audio (read as a string)")] = "video"
    direction: Annotated[Any, Arg(description="client-centric: recvonly, sendonly (read as a string)")] = ""


@dataclass(frozen=True)
class Offer(Body):
    """An SDP offer and which transceiver carries which track"""

    allow_empty = False
    aliases = {"sdp": "sdp_offer"}

    sdp_offer: Annotated[str, Arg(min_length=1, description="`sdp` is accepted too"), NEEDS_SDP]
    track_mapping: Annotated[
        list[Annotated[TrackMappingEntry, TRACK_ENTRY]] | None, Refusal("track_mapping must be a list")
    ] = None

    def __post_init__(self) -> None:
        if not self.sdp_offer.strip():
            raise ApiError(400, NEEDS_SDP.text)

    def mapping(self) -> list[TrackMapping]:
        return [TrackMapping(e.name, str(e.kind), str(e.direction), e.mid) for e in self.track_mapping or ()]


@dataclass(frozen=True)
class Candidates(Body):
    """Trickled ICE candidates"""

    allow_empty = False

    candidates: Annotated[
        list[Any],
        Arg(description="objects with candidate, sdp_mid, sdp_mline_index; others are skipped"),
        Refusal("'candidates' must be a list"),
    ] = field(default_factory=list)


# -- uploads ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CreateUpload(Body):
    """Reserve an upload slot"""

    allow_empty = False

    name: Annotated[str, Arg(min_length=1, description=f"at most {MAX_NAME_BYTES} UTF-8 bytes"), UPLOAD_NAME]
    size: Annotated[
        int, Arg(ge=0, description="bytes"), Refusal("'size' must be a non-negative integer (bytes)")
    ]
    mime_type: Annotated[str, Refusal("'mime_type' must be a string")] = DEFAULT_MIME_TYPE

    def __post_init__(self) -> None:
        if len(self.name.encode()) > MAX_NAME_BYTES:
            raise ApiError(400, UPLOAD_NAME.text)


BODIES: tuple[type[Body], ...] = (
    StartSession,
    StopSession,
    TokenRequest,
    CreateSession,
    NewConnection,
    Offer,
    Candidates,
    CreateUpload,
)
"""Every request body (``/openapi.json`` publishes each under its class name)."""


# -- schema and validation -------------------------------------------------------------------------

B = TypeVar("B", bound=Body)


def _open(schema: Any) -> Any:
    """``schema`` without ``additionalProperties: false`` anywhere: bodies ignore what they don't name."""
    if isinstance(schema, dict):
        return {k: _open(v) for k, v in schema.items() if not (k == "additionalProperties" and v is False)}
    if isinstance(schema, list):
        return [_open(v) for v in schema]
    return schema


def body_schema(cls: type[Body]) -> dict[str, Any]:
    """The JSON Schema of a body, as validated and as published."""
    schema: dict[str, Any] = _open(record_schema(cls))
    if cls.allow_null:
        schema["type"] = ["object", "null"]
    return schema


_validators: dict[type[Body], Any] = {}


def _validator(cls: type[Body]) -> Any:
    if cls not in _validators:
        _validators[cls] = Draft202012Validator(body_schema(cls))
    return _validators[cls]


def _strip(tp: Any) -> tuple[Any, Refusal | None]:
    """``tp`` without ``Annotated`` and ``| None``, and the Refusal it carries."""
    refusal = None
    while True:
        if get_origin(tp) is Annotated:
            tp, *extras = get_args(tp)
            refusal = next((e for e in extras if isinstance(e, Refusal)), refusal)
        elif get_origin(tp) in (typing.Union, types.UnionType):
            options = [a for a in get_args(tp) if a is not type(None)]
            if len(options) != 1:
                return tp, refusal
            tp = options[0]
        else:
            return tp, refusal


def _deepest(error: ValidationError) -> ValidationError:
    """Into ``anyOf`` (an optional field): the sub-error deepest in the body, if one is deeper."""
    while error.context:
        deeper = max(error.context, key=lambda e: len(e.absolute_path))
        if len(deeper.absolute_path) <= len(error.absolute_path):
            break
        error = deeper
    return error


def _refusal_of(cls: type[Body], raw: Any, error: ValidationError) -> tuple[tuple[int, ...], str]:
    """Where the error is, in declaration order (to report the first field's), and its text."""
    error = _deepest(error)
    path = list(error.absolute_path)
    if error.validator == "required" and isinstance(error.instance, dict):
        missing = [name for name in error.validator_value if name not in error.instance]
        path.append(missing[0])
    tp: Any = cls
    order: list[int] = []
    refusal: Refusal | None = None
    value, value_of_refusal = raw, raw
    for step in path:
        if isinstance(step, str) and dataclasses.is_dataclass(tp):
            hints = typing.get_type_hints(tp, include_extras=True)
            names = [f.name for f in dataclasses.fields(tp)]
            if step not in names:
                break
            order.append(names.index(step))
            tp, found = _strip(hints[step])
        elif isinstance(step, int) and get_origin(tp) is list:
            order.append(step)
            tp, found = _strip(get_args(tp)[0])
        else:
            break
        value = value.get(step) if isinstance(value, dict) else value[step] if isinstance(value, list) else None
        if found is not None:
            refusal, value_of_refusal = found, value
    if refusal is not None:
        return tuple(order), refusal.detail(value_of_refusal)
    where = ".".join(str(p) for p in error.absolute_path) or "body"
    return tuple(order), f"{where}: {error.message}"


async def read_body(request: Request, cls: type[B]) -> B:
    """The request's JSON body as ``cls``; ``ApiError`` 400 (413 when too large) naming the first
    wrong field."""
    return parse_body(cls, await json_object(request, allow_empty=cls.allow_empty, allow_null=cls.allow_null))


def parse_body(cls: type[B], raw: dict[str, Any]) -> B:
    """A JSON object as ``cls``, validated against its schema; ``ApiError`` 400 for the first wrong field."""
    for other, name in cls.aliases.items():
        if name not in raw and other in raw:
            raw = {**raw, name: raw[other]}
    refusals = [_refusal_of(cls, raw, error) for error in _validator(cls).iter_errors(raw)]
    if refusals:
        raise ApiError(400, min(refusals, key=lambda r: r[0])[1])
    return typing.cast(B, from_wire(cls, raw))
