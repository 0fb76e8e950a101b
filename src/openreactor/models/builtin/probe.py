"""The ``probe`` benchmark model (PROBE.md): frames that carry their own counter and last value."""

from __future__ import annotations

from openreactor.models.api import Frame, Model, ModelContext, TrackSpec, state
from openreactor.models.builtin.probe_pattern import ProbeRenderer


class ProbeModel(Model):
    """Moving test pattern whose top band encodes the frame counter and the last commanded value."""

    name = "probe"
    description = "Benchmark pattern: frame counter and last value in 16x16 blocks (PROBE.md)."
    tracks = (TrackSpec("main_video", "video", "out"),)

    value: int = state(
        0, ge=0, le=65535, description="The value drawn into the code band of every following frame."
    )
    """Set by clients with ``set_value`` (bodyless ack); 0 at the start of every session."""

    def __init__(self, width: int = 1280, height: int = 720, fps: float = 30.0) -> None:
        self.renderer = ProbeRenderer(width, height)
        self.fps = float(fps)

    def next_frame(self, ctx: ModelContext) -> Frame:
        return self.renderer.render(ctx.frame_index, self.value)
