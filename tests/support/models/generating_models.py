"""Generator-style models served by import path (``--model generating_models:ChunkCrash``).

``tests/conftest.py`` puts this folder on the server subprocess's ``PYTHONPATH``.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from openreactor import Chunk, Model, ModelContext, command


class ChunkCrash(Model):
    """Yields grey chunks of 4 frames; after the ``crash`` command its generator raises."""

    name = "chunk_crash"

    def __init__(self, width: int = 320, height: int = 180, fps: float = 20.0) -> None:
        self.width, self.height, self.fps = width, height, float(fps)
        self.armed = False

    def on_session_start(self, ctx: ModelContext) -> None:
        self.armed = False

    @command
    def crash(self) -> None:
        """Make the generator raise at its next resumption."""
        self.armed = True

    def generate(self, ctx: ModelContext) -> Iterator[Chunk]:
        while True:
            if self.armed:
                raise RuntimeError("boom (on purpose)")
            yield np.full((4, self.height, self.width, 3), 90, np.uint8)
