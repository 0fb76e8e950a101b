"""The ``echo`` model: answers every command with a message carrying its name and data."""

from __future__ import annotations

from typing import Any

import numpy as np

from openreactor.models.api import Frame, Message, Model, ModelContext, TrackSpec


class EchoModel(Model):
    """Replies ``{"type": "echo", "data": {"command": <name>, "data": <arguments>}}`` to any command.

    Its video is a slowly pulsing grey so that a client sees it is alive.
    """

    name = "echo"
    description = "Echoes every command back to its sender."
    tracks = (TrackSpec("main_video", "video", "out"),)

    def __init__(self, width: int = 640, height: int = 360, fps: float = 15.0) -> None:
        self.width = width
        self.height = height
        self.fps = float(fps)

    def on_command(self, name: str, data: dict[str, Any]) -> Message:
        return Message("echo", {"command": name, "data": data})

    def next_frame(self, ctx: ModelContext) -> Frame:
        level = 64 + (ctx.frame_index * 4) % 128
        return np.full((self.height, self.width, 3), level, dtype=np.uint8)
