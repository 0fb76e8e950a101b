"""aiortc's ``RTCRtpReceiver``: a video jitter buffer that waits less for a missing packet.

* **replace** ``RTCRtpReceiver.__jitter_buffer`` (name-mangled: ``_RTCRtpReceiver__jitter_buffer``),
  which aiortc sets in ``__init__`` (``JitterBuffer(capacity=512, is_video=True)`` for video) and
  feeds every RTP packet through ``.add(packet)``. :func:`bound_jitter_wait` swaps in a
  :class:`BoundedWaitJitterBuffer` after checking that the attribute holds what it expects;
  otherwise it leaves the receiver alone.
* **subclass** ``aiortc.jitterbuffer.JitterBuffer`` and **read** its private ``_origin``,
  ``_packets``, ``_capacity`` and ``_is_video``, and call ``_remove_frame(seq)`` and
  ``remove(count)``.

aiortc's receiver reassembles video frames in a 512-packet buffer that hands out frames strictly
in sequence order. A packet that never arrives (lost, and its retransmission lost or too old for
the sender's 128-packet history, or lost during an outage) blocks every later frame until 512 more
packets have arrived; only then does aiortc drop the incomplete frame and ask for a keyframe
(PLI). At 2-3 Mbit/s that is about 2.5 s of frozen picture, then a burst of stale frames.

:class:`BoundedWaitJitterBuffer` keeps aiortc's behaviour but gives up on a missing packet sooner:
once it is ``NACK_WINDOW`` packets behind the newest one (aiortc asks for retransmissions of the
last 128 packets only, so nothing will repair it) and ``unrepairable_wait_s`` old, or in any case
after ``max_wait_s``. It then drops the packets up to the next frame that starts after the gap and
asks for a keyframe, as aiortc does on overflow. Repairs that can still come (aiortc re-sends its
NACK list whenever it sees a new gap) are waited for. docs/RELIABILITY.md ("Impaired network")
has the measurements.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from aiortc.jitterbuffer import JitterBuffer, JitterFrame
from aiortc.rtp import RTP_HISTORY_SIZE, RtpPacket
from aiortc.utils import uint16_add

logger = logging.getLogger(__name__)

NACK_WINDOW = RTP_HISTORY_SIZE
"""aiortc's receiver NACKs only the missing packets among the last 128, and its sender keeps 128."""
UNREPAIRABLE_WAIT_S = 0.2
"""Wait for a gap beyond the NACK window: a retransmission asked for just before may be in flight."""
MAX_HOLE_WAIT_S = 1.0
"""Longest wait for any gap (at low packet rates 128 packets take seconds), far below aiortc's."""

_RECEIVER_ATTR = "_RTCRtpReceiver__jitter_buffer"
"""Where ``RTCRtpReceiver`` keeps its jitter buffer (a name-mangled private attribute)."""


class BoundedWaitJitterBuffer(JitterBuffer):
    """aiortc's video jitter buffer, but a gap that cannot be repaired blocks later frames briefly.

    Waits count from the moment the gap became known (a later packet arrived, which is also when
    aiortc sends its NACK), so several gaps from one burst of loss (an outage) are given up on
    together rather than one wait after another.
    """

    def __init__(
        self,
        capacity: int = 512,
        *,
        max_wait_s: float = MAX_HOLE_WAIT_S,
        unrepairable_wait_s: float = UNREPAIRABLE_WAIT_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(capacity, is_video=True)
        self.max_wait_s = max_wait_s
        self.unrepairable_wait_s = unrepairable_wait_s
        self._clock = clock
        self._newest: int | None = None
        self._missing_since: dict[int, float] = {}
        """Sequence number -> when a later packet showed it missing (cleared when it arrives)."""
        self.gaps_skipped = 0

    def add(self, packet: RtpPacket) -> tuple[bool, JitterFrame | None]:
        now = self._clock()
        self._note_arrival(packet.sequence_number, now)
        pli, frame = super().add(packet)
        if frame is not None or self._origin is None or self._newest is None:
            return pli, frame
        skipped = False
        while True:
            span = uint16_add(self._newest, -self._origin)
            gap = self._first_gap()
            if gap >= span or span >= self._capacity:  # nothing received beyond the gap: not blocked
                break
            gap_seq = uint16_add(self._origin, gap)
            age = now - self._missing_since.setdefault(gap_seq, now)
            unrepairable = uint16_add(self._newest, -gap_seq) >= NACK_WINDOW
            if age < (self.unrepairable_wait_s if unrepairable else self.max_wait_s):
                break
            if not self._skip_gap(gap):
                break
            skipped = True
            self.gaps_skipped += 1
        if skipped:
            return True, self._remove_frame(packet.sequence_number)
        return pli, frame

    def _note_arrival(self, seq: int, now: float) -> None:
        self._missing_since.pop(seq, None)
        if self._newest is None:
            self._newest = seq
            return
        ahead = uint16_add(seq, -self._newest)
        if 0 < ahead < 0x8000:  # newer than anything so far: the sequence numbers skipped are missing
            for step in range(max(1, ahead - self._capacity), ahead):
                self._missing_since.setdefault(uint16_add(self._newest, step), now)
            self._newest = seq
        if len(self._missing_since) > 2 * self._capacity:
            newest = self._newest
            self._missing_since = {
                s: t for s, t in self._missing_since.items() if uint16_add(newest, -s) < self._capacity
            }

    def _slot(self, offset: int) -> RtpPacket | None:
        origin = self._origin
        assert origin is not None  # only called once a packet has set it
        packet: RtpPacket | None = self._packets[(origin + offset) % self._capacity]
        return packet

    def _first_gap(self) -> int:
        """Offset from the origin of the first missing packet."""
        for offset in range(self._capacity):
            if self._slot(offset) is None:
                return offset
        return self._capacity

    def _skip_gap(self, gap: int) -> bool:
        """Drop everything before the first frame that starts after the gap; False if that frame
        has not begun to arrive yet (keep waiting)."""
        offset = gap
        while offset < self._capacity and self._slot(offset) is None:
            offset += 1
        if offset >= self._capacity:
            return False
        first = self._slot(offset)
        assert first is not None
        # Packets right after the gap may belong to the frame the gap is in: skip that frame too.
        while offset < self._capacity:
            packet = self._slot(offset)
            if packet is not None and packet.timestamp != first.timestamp:
                self.remove(offset)
                return True
            offset += 1
        return False


def bound_jitter_wait(receiver: Any, max_wait_s: float = MAX_HOLE_WAIT_S) -> bool:
    """Give a video ``RTCRtpReceiver`` a :class:`BoundedWaitJitterBuffer`; call before media flows.

    Returns False (and changes nothing) if the receiver does not hold the aiortc video jitter
    buffer this module knows.
    """
    current = getattr(receiver, _RECEIVER_ATTR, None)
    if isinstance(current, BoundedWaitJitterBuffer):
        return True
    if type(current) is not JitterBuffer or not getattr(current, "_is_video", False):
        logger.debug("not bounding the jitter buffer wait: unexpected %r", current)
        return False
    setattr(receiver, _RECEIVER_ATTR, BoundedWaitJitterBuffer(current.capacity, max_wait_s=max_wait_s))
    return True
