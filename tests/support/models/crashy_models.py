"""Models that fail on purpose, served by import path (``--model crashy_models:CrashOnCommand``).

``tests/conftest.py`` puts this folder on the server subprocess's ``PYTHONPATH``.
"""

from __future__ import annotations

import numpy as np

from openreactor.models.api import Frame, Model, ModelContext, TrackSpec, command


class CrashOnCommand(Model):
    """Streams grey until the ``crash`` command; the next ``next_frame`` raises."""

    name = "crashy"
    tracks = (TrackSpec("main_video"),)

    def __init__(self, width: int = 320, height: int = 180, fps: float = 15.0) -> None:
        self.width, self.height, self.fps = width, height, float(fps)
        self.armed = False

    def on_session_start(self, ctx: ModelContext) -> None:
        self.armed = False

    @command("crash")
    def crash(self) -> None:
        """Make the next frame raise."""
        self.armed = True

    def next_frame(self, ctx: ModelContext) -> Frame:
        if self.armed:
            raise RuntimeError("boom (on purpose)")
        return np.full((self.height, self.width, 3), 100, np.uint8)
