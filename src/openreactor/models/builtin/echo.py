"""The ``echo`` model: answers every command with a message carrying its name and data."""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

from openreactor.models.api import Frame, Message, Model, ModelContext, TrackSpec, UploadedFile


def describe_files(value: Any) -> Any:
    """``value`` with each :class:`UploadedFile` replaced by its name, type, size and SHA-256."""
    if isinstance(value, UploadedFile):
        digest = hashlib.sha256()
        with open(value.path, "rb") as f:
            while block := f.read(1 << 20):
                digest.update(block)
        return {
            "upload_id": value.upload_id,
            "name": value.name,
            "mime_type": value.mime_type,
            "size": value.size,
            "sha256": digest.hexdigest(),
        }
    if isinstance(value, dict):
        return {key: describe_files(item) for key, item in value.items()}
    if isinstance(value, list):
        return [describe_files(item) for item in value]
    return value


class EchoModel(Model):
    """Replies ``{"type": "echo", "data": {"command": <name>, "data": <arguments>}}`` to any command.

    Uploaded files in the arguments come back described (``upload_id``, ``name``, ``mime_type``,
    ``size``, ``sha256`` of the stored bytes). Its video is a slowly pulsing grey so that a client
    sees it is alive.
    """

    name = "echo"
    description = "Echoes every command back to its sender (files as name, size and SHA-256)."
    tracks = (TrackSpec("main_video", "video", "out"),)

    def __init__(self, width: int = 640, height: int = 360, fps: float = 15.0) -> None:
        self.width = width
        self.height = height
        self.fps = float(fps)

    def on_command(self, name: str, data: dict[str, Any]) -> Message:
        return Message("echo", {"command": name, "data": describe_files(data)})

    def next_frame(self, ctx: ModelContext) -> Frame:
        level = 64 + (ctx.frame_index * 4) % 128
        return np.full((self.height, self.width, 3), level, dtype=np.uint8)
