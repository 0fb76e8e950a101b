"""Models that misbehave without raising: they hang or leak memory (``tests/server/workers/test_faults.py``).

Served by import path (``--model faulty_models:HangOnCommand``); ``tests/conftest.py`` puts this
folder on the server subprocess's ``PYTHONPATH``.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from typing import Literal

import numpy as np

from openreactor.models.api import Frame, Model, ModelContext, TrackSpec, command


class HangOnCommand(Model):
    """Streams grey until ``hang``; from then on ``next_frame`` never returns.

    ``sleep`` blocks in C (``time.sleep``), where nothing can interrupt a thread; ``spin`` loops in
    Python bytecode, where an asynchronous exception can.
    """

    name = "hangs"
    tracks = (TrackSpec("main_video"),)

    def __init__(self, width: int = 320, height: int = 180, fps: float = 15.0) -> None:
        self.width, self.height, self.fps = width, height, float(fps)
        self.mode: str | None = None

    def on_session_start(self, ctx: ModelContext) -> None:
        self.mode = None

    @command("hang")
    def hang(self, mode: Literal["sleep", "spin"] = "sleep") -> None:
        """Make the next frame hang for good."""
        self.mode = mode

    def next_frame(self, ctx: ModelContext) -> Frame:
        if self.mode is not None:  # for a test waiting until the hang is under way (in the server log)
            print(f"HangOnCommand: next_frame hangs ({self.mode})", file=sys.stderr, flush=True)
        if self.mode == "sleep":
            time.sleep(10**6)
        elif self.mode == "spin":
            n = 0
            while n >= 0:
                n += 1
        return np.full((self.height, self.width, 3), 100, np.uint8)


class LeakOnCommand(Model):
    """Streams grey; after ``leak``, every frame allocates ``mb`` MiB more and keeps all of it.

    The hoard lives in the generation loop, as per-session state of a real model would (a growing
    cache, kept frames); closing generation at the end of the session is what drops it.
    """

    name = "leaky"
    tracks = (TrackSpec("main_video"),)

    def __init__(self, width: int = 320, height: int = 180, fps: float = 15.0) -> None:
        self.width, self.height, self.fps = width, height, float(fps)
        self.leak_mb = 0

    def on_session_start(self, ctx: ModelContext) -> None:
        self.leak_mb = 0

    @command("leak")
    def leak(self, mb: int = 20) -> None:
        """From the next frame on, keep ``mb`` MiB more per frame."""
        self.leak_mb = mb

    def generate(self, ctx: ModelContext) -> Iterator[Frame]:
        hoard: list[np.ndarray] = []
        while True:
            if self.leak_mb:
                hoard.append(np.ones(self.leak_mb * 2**20, np.uint8))  # written, so resident
            yield np.full((self.height, self.width, 3), 100, np.uint8)
