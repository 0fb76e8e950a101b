"""v1 protobuf codec: golden bytes from the captures and PROTOCOL.md §5.7, doubles, bad input."""

from __future__ import annotations

import json
import math
import random
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import json_format
from google.protobuf.message import Message

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
    Frame,
    FrameEncoding,
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
    StepFailureCode,
    StepFileRef,
    StepResult,
    TrackFrames,
    TrackKind,
    UnpublishTrack,
    UploadRef,
)
from reactor_protocol import _reactor_pb2 as pb
from reactor_protocol import codec_v1_protobuf as v1

from .conftest import CapturedMessage, captured_messages

DATA, CONTROL = Channel.DATA, Channel.CONTROL
REPO = Path(__file__).resolve().parents[2]


def _pb_class(channel: Channel, origin: Origin) -> type[Message]:
    if channel is DATA:
        return pb.DataClientMessage if origin == "client" else pb.DataServerMessage
    return pb.ControlClientMessage if origin == "client" else pb.ControlServerMessage


def _parse(raw: bytes, channel: Channel, origin: Origin) -> Message:
    msg = _pb_class(channel, origin)()
    msg.ParseFromString(raw)
    return msg


def _canonical(raw: bytes, channel: Channel, origin: Origin) -> bool:
    """Whether ``raw`` is what deterministic serialization (sorted map keys) produces."""
    return _parse(raw, channel, origin).SerializeToString(deterministic=True) == raw


# ---------------------------------------------------------------------------------------------
# captures


def _full_bytes(captured: CapturedMessage) -> bytes | None:
    """The message's complete bytes: captured, or rebuilt from the decoded form of a cut line."""
    if captured.complete:
        return captured.prefix
    decoded = captured.decoded
    if decoded is None:
        return None
    msg = json_format.ParseDict(decoded, _pb_class(captured.channel, captured.origin)())
    return msg.SerializeToString(deterministic=True)


def test_captures_cover_every_channel_and_direction() -> None:
    seen = {(m.channel, m.origin) for m in captured_messages()}
    assert seen == {(DATA, "client"), (DATA, "server"), (CONTROL, "client"), (CONTROL, "server")}
    assert sum(m.complete for m in captured_messages()) >= 100


def test_capture_round_trips(captured: CapturedMessage) -> None:
    channel, origin = captured.channel, captured.origin
    if not captured.complete:
        # A cut message is a truncated message: it must not decode.
        with pytest.raises(DecodeError) as info:
            v1.decode(captured.prefix, channel, origin)
        assert info.value.code == ErrorCode.MALFORMED_MESSAGE
    raw = _full_bytes(captured)
    if raw is None:
        assert captured.file == "transcript_timeout.txt"  # the 300 KB prompt: test_large_command below
        return

    env = v1.decode(raw, channel, origin)
    assert env.channel is channel
    if captured.decoded is not None:
        # Our schema reads the bytes exactly as the capture tool did.
        got = json_format.MessageToDict(_parse(raw, channel, origin), preserving_proto_field_name=True)
        assert got == captured.decoded

    again = v1.encode(env, origin)
    assert v1.decode(again, channel, origin) == env
    assert _parse(again, channel, origin) == _parse(raw, channel, origin)

    if isinstance(env.payload, ClientStats):
        return  # kept as a JSON dict: zero-valued map entries come back in another (equal) form
    if captured.complete:
        if origin == "client":
            # The official client writes Struct keys sorted, as our deterministic encoding does.
            assert _canonical(raw, channel, origin)
        if _canonical(raw, channel, origin):  # the scripted server's Struct key order is arbitrary
            assert again == raw
    else:
        assert len(again) == captured.length
        if origin == "client":
            assert again.startswith(captured.prefix)


def test_large_command_of_the_timeout_capture() -> None:
    """The 300 KB command and its echo (cut in the transcript): same length, same leading bytes."""
    cut = [m for m in captured_messages() if m.file == "transcript_timeout.txt" and m.length > 300_000]
    assert [m.origin for m in cut] == ["client", "server"]
    command, reply = cut
    n = command.length - 40
    for _ in range(3):
        env = Envelope(DATA, Kind.REQUEST, Command("set_prompt", {"prompt": "x" * n}), "data_2")
        n += command.length - len(v1.encode(env, "client"))
    raw = v1.encode(env, "client")
    assert len(raw) == command.length
    assert raw.startswith(command.prefix)
    assert v1.decode(raw, DATA, "client") == env

    echo = env.reply(ModelMessage("set_prompt_reply", {"uploads": [], "echo": {"prompt": "x" * n}}))
    raw_reply = v1.encode(echo, "server")
    assert len(raw_reply) == reply.length
    assert v1.decode(raw_reply, DATA, "server") == echo


# ---------------------------------------------------------------------------------------------
# PROTOCOL.md §5.7

SPEC_EXAMPLES: list[tuple[str, str, Channel, Origin, Envelope]] = [
    ("ping", "10 03 52 00", CONTROL, "client", Envelope.notification(CONTROL, Ping())),
    (
        "resume_track",
        "10 03 8a 01 0c 0a 0a 6d 61 69 6e 5f 61 75 64 69 6f",
        CONTROL,
        "client",
        Envelope.notification(CONTROL, ResumeTrack("main_audio")),
    ),
    (
        "request_schema",
        "0a 06 63 74 72 6c 5f 31 10 01 5a 00",
        CONTROL,
        "client",
        Envelope(CONTROL, Kind.REQUEST, RequestSchema(), "ctrl_1"),
    ),
    (
        "command",
        "0a 06 64 61 74 61 5f 32 10 01 52 19 0a 05 73 65 74 5f 6e 12 10 0a 0e 0a 01 6e 12 09 11 00 00 00 00"
        " 00 00 08 40",
        DATA,
        "client",
        Envelope(DATA, Kind.REQUEST, Command("set_n", {"n": 3}), "data_2"),
    ),
    ("ack", "0a 06 64 61 74 61 5f 31 10 02", DATA, "server", Envelope(DATA, Kind.RESPONSE, None, "data_1")),
    (
        "error",
        "0a 06 64 61 74 61 5f 31 10 02 c2 02 16 0a 0f 69 6e 76 61 6c 69 64 5f 63 6f 6d 6d 61 6e 64"
        " 12 03 62 61 64",
        DATA,
        "server",
        Envelope(DATA, Kind.RESPONSE, ErrorMessage("invalid_command", "bad"), "data_1"),
    ),
]


@pytest.mark.parametrize(
    ("hex_text", "channel", "origin", "env"),
    [e[1:] for e in SPEC_EXAMPLES],
    ids=[e[0] for e in SPEC_EXAMPLES],
)
def test_spec_byte_examples(hex_text: str, channel: Channel, origin: Origin, env: Envelope) -> None:
    raw = bytes.fromhex(hex_text)
    assert v1.decode(raw, channel, origin) == env
    assert v1.encode(env, origin) == raw


def test_command_with_int_encodes_like_the_spec_example() -> None:
    # On the wire an int and an integral float are the same double: both give the spec's bytes.
    for n in (3, 3.0):
        env = Envelope(DATA, Kind.REQUEST, Command("set_n", {"n": n}), "data_2")
        assert v1.encode(env, "client") == bytes.fromhex(SPEC_EXAMPLES[3][1])
    decoded = v1.decode(bytes.fromhex(SPEC_EXAMPLES[3][1]), DATA, "client")
    assert isinstance(decoded.payload, Command)
    assert type(decoded.payload.data["n"]) is int


# ---------------------------------------------------------------------------------------------
# numbers and JSON values


def test_integral_numbers_come_back_as_int_like_json() -> None:
    data: dict[str, Any] = {
        "n": 3,
        "neg": -7,
        "zero": 0,
        "f": 0.5,
        "whole_float": 4.0,
        "safe": 2**53 - 1,
        "neg_safe": -(2**53 - 1),
        "big": 2**53 + 1,
        "huge": 1e300,
        "nested": {"l": [1, 2.5, "x", None, True, {"k": -7}]},
        "b": False,
        "z": None,
        "empty": {},
        "none": [],
    }
    env = Envelope(DATA, Kind.REQUEST, Command("set", data), "data_1")
    got = v1.decode(v1.encode(env, "client"), DATA, "client")
    assert isinstance(got.payload, Command)
    out = got.payload.data
    assert out == {**data, "big": float(2**53), "whole_float": 4}
    kinds = {key: type(out[key]) for key in ("n", "neg", "zero", "f", "whole_float", "safe", "neg_safe")}
    assert kinds == {
        "n": int,
        "neg": int,
        "zero": int,
        "f": float,
        "whole_float": int,  # JSON cannot tell 4.0 from 4 either
        "safe": int,
        "neg_safe": int,
    }
    # Beyond 2^53 the double has already lost precision: it stays a float, as a signal.
    assert type(out["big"]) is float and out["big"] != 2**53 + 1
    assert type(out["huge"]) is float
    assert [type(x) for x in out["nested"]["l"]] == [int, float, str, type(None), bool, dict]
    assert type(out["nested"]["l"][5]["k"]) is int
    assert out["b"] is False and out["z"] is None
    assert out["empty"] == {} and out["none"] == []
    # json.loads of the same document gives the same values and types.
    text = json.dumps({k: v for k, v in data.items() if k not in ("big", "whole_float")})
    assert {k: (v, type(v)) for k, v in json.loads(text).items()} == {
        k: (out[k], type(out[k])) for k in json.loads(text)
    }


def test_non_finite_numbers_from_a_peer_stay_floats() -> None:
    """NaN and infinities are not JSON, so we never encode them; a peer's bytes may carry them."""
    msg = pb.DataClientMessage(request_id="data_1", kind=pb.MessageKind.ValueType(int(Kind.REQUEST)))
    msg.command.type = "set"
    for key, value in (("nan", math.nan), ("inf", math.inf), ("minf", -math.inf)):
        msg.command.data.fields[key].number_value = value
    got = v1.decode(msg.SerializeToString(), DATA, "client")
    assert isinstance(got.payload, Command)
    out = got.payload.data
    assert math.isnan(out["nan"]) and out["inf"] == math.inf and out["minf"] == -math.inf
    assert all(type(v) is float for v in out.values())


def test_model_message_and_schema_keep_integers() -> None:
    reply = Envelope(DATA, Kind.RESPONSE, ModelMessage("echo", {"rgb": [0, 128, 0], "gain": 0.25}), "data_3")
    got = v1.decode(v1.encode(reply, "server"), DATA, "server")
    assert isinstance(got.payload, ModelMessage) and got.payload.data is not None
    assert got.payload.data == {"rgb": [0, 128, 0], "gain": 0.25}
    assert [type(v) for v in got.payload.data["rgb"]] == [int, int, int]
    schema = {"openapi": "3.1.0", "maximum": 65535, "multipleOf": 0.5}
    sent = Envelope(CONTROL, Kind.RESPONSE, ModelSchema(schema), "ctrl_1")
    back = v1.decode(v1.encode(sent, "server"), CONTROL, "server")
    assert isinstance(back.payload, ModelSchema)
    assert back.payload.openapi == schema and type(back.payload.openapi["maximum"]) is int


def test_nested_file_ref_stays_in_data_and_its_size_stays_an_int() -> None:
    ref = {"upload_id": "u-2", "name": "b.png", "mime_type": "image/png", "size": 9}
    command = Command(
        "set_image",
        {"strength": 0.7, "refs": [ref]},
        {"image": UploadRef("u-1", "a.png", "image/png", 1234)},
    )
    got = v1.decode(v1.encode(Envelope(DATA, Kind.REQUEST, command, "data_4"), "client"), DATA, "client")
    assert isinstance(got.payload, Command)
    assert got.payload.uploads == {"image": UploadRef("u-1", "a.png", "image/png", 1234)}
    assert got.payload.data["refs"][0]["size"] == 9 and type(got.payload.data["refs"][0]["size"]) is int


def test_top_level_command_always_carries_data_but_a_step_command_only_when_non_empty() -> None:
    top = v1.encode(Envelope(DATA, Kind.REQUEST, Command("hang"), "data_1"), "client")
    assert top == bytes.fromhex("0a06646174615f31100152080a0468616e671200")
    step = RequestStep(commands=(Command("noop"),))
    raw = v1.encode(Envelope(DATA, Kind.REQUEST, step, "data_1"), "client")
    assert raw == bytes.fromhex("0a06646174615f3110015a0812060a046e6f6f70")
    empty = v1.encode(Envelope(DATA, Kind.REQUEST, RequestStep(), "data_2"), "client")
    assert empty == bytes.fromhex("0a06646174615f3210015a00")


# ---------------------------------------------------------------------------------------------
# every payload, both ways

_FRAME = Frame(FrameEncoding.RAW, "uint8", (2, 3, 3), bytes(range(18)), b'{"step":1}', 123456)
_TRACK = TrackFrames(
    "main_video",
    TrackKind.VIDEO,
    (_FRAME, Frame(FrameEncoding.H264, "uint8", (720, 1280, 3), b"\0\0\0\1")),
    15.0,
)

ROUND_TRIPS: list[tuple[str, Origin, Envelope]] = [
    (
        "command",
        "client",
        Envelope(DATA, Kind.REQUEST, Command("set_prompt", {"prompt": "p", "n": 2.0}), "data_1"),
    ),
    ("command-notif", "client", Envelope.notification(DATA, Command("tick"))),
    (
        "command-uploads",
        "client",
        Envelope(
            DATA,
            Kind.REQUEST,
            Command("x", {}, {"a": UploadRef("u", "n", "m", 1), "b": UploadRef("", "", "", 0)}),
            "d",
        ),
    ),
    (
        "request_step",
        "client",
        Envelope(
            DATA,
            Kind.REQUEST,
            RequestStep({"prompt": "fox"}, (Command("advance", {"frames": 4.0}), Command("noop")), (_TRACK,)),
            "data_1",
        ),
    ),
    ("data-error-client", "client", Envelope.notification(DATA, ErrorMessage("bad", "worse"))),
    ("message", "server", Envelope(DATA, Kind.RESPONSE, ModelMessage("reply", {"ok": True}), "data_1")),
    ("message-no-data", "server", Envelope.notification(DATA, ModelMessage("tick"))),
    ("message-empty-data", "server", Envelope.notification(DATA, ModelMessage("tick", {}))),
    (
        "step_result",
        "server",
        Envelope(
            DATA,
            Kind.RESPONSE,
            StepResult(1, (_TRACK,), 0.25, (StepFileRef("out.mp4", "video/mp4", 42),)),
            "data_1",
        ),
    ),
    (
        "step_result-failed",
        "server",
        Envelope(
            DATA,
            Kind.RESPONSE,
            StepResult(
                7, error="boom", failure_code=StepFailureCode.COMMAND_FAILED, code="c", entry="commands[1]"
            ),
            "data_2",
        ),
    ),
    (
        "step_result-empty-strings",
        "server",
        Envelope(DATA, Kind.RESPONSE, StepResult(error="", code="", entry=""), "d"),
    ),
    ("ack", "server", Envelope(DATA, Kind.RESPONSE, None, "data_3")),
    (
        "data-error-server",
        "server",
        Envelope(DATA, Kind.RESPONSE, ErrorMessage("invalid_command", "nope"), "data_3"),
    ),
    ("ping", "client", Envelope.notification(CONTROL, Ping())),
    ("request_schema", "client", Envelope(CONTROL, Kind.REQUEST, RequestSchema(), "ctrl_1")),
    (
        "file_uploaded",
        "client",
        Envelope.notification(CONTROL, FileUploaded("up_1", "a.bin", "application/x-test", 3)),
    ),
    ("request_clip", "client", Envelope(CONTROL, Kind.REQUEST, RequestClip(5.0), "ctrl_3")),
    ("request_recording", "client", Envelope(CONTROL, Kind.REQUEST, RequestRecording(), "ctrl_4")),
    ("publish_track", "client", Envelope(CONTROL, Kind.REQUEST, PublishTrack("camera"), "ctrl_2")),
    ("pause_track", "client", Envelope.notification(CONTROL, PauseTrack("main_video"))),
    ("resume_track", "client", Envelope.notification(CONTROL, ResumeTrack("main_video"))),
    ("unpublish_track", "client", Envelope.notification(CONTROL, UnpublishTrack("camera"))),
    (
        "client_stats",
        "client",
        Envelope.notification(
            CONTROL,
            ClientStats(
                {
                    "track_stats": [
                        {
                            "timestamp": "1795594681331",
                            "track_name": "main_video",
                            "kind": "TRACK_KIND_VIDEO",
                            "direction": "TRACK_DIRECTION_RECVONLY",
                            "video_codec": "VIDEO_CODEC_VP8",
                            "metrics": {"frames_decoded": 71.0, "jitter_ms": 0.5},
                            "frame_stages": [{"name": "decode", "total_ms": 1.5, "frames": "3"}],
                            "codec_implementation": "libvpx",
                            "hardware_codec": False,
                        }
                    ],
                    "connection_stat": {"timestamp": "1", "environment": {"sdk_type": "python"}},
                }
            ),
        ),
    ),
    ("client_stats-empty", "client", Envelope.notification(CONTROL, ClientStats({}))),
    ("control-error-client", "client", Envelope.notification(CONTROL, ErrorMessage("x", "y"))),
    (
        "model_schema",
        "server",
        Envelope(CONTROL, Kind.RESPONSE, ModelSchema({"openapi": "3.1.0", "paths": {}}), "ctrl_1"),
    ),
    (
        "clip_ready",
        "server",
        Envelope(
            CONTROL,
            Kind.RESPONSE,
            ClipReady("rec", "snap", 1.0, 6.0, 7.0, 1795594599778, "/clips?x=1"),
            "ctrl_3",
        ),
    ),
    ("clip_failed", "server", Envelope(CONTROL, Kind.RESPONSE, ClipFailed("recorder disabled"), "ctrl_4")),
    (
        "moderation",
        "server",
        Envelope.notification(
            CONTROL, Moderation("warn", "text", "set_prompt", ("violence", "x"), "flagged")
        ),
    ),
    (
        "publish_track-response",
        "server",
        Envelope(CONTROL, Kind.RESPONSE, PublishTrackResponse("camera"), "ctrl_2"),
    ),
    (
        "publish_track-response-empty",
        "server",
        Envelope(CONTROL, Kind.RESPONSE, PublishTrackResponse(), "ctrl_2"),
    ),
    ("session_ended", "server", Envelope.notification(CONTROL, SessionEnded("bye now"))),
    (
        "control-error-server",
        "server",
        Envelope(CONTROL, Kind.RESPONSE, ErrorMessage("publish_refused", "taken"), "ctrl_2"),
    ),
    ("control-ack", "server", Envelope(CONTROL, Kind.RESPONSE, None, "ctrl_9")),
]


@pytest.mark.parametrize(("origin", "env"), [r[1:] for r in ROUND_TRIPS], ids=[r[0] for r in ROUND_TRIPS])
def test_round_trip(origin: Origin, env: Envelope) -> None:
    raw = v1.encode(env, origin)
    assert isinstance(raw, bytes)
    assert raw[:1] not in (b"{", b"[")  # a v1 message never looks like v0
    assert v1.has_wire_form(env, origin)
    assert v1.wire_channel(env) is env.channel
    assert v1.decode(raw, env.channel, origin) == env
    assert v1.encode(v1.decode(raw, env.channel, origin), origin) == raw


def test_every_oneof_member_has_a_round_trip() -> None:
    covered: set[tuple[str, str]] = set()
    for _, origin, env in ROUND_TRIPS:
        msg = _parse(v1.encode(env, origin), env.channel, origin)
        which = msg.WhichOneof("payload")
        if which is not None:
            covered.add((type(msg).__name__, which))
    expected = {
        (cls.__name__, field.name)
        for cls in (
            pb.DataClientMessage,
            pb.DataServerMessage,
            pb.ControlClientMessage,
            pb.ControlServerMessage,
        )
        for field in cls.DESCRIPTOR.oneofs_by_name["payload"].fields
    }
    assert covered == expected


# ---------------------------------------------------------------------------------------------
# encode refuses what cannot travel


@pytest.mark.parametrize(
    ("origin", "env"),
    [
        ("client", Envelope.notification(DATA, Ping())),
        ("server", Envelope.notification(DATA, Command("x"))),
        ("client", Envelope.notification(CONTROL, SessionEnded("x"))),
        ("server", Envelope.notification(CONTROL, PublishTrack("x"))),
        ("client", Envelope(DATA, Kind.REQUEST, Command("x"), "")),
        ("server", Envelope(DATA, Kind.NOTIFICATION, None)),
        ("client", Envelope(CONTROL, Kind.REQUEST, None, "ctrl_1")),
    ],
)
def test_encode_refuses_misplaced_payloads(origin: Origin, env: Envelope) -> None:
    assert not v1.has_wire_form(env, origin)
    with pytest.raises(ValueError):
        v1.encode(env, origin)


@pytest.mark.parametrize(
    "bad", [{"x": b"bytes"}, {"x": object()}, {"x": float("nan")}, {"x": float("inf")}, {1: "x"}]
)
def test_encode_refuses_non_json_data(bad: dict[Any, Any]) -> None:
    with pytest.raises((TypeError, ValueError)):
        v1.encode(Envelope(DATA, Kind.REQUEST, Command("x", bad), "data_1"), "client")


def test_encode_refuses_stats_that_are_not_client_stats() -> None:
    with pytest.raises(ValueError):
        v1.encode(Envelope.notification(CONTROL, ClientStats({"nope": 1})), "client")


# ---------------------------------------------------------------------------------------------
# decode: every bad input is a DecodeError with a code


def _tag(field: int, wire_type: int) -> bytes:
    value = field << 3 | wire_type
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


BAD: list[tuple[str, bytes | str, Channel, Origin]] = [
    ("empty", b"", CONTROL, "client"),
    ("v0-object", b'{"scope": "runtime", "data": {"type": "ping", "data": {}}}', DATA, "client"),
    ("v0-array", b"[1, 2]", DATA, "client"),
    ("v0-brace-only", b"{", CONTROL, "server"),
    ("text", '{"scope": "runtime"}', DATA, "client"),
    ("text-empty", "", CONTROL, "client"),
    ("kind-unspecified", b"\x52\x00", CONTROL, "client"),
    ("kind-unknown", b"\x10\x05\x52\x00", CONTROL, "client"),
    ("kind-negative", b"\x10\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01\x52\x00", CONTROL, "client"),
    ("request-without-id", b"\x10\x01\x5a\x00", CONTROL, "client"),
    ("notification-without-payload", b"\x10\x03", CONTROL, "client"),
    ("request-without-payload", b"\x0a\x01r\x10\x01", DATA, "client"),
    ("unknown-oneof-member", b"\x10\x03" + _tag(30, 2) + b"\x00", CONTROL, "client"),
    ("client-message-read-as-server", bytes.fromhex("10038a010c0a0a6d61696e5f617564696f"), CONTROL, "server"),
    ("bad-utf8", b"\x0a\x02\xff\xfe\x10\x03\x52\x00", CONTROL, "client"),
    ("truncated-length", b"\x10\x03\x8a\x01\x0c\x0a\x0a\x6d", CONTROL, "client"),
    ("truncated-varint", b"\x10", CONTROL, "client"),
    ("bad-wire-type", b"\x17\x03", CONTROL, "client"),
    ("field-zero", b"\x00\x00", DATA, "server"),
    ("group-garbage", b"\x0b\x0b\x0b", DATA, "client"),
    (
        "unknown-frame-encoding",  # step_result { tracks { frames { encoding: 9 } } }
        bytes.fromhex("0a016410025a0612041a020809"),
        DATA,
        "server",
    ),
    ("deep-struct", b"deep", DATA, "client"),  # replaced by _deep_command(200) in the test
]


def _deep_command(depth: int) -> bytes:
    """A command whose data nests ``depth`` Structs ({"k": {"k": ...}}), hand-encoded."""
    value = b"\x08\x00"  # Value{null_value}
    struct = b""
    for _ in range(depth):
        entry = b"\x0a\x01k\x12" + _len(value) + value  # fields entry {key: "k", value: value}
        struct = b"\x0a" + _len(entry) + entry
        value = b"\x2a" + _len(struct) + struct  # Value{struct_value}
    command = b"\x0a\x01x\x12" + _len(struct) + struct
    return b"\x0a\x01r\x10\x01\x52" + _len(command) + command


def _len(b: bytes) -> bytes:
    n = len(b)
    out = bytearray()
    while n > 0x7F:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


@pytest.mark.parametrize(("raw", "channel", "origin"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_input_is_a_decode_error(raw: bytes | str, channel: Channel, origin: Origin) -> None:
    if raw == b"deep":
        raw = _deep_command(200)
    with pytest.raises(DecodeError) as info:
        v1.decode(raw, channel, origin)
    assert info.value.code == ErrorCode.MALFORMED_MESSAGE
    assert info.value.message


def test_response_without_payload_is_an_ack_even_with_an_unknown_member() -> None:
    raw = b"\x0a\x06data_1\x10\x02" + _tag(30, 2) + b"\x00"
    assert v1.decode(raw, DATA, "server") == Envelope(DATA, Kind.RESPONSE, None, "data_1")


def test_shallow_nesting_decodes() -> None:
    env = v1.decode(_deep_command(20), DATA, "client")
    assert isinstance(env.payload, Command)
    data = env.payload.data
    for _ in range(19):
        data = data["k"]
    assert data == {"k": None}


def test_every_prefix_of_a_captured_message_is_refused_or_an_ack() -> None:
    for captured in captured_messages():
        if not captured.complete:
            continue
        raw = captured.prefix
        for cut in range(len(raw)):
            try:
                env = v1.decode(raw[:cut], captured.channel, captured.origin)
            except DecodeError as exc:
                assert exc.code == ErrorCode.MALFORMED_MESSAGE
            else:  # cut right after `kind`: a bare RESPONSE is a valid acknowledgement
                assert env.kind is Kind.RESPONSE and env.payload is None, (captured.id, cut)


@pytest.mark.parametrize("channel", [DATA, CONTROL])
@pytest.mark.parametrize("origin", ["client", "server"])
def test_random_bytes_never_escape_as_anything_but_decode_error(channel: Channel, origin: Origin) -> None:
    rng = random.Random(f"{channel}-{origin}")
    decoded = 0
    for _ in range(3000):
        raw = rng.randbytes(rng.randint(0, 40))
        try:
            env = v1.decode(raw, channel, origin)
        except DecodeError as exc:
            assert exc.code == ErrorCode.MALFORMED_MESSAGE
        else:
            decoded += 1
            assert env.kind in (Kind.REQUEST, Kind.RESPONSE, Kind.NOTIFICATION)
            assert env.payload is not None or env.kind is Kind.RESPONSE
    assert decoded < 3000


def test_mutated_captures_never_escape_as_anything_but_decode_error() -> None:
    rng = random.Random(7)
    complete = [m for m in captured_messages() if m.complete]
    for _ in range(3000):
        captured = rng.choice(complete)
        raw = bytearray(captured.prefix)
        for _ in range(rng.randint(1, 4)):
            raw[rng.randrange(len(raw))] = rng.randrange(256)
        try:
            v1.decode(bytes(raw), captured.channel, captured.origin)
        except DecodeError as exc:
            assert exc.code == ErrorCode.MALFORMED_MESSAGE


# ---------------------------------------------------------------------------------------------
# the generated module


def _floor(spec: str) -> tuple[int, ...]:
    match = re.search(r'"protobuf>=([0-9.]+)"', spec)
    assert match, "pyproject.toml must pin a protobuf floor"
    return tuple(int(p) for p in match.group(1).split("."))


def test_generated_code_accepts_the_declared_protobuf_floor() -> None:
    gencode = (REPO / "src/reactor_protocol/_reactor_pb2.py").read_text()
    match = re.search(
        r"ValidateProtobufRuntimeVersion\(\s*_runtime_version\.Domain\.PUBLIC,\s*(\d+),\s*(\d+),\s*(\d+),",
        gencode,
    )
    assert match, "generated module has no runtime version guard"
    guard = tuple(int(g) for g in match.groups())
    floor = _floor((REPO / "pyproject.toml").read_text())
    assert guard <= floor + (0,) * (3 - len(floor)), (
        f"gencode needs protobuf>={guard}, pyproject allows {floor}"
    )


def test_generated_code_needs_protobuf_only_and_the_package_imports_lightly() -> None:
    code = (
        "import sys\n"
        "import reactor_protocol\n"
        "assert not [m for m in sys.modules if m.startswith('google.protobuf')], 'import loads protobuf'\n"
        "codec = reactor_protocol.codec_for('v1')\n"
        "assert 'reactor_protocol._reactor_pb2' in sys.modules\n"
        "assert not [m for m in sys.modules if m == 'grpc' or m.startswith(('grpc.', 'grpc_tools'))]\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)
