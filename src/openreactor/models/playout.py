"""The playout buffer: at most one chunk of frames, drained at the model's fps.

Generation → ``put(frames)`` (waits while the buffer holds anything: back-pressure) → the pacer
task publishes one entry per tick into the session's :class:`FrameSlot`. Frame ``k`` of the
schedule is due at ``start + k / fps``. When the buffer runs dry the clock waits, and a frame
that comes more than one period late restarts the schedule from now instead of bursting to catch
up: a burst would only queue frames ahead of the encoders. ``None`` entries are idle ticks.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from collections.abc import Callable

from openreactor.models.api import Frame


class PlayoutBuffer:
    """One chunk of frames waiting for their ticks; owned by a :class:`ModelRunner`."""

    def __init__(self, fps: float, publish: Callable[[Frame], None], on_room: Callable[[], None]) -> None:
        self.period = 1.0 / max(fps, 1e-3)
        self._publish = publish
        self._on_room = on_room
        self._frames: deque[Frame | None] = deque()
        self._filled = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        self._next_due: float | None = None
        self.ticks = 0
        """Entries played out so far (idle ticks included)."""

    def __len__(self) -> int:
        return len(self._frames)

    @property
    def empty(self) -> bool:
        return not self._frames

    def put(self, frames: list[Frame | None]) -> None:
        """Queue one output (a frame, a chunk's frames, or ``[None]``); only into an empty buffer."""
        if self._frames:
            raise RuntimeError("the playout buffer holds one chunk at most; wait until it is empty")
        self._frames.extend(frames)
        self._filled.set()

    def resume_delay(self, generation_s: float) -> float:
        """Seconds to wait before generating the next output so it is ready just in time.

        Generating earlier would only hold a finished output back (latency: the commands it
        reflects are older); ``generation_s`` is how long generating one output takes.
        """
        now = self._loop.time()
        if self._next_due is None:
            return 0.0 if self.empty else math.inf
        first_due = max(self._next_due, now) + len(self._frames) * self.period
        margin = min(0.15 * self.period, 0.5 * generation_s) + 0.002
        return first_due - generation_s - margin - now

    async def run(self) -> None:
        """The pacer: publish one entry per tick until cancelled."""
        loop = self._loop
        while True:
            while not self._frames:
                self._filled.clear()
                await self._filled.wait()
            now = loop.time()
            if self._next_due is None or now > self._next_due + self.period:
                self._next_due = now
            delay = self._next_due - now
            if delay > 0:
                await asyncio.sleep(delay)
            frame = self._frames.popleft()
            if frame is not None:
                self._publish(frame)
            self.ticks += 1
            self._next_due += self.period
            if not self._frames:
                self._on_room()
