"""``ModelVideoTrack``: one connection's view of a model's video output, as encoded packets."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import av
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from openreactor.models.frame_slot import FrameSlot
from openreactor.transport.video_encoder import VIDEO_CLOCK_RATE, EncoderSettings, Vp8Encoder

KEYFRAME_REQUEST_HOLDOFF_S = 0.5
"""Keyframe requests (PLI/FIR) that arrive this soon after a keyframe went out are taken as
answered by it: a receiver that lost packets keeps asking (aiortc's once per undecodable frame)
until the keyframe reaches it, one round trip plus queueing later, and each extra keyframe is
large enough to cause more loss on a slow link."""


class ModelVideoTrack(MediaStreamTrack):
    """Pulls the newest frame from the session's :class:`FrameSlot` and hands aiortc VP8 packets.

    Each connection has its own track and encoder, so pausing, resuming and keyframes are per
    connection. While paused, ``recv`` waits and nothing is encoded. The first frame after a
    resume, and the first frame of a new track (every (re)negotiation builds one), is a keyframe.
    A slow encoder skips to the newest frame rather than falling behind. Keyframe requests are
    held off for ``KEYFRAME_REQUEST_HOLDOFF_S`` after a keyframe; the encoder's bitrate follows
    ``set_bandwidth_estimate`` and ``report_loss``.
    """

    kind = "video"

    def __init__(
        self,
        name: str,
        slot: FrameSlot,
        settings: EncoderSettings,
        *,
        paused: bool,
        on_encoded: Callable[[float], None] | None = None,
        on_first_packet: Callable[[], None] | None = None,
    ) -> None:
        super().__init__()
        self.name = name
        self._slot = slot
        self._encoder = Vp8Encoder(settings, on_encoded=on_encoded)
        self._on_first_packet = on_first_packet
        """Called once, when this track hands aiortc its first packet (time-to-first-frame metric)."""
        self._seq = 0
        self._running = asyncio.Event()
        if not paused:
            self._running.set()
        self._force_keyframe = True
        self._clock_origin: float | None = None
        self._last_pts = -1
        self._last_keyframe_at = -float("inf")
        self.frames_sent = 0
        self.frames_skipped = 0
        self.keyframe_requests = 0
        self.keyframe_requests_held_off = 0

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    @property
    def encoder(self) -> Vp8Encoder:
        return self._encoder

    def pause(self) -> None:
        self._running.clear()

    def resume(self) -> None:
        if not self._running.is_set():
            self._force_keyframe = True
            self._running.set()

    def request_keyframe(self) -> None:
        """A receiver's PLI/FIR: the next frame is a keyframe, unless one has just gone out."""
        self.keyframe_requests += 1
        if time.monotonic() - self._last_keyframe_at < KEYFRAME_REQUEST_HOLDOFF_S:
            self.keyframe_requests_held_off += 1
            return
        self._force_keyframe = True

    def set_bandwidth_estimate(self, bps: int) -> None:
        """The receiver's bandwidth estimate (REMB); the encoder's target follows it."""
        self._encoder.set_bandwidth_estimate(bps)

    def report_loss(self, fraction: float) -> None:
        """The receiver's reported loss (RTCP RR); heavy loss lowers the encoder's target."""
        self._encoder.report_loss(fraction)

    async def recv(self) -> av.Packet[Any]:
        loop = asyncio.get_running_loop()
        while True:
            if self.readyState != "live":
                raise MediaStreamError
            await self._running.wait()
            item = await self._slot.next_after(self._seq)
            if item is None or self.readyState != "live":
                self.stop()
                raise MediaStreamError
            if self.paused:
                continue
            if self._seq:
                self.frames_skipped += max(0, item.seq - self._seq - 1)
            self._seq = item.seq
            if self._clock_origin is None:
                self._clock_origin = item.time
            # RTP timestamps follow the time each frame was generated, strictly increasing.
            pts = max(int((item.time - self._clock_origin) * VIDEO_CLOCK_RATE), self._last_pts + 1)
            self._last_pts = pts
            keyframe, self._force_keyframe = self._force_keyframe, False
            packet = await loop.run_in_executor(None, self._encoder.encode, item.frame, pts, keyframe)
            if packet is not None:
                self.frames_sent += 1
                self.last_sent_monotonic = time.monotonic()
                if packet.is_keyframe:
                    self._last_keyframe_at = self.last_sent_monotonic
                if self.frames_sent == 1 and self._on_first_packet is not None:
                    self._on_first_packet()
                return packet
            if keyframe:
                self._force_keyframe = True
