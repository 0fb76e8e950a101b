"""Data-channel messages as frozen dataclasses: what sessions and SDKs handle, never bytes or JSON.

An :class:`Envelope` is one message on one channel. Its ``payload`` is one of the payload classes
below, or ``None`` for a bare RESPONSE (a command acknowledged with no reply body). Both codecs
(``codec_v1_protobuf`` and ``codec_v0_json``) translate between envelopes and wire bytes/text.

Which payloads travel on which channel, and in which direction (PROTOCOL.md §5.5, §5.6):

=========  ==================  ===========================================================
channel    client -> server     server -> client
=========  ==================  ===========================================================
data       Command, RequestStep ModelMessage, StepResult,
           ErrorMessage         ErrorMessage
control    Ping, RequestSchema, ModelSchema, PublishTrackResponse, SessionEnded,
           FileUploaded,        Moderation, ClipReady, ClipFailed, ErrorMessage
           PublishTrack,
           PauseTrack,
           ResumeTrack,
           UnpublishTrack,
           ClientStats,
           RequestClip,
           RequestRecording,
           ErrorMessage
=========  ==================  ===========================================================
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

JsonObject: TypeAlias = dict[str, Any]
"""A JSON object as Python values (the wire's ``google.protobuf.Struct``)."""

Origin: TypeAlias = Literal["client", "server"]
"""Who sends a message; selects the v1 envelope type (``DataClientMessage`` vs ``DataServerMessage``)."""

WireVersion: TypeAlias = Literal["v0", "v1"]
"""v0 = JSON text on ``data`` (the official JS client), v1 = binary protobuf (the official Python client)."""


class Channel(enum.StrEnum):
    """The two client-created data channels."""

    DATA = "data"
    CONTROL = "control"


class Kind(enum.IntEnum):
    """Message kind, numbered as on the v1 wire (``MessageKind``)."""

    REQUEST = 1
    RESPONSE = 2
    NOTIFICATION = 3


# ---------------------------------------------------------------------------------------------
# Payloads shared by both directions


@dataclass(frozen=True, slots=True)
class ErrorMessage:
    """A coded error (``Error``): a refused request, or an uncorrelated error notification."""

    code: str
    """Machine code, e.g. ``invalid_command`` (see ``errors.ErrorCode``)."""
    message: str
    """Human-readable text."""


@dataclass(frozen=True, slots=True)
class UploadRef:
    """A reference to an uploaded file (``UploadReference``; the SDK's ``FileRef`` on the wire)."""

    upload_id: str
    name: str
    mime_type: str
    size: int


# ---------------------------------------------------------------------------------------------
# data channel


@dataclass(frozen=True, slots=True)
class Command:
    """A model command. Top-level file arguments travel in ``uploads``, keyed by argument name."""

    type: str
    data: JsonObject = field(default_factory=dict)
    uploads: dict[str, UploadRef] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ModelMessage:
    """A message from the model: a command's reply, or a broadcast."""

    type: str
    data: JsonObject | None = None


class TrackKind(enum.IntEnum):
    """Media kind of a track, numbered as on the v1 wire (``TrackKind``)."""

    UNSPECIFIED = 0
    VIDEO = 1
    AUDIO = 2


class FrameEncoding(enum.IntEnum):
    """How a stepped frame's ``data`` is encoded (``FrameEncoding``)."""

    UNSPECIFIED = 0
    RAW = 1
    """Raw array: video ``uint8 [H, W, 3]`` RGB row-major, audio ``int16 [channels, samples]``."""
    H264 = 2
    """One Annex-B access unit; ``shape`` is the decoded size."""


class StepFailureCode(enum.IntEnum):
    """Outcome of a step (``StepFailureCode``); ``UNSPECIFIED`` (0) is success."""

    UNSPECIFIED = 0
    REFUSED = 1
    NOT_READY = 2
    FAILED = 3
    RESULT_TOO_LARGE = 4
    COMMAND_FAILED = 5
    SESSION_ENDED = 6


@dataclass(frozen=True, slots=True)
class Frame:
    """One media frame of a step (``Frame``)."""

    encoding: FrameEncoding
    dtype: str
    shape: tuple[int, ...]
    data: bytes
    metadata: bytes | None = None
    """The push's ``user_data``; ``None`` when absent on the wire."""
    capture_time_us: int | None = None


@dataclass(frozen=True, slots=True)
class TrackFrames:
    """Frames of one track, in a step request (inputs) or a step result (outputs)."""

    track: str
    kind: TrackKind
    frames: tuple[Frame, ...] = ()
    rate: float = 0.0
    """Frames per second."""


@dataclass(frozen=True, slots=True)
class RequestStep:
    """Stepped generation request (optional feature).

    ``state`` keys are applied as ``set_<key>``; ``commands`` run in order. A command inside a
    step with empty ``data`` goes on the wire without its ``data`` field (as the Python client
    sends a command whose data was ``None``); an empty ``state`` is left off likewise.
    """

    state: JsonObject = field(default_factory=dict)
    commands: tuple[Command, ...] = ()
    media_input: tuple[TrackFrames, ...] = ()


@dataclass(frozen=True, slots=True)
class StepFileRef:
    """A file a step produced (fetched over HTTP, PROTOCOL.md §10.1)."""

    name: str
    content_type: str
    size: int


@dataclass(frozen=True, slots=True)
class StepResult:
    """The RESPONSE to a :class:`RequestStep` (``StepResult``)."""

    step: int = 0
    """1-based step index."""
    tracks: tuple[TrackFrames, ...] = ()
    elapsed_seconds: float = 0.0
    files: tuple[StepFileRef, ...] = ()
    error: str | None = None
    failure_code: StepFailureCode = StepFailureCode.UNSPECIFIED
    code: str | None = None
    """The handler's code (with ``COMMAND_FAILED``)."""
    entry: str | None = None
    """The offending input, e.g. ``state.prompt`` or ``commands[1]``."""


# ---------------------------------------------------------------------------------------------
# control channel, client -> server


@dataclass(frozen=True, slots=True)
class Ping:
    """Heartbeat; no reply. Any inbound message refreshes the liveness watchdog."""


@dataclass(frozen=True, slots=True)
class RequestSchema:
    """Ask for the model's OpenAPI document; answered with :class:`ModelSchema`."""


@dataclass(frozen=True, slots=True)
class FileUploaded:
    """The client finished a PUT upload."""

    upload_id: str
    name: str
    mime_type: str
    size: int


@dataclass(frozen=True, slots=True)
class PublishTrack:
    """Claim the publisher slot of an input track; answered with :class:`PublishTrackResponse`."""

    name: str


@dataclass(frozen=True, slots=True)
class UnpublishTrack:
    name: str


@dataclass(frozen=True, slots=True)
class PauseTrack:
    """Stop sending an output track to this connection."""

    name: str


@dataclass(frozen=True, slots=True)
class ResumeTrack:
    """Start sending an output track to this connection (outputs start paused for v1)."""

    name: str


@dataclass(frozen=True, slots=True)
class ClientStats:
    """Client telemetry, kept as the JSON form of the protobuf message (servers may ignore it)."""

    stats: JsonObject = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RequestClip:
    duration_seconds: float


@dataclass(frozen=True, slots=True)
class RequestRecording:
    pass


# ---------------------------------------------------------------------------------------------
# control channel, server -> client


@dataclass(frozen=True, slots=True)
class ModelSchema:
    openapi: JsonObject


@dataclass(frozen=True, slots=True)
class PublishTrackResponse:
    name: str = ""


@dataclass(frozen=True, slots=True)
class SessionEnded:
    reason: str


@dataclass(frozen=True, slots=True)
class Moderation:
    action: str
    input_kind: str = ""
    command: str = ""
    categories: tuple[str, ...] = ()
    message: str = ""


@dataclass(frozen=True, slots=True)
class ClipReady:
    session_id: str
    kind: str
    start_marker: float
    end_marker: float
    now_marker: float
    predicted_ready_at_ms: int
    playlist_url: str


@dataclass(frozen=True, slots=True)
class ClipFailed:
    reason: str


Payload: TypeAlias = (
    ErrorMessage
    | Command
    | ModelMessage
    | RequestStep
    | StepResult
    | Ping
    | RequestSchema
    | FileUploaded
    | PublishTrack
    | UnpublishTrack
    | PauseTrack
    | ResumeTrack
    | ClientStats
    | RequestClip
    | RequestRecording
    | ModelSchema
    | PublishTrackResponse
    | SessionEnded
    | Moderation
    | ClipReady
    | ClipFailed
)


@dataclass(frozen=True, slots=True)
class Envelope:
    """One message on one channel.

    ``request_id`` is non-empty for REQUEST and RESPONSE (``data_<n>`` / ``ctrl_<n>`` from the
    Python client), ``""`` for NOTIFICATION. ``payload`` is ``None`` only for a bare RESPONSE
    (an acknowledgement).
    """

    channel: Channel
    kind: Kind
    payload: Payload | None
    request_id: str = ""

    @classmethod
    def notification(cls, channel: Channel, payload: Payload) -> Envelope:
        return cls(channel, Kind.NOTIFICATION, payload, "")

    def reply(self, payload: Payload | None = None) -> Envelope:
        """The RESPONSE to this REQUEST, on the same channel with the same request id."""
        return Envelope(self.channel, Kind.RESPONSE, payload, self.request_id)
