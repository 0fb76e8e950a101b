"""Data-channel bytes <-> codec <-> session: the only place that calls the wire codecs.

The wire version is latched per connection on the first inbound message on either channel
(PROTOCOL.md §5.2). Until then, outbound messages wait in a short queue; legacy flat-route
connections are v0 from the start.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from aiortc import RTCDataChannel

from reactor_protocol import limits
from reactor_protocol.errors import DecodeError, ErrorCode
from reactor_protocol.messages import Channel, Envelope, ErrorMessage, Kind, WireVersion
from reactor_protocol.wire import codec_for, detect_version

log = logging.getLogger(__name__)

MAX_HELD_MESSAGES = 256
"""Outbound messages kept while the wire is unknown; older ones are dropped beyond this."""


class ChannelPump:
    """Owns the ``data`` and ``control`` channels of one peer connection."""

    def __init__(
        self,
        on_envelope: Callable[[Envelope], None],
        *,
        wire: WireVersion | None = None,
        max_message_bytes: int = limits.MAX_MESSAGE_BYTES,
    ) -> None:
        self._on_envelope = on_envelope
        self.wire: WireVersion | None = wire
        self._channels: dict[Channel, RTCDataChannel] = {}
        self._held: list[Envelope] = []
        self._max = max_message_bytes
        self.last_inbound = asyncio.get_running_loop().time()
        self.messages_in = 0
        self.messages_out = 0
        self.decode_errors = 0

    def add_channel(self, channel: RTCDataChannel) -> bool:
        """Adopt a client-created channel; False (ignored) for labels other than data/control."""
        try:
            kind = Channel(channel.label)
        except ValueError:
            log.info("ignoring data channel %r", channel.label)
            return False
        self._channels[kind] = channel
        channel.on("message", lambda raw: self._receive(kind, raw))
        if channel.readyState == "open":
            self._flush()
        else:
            channel.on("open", self._flush)
        return True

    def channels_open(self) -> bool:
        return bool(self._channels) and all(c.readyState == "open" for c in self._channels.values())

    # -- inbound -------------------------------------------------------------------------------

    def _receive(self, channel: Channel, raw: bytes | str) -> None:
        self.last_inbound = asyncio.get_running_loop().time()
        self.messages_in += 1
        size = len(raw.encode() if isinstance(raw, str) else raw)
        if self.wire is None:
            self.wire = detect_version(raw)
            self._flush()
        if size > self._max:
            self._send_error(
                channel, ErrorCode.MESSAGE_TOO_LARGE, f"message of {size} bytes exceeds {self._max}"
            )
            return
        codec = codec_for(self.wire)
        try:
            data = raw if self.wire == "v0" or isinstance(raw, bytes) else raw.encode()
            envelope = codec.decode(data, channel, "client")
        except DecodeError as exc:
            self.decode_errors += 1
            self._send_error(channel, exc.code, f"cannot decode {self.wire} message: {exc.message}")
            return
        try:
            self._on_envelope(envelope)
        except Exception:  # a bug in one handler must not kill the pump
            log.exception("handling %s failed", type(envelope.payload).__name__)
            if envelope.kind is Kind.REQUEST:
                self.send(envelope.reply(ErrorMessage(ErrorCode.INTERNAL_ERROR_SERVER, "internal error")))

    def _send_error(self, channel: Channel, code: str, message: str) -> None:
        self.send(Envelope(channel, Kind.NOTIFICATION, ErrorMessage(code, message)))

    # -- outbound ------------------------------------------------------------------------------

    def send(self, envelope: Envelope) -> None:
        if self.wire is None or not self.channels_open():
            self._held.append(envelope)
            del self._held[:-MAX_HELD_MESSAGES]
            return
        self._send_now(envelope)

    def _flush(self) -> None:
        if self.wire is None or not self.channels_open():
            return
        held, self._held = self._held, []
        for envelope in held:
            self._send_now(envelope)

    def _send_now(self, envelope: Envelope) -> None:
        assert self.wire is not None
        codec = codec_for(self.wire)
        if not codec.has_wire_form(envelope, "server"):
            return  # e.g. a bare ack on v0, which has no correlation
        # v0 puts runtime frames on `data` (JS 2.9.0 opens no other channel).
        channel = self._channels.get(codec.wire_channel(envelope)) or self._channels.get(Channel.DATA)
        if channel is None or channel.readyState != "open":
            return
        try:
            raw = codec.encode(envelope, "server")
        except Exception:
            log.exception("cannot encode %s", envelope)
            return
        size = len(raw.encode() if isinstance(raw, str) else raw)
        if size > self._max:
            error = ErrorMessage(ErrorCode.MESSAGE_TOO_LARGE, f"reply of {size} bytes exceeds {self._max}")
            envelope = (
                envelope.reply(error)
                if envelope.kind is Kind.RESPONSE
                else Envelope(envelope.channel, Kind.NOTIFICATION, error)
            )
            raw = codec.encode(envelope, "server")
        channel.send(raw)
        self.messages_out += 1
