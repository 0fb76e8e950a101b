"""A model exercising what sessions offer models: broadcasts, typed file arguments, an input.

Served by import path (``--model session_models:Chatty``); ``tests/conftest.py`` puts this folder
on the server subprocess's ``PYTHONPATH``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from openreactor.models.api import Frame, Message, Model, ModelContext, TrackSpec, UploadedFile, command
from openreactor.models.schema import UPLOAD_REFERENCE_SCHEMA

SET_IMAGE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "image": UPLOAD_REFERENCE_SCHEMA,
        "strength": {"type": "number", "minimum": 0, "maximum": 1},
    },
    "required": ["image"],
    "additionalProperties": False,
}


class Chatty(Model):
    name = "chatty"
    tracks = (TrackSpec("webcam", "video", "in"), TrackSpec("main_video", "video", "out"))

    def __init__(self, width: int = 320, height: int = 180, fps: float = 15.0) -> None:
        self.width, self.height, self.fps = width, height, float(fps)
        self.ctx: ModelContext | None = None

    def on_session_start(self, ctx: ModelContext) -> None:
        self.ctx = ctx

    @command("announce", schema={"type": "object", "properties": {"text": {"type": "string"}}})
    def announce(self, text: str = "") -> Message:
        """Broadcast ``text`` to every client; the sender also gets a reply."""
        assert self.ctx is not None
        self.ctx.broadcast(Message("announcement", {"text": text}))
        return Message("announced", {"text": text})

    @command("set_image", schema=SET_IMAGE_SCHEMA)
    def set_image(self, image: UploadedFile, strength: float = 0.5) -> Message:
        """A typed file argument: the handler gets an ``UploadedFile``."""
        return Message(
            "image_set",
            {
                "kind": type(image).__name__,
                "name": image.name,
                "size": image.size,
                "head": image.read_bytes()[:8].hex(),
                "strength": strength,
            },
        )

    def next_frame(self, ctx: ModelContext) -> Frame:
        return np.full((self.height, self.width, 3), 120, np.uint8)
