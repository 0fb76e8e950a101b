"""v0 wire: JSON text, as spoken by the official JS client (PROTOCOL.md §5.3).

Two shapes:

* the **scope envelope**, on the ``data`` channel, both directions:
  ``{"scope": "application"|"runtime", "data": {"type": ..., "data": ...}}``. ``application``
  frames are model commands (client -> server) or model messages (server -> client); ``runtime``
  frames carry the platform messages (ping, fileUploaded, modelSchema, sessionEnded, ...). A
  command's top-level file arguments travel beside ``type`` and ``data`` as
  ``"uploads": {<arg>: {upload_id, name, mime_type, size}}``.
* the **control form** ([OPT], later JS versions), on the ``control`` channel:
  ``{"type": "request"|"response"|"notification", "method"|"event": ..., "request_id": ...,
  "data": ...}`` for ``publish_track`` (request/response) and ``resume_track``, ``pause_track``,
  ``unpublish_track`` (notifications).

v0 has no correlation: decoded scope frames are NOTIFICATIONs with ``request_id`` ``""`` and the
channel they arrived on; ``encode`` ignores the kind and request id of a scope frame (a command's
reply becomes an ordinary ``application`` message). Platform payloads that v1 sends on ``control``
(``SessionEnded``, ``ModelSchema``, ...) become ``runtime`` frames, which travel on ``data``:
:func:`wire_channel` says where an encoded message goes. A bare RESPONSE on ``data`` has no v0 form
(:func:`has_wire_form` is false and :func:`encode` raises ``ValueError``), nor do ``RequestStep``,
``StepResult`` and ``ClientStats``.
"""

from __future__ import annotations

import json
import math
from typing import Any, NoReturn

from .errors import DecodeError, ErrorCode
from .messages import (
    Channel,
    ClipFailed,
    ClipReady,
    Command,
    Envelope,
    ErrorMessage,
    FileUploaded,
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
    ResumeTrack,
    SessionEnded,
    UnpublishTrack,
    UploadRef,
)

__all__ = ["decode", "encode", "has_wire_form", "wire_channel"]

SCOPE_APPLICATION = "application"
SCOPE_RUNTIME = "runtime"
PUBLISH_TRACK_METHOD = "publish_track"

_TRACK_EVENTS: dict[str, type[ResumeTrack | PauseTrack | UnpublishTrack]] = {
    "resume_track": ResumeTrack,
    "pause_track": PauseTrack,
    "unpublish_track": UnpublishTrack,
}
_EVENT_OF: dict[type[Any], str] = {cls: event for event, cls in _TRACK_EVENTS.items()}

_CLIENT_RUNTIME_TYPES = frozenset(
    {"ping", "fileUploaded", "requestSchema", "requestRecording", "requestClip"}
)
_SERVER_RUNTIME_TYPES = frozenset({"modelSchema", "sessionEnded", "moderation", "clipReady", "clipFailed"})


# ---------------------------------------------------------------------------------------------
# public API


def encode(env: Envelope, origin: Origin) -> str:
    """The v0 JSON text of ``env`` as sent by ``origin``."""
    return json.dumps(_to_json(env, origin), separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def decode(raw: str | bytes, channel: Channel, origin: Origin) -> Envelope:
    """The envelope in ``raw`` (text, or JSON in a binary frame) received on ``channel``.

    Raises :class:`DecodeError` for anything that is not a v0 message we handle.
    """
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes | bytearray | memoryview) else raw
        if not isinstance(text, str):
            raise DecodeError(f"expected text or bytes, got {type(raw).__name__}")
        obj = json.loads(text, parse_constant=_reject_constant)
        if not isinstance(obj, dict):
            raise DecodeError("a v0 message is a JSON object")
        ch = Channel(channel)
        if "scope" in obj:
            return _decode_scope(obj, ch, origin)
        if obj.get("type") in ("request", "response", "notification"):
            return _decode_control(obj, ch, origin)
        raise DecodeError("neither a scope envelope nor a control message")
    except DecodeError:
        raise
    except Exception as exc:  # invalid JSON, bad UTF-8, bad values
        raise DecodeError(f"invalid v0 message: {type(exc).__name__}: {exc}") from exc


def has_wire_form(env: Envelope, origin: Origin) -> bool:
    """Whether ``env`` has a v0 form (``encode`` raises ``ValueError`` where it has none)."""
    try:
        _to_json(env, origin)
    except (ValueError, TypeError):
        return False
    return True


def wire_channel(env: Envelope) -> Channel:
    """The channel the encoded message must be sent on.

    Control-form messages (track publication and pause/resume, and the RESPONSE to a control
    REQUEST) go on ``control``; every scope frame, ``runtime`` ones included, goes on ``data``.
    """
    return Channel.CONTROL if _is_control_form(env) else Channel.DATA


# ---------------------------------------------------------------------------------------------
# encoding


def _is_control_form(env: Envelope) -> bool:
    p = env.payload
    if isinstance(p, PublishTrack | PublishTrackResponse | ResumeTrack | PauseTrack | UnpublishTrack):
        return True
    is_control_reply = env.kind == Kind.RESPONSE and env.channel == Channel.CONTROL
    return is_control_reply and (p is None or isinstance(p, ErrorMessage))


def _to_json(env: Envelope, origin: Origin) -> JsonObject:
    if origin not in ("client", "server"):
        raise ValueError(f"origin must be 'client' or 'server', not {origin!r}")
    if _is_control_form(env):
        return _control_to_json(env)
    p = env.payload
    if p is None:
        raise ValueError("a bare RESPONSE on the data channel has no v0 form (v0 has no acks)")
    if isinstance(p, Command | ModelMessage):
        if (origin == "client") != isinstance(p, Command):
            raise ValueError(f"{type(p).__name__} cannot be sent by the {origin}")
        inner: JsonObject = {"type": p.type}
        if isinstance(p, Command):
            inner["data"] = _check_object(p.data)
            if p.uploads:
                inner["uploads"] = {key: _upload_json(ref) for key, ref in p.uploads.items()}
        elif p.data is not None:
            inner["data"] = _check_object(p.data)
        return {"scope": SCOPE_APPLICATION, "data": inner}
    rtype, data = _runtime_json(p, origin)
    return {"scope": SCOPE_RUNTIME, "data": {"type": rtype, "data": data}}


def _runtime_json(p: Payload, origin: Origin) -> tuple[str, JsonObject]:
    if isinstance(p, ErrorMessage):
        return "error", {"code": p.code, "message": p.message}
    client: tuple[str, JsonObject] | None = None
    server: tuple[str, JsonObject] | None = None
    if isinstance(p, Ping):
        client = ("ping", {})
    elif isinstance(p, RequestSchema):
        client = ("requestSchema", {})
    elif isinstance(p, RequestRecording):
        client = ("requestRecording", {})
    elif isinstance(p, RequestClip):
        client = ("requestClip", {"duration_seconds": p.duration_seconds})
    elif isinstance(p, FileUploaded):
        client = ("fileUploaded", _upload_json(p))
    elif isinstance(p, ModelSchema):
        server = ("modelSchema", _check_object(p.openapi))
    elif isinstance(p, SessionEnded):
        server = ("sessionEnded", {"reason": p.reason})
    elif isinstance(p, Moderation):
        server = (
            "moderation",
            {
                "action": p.action,
                "input_kind": p.input_kind,
                "command": p.command,
                "categories": list(p.categories),
                "message": p.message,
            },
        )
    elif isinstance(p, ClipReady):
        server = (
            "clipReady",
            {
                "session_id": p.session_id,
                "kind": p.kind,
                "start_marker": p.start_marker,
                "end_marker": p.end_marker,
                "now_marker": p.now_marker,
                "predicted_ready_at_ms": p.predicted_ready_at_ms,
                "playlist_url": p.playlist_url,
            },
        )
    elif isinstance(p, ClipFailed):
        server = ("clipFailed", {"reason": p.reason})
    found = client if origin == "client" else server
    if found is None:
        raise ValueError(f"{type(p).__name__} has no v0 form when sent by the {origin}")
    return found


def _control_to_json(env: Envelope) -> JsonObject:
    p = env.payload
    if isinstance(p, ResumeTrack | PauseTrack | UnpublishTrack):
        return {"type": "notification", "event": _EVENT_OF[type(p)], "data": {"name": p.name}}
    if not env.request_id:
        raise ValueError("a v0 control request or response needs a request_id")
    if isinstance(p, PublishTrack):
        return {
            "type": "request",
            "method": PUBLISH_TRACK_METHOD,
            "request_id": env.request_id,
            "data": {"name": p.name},
        }
    out: JsonObject = {"type": "response", "method": PUBLISH_TRACK_METHOD, "request_id": env.request_id}
    if isinstance(p, ErrorMessage):
        out["error"] = {"code": p.code, "message": p.message}
    else:
        out["data"] = {"name": p.name} if isinstance(p, PublishTrackResponse) and p.name else {}
    return out


def _upload_json(ref: UploadRef | FileUploaded) -> JsonObject:
    return {"upload_id": ref.upload_id, "name": ref.name, "mime_type": ref.mime_type, "size": ref.size}


def _check_object(data: Any) -> JsonObject:
    if not isinstance(data, dict):
        raise TypeError(f"expected a JSON object, got {type(data).__name__}")
    return data


# ---------------------------------------------------------------------------------------------
# decoding


def _reject_constant(name: str) -> NoReturn:
    raise DecodeError(f"{name} is not valid JSON")


def _decode_scope(obj: JsonObject, channel: Channel, origin: Origin) -> Envelope:
    scope = obj["scope"]
    inner = _get_object(obj, "data")
    mtype = _get_str(inner, "type")
    if scope == SCOPE_APPLICATION:
        payload: Payload
        if origin == "client":
            data = inner.get("data", {})
            if not isinstance(data, dict):
                raise DecodeError("a command's data must be a JSON object")
            raw_uploads = inner.get("uploads", {})
            if not isinstance(raw_uploads, dict):
                raise DecodeError("uploads must be a JSON object")
            uploads = {
                str(key): _upload_ref(_as_object(value, f"uploads.{key}"))
                for key, value in raw_uploads.items()
            }
            payload = Command(mtype, data, uploads)
        else:
            data = inner.get("data")
            if data is not None and not isinstance(data, dict):
                raise DecodeError("a model message's data must be a JSON object or null")
            payload = ModelMessage(mtype, data)
        return Envelope.notification(channel, payload)
    if scope == SCOPE_RUNTIME:
        data = inner.get("data", {})
        if not isinstance(data, dict):
            raise DecodeError("runtime data must be a JSON object")
        return Envelope.notification(channel, _runtime_payload(mtype, data, origin))
    raise DecodeError(f"unknown scope {scope!r}")


def _runtime_payload(mtype: str, data: JsonObject, origin: Origin) -> Payload:
    if mtype == "error":
        return ErrorMessage(_get_str(data, "code"), _get_str(data, "message", ""))
    allowed = _CLIENT_RUNTIME_TYPES if origin == "client" else _SERVER_RUNTIME_TYPES
    if mtype not in allowed:
        raise DecodeError(f"unsupported runtime message {mtype!r}", ErrorCode.UNSUPPORTED_REQUEST)
    if mtype == "ping":
        return Ping()
    if mtype == "requestSchema":
        return RequestSchema()
    if mtype == "requestRecording":
        return RequestRecording()
    if mtype == "requestClip":
        return RequestClip(_get_number(data, "duration_seconds"))
    if mtype == "fileUploaded":
        ref = _upload_ref(data)
        return FileUploaded(ref.upload_id, ref.name, ref.mime_type, ref.size)
    if mtype == "modelSchema":
        return ModelSchema(data)
    if mtype == "sessionEnded":
        return SessionEnded(_get_str(data, "reason", ""))
    if mtype == "moderation":
        categories = data.get("categories", [])
        if not isinstance(categories, list) or not all(isinstance(c, str) for c in categories):
            raise DecodeError("moderation categories must be a list of strings")
        return Moderation(
            action=_get_str(data, "action"),
            input_kind=_get_str(data, "input_kind", ""),
            command=_get_str(data, "command", ""),
            categories=tuple(categories),
            message=_get_str(data, "message", ""),
        )
    if mtype == "clipReady":
        return ClipReady(
            session_id=_get_str(data, "session_id"),
            kind=_get_str(data, "kind"),
            start_marker=_get_number(data, "start_marker"),
            end_marker=_get_number(data, "end_marker"),
            now_marker=_get_number(data, "now_marker"),
            predicted_ready_at_ms=_get_int(data, "predicted_ready_at_ms"),
            playlist_url=_get_str(data, "playlist_url"),
        )
    return ClipFailed(_get_str(data, "reason", ""))  # clipFailed


def _decode_control(obj: JsonObject, channel: Channel, origin: Origin) -> Envelope:
    mtype = obj["type"]
    if mtype == "notification":
        event = _get_str(obj, "event")
        cls = _TRACK_EVENTS.get(event)
        if cls is None:
            raise DecodeError(f"unsupported control event {event!r}", ErrorCode.UNSUPPORTED_REQUEST)
        return Envelope.notification(channel, cls(_get_str(_get_object(obj, "data"), "name")))
    method = _get_str(obj, "method")
    request_id = _get_str(obj, "request_id")
    if not request_id:
        raise DecodeError("a control request or response needs a request_id")
    if method != PUBLISH_TRACK_METHOD:
        raise DecodeError(f"unsupported control method {method!r}", ErrorCode.UNSUPPORTED_REQUEST)
    if mtype == "request":
        payload: Payload = PublishTrack(_get_str(_get_object(obj, "data"), "name"))
        return Envelope(channel, Kind.REQUEST, payload, request_id)
    if "error" in obj and obj["error"] is not None:
        error = _get_object(obj, "error")
        payload = ErrorMessage(_get_str(error, "code"), _get_str(error, "message", ""))
    else:
        data = obj.get("data") or {}
        if not isinstance(data, dict):
            raise DecodeError("response data must be a JSON object")
        payload = PublishTrackResponse(_get_str(data, "name", ""))
    return Envelope(channel, Kind.RESPONSE, payload, request_id)


def _upload_ref(obj: JsonObject) -> UploadRef:
    return UploadRef(
        upload_id=_get_str(obj, "upload_id"),
        name=_get_str(obj, "name"),
        mime_type=_get_str(obj, "mime_type"),
        size=_get_int(obj, "size"),
    )


_MISSING: Any = object()


def _as_object(value: Any, what: str) -> JsonObject:
    if not isinstance(value, dict):
        raise DecodeError(f"{what} must be a JSON object")
    return value


def _get_object(obj: JsonObject, key: str) -> JsonObject:
    if key not in obj:
        raise DecodeError(f"missing field {key!r}")
    return _as_object(obj[key], key)


def _get_str(obj: JsonObject, key: str, default: str = _MISSING) -> str:
    value = obj.get(key, default)
    if value is _MISSING:
        raise DecodeError(f"missing field {key!r}")
    if not isinstance(value, str):
        raise DecodeError(f"field {key!r} must be a string")
    return value


def _get_number(obj: JsonObject, key: str) -> float:
    value = obj.get(key, _MISSING)
    if value is _MISSING:
        raise DecodeError(f"missing field {key!r}")
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise DecodeError(f"field {key!r} must be a number")
    return float(value)


def _get_int(obj: JsonObject, key: str) -> int:
    value = _get_number(obj, key)
    if not value.is_integer():
        raise DecodeError(f"field {key!r} must be an integer")
    raw = obj[key]
    return raw if isinstance(raw, int) else int(value)
