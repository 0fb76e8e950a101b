"""The v0 JSON golden examples shared with the JS SDK (``js/test/fixtures/v0_golden.json``).

The same file drives ``js/src/codec.test.ts``: both codecs must decode every ``wire`` example to
the same message, encode it back to the same JSON, and refuse the same invalid input. It also pins
the error-code table (``recoverable``, HTTP status mapping) both SDKs share.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from reactor_protocol import codec_v0_json as v0
from reactor_protocol.errors import DecodeError
from reactor_protocol.messages import (
    Channel,
    ClipFailed,
    ClipReady,
    Command,
    Envelope,
    ErrorMessage,
    FileUploaded,
    Kind,
    ModelMessage,
    ModelSchema,
    Moderation,
    PauseTrack,
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
from reactor_sdk.errors import code_for_http_status, is_recoverable

GOLDEN = json.loads(
    (Path(__file__).resolve().parents[2] / "js" / "test" / "fixtures" / "v0_golden.json").read_text()
)


def _upload(m: dict[str, Any]) -> UploadRef:
    return UploadRef(m["uploadId"], m["name"], m["mimeType"], m["size"])


def envelope_of(message: dict[str, Any], channel: Channel) -> Envelope:
    """The Python envelope for the JS SDK's decoded form of a message."""
    kind = message["kind"]
    simple = {
        "ping": Ping,
        "requestSchema": RequestSchema,
        "requestRecording": RequestRecording,
    }
    if kind in simple:
        return Envelope.notification(channel, simple[kind]())
    if kind == "command":
        uploads = {k: _upload(u) for k, u in message.get("uploads", {}).items()}
        return Envelope.notification(channel, Command(message["type"], message["data"], uploads))
    if kind == "message":
        return Envelope.notification(channel, ModelMessage(message["type"], message["data"]))
    if kind == "requestClip":
        return Envelope.notification(channel, RequestClip(message["durationSeconds"]))
    if kind == "fileUploaded":
        u = _upload(message)
        return Envelope.notification(channel, FileUploaded(u.upload_id, u.name, u.mime_type, u.size))
    if kind == "modelSchema":
        return Envelope.notification(channel, ModelSchema(message["openapi"]))
    if kind == "sessionEnded":
        return Envelope.notification(channel, SessionEnded(message["reason"]))
    if kind == "error":
        return Envelope.notification(channel, ErrorMessage(message["code"], message["message"]))
    if kind == "moderation":
        return Envelope.notification(
            channel,
            Moderation(
                action=message["action"],
                input_kind=message["inputKind"],
                command=message["command"],
                categories=tuple(message["categories"]),
                message=message["message"],
            ),
        )
    if kind == "clipReady":
        return Envelope.notification(
            channel,
            ClipReady(
                session_id=message["sessionId"],
                kind=message["clipKind"],
                start_marker=message["startMarker"],
                end_marker=message["endMarker"],
                now_marker=message["nowMarker"],
                predicted_ready_at_ms=message["predictedReadyAtMs"],
                playlist_url=message["playlistUrl"],
            ),
        )
    if kind == "clipFailed":
        return Envelope.notification(channel, ClipFailed(message["reason"]))
    tracks = {"resumeTrack": ResumeTrack, "pauseTrack": PauseTrack, "unpublishTrack": UnpublishTrack}
    if kind in tracks:
        return Envelope.notification(channel, tracks[kind](message["name"]))
    if kind == "publishTrack":
        return Envelope(channel, Kind.REQUEST, PublishTrack(message["name"]), message["requestId"])
    if kind == "publishTrackResponse":
        error = message.get("error")
        payload = (
            ErrorMessage(error["code"], error["message"])
            if error
            else PublishTrackResponse(message.get("name", ""))
        )
        return Envelope(channel, Kind.RESPONSE, payload, message["requestId"])
    raise AssertionError(f"unknown kind {kind!r} in the golden file")


CASES = GOLDEN["cases"]


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_decode_matches_golden(case: dict[str, Any]) -> None:
    channel = Channel(case["channel"])
    decoded = v0.decode(json.dumps(case["wire"]), channel, case["origin"])
    assert decoded == envelope_of(case["message"], channel)


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_encode_matches_golden(case: dict[str, Any]) -> None:
    channel = Channel(case["channel"])
    env = envelope_of(case["message"], channel)
    assert json.loads(v0.encode(env, case["origin"])) == case["wire"]
    assert v0.wire_channel(env) == channel


INVALID = GOLDEN["invalid"]


@pytest.mark.parametrize("case", INVALID, ids=[c["name"] for c in INVALID])
def test_invalid_is_refused(case: dict[str, Any]) -> None:
    with pytest.raises(DecodeError):
        v0.decode(case["raw"], Channel.DATA, case["origin"])


def test_error_codes_match_the_js_sdk() -> None:
    for code, recoverable in GOLDEN["error_codes"].items():
        assert is_recoverable(code) is recoverable, code
    for status, code in GOLDEN["http_status_codes"].items():
        assert code_for_http_status(int(status)) == code, status
