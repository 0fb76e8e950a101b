"""Wire version detection (PROTOCOL.md §5.2) and codec selection."""

from __future__ import annotations

import pytest

from reactor_protocol import (
    Channel,
    Envelope,
    Ping,
    WireVersion,
    codec_for,
    codec_v0_json,
    codec_v1_protobuf,
    detect_version,
)


@pytest.mark.parametrize(
    ("raw", "version"),
    [
        ('{"scope": "runtime"}', "v0"),
        ("", "v0"),
        ("not json at all", "v0"),
        (b'{"scope": "runtime"}', "v0"),
        (b"[1]", "v0"),
        (b"{", "v0"),
        (b"", "v1"),
        (b"\x10\x03\x52\x00", "v1"),  # ping, the official Python client's usual first message
        (bytes.fromhex("10038a010c0a0a6d61696e5f766964656f"), "v1"),  # resume_track
        (b"\x0a\x06ctrl_1\x10\x01\x5a\x00", "v1"),
        (b" {", "v1"),
        (b"\xef\xbb\xbf{", "v1"),
    ],
)
def test_detect_version(raw: bytes | str, version: WireVersion) -> None:
    assert detect_version(raw) == version


def test_no_v1_message_looks_like_v0() -> None:
    """Field 15 (0x7b = field 15, wire type 3) and 11 (0x5b) are never the first tag we write."""
    env = Envelope.notification(Channel.CONTROL, Ping())
    assert detect_version(codec_v1_protobuf.encode(env, "client")) == "v1"
    assert detect_version(codec_v0_json.encode(env, "client")) == "v0"


def test_codec_for() -> None:
    assert codec_for("v1") is codec_v1_protobuf
    assert codec_for("v0") is codec_v0_json
    with pytest.raises(ValueError):
        codec_for("v2")  # type: ignore[arg-type]


@pytest.mark.parametrize("version", ["v0", "v1"])
def test_codec_round_trip_through_detection(version: WireVersion) -> None:
    codec = codec_for(version)
    env = Envelope.notification(Channel.CONTROL, Ping())
    raw = codec.encode(env, "client")
    assert detect_version(raw) == version
    channel = codec.wire_channel(env)
    assert codec_for(detect_version(raw)).decode(raw, channel, "client") == Envelope.notification(
        channel, Ping()
    )
