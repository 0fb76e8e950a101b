"""v0 JSON codec: the PROTOCOL.md §5.3 examples, round trips of every payload, bad input."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from reactor_protocol import (
    Channel,
    ClientStats,
    ClipFailed,
    ClipReady,
    Command,
    DecodeError,
    Envelope,
    ErrorCode,
    ErrorMessage,
    FileUploaded,
    Kind,
    ModelMessage,
    ModelSchema,
    Moderation,
    Origin,
    PauseTrack,
    Ping,
    PublishTrack,
    PublishTrackResponse,
    RequestClip,
    RequestRecording,
    RequestSchema,
    RequestStep,
    ResumeTrack,
    SessionEnded,
    StepResult,
    UnpublishTrack,
    UploadRef,
)
from reactor_protocol import codec_v0_json as v0
from reactor_protocol import codec_v1_protobuf as v1

DATA, CONTROL = Channel.DATA, Channel.CONTROL

# ---------------------------------------------------------------------------------------------
# PROTOCOL.md §5.3

SPEC_EXAMPLES: list[tuple[str, str, Channel, Origin, Envelope]] = [
    (
        "set_prompt",
        '{"scope": "application", "data": {"type": "set_prompt", "data": {"prompt": "a forest"}}}',
        DATA,
        "client",
        Envelope.notification(DATA, Command("set_prompt", {"prompt": "a forest"})),
    ),
    (
        "set_image",
        '{"scope": "application", "data": {"type": "set_image", "data": {"strength": 0.7},\n'
        '  "uploads": {"image": {"upload_id": "u-1", "name": "a.png", "mime_type": "image/png",'
        ' "size": 1234}}}}',
        DATA,
        "client",
        Envelope.notification(
            DATA,
            Command("set_image", {"strength": 0.7}, {"image": UploadRef("u-1", "a.png", "image/png", 1234)}),
        ),
    ),
    (
        "ping",
        '{"scope": "runtime", "data": {"type": "ping", "data": {}}}',
        DATA,
        "client",
        Envelope.notification(DATA, Ping()),
    ),
    (
        "publish_track-request",
        '{"type": "request", "method": "publish_track", "request_id": "r1", "data": {"name": "webcam"}}',
        CONTROL,
        "client",
        Envelope(CONTROL, Kind.REQUEST, PublishTrack("webcam"), "r1"),
    ),
    (
        "publish_track-response",
        '{"type": "response", "method": "publish_track", "request_id": "r1", "data": {}}',
        CONTROL,
        "server",
        Envelope(CONTROL, Kind.RESPONSE, PublishTrackResponse(), "r1"),
    ),
    (
        "publish_track-refused",
        '{"type": "response", "method": "publish_track", "request_id": "r1",'
        ' "error": {"code": "publish_refused", "message": "taken"}}',
        CONTROL,
        "server",
        Envelope(CONTROL, Kind.RESPONSE, ErrorMessage("publish_refused", "taken"), "r1"),
    ),
    (
        "resume_track",
        '{"type": "notification", "event": "resume_track", "data": {"name": "main_video"}}',
        CONTROL,
        "client",
        Envelope.notification(CONTROL, ResumeTrack("main_video")),
    ),
]


@pytest.mark.parametrize(
    ("text", "channel", "origin", "env"), [e[1:] for e in SPEC_EXAMPLES], ids=[e[0] for e in SPEC_EXAMPLES]
)
def test_spec_examples(text: str, channel: Channel, origin: Origin, env: Envelope) -> None:
    assert v0.decode(text, channel, origin) == env
    assert v0.decode(text.encode(), channel, origin) == env  # JSON in a binary frame
    encoded = v0.encode(env, origin)
    assert json.loads(encoded) == json.loads(text)
    assert v0.wire_channel(env) is channel


# ---------------------------------------------------------------------------------------------
# every payload that has a v0 form, both ways

_CLIP = ClipReady("rec-1", "snap", 1.0, 6.0, 7.0, 1795594599778, "/clips?session_id=rec-1&start=1.0&end=6.0")

ROUND_TRIPS: list[tuple[str, Origin, Envelope]] = [
    (
        "command",
        "client",
        Envelope.notification(DATA, Command("set_prompt", {"prompt": "p", "n": 3, "l": [1, None]})),
    ),
    ("command-empty", "client", Envelope.notification(DATA, Command("tick"))),
    (
        "command-uploads",
        "client",
        Envelope.notification(
            DATA, Command("set_image", {"k": "v"}, {"image": UploadRef("u", "a.png", "image/png", 3)})
        ),
    ),
    ("command-arg-named-uploads", "client", Envelope.notification(DATA, Command("x", {"uploads": [1, 2]}))),
    ("ping", "client", Envelope.notification(DATA, Ping())),
    ("file_uploaded", "client", Envelope.notification(DATA, FileUploaded("up_1", "a.bin", "text/plain", 11))),
    ("request_schema", "client", Envelope.notification(DATA, RequestSchema())),
    ("request_recording", "client", Envelope.notification(DATA, RequestRecording())),
    ("request_clip", "client", Envelope.notification(DATA, RequestClip(5.0))),
    ("error-client", "client", Envelope.notification(DATA, ErrorMessage("bad", "worse"))),
    ("message", "server", Envelope.notification(DATA, ModelMessage("state_update", {"after": "set_prompt"}))),
    ("message-no-data", "server", Envelope.notification(DATA, ModelMessage("tick"))),
    ("message-empty-data", "server", Envelope.notification(DATA, ModelMessage("tick", {}))),
    ("model_schema", "server", Envelope.notification(DATA, ModelSchema({"openapi": "3.1.0", "paths": {}}))),
    ("session_ended", "server", Envelope.notification(DATA, SessionEnded("bye now"))),
    ("error-server", "server", Envelope.notification(DATA, ErrorMessage("model_error", "crashed"))),
    (
        "moderation",
        "server",
        Envelope.notification(DATA, Moderation("warn", "text", "set_prompt", ("violence",), "flagged")),
    ),
    ("clip_ready", "server", Envelope.notification(DATA, _CLIP)),
    ("clip_failed", "server", Envelope.notification(DATA, ClipFailed("recorder disabled"))),
    ("publish_track", "client", Envelope(CONTROL, Kind.REQUEST, PublishTrack("webcam"), "r1")),
    (
        "publish_track-response",
        "server",
        Envelope(CONTROL, Kind.RESPONSE, PublishTrackResponse("webcam"), "r1"),
    ),
    (
        "publish_track-response-empty",
        "server",
        Envelope(CONTROL, Kind.RESPONSE, PublishTrackResponse(), "r1"),
    ),
    (
        "publish_refused",
        "server",
        Envelope(CONTROL, Kind.RESPONSE, ErrorMessage("publish_refused", "x"), "r2"),
    ),
    ("resume_track", "client", Envelope.notification(CONTROL, ResumeTrack("main_video"))),
    ("pause_track", "client", Envelope.notification(CONTROL, PauseTrack("main_video"))),
    ("unpublish_track", "client", Envelope.notification(CONTROL, UnpublishTrack("webcam"))),
]


@pytest.mark.parametrize(("origin", "env"), [r[1:] for r in ROUND_TRIPS], ids=[r[0] for r in ROUND_TRIPS])
def test_round_trip(origin: Origin, env: Envelope) -> None:
    text = v0.encode(env, origin)
    assert isinstance(text, str)
    assert text[:1] == "{"
    assert v0.has_wire_form(env, origin)
    assert v0.wire_channel(env) is env.channel
    assert v0.decode(text, env.channel, origin) == env
    assert v0.encode(v0.decode(text, env.channel, origin), origin) == text


def test_numbers_keep_their_json_type() -> None:
    text = '{"scope": "application", "data": {"type": "set", "data": {"n": 3, "f": 0.5}}}'
    env = v0.decode(text, DATA, "client")
    assert isinstance(env.payload, Command)
    assert env.payload.data == {"n": 3, "f": 0.5} and type(env.payload.data["n"]) is int


@pytest.mark.parametrize("codec", [v0, v1], ids=["v0", "v1"])
def test_ints_stay_ints_and_fractions_floats_on_both_wires(codec: Any) -> None:
    data = {"value": 42, "rgb": [0, 128, 0], "gain": 0.25, "nested": {"k": -7, "l": [1.5, 2]}}
    command = Envelope(DATA, Kind.REQUEST, Command("set", data), "data_1")
    got = codec.decode(codec.encode(command, "client"), DATA, "client")
    reply = Envelope(DATA, Kind.RESPONSE, ModelMessage("echo", data), "data_1")
    back = codec.decode(codec.encode(reply, "server"), DATA, "server")
    assert isinstance(got.payload, Command) and isinstance(back.payload, ModelMessage)
    for out in (got.payload.data, back.payload.data):
        assert out == data
        assert json.dumps(out, sort_keys=True) == json.dumps(
            data, sort_keys=True
        )  # same types: 42 stays "42", never "42.0"


def test_command_uploads_travel_beside_type_and_data() -> None:
    env = Envelope.notification(DATA, Command("set_image", {"s": 1}, {"image": UploadRef("u", "n", "m", 2)}))
    assert json.loads(v0.encode(env, "client")) == {
        "scope": "application",
        "data": {
            "type": "set_image",
            "data": {"s": 1},
            "uploads": {"image": {"upload_id": "u", "name": "n", "mime_type": "m", "size": 2}},
        },
    }


def test_platform_messages_become_runtime_frames_on_data() -> None:
    """A session emits SessionEnded, ModelSchema, ... on ``control``; v0 sends them on ``data``."""
    ended = Envelope.notification(CONTROL, SessionEnded("bye"))
    assert v0.wire_channel(ended) is DATA
    assert json.loads(v0.encode(ended, "server")) == {
        "scope": "runtime",
        "data": {"type": "sessionEnded", "data": {"reason": "bye"}},
    }
    request = Envelope(CONTROL, Kind.REQUEST, RequestSchema(), "ctrl_1")
    schema = request.reply(ModelSchema({"openapi": "3.1.0"}))
    assert v0.wire_channel(schema) is DATA
    assert v0.decode(v0.encode(schema, "server"), DATA, "server") == Envelope.notification(
        DATA, ModelSchema({"openapi": "3.1.0"})
    )


def test_a_command_reply_becomes_an_ordinary_application_message() -> None:
    reply = Envelope(DATA, Kind.RESPONSE, ModelMessage("set_prompt_reply", {"ok": True}), "data_1")
    assert json.loads(v0.encode(reply, "server")) == {
        "scope": "application",
        "data": {"type": "set_prompt_reply", "data": {"ok": True}},
    }


def test_a_bare_control_response_encodes_as_an_empty_publish_response() -> None:
    env = Envelope(CONTROL, Kind.RESPONSE, None, "r1")
    assert v0.wire_channel(env) is CONTROL
    decoded = v0.decode(v0.encode(env, "server"), CONTROL, "server")
    assert decoded == Envelope(CONTROL, Kind.RESPONSE, PublishTrackResponse(), "r1")


def test_clip_ready_ignores_extra_fields() -> None:
    text = json.dumps(
        {
            "scope": "runtime",
            "data": {
                "type": "clipReady",
                "data": {
                    "session_id": "rec-1",
                    "kind": "snap",
                    "start_marker": 1,
                    "end_marker": 6.0,
                    "now_marker": 7.0,
                    "predicted_ready_at_ms": 1795594599778,
                    "playlist_url": "/clips",
                    "first_real_frame_marker": 0.5,
                },
            },
        }
    )
    env = v0.decode(text, DATA, "server")
    assert env.payload == ClipReady("rec-1", "snap", 1.0, 6.0, 7.0, 1795594599778, "/clips")


# ---------------------------------------------------------------------------------------------
# no v0 form


@pytest.mark.parametrize(
    ("origin", "env"),
    [
        ("server", Envelope(DATA, Kind.RESPONSE, None, "data_1")),
        ("client", Envelope(DATA, Kind.REQUEST, RequestStep(), "data_1")),
        ("server", Envelope(DATA, Kind.RESPONSE, StepResult(), "data_1")),
        ("client", Envelope.notification(CONTROL, ClientStats({}))),
        ("server", Envelope.notification(DATA, Command("x"))),
        ("client", Envelope.notification(DATA, ModelMessage("x"))),
        ("client", Envelope.notification(DATA, SessionEnded("x"))),
        ("server", Envelope.notification(DATA, Ping())),
        ("client", Envelope(CONTROL, Kind.REQUEST, PublishTrack("webcam"), "")),
    ],
)
def test_no_wire_form(origin: Origin, env: Envelope) -> None:
    assert not v0.has_wire_form(env, origin)
    with pytest.raises(ValueError):
        v0.encode(env, origin)


@pytest.mark.parametrize("bad", [{"x": float("nan")}, {"x": b"bytes"}, {"x": object()}])
def test_encode_refuses_non_json_data(bad: dict[str, Any]) -> None:
    with pytest.raises((TypeError, ValueError)):
        v0.encode(Envelope.notification(DATA, Command("x", bad)), "client")


# ---------------------------------------------------------------------------------------------
# bad input


def _scope(scope: str, mtype: Any, data: Any = None, **extra: Any) -> str:
    inner: dict[str, Any] = {"type": mtype, **extra}
    if data is not None:
        inner["data"] = data
    return json.dumps({"scope": scope, "data": inner})


MALFORMED: list[tuple[str, str | bytes, Channel, Origin]] = [
    ("empty", "", DATA, "client"),
    ("empty-bytes", b"", DATA, "client"),
    ("not-json", "hello", DATA, "client"),
    ("truncated", '{"scope": "application", "data": {"type": "x"', DATA, "client"),
    ("bad-utf8", b'{"scope": "\xff"}', DATA, "client"),
    ("array", "[1, 2]", DATA, "client"),
    ("number", "3", DATA, "client"),
    ("string", '"ping"', DATA, "client"),
    ("null", "null", DATA, "client"),
    ("nan", '{"scope": "application", "data": {"type": "x", "data": {"n": NaN}}}', DATA, "client"),
    ("no-envelope", '{"type": "set_prompt", "data": {}}', DATA, "client"),
    ("unknown-scope", '{"scope": "platform", "data": {"type": "x", "data": {}}}', DATA, "client"),
    ("scope-without-data", '{"scope": "runtime"}', DATA, "client"),
    ("scope-data-not-object", '{"scope": "runtime", "data": []}', DATA, "client"),
    ("type-missing", '{"scope": "application", "data": {"data": {}}}', DATA, "client"),
    ("type-not-string", _scope("application", 3, {}), DATA, "client"),
    ("command-data-list", _scope("application", "x", [1]), DATA, "client"),
    ("command-data-string", _scope("application", "x", "hi"), DATA, "client"),
    ("uploads-list", _scope("application", "x", {}, uploads=[1]), DATA, "client"),
    ("upload-not-object", _scope("application", "x", {}, uploads={"a": 1}), DATA, "client"),
    (
        "upload-size-string",
        _scope(
            "application",
            "x",
            {},
            uploads={"a": {"upload_id": "u", "name": "n", "mime_type": "m", "size": "1"}},
        ),
        DATA,
        "client",
    ),
    ("message-data-list", _scope("application", "x", [1]), DATA, "server"),
    ("runtime-data-list", _scope("runtime", "ping", [1]), DATA, "client"),
    (
        "file_uploaded-missing-size",
        _scope("runtime", "fileUploaded", {"upload_id": "u", "name": "n", "mime_type": "m"}),
        DATA,
        "client",
    ),
    (
        "file_uploaded-fractional-size",
        _scope("runtime", "fileUploaded", {"upload_id": "u", "name": "n", "mime_type": "m", "size": 1.5}),
        DATA,
        "client",
    ),
    (
        "file_uploaded-bool-size",
        _scope("runtime", "fileUploaded", {"upload_id": "u", "name": "n", "mime_type": "m", "size": True}),
        DATA,
        "client",
    ),
    ("request_clip-no-duration", _scope("runtime", "requestClip", {}), DATA, "client"),
    (
        "request_clip-duration-string",
        _scope("runtime", "requestClip", {"duration_seconds": "5"}),
        DATA,
        "client",
    ),
    ("session_ended-reason-int", _scope("runtime", "sessionEnded", {"reason": 1}), DATA, "server"),
    ("moderation-no-action", _scope("runtime", "moderation", {"message": "x"}), DATA, "server"),
    (
        "moderation-categories",
        _scope("runtime", "moderation", {"action": "warn", "categories": "x"}),
        DATA,
        "server",
    ),
    ("clip_ready-missing", _scope("runtime", "clipReady", {"session_id": "r"}), DATA, "server"),
    ("error-no-code", _scope("runtime", "error", {"message": "x"}), DATA, "server"),
    (
        "control-no-request-id",
        '{"type": "request", "method": "publish_track", "data": {"name": "w"}}',
        CONTROL,
        "client",
    ),
    (
        "control-empty-request-id",
        '{"type": "request", "method": "publish_track", "request_id": "", "data": {"name": "w"}}',
        CONTROL,
        "client",
    ),
    (
        "control-no-name",
        '{"type": "request", "method": "publish_track", "request_id": "r", "data": {}}',
        CONTROL,
        "client",
    ),
    ("control-data-missing", '{"type": "notification", "event": "pause_track"}', CONTROL, "client"),
    (
        "control-error-not-object",
        '{"type": "response", "method": "publish_track", "request_id": "r", "error": 1}',
        CONTROL,
        "server",
    ),
    (
        "control-response-data-list",
        '{"type": "response", "method": "publish_track", "request_id": "r", "data": [1]}',
        CONTROL,
        "server",
    ),
]


@pytest.mark.parametrize(
    ("raw", "channel", "origin"), [m[1:] for m in MALFORMED], ids=[m[0] for m in MALFORMED]
)
def test_malformed_input(raw: str | bytes, channel: Channel, origin: Origin) -> None:
    with pytest.raises(DecodeError) as info:
        v0.decode(raw, channel, origin)
    assert info.value.code == ErrorCode.MALFORMED_MESSAGE
    assert info.value.message


UNSUPPORTED: list[tuple[str, str, Channel, Origin]] = [
    ("requestCapabilities", _scope("runtime", "requestCapabilities", {}), DATA, "client"),
    ("unknown-runtime", _scope("runtime", "somethingNew", {}), DATA, "client"),
    ("server-type-from-client", _scope("runtime", "sessionEnded", {"reason": "x"}), DATA, "client"),
    ("client-type-from-server", _scope("runtime", "ping", {}), DATA, "server"),
    ("modelCapabilities", _scope("runtime", "modelCapabilities", {"commands": []}), DATA, "server"),
    ("mediaStats", _scope("runtime", "mediaStats", {"video": {"aggregateQos": 9}}), DATA, "server"),
    (
        "unknown-method",
        '{"type": "request", "method": "subscribe", "request_id": "r", "data": {}}',
        CONTROL,
        "client",
    ),
    (
        "unknown-event",
        '{"type": "notification", "event": "mute_track", "data": {"name": "x"}}',
        CONTROL,
        "client",
    ),
]


@pytest.mark.parametrize(
    ("raw", "channel", "origin"), [u[1:] for u in UNSUPPORTED], ids=[u[0] for u in UNSUPPORTED]
)
def test_unsupported_messages(raw: str, channel: Channel, origin: Origin) -> None:
    with pytest.raises(DecodeError) as info:
        v0.decode(raw, channel, origin)
    assert info.value.code == ErrorCode.UNSUPPORTED_REQUEST


def test_random_text_and_bytes_never_escape_as_anything_but_decode_error() -> None:
    rng = random.Random(5)
    samples: list[str | bytes] = []
    for _, origin, env in ROUND_TRIPS:
        text = v0.encode(env, origin)
        for _ in range(40):
            chars = list(text)
            for _ in range(rng.randint(1, 3)):
                chars[rng.randrange(len(chars))] = rng.choice('{}[]":,0a\\ ')
            samples.append("".join(chars))
        samples.append(text[: rng.randrange(len(text))])
    samples += [rng.randbytes(rng.randint(0, 30)) for _ in range(500)]
    for raw in samples:
        for channel in (DATA, CONTROL):
            for origin in ("client", "server"):
                try:
                    v0.decode(raw, channel, origin)
                except DecodeError as exc:
                    assert exc.code in (ErrorCode.MALFORMED_MESSAGE, ErrorCode.UNSUPPORTED_REQUEST)
