"""A torch model: ``next_frame`` returns a ``(C, H, W)`` float tensor in [0, 1].

The runtime turns the tensor into RGB uint8 (channels last) before playout; torch itself is
imported only here, never by the server. Serve it with::

    PYTHONPATH=examples/models openreactor serve --model torch_noise:TorchNoise --ice-host 127.0.0.1
"""

from __future__ import annotations

from typing import Any

import torch

from openreactor import Model, ModelContext, state


class TorchNoise(Model):
    """Slowly drifting coloured noise, computed with torch on the CPU."""

    name = "torch_noise"
    description = "Coloured noise from torch; `set_tint` shifts the colour."

    tint: float = state(0.0, ge=0.0, le=1.0, description="0 is grey noise, 1 strongly red.")

    def __init__(self, width: int = 320, height: int = 180, fps: float = 30.0) -> None:
        self.width, self.height, self.fps = width, height, float(fps)
        self.generator = torch.Generator().manual_seed(0)
        self.base = torch.zeros(3, height // 8, width // 8)

    def on_session_start(self, ctx: ModelContext) -> None:
        self.generator.manual_seed(0)
        self.base = torch.rand(3, self.height // 8, self.width // 8, generator=self.generator)

    @torch.no_grad()
    def next_frame(self, ctx: ModelContext) -> Any:
        step = torch.rand(self.base.shape, generator=self.generator) - 0.5
        self.base = (self.base + 0.05 * step).clamp(0.0, 1.0)
        frame = torch.nn.functional.interpolate(
            self.base[None], size=(self.height, self.width), mode="bilinear", align_corners=False
        )[0]
        frame[0] = frame[0] * (1 - self.tint) + self.tint
        return frame  # (3, H, W) float in [0, 1]
