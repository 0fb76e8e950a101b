"""The Reactor-compatible wire protocol: messages, codecs, codes and limits (no I/O, no asyncio).

Sessions and SDKs handle :class:`Envelope` dataclasses only; a connection turns them into bytes or
text with the codec of its wire version::

    codec = codec_for(detect_version(first_message))
    env = codec.decode(raw, Channel.CONTROL, "client")
    channel.send(codec.encode(env.reply(ModelSchema(openapi)), "server"))

The codec modules (and with ``codec_v1_protobuf`` the protobuf runtime) load on first use.
"""

from __future__ import annotations

from .errors import RECOVERABLE_CODES, DecodeError, ErrorCode
from .limits import (
    ANSWER_POLL_DELAYS_S,
    KEEPALIVE_WINDOW_S,
    LIVENESS_CHECK_S,
    LIVENESS_TIMEOUT_S,
    LOCAL_SESSION_ID,
    MAX_MESSAGE_BYTES,
    PING_INTERVAL_S,
    REQUEST_TIMEOUT_S,
    UPLOAD_RESOLVE_TIMEOUT_S,
)
from .messages import (
    Channel,
    ClientStats,
    ClipFailed,
    ClipReady,
    Command,
    Envelope,
    ErrorMessage,
    FileUploaded,
    Frame,
    FrameEncoding,
    JsonObject,
    Kind,
    ModelMessage,
    ModelSchema,
    Moderation,
    Origin,
    PauseTrack,
    Payload,
    Ping,
    PublishTrack,
    PublishTrackResponse,
    RequestClip,
    RequestRecording,
    RequestSchema,
    RequestStep,
    ResumeTrack,
    SessionEnded,
    StepFailureCode,
    StepFileRef,
    StepResult,
    TrackFrames,
    TrackKind,
    UnpublishTrack,
    UploadRef,
    WireVersion,
)
from .wire import Codec, codec_for, detect_version

__all__ = [
    "ANSWER_POLL_DELAYS_S",
    "Channel",
    "ClientStats",
    "ClipFailed",
    "ClipReady",
    "Codec",
    "Command",
    "DecodeError",
    "Envelope",
    "ErrorCode",
    "ErrorMessage",
    "FileUploaded",
    "Frame",
    "FrameEncoding",
    "JsonObject",
    "KEEPALIVE_WINDOW_S",
    "Kind",
    "LIVENESS_CHECK_S",
    "LIVENESS_TIMEOUT_S",
    "LOCAL_SESSION_ID",
    "MAX_MESSAGE_BYTES",
    "ModelMessage",
    "ModelSchema",
    "Moderation",
    "Origin",
    "PING_INTERVAL_S",
    "PauseTrack",
    "Payload",
    "Ping",
    "PublishTrack",
    "PublishTrackResponse",
    "RECOVERABLE_CODES",
    "REQUEST_TIMEOUT_S",
    "RequestClip",
    "RequestRecording",
    "RequestSchema",
    "RequestStep",
    "ResumeTrack",
    "SessionEnded",
    "StepFailureCode",
    "StepFileRef",
    "StepResult",
    "TrackFrames",
    "TrackKind",
    "UPLOAD_RESOLVE_TIMEOUT_S",
    "UnpublishTrack",
    "UploadRef",
    "WireVersion",
    "codec_for",
    "detect_version",
]
