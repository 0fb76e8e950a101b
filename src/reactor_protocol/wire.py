"""Picking the wire version of a connection and its codec (PROTOCOL.md §5.2).

A connection latches its version on the first inbound message on either channel
(:func:`detect_version`), then uses one codec for its whole life (:func:`codec_for`).
"""

from __future__ import annotations

from typing import Protocol

from .messages import Channel, Envelope, Origin, WireVersion

__all__ = ["Codec", "codec_for", "detect_version"]

_V0_FIRST_BYTES = frozenset(b"{[")


def detect_version(raw: bytes | str) -> WireVersion:
    """``"v0"`` for text, or binary starting with ``{`` / ``[``; ``"v1"`` for any other binary."""
    if isinstance(raw, str):
        return "v0"
    if len(raw) > 0 and raw[0] in _V0_FIRST_BYTES:
        return "v0"
    return "v1"


class Codec(Protocol):
    """One wire version: both codec modules (``codec_v0_json``, ``codec_v1_protobuf``) satisfy it."""

    def encode(self, env: Envelope, origin: Origin) -> bytes | str:
        """The wire form of ``env`` as sent by ``origin`` (``bytes`` for v1, ``str`` for v0)."""
        ...

    def decode(self, raw: bytes | str, channel: Channel, origin: Origin) -> Envelope:
        """The envelope in ``raw``; raises ``DecodeError`` (with a code) for anything else."""
        ...

    def has_wire_form(self, env: Envelope, origin: Origin) -> bool:
        """Whether ``encode`` accepts ``env`` (v0 has no acks, no steps and no client stats)."""
        ...

    def wire_channel(self, env: Envelope) -> Channel:
        """The channel the encoded message goes on (v0 sends ``runtime`` frames on ``data``)."""
        ...


def codec_for(version: WireVersion) -> Codec:
    """The codec of ``version`` (imported on first use, so the protobuf runtime loads only for v1)."""
    if version == "v1":
        from . import codec_v1_protobuf

        return codec_v1_protobuf
    if version == "v0":
        from . import codec_v0_json

        return codec_v0_json
    raise ValueError(f"unknown wire version {version!r}")
