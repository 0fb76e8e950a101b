"""The ``probe`` benchmark model (PROBE.md): frames that carry their own counter and last value."""

from __future__ import annotations

from typing import Any

from openreactor.models.api import Frame, Model, ModelContext, TrackSpec, command
from openreactor.models.builtin.probe_pattern import ProbeRenderer

VALUE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "value": {
            "type": "integer",
            "minimum": 0,
            "maximum": 65535,
            "description": "The value drawn into the code band of every following frame.",
        }
    },
    "required": ["value"],
    "additionalProperties": False,
}


class ProbeModel(Model):
    """Moving test pattern whose top band encodes the frame counter and the last commanded value."""

    name = "probe"
    description = "Benchmark pattern: frame counter and last value in 16x16 blocks (PROBE.md)."
    tracks = (TrackSpec("main_video", "video", "out"),)

    def __init__(self, width: int = 1280, height: int = 720, fps: float = 30.0) -> None:
        self.renderer = ProbeRenderer(width, height)
        self.fps = float(fps)
        self.value = 0

    def on_session_start(self, ctx: ModelContext) -> None:
        self.value = 0

    @command("set_value", schema=VALUE_SCHEMA)
    def set_value(self, value: int) -> None:
        """Set the value shown in the code band (the auto setter of the ``value`` state field)."""
        self.value = int(value)

    def next_frame(self, ctx: ModelContext) -> Frame:
        return self.renderer.render(ctx.frame_index, self.value)
