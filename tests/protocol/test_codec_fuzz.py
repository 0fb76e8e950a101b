"""A deterministic slice of ``bench/fuzz_codecs.py``: no input makes a codec raise anything but a coded
``DecodeError``.

Hypothesis runs derandomized (same examples every run) with a small budget; the bench runs the
100,000-input version.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from reactor_protocol import Channel, ErrorCode
from reactor_protocol import codec_v0_json as v0
from reactor_protocol import codec_v1_protobuf as v1
from reactor_protocol.errors import DecodeError

from .conftest import captured_messages

FUZZ = settings(
    max_examples=1000,
    derandomize=True,
    database=None,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)

CODES = {str(code) for code in ErrorCode}
DECODERS = [v1.decode, v0.decode]
TARGETS = [(ch, origin) for ch in (Channel.DATA, Channel.CONTROL) for origin in ("client", "server")]

GOLDEN = [m.prefix for m in captured_messages()]

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=8,
)

V0_SHAPED = st.fixed_dictionaries(
    {"type": st.sampled_from(["request", "response", "notification"]) | st.text(max_size=6)},
    optional={
        "scope": st.sampled_from(["application", "runtime"]) | JSON_VALUES,
        "data": JSON_VALUES,
        "request_id": JSON_VALUES,
    },
).map(json.dumps)

MUTATED_GOLDEN = st.tuples(
    st.sampled_from(GOLDEN), st.integers(0, 400), st.integers(0, 7), st.binary(max_size=8)
).map(lambda t: _flip(t[0], t[1], t[2]) + t[3])


def _flip(data: bytes, index: int, bit: int) -> bytes:
    if not data:
        return data
    buf = bytearray(data)
    buf[index % len(buf)] ^= 1 << bit
    return bytes(buf[: max(1, index)])


INPUTS: st.SearchStrategy[bytes | str] = st.one_of(
    st.binary(max_size=128),
    st.text(max_size=64),
    JSON_VALUES.map(json.dumps),
    V0_SHAPED,
    MUTATED_GOLDEN,
)


def assert_decodes_or_coded_error(raw: Any) -> None:
    for decode in DECODERS:
        for channel, origin in TARGETS:
            try:
                decode(raw, channel, origin)
            except DecodeError as exc:
                assert exc.code in CODES, (raw, exc.code)
                assert isinstance(exc.message, str)


@FUZZ
@given(INPUTS)
def test_codecs_decode_or_raise_a_coded_decode_error(raw: bytes | str) -> None:
    assert_decodes_or_coded_error(raw)
    if isinstance(raw, str):
        assert_decodes_or_coded_error(raw.encode("utf-8", "surrogatepass"))


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        "",
        b"\x0a\xff\xff\xff\xff\x0f",  # a length far past the end
        b"\x08" + b"\xff" * 11,  # an over-long varint
        b"\x10\x7f",  # unknown message kind
        b"\xed\xa0\x80",  # a UTF-8-encoded surrogate
        '{"type": "request", "data": NaN}',
        '{"scope": "application", "data": {"type": 1}}',
        "[" * 10_000 + "]" * 10_000,  # deep nesting
        b"{" * 10_000,
        "\ud800",
        bytearray(b"\x08\x01"),
        memoryview(b"\x08\x01"),
    ],
)
def test_edge_inputs_decode_or_raise_a_coded_decode_error(raw: Any) -> None:
    assert_decodes_or_coded_error(raw)
