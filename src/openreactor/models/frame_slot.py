"""One-slot handoff from the model runner to every output track of a session."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from openreactor.models.api import Frame


@dataclass(frozen=True, slots=True)
class SlotFrame:
    seq: int
    """1 for the first frame published into the slot, +1 per publish."""
    frame: Frame
    time: float
    """``loop.time()`` when the frame was published (drives the RTP timestamp)."""


class FrameSlot:
    """Latest frame wins: publishing never blocks and overwrites; readers wait for a newer one.

    A reader that is slower than the model skips frames (it always gets the newest), so no queue
    builds up ahead of an encoder. Skipped frames are not counted here; each reader knows its gaps
    from ``seq``. Frames are shared between readers and must be treated as read-only.
    """

    def __init__(self) -> None:
        self._latest: SlotFrame | None = None
        self._changed = asyncio.Event()
        self._closed = False

    @property
    def latest(self) -> SlotFrame | None:
        return self._latest

    def publish(self, frame: Frame, time: float) -> None:
        seq = self._latest.seq + 1 if self._latest else 1
        self._latest = SlotFrame(seq, frame, time)
        self._changed.set()
        self._changed = asyncio.Event()

    def close(self) -> None:
        """Wake every reader; :meth:`next_after` then returns ``None``."""
        self._closed = True
        self._changed.set()

    async def next_after(self, seq: int) -> SlotFrame | None:
        """The newest frame with a sequence number above ``seq``; ``None`` once closed."""
        while not self._closed:
            latest = self._latest
            if latest is not None and latest.seq > seq:
                return latest
            await self._changed.wait()
        return None
