"""Our own VP8 encoder for output tracks: bitrate range, keyframe interval and forced keyframes.

aiortc's built-in encoder caps VP8 at 1.5 Mbit/s and offers no way to force a keyframe from the
application, so output tracks hand aiortc already-encoded packets (it only packetizes them).

The target bitrate follows the receiver's feedback, forwarded by ``transport/peer.py``, within
``[bitrate_min, bitrate_max]``: its bandwidth estimate (REMB), and a loss-based limit that drops
when its reports (RTCP RR) show heavy loss, because a delay-based estimate does not see a
bottleneck whose queue is already full and overflowing. Without that, a link slower than what the
encoder produces (640x360 probe: ~2.7 Mbit/s, 1280x720: ~8 Mbit/s) keeps the bottleneck queue
full: NACKs then come back after aiortc's 128-packet retransmission history has moved on, and the
receiver stalls for seconds (docs/RELIABILITY.md, "Impaired network"). libvpx (through FFmpeg)
ignores bitrate changes on an open encoder, so a new target reopens it, which costs one keyframe;
hysteresis keeps that rare.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import av
import numpy as np
import numpy.typing as npt

VIDEO_CLOCK_RATE = 90_000
VIDEO_TIME_BASE = Fraction(1, VIDEO_CLOCK_RATE)


@dataclass(frozen=True, slots=True)
class EncoderSettings:
    bitrate_min: int = 1_000_000
    bitrate_max: int = 8_000_000
    keyframe_interval_s: float = 3.0
    fps: float = 30.0
    speed: int = 8
    """libvpx ``cpu-used`` for the realtime deadline: higher is faster and coarser."""
    threads: int = 1
    """libvpx threads. On 2 cores, 2 threads stalled 720p encodes up to 200 ms (p99); 1 stays under 40."""


ESTIMATE_SHARE = 0.85
"""Share of the receiver's estimate given to the encoder: the rest covers the encoder's overshoot,
RTP/SRTP/UDP overhead and retransmissions."""
RETARGET_STEP = 0.10
"""The target changes only when the wanted bitrate differs from it by more than this fraction."""
RETARGET_DOWN_AFTER_S = 1.0
"""Least time between a target change and a decrease (each change reopens the encoder: a keyframe)."""
RETARGET_UP_AFTER_S = 3.0
"""Least time between a target change and an increase."""
LOSS_BACKOFF_ABOVE = 0.10
"""Reported loss above this sets the loss-based limit to ``target * (1 - loss / 2)`` (as in
WebRTC's loss-based controller); lower loss (random loss of a few % included) raises it by
``LOSS_LIMIT_GROWTH`` per report until it no longer limits."""
LOSS_LIMIT_GROWTH = 1.05


class Vp8Encoder:
    """Encodes RGB frames to VP8, one packet per frame (no lookahead: ``lag-in-frames`` 0).

    Not thread-safe; each output track owns one and calls it from one executor job at a time.
    """

    def __init__(
        self, settings: EncoderSettings, *, on_encoded: Callable[[float], None] | None = None
    ) -> None:
        self.settings = settings
        self._on_encoded = on_encoded
        """Called with the seconds each ``encode`` took (metrics); from the encoding thread."""
        self._codec: av.VideoCodecContext | None = None
        self._estimate: int | None = None
        self._loss_limit: int | None = None
        self._target = settings.bitrate_max
        self._target_changed_at = -float("inf")
        self.frames = 0
        self.keyframes = 0
        self.bytes_out = 0
        self.retargets = 0
        """Target changes made while the encoder was open (each reopened it)."""

    @property
    def target_bitrate(self) -> int:
        """Bits per second the encoder is (or will next be) opened with."""
        return self._target

    @property
    def bandwidth_estimate(self) -> int | None:
        """The receiver's latest estimate (bits per second), if one has come."""
        return self._estimate

    def set_bandwidth_estimate(self, bps: int) -> None:
        """The receiver's estimate of the available bitrate; applied at the next ``encode``.

        May be called from another thread than ``encode`` (a plain attribute store).
        """
        self._estimate = max(0, int(bps))

    @property
    def loss_limit(self) -> int | None:
        """The loss-based limit (bits per second), while it limits."""
        return self._loss_limit

    def report_loss(self, fraction: float) -> None:
        """The receiver's fraction of packets lost since its previous report (RTCP RR)."""
        s = self.settings
        if fraction > LOSS_BACKOFF_ABOVE:
            self._loss_limit = max(s.bitrate_min, int(self._target * (1 - fraction / 2)))
        elif self._loss_limit is not None:
            grown = int(self._loss_limit * LOSS_LIMIT_GROWTH)
            self._loss_limit = grown if grown < s.bitrate_max else None

    def _retarget(self, now: float) -> bool:
        """Move the target toward the estimate and loss limit, with hysteresis; True if it changed."""
        estimate, limit = self._estimate, self._loss_limit
        if estimate is None and limit is None:
            return False
        s = self.settings
        wanted = s.bitrate_max if estimate is None else int(estimate * ESTIMATE_SHARE)
        if limit is not None:
            wanted = min(wanted, limit)
        wanted = min(s.bitrate_max, max(s.bitrate_min, wanted))
        since = now - self._target_changed_at
        down = wanted < self._target * (1 - RETARGET_STEP) and since >= RETARGET_DOWN_AFTER_S
        up = wanted > self._target * (1 + RETARGET_STEP) and since >= RETARGET_UP_AFTER_S
        if not (down or up):
            return False
        self._target = wanted
        self._target_changed_at = now
        return True

    def _open(self, width: int, height: int) -> av.VideoCodecContext:
        s = self.settings
        codec = av.CodecContext.create("libvpx", "w")
        codec.width = width
        codec.height = height
        codec.pix_fmt = "yuv420p"
        codec.time_base = VIDEO_TIME_BASE
        codec.framerate = Fraction(s.fps).limit_denominator(1000)
        codec.bit_rate = self._target
        codec.gop_size = max(1, round(s.keyframe_interval_s * s.fps))
        codec.qmin = 2
        codec.qmax = 56
        codec.thread_count = s.threads
        # Variable bitrate around the target (libvpx switches to CBR only if minrate == maxrate ==
        # bit_rate, i.e. when bitrate_min == bitrate_max), with a 1 s rate-control buffer.
        codec.options = {
            "deadline": "realtime",
            "cpu-used": str(s.speed),
            "lag-in-frames": "0",
            "minrate": str(
                s.bitrate_min if s.bitrate_min < self._target or s.bitrate_min == s.bitrate_max else 0
            ),
            "maxrate": str(self._target),
            "bufsize": str(self._target),
            "undershoot-pct": "95",
            "overshoot-pct": "15",
            "static-thresh": "0",
            "error-resilient": "1",
        }
        codec.open()
        return codec

    def encode(self, rgb: npt.NDArray[np.uint8], pts: int, keyframe: bool) -> av.Packet[Any] | None:
        """Encode one frame; ``pts`` is on the 90 kHz RTP clock. ``None`` if the encoder dropped it."""
        if self._on_encoded is None:
            return self._encode(rgb, pts, keyframe)
        started = time.perf_counter()
        try:
            return self._encode(rgb, pts, keyframe)
        finally:
            self._on_encoded(time.perf_counter() - started)

    def _encode(self, rgb: npt.NDArray[np.uint8], pts: int, keyframe: bool) -> av.Packet[Any] | None:
        height, width = rgb.shape[:2]
        if self._retarget(time.monotonic()) and self._codec is not None:
            self._codec = None
            self.retargets += 1
        if self._codec is None or (self._codec.width, self._codec.height) != (width, height):
            self._codec = self._open(width, height)
            keyframe = True
        # AREA averages each 2x2 chroma block: +0.7 dB RGB PSNR over the default bilinear.
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(
            format="yuv420p", interpolation="AREA"
        )
        frame.pts = pts
        frame.time_base = VIDEO_TIME_BASE
        if keyframe:
            frame.pict_type = av.video.frame.PictureType.I
        data = b"".join(bytes(p) for p in self._codec.encode(frame))
        if not data:
            return None
        packet = av.Packet(data)
        packet.pts = pts
        packet.time_base = VIDEO_TIME_BASE
        self.frames += 1
        self.bytes_out += len(data)
        # VP8 frame tag: bit 0 of the first byte is 0 for a keyframe.
        if data[0] & 1 == 0:
            packet.is_keyframe = True
            self.keyframes += 1
        return packet
