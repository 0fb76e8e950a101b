"""v1 wire: one binary protobuf message per data-channel message (PROTOCOL.md §5.4-§5.6).

``origin`` is who sends the message: ``"client"`` selects ``DataClientMessage`` /
``ControlClientMessage``, ``"server"`` ``DataServerMessage`` / ``ControlServerMessage``.

* ``google.protobuf.Struct`` becomes a ``dict`` and back. On the wire every number is a double
  (PROTOCOL.md §5.4: ``{"n": 3}`` travels as ``3.0``). Decoding gives back what JSON would: a
  number that is integral and a safe integer (``|n| <= 2**53 - 1``) becomes an ``int``, any other
  stays a ``float`` (``0.5``; ``2**53 + 1``, which the double already rounded; NaN and infinities,
  which only a non-JSON peer can send). So ``{"n": 3}`` arrives as ``{"n": 3}``, and ``{"n": 3.0}``
  also as ``{"n": 3}`` (JSON does not tell them apart either). Encoding writes ``int`` and
  ``float`` alike as doubles, byte for byte as the official client does.
* Encoding is deterministic (map keys sorted), which reproduces the official Python client's bytes.
* :class:`~reactor_protocol.messages.ClientStats` travels as the JSON form of the protobuf message
  (``MessageToDict`` with proto field names), so it is semantically, not byte-for-byte, stable.
* ``decode`` raises :class:`~reactor_protocol.errors.DecodeError` (code ``malformed_message``) for
  every input it cannot turn into an :class:`~reactor_protocol.messages.Envelope`, and nothing else.
* ``encode`` raises ``ValueError`` / ``TypeError`` for an envelope that cannot travel as given
  (a payload on the wrong channel or from the wrong side, a non-JSON value in a ``dict``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from google.protobuf import json_format, struct_pb2

from . import _reactor_pb2 as pb
from .errors import DecodeError, ErrorCode
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
)

__all__ = ["decode", "encode", "has_wire_form", "wire_channel"]

_ALLOWED: dict[tuple[Channel, Origin], tuple[type[Any], ...]] = {
    (Channel.DATA, "client"): (Command, RequestStep, ErrorMessage),
    (Channel.DATA, "server"): (ModelMessage, StepResult, ErrorMessage),
    (Channel.CONTROL, "client"): (
        Ping,
        RequestSchema,
        FileUploaded,
        RequestClip,
        RequestRecording,
        PublishTrack,
        PauseTrack,
        ResumeTrack,
        UnpublishTrack,
        ClientStats,
        ErrorMessage,
    ),
    (Channel.CONTROL, "server"): (
        ModelSchema,
        ClipReady,
        ClipFailed,
        Moderation,
        PublishTrackResponse,
        SessionEnded,
        ErrorMessage,
    ),
}


_KIND_VALUES = frozenset(int(k) for k in Kind)


def _kind_pb(kind: Kind) -> pb.MessageKind.ValueType:
    return pb.MessageKind.ValueType(int(kind))


# ---------------------------------------------------------------------------------------------
# public API


def encode(env: Envelope, origin: Origin) -> bytes:
    """The v1 bytes of ``env`` as sent by ``origin``."""
    channel = Channel(env.channel)
    _check_shape(env, channel, origin)
    msg: pb.DataClientMessage | pb.DataServerMessage | pb.ControlClientMessage | pb.ControlServerMessage
    if channel is Channel.DATA and origin == "client":
        msg = pb.DataClientMessage(request_id=env.request_id, kind=_kind_pb(env.kind))
        _put_data_client(msg, env.payload)
    elif channel is Channel.DATA:
        msg = pb.DataServerMessage(request_id=env.request_id, kind=_kind_pb(env.kind))
        _put_data_server(msg, env.payload)
    elif origin == "client":
        msg = pb.ControlClientMessage(request_id=env.request_id, kind=_kind_pb(env.kind))
        _put_control_client(msg, env.payload)
    else:
        msg = pb.ControlServerMessage(request_id=env.request_id, kind=_kind_pb(env.kind))
        _put_control_server(msg, env.payload)
    return msg.SerializeToString(deterministic=True)


def decode(raw: bytes | str, channel: Channel, origin: Origin) -> Envelope:
    """The envelope in ``raw``, received on ``channel`` and sent by ``origin``.

    Raises :class:`DecodeError` for anything that is not a valid v1 message.
    """
    if isinstance(raw, str):
        raise DecodeError("text message on a v1 (binary protobuf) connection")
    try:
        data = bytes(raw)
        if data[:1] in (b"{", b"["):
            raise DecodeError("v0 JSON on a v1 (binary protobuf) connection")
        return _decode(data, Channel(channel), origin)
    except DecodeError:
        raise
    except Exception as exc:  # protobuf parse errors, unknown enum values, bad UTF-8, ...
        raise DecodeError(f"invalid v1 message: {type(exc).__name__}: {exc}") from exc


def has_wire_form(env: Envelope, origin: Origin) -> bool:
    """Whether ``encode(env, origin)`` would accept the envelope's shape (every v1 message has bytes)."""
    try:
        _check_shape(env, Channel(env.channel), origin)
    except ValueError:
        return False
    return True


def wire_channel(env: Envelope) -> Channel:
    """The channel the encoded message must be sent on: on v1, the envelope's own."""
    return Channel(env.channel)


def _check_shape(env: Envelope, channel: Channel, origin: Origin) -> None:
    if origin not in ("client", "server"):
        raise ValueError(f"origin must be 'client' or 'server', not {origin!r}")
    kind = Kind(env.kind)
    if kind is Kind.REQUEST and not env.request_id:
        raise ValueError("a REQUEST needs a non-empty request_id")
    if env.payload is None:
        if kind is not Kind.RESPONSE:
            raise ValueError("only a RESPONSE may have no payload")
        return
    if not isinstance(env.payload, _ALLOWED[channel, origin]):
        raise ValueError(
            f"{type(env.payload).__name__} cannot be sent by the {origin} on the {channel} channel"
        )


# ---------------------------------------------------------------------------------------------
# decoding


def _decode(data: bytes, channel: Channel, origin: Origin) -> Envelope:
    msg: pb.DataClientMessage | pb.DataServerMessage | pb.ControlClientMessage | pb.ControlServerMessage
    if channel is Channel.DATA:
        msg = pb.DataClientMessage() if origin == "client" else pb.DataServerMessage()
    else:
        msg = pb.ControlClientMessage() if origin == "client" else pb.ControlServerMessage()
    msg.ParseFromString(data)
    if int(msg.kind) not in _KIND_VALUES:
        raise DecodeError(f"invalid message kind {int(msg.kind)}")
    kind = Kind(int(msg.kind))
    if kind is Kind.REQUEST and not msg.request_id:
        raise DecodeError("REQUEST without a request_id")
    if isinstance(msg, pb.DataClientMessage):
        payload = _data_client_payload(msg)
    elif isinstance(msg, pb.DataServerMessage):
        payload = _data_server_payload(msg)
    elif isinstance(msg, pb.ControlClientMessage):
        payload = _control_client_payload(msg)
    else:
        payload = _control_server_payload(msg)
    if payload is None and kind is not Kind.RESPONSE:
        raise DecodeError(f"{kind.name} without a (known) payload", ErrorCode.MALFORMED_MESSAGE)
    return Envelope(channel, kind, payload, msg.request_id)


def _data_client_payload(msg: pb.DataClientMessage) -> Payload | None:
    which = msg.WhichOneof("payload")
    if which == "command":
        return _command_from_pb(msg.command)
    if which == "request_step":
        step = msg.request_step
        return RequestStep(
            state=_struct_to_dict(step.state) if step.HasField("state") else {},
            commands=tuple(_command_from_pb(c) for c in step.commands),
            media_input=tuple(_track_frames_from_pb(t) for t in step.media_input),
        )
    if which == "error":
        return ErrorMessage(msg.error.code, msg.error.message)
    return None


def _data_server_payload(msg: pb.DataServerMessage) -> Payload | None:
    which = msg.WhichOneof("payload")
    if which == "message":
        m = msg.message
        return ModelMessage(m.type, _struct_to_dict(m.data) if m.HasField("data") else None)
    if which == "step_result":
        r = msg.step_result
        return StepResult(
            step=r.step,
            tracks=tuple(_track_frames_from_pb(t) for t in r.tracks),
            elapsed_seconds=r.elapsed_seconds,
            files=tuple(StepFileRef(f.name, f.content_type, f.size) for f in r.files),
            error=r.error if r.HasField("error") else None,
            failure_code=StepFailureCode(r.failure_code),
            code=r.code if r.HasField("code") else None,
            entry=r.entry if r.HasField("entry") else None,
        )
    if which == "error":
        return ErrorMessage(msg.error.code, msg.error.message)
    return None


def _control_client_payload(msg: pb.ControlClientMessage) -> Payload | None:
    which = msg.WhichOneof("payload")
    if which == "ping":
        return Ping()
    if which == "request_schema":
        return RequestSchema()
    if which == "file_uploaded":
        f = msg.file_uploaded
        return FileUploaded(f.upload_id, f.name, f.mime_type, f.size)
    if which == "request_clip":
        return RequestClip(msg.request_clip.duration_seconds)
    if which == "request_recording":
        return RequestRecording()
    if which == "publish_track":
        return PublishTrack(msg.publish_track.name)
    if which == "pause_track":
        return PauseTrack(msg.pause_track.name)
    if which == "resume_track":
        return ResumeTrack(msg.resume_track.name)
    if which == "unpublish_track":
        return UnpublishTrack(msg.unpublish_track.name)
    if which == "client_stats":
        return ClientStats(json_format.MessageToDict(msg.client_stats, preserving_proto_field_name=True))
    if which == "error":
        return ErrorMessage(msg.error.code, msg.error.message)
    return None


def _control_server_payload(msg: pb.ControlServerMessage) -> Payload | None:
    which = msg.WhichOneof("payload")
    if which == "model_schema":
        return ModelSchema(_struct_to_dict(msg.model_schema.openapi))
    if which == "clip_ready":
        c = msg.clip_ready
        return ClipReady(
            session_id=c.session_id,
            kind=c.kind,
            start_marker=c.start_marker,
            end_marker=c.end_marker,
            now_marker=c.now_marker,
            predicted_ready_at_ms=c.predicted_ready_at_ms,
            playlist_url=c.playlist_url,
        )
    if which == "clip_failed":
        return ClipFailed(msg.clip_failed.reason)
    if which == "moderation":
        m = msg.moderation
        return Moderation(m.action, m.input_kind, m.command, tuple(m.categories), m.message)
    if which == "publish_track":
        return PublishTrackResponse(msg.publish_track.name)
    if which == "session_ended":
        return SessionEnded(msg.session_ended.reason)
    if which == "error":
        return ErrorMessage(msg.error.code, msg.error.message)
    return None


def _command_from_pb(c: pb.Command) -> Command:
    return Command(
        type=c.type,
        data=_struct_to_dict(c.data) if c.HasField("data") else {},
        uploads={
            key: UploadRef(ref.upload_id, ref.name, ref.mime_type, ref.size) for key, ref in c.uploads.items()
        },
    )


def _track_frames_from_pb(t: pb.TrackFrames) -> TrackFrames:
    return TrackFrames(
        track=t.track,
        kind=TrackKind(t.kind),
        frames=tuple(
            Frame(
                encoding=FrameEncoding(f.encoding),
                dtype=f.dtype,
                shape=tuple(f.shape),
                data=f.data,
                metadata=f.metadata if f.HasField("metadata") else None,
                capture_time_us=f.capture_time_us if f.HasField("capture_time_us") else None,
            )
            for f in t.frames
        ),
        rate=t.rate,
    )


def _struct_to_dict(s: struct_pb2.Struct) -> JsonObject:
    return {key: _value_to_py(value) for key, value in s.fields.items()}


MAX_SAFE_INTEGER = 2**53 - 1
"""The largest integer a double holds exactly together with its neighbours (JavaScript's
``Number.MAX_SAFE_INTEGER``); integral doubles up to it decode as ``int``."""


def _number_to_py(number: float) -> int | float:
    """An integral double within the safe range as ``int`` (as JSON gives it), else the float."""
    if number.is_integer() and -MAX_SAFE_INTEGER <= number <= MAX_SAFE_INTEGER:
        return int(number)
    return number  # fractions, beyond 2**53 (already rounded), NaN and infinities


def _value_to_py(v: struct_pb2.Value) -> Any:
    which = v.WhichOneof("kind")
    if which == "number_value":
        return _number_to_py(v.number_value)
    if which == "string_value":
        return v.string_value
    if which == "bool_value":
        return v.bool_value
    if which == "struct_value":
        return _struct_to_dict(v.struct_value)
    if which == "list_value":
        return [_value_to_py(item) for item in v.list_value.values]
    return None  # null_value, or a Value with no kind set


# ---------------------------------------------------------------------------------------------
# encoding


def _put_data_client(msg: pb.DataClientMessage, p: Payload | None) -> None:
    if isinstance(p, Command):
        _put_command(msg.command, p, always_data=True)
    elif isinstance(p, RequestStep):
        step = msg.request_step
        step.SetInParent()
        if p.state:
            _put_struct(step.state, p.state)
        for command in p.commands:
            _put_command(step.commands.add(), command, always_data=False)
        for track in p.media_input:
            _put_track_frames(step.media_input.add(), track)
    elif isinstance(p, ErrorMessage):
        _put_error(msg.error, p)


def _put_data_server(msg: pb.DataServerMessage, p: Payload | None) -> None:
    if isinstance(p, ModelMessage):
        msg.message.type = p.type
        msg.message.SetInParent()
        if p.data is not None:
            _put_struct(msg.message.data, p.data)
    elif isinstance(p, StepResult):
        r = msg.step_result
        r.SetInParent()
        r.step = p.step
        for track in p.tracks:
            _put_track_frames(r.tracks.add(), track)
        r.elapsed_seconds = p.elapsed_seconds
        for f in p.files:
            r.files.add(name=f.name, content_type=f.content_type, size=f.size)
        if p.error is not None:
            r.error = p.error
        r.failure_code = pb.StepFailureCode.ValueType(int(p.failure_code))
        if p.code is not None:
            r.code = p.code
        if p.entry is not None:
            r.entry = p.entry
    elif isinstance(p, ErrorMessage):
        _put_error(msg.error, p)


def _put_control_client(msg: pb.ControlClientMessage, p: Payload | None) -> None:
    if isinstance(p, Ping):
        msg.ping.SetInParent()
    elif isinstance(p, RequestSchema):
        msg.request_schema.SetInParent()
    elif isinstance(p, FileUploaded):
        msg.file_uploaded.SetInParent()
        f = msg.file_uploaded
        f.upload_id, f.name, f.mime_type, f.size = p.upload_id, p.name, p.mime_type, p.size
    elif isinstance(p, RequestClip):
        msg.request_clip.SetInParent()
        msg.request_clip.duration_seconds = p.duration_seconds
    elif isinstance(p, RequestRecording):
        msg.request_recording.SetInParent()
    elif isinstance(p, PublishTrack):
        msg.publish_track.SetInParent()
        msg.publish_track.name = p.name
    elif isinstance(p, PauseTrack):
        msg.pause_track.SetInParent()
        msg.pause_track.name = p.name
    elif isinstance(p, ResumeTrack):
        msg.resume_track.SetInParent()
        msg.resume_track.name = p.name
    elif isinstance(p, UnpublishTrack):
        msg.unpublish_track.SetInParent()
        msg.unpublish_track.name = p.name
    elif isinstance(p, ClientStats):
        msg.client_stats.SetInParent()
        try:
            json_format.ParseDict(p.stats, msg.client_stats)
        except json_format.ParseError as exc:
            raise ValueError(f"ClientStats.stats is not a ClientStats message: {exc}") from exc
    elif isinstance(p, ErrorMessage):
        _put_error(msg.error, p)


def _put_control_server(msg: pb.ControlServerMessage, p: Payload | None) -> None:
    if isinstance(p, ModelSchema):
        msg.model_schema.SetInParent()
        _put_struct(msg.model_schema.openapi, p.openapi)
    elif isinstance(p, ClipReady):
        c = msg.clip_ready
        c.SetInParent()
        c.session_id, c.kind, c.playlist_url = p.session_id, p.kind, p.playlist_url
        c.start_marker, c.end_marker, c.now_marker = p.start_marker, p.end_marker, p.now_marker
        c.predicted_ready_at_ms = p.predicted_ready_at_ms
    elif isinstance(p, ClipFailed):
        msg.clip_failed.SetInParent()
        msg.clip_failed.reason = p.reason
    elif isinstance(p, Moderation):
        m = msg.moderation
        m.SetInParent()
        m.action, m.input_kind, m.command, m.message = p.action, p.input_kind, p.command, p.message
        m.categories.extend(p.categories)
    elif isinstance(p, PublishTrackResponse):
        msg.publish_track.SetInParent()
        msg.publish_track.name = p.name
    elif isinstance(p, SessionEnded):
        msg.session_ended.SetInParent()
        msg.session_ended.reason = p.reason
    elif isinstance(p, ErrorMessage):
        _put_error(msg.error, p)


def _put_error(e: pb.Error, p: ErrorMessage) -> None:
    e.SetInParent()
    e.code = p.code
    e.message = p.message


def _put_command(c: pb.Command, p: Command, *, always_data: bool) -> None:
    """Fill ``c``; a top-level command always carries ``data``, a step's only when non-empty."""
    c.SetInParent()
    c.type = p.type
    if always_data or p.data:
        c.data.SetInParent()
        _put_struct(c.data, p.data)
    for key, ref in p.uploads.items():
        entry = c.uploads[key]
        entry.SetInParent()
        entry.upload_id, entry.name = ref.upload_id, ref.name
        entry.mime_type, entry.size = ref.mime_type, ref.size


def _put_track_frames(t: pb.TrackFrames, p: TrackFrames) -> None:
    t.track = p.track
    t.kind = pb.TrackKind.ValueType(int(p.kind))
    t.rate = p.rate
    for frame in p.frames:
        f = t.frames.add()
        f.encoding = pb.FrameEncoding.ValueType(int(frame.encoding))
        f.dtype = frame.dtype
        f.shape.extend(frame.shape)
        f.data = frame.data
        if frame.metadata is not None:
            f.metadata = frame.metadata
        if frame.capture_time_us is not None:
            f.capture_time_us = frame.capture_time_us


def _put_struct(s: struct_pb2.Struct, d: Mapping[str, Any]) -> None:
    s.SetInParent()
    if not isinstance(d, Mapping):
        raise TypeError(f"expected a JSON object, got {type(d).__name__}")
    for key, value in d.items():
        if not isinstance(key, str):
            raise TypeError(f"JSON object keys must be str, got {type(key).__name__}")
        _put_value(s.fields[key], value)


def _put_value(v: struct_pb2.Value, x: Any) -> None:
    if x is None:
        v.null_value = struct_pb2.NULL_VALUE
    elif isinstance(x, bool):
        v.bool_value = x
    elif isinstance(x, int | float):
        number = float(x)
        if not math.isfinite(number):
            raise ValueError(f"{x!r} is not a JSON number")
        v.number_value = number
    elif isinstance(x, str):
        v.string_value = x
    elif isinstance(x, Mapping):
        _put_struct(v.struct_value, x)
    elif isinstance(x, list | tuple):
        v.list_value.SetInParent()
        for item in x:
            _put_value(v.list_value.values.add(), item)
    else:
        raise TypeError(f"{type(x).__name__} is not a JSON value")
