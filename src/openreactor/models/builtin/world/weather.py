"""The weather of a ``world`` scene that moves: falling snow and rain, in front of everything.

Particles sit at random depths; nearer ones are bigger (snow) or longer (rain), fall faster and
shift more when the camera turns or steps sideways.
"""

from __future__ import annotations

import numpy as np

from openreactor.models.builtin.world.pixels import Packed, mix, pack1
from openreactor.models.builtin.world.stage import Camera, Stage


class Particles:
    """Snowflakes or raindrops for one stage (none in other weather)."""

    def __init__(self, stage: Stage) -> None:
        self.stage = stage
        kind = self.stage.spec.weather if self.stage.spec.weather in ("snow", "rain") else "none"
        self.particle_kind = kind
        area = self.stage.width * self.stage.height / (1280 * 720)
        n = int({"snow": 900, "rain": 700, "none": 0}[kind] * area)
        rng = self.stage.rng
        self.p_x = (rng.random(n) * self.stage.width).astype(np.float32)
        self.p_y = (rng.random(n) * self.stage.height).astype(np.float32)
        self.p_z = (0.25 + 0.75 * rng.random(n)).astype(np.float32)
        self.p_phase = (rng.random(n) * 6.283).astype(np.float32)
        light = self.stage.lit((255, 255, 255))
        self.p_colour = pack1(mix(light, (255, 255, 255), 0.35) * (0.95 if kind == "snow" else 0.75))

    def draw(self, out: Packed, cam: Camera, dt: float, d_yaw_px: float, d_x: float) -> None:
        """Move the particles on by ``dt`` seconds (and by the camera's turn and sideways step
        since the last frame, nearer ones more) and draw them."""
        if not len(self.p_x):
            return
        w, h = self.stage.width, self.stage.height
        s = h / 720.0
        z = self.p_z
        parallax = d_yaw_px + d_x * self.stage.f / (6.0 / z)
        if self.particle_kind == "snow":
            self.p_y += (30 + 90 * z) * s * dt
            self.p_x += (np.sin(self.p_phase + cam.t * 1.3) * 25 * s + 10 * s) * dt * z - parallax
        else:
            self.p_y += (700 + 700 * z) * s * dt
            self.p_x += (120 * s * dt) * z - parallax
        self.p_x %= w
        self.p_y %= h
        xi = self.p_x.astype(np.int64)
        yi = self.p_y.astype(np.int64)
        colour = self.p_colour
        if self.particle_kind == "snow":
            size = np.clip((z * 4.4 * s).astype(np.int64), 1, 4)
            for oy in range(4):
                for ox in range(4):
                    sel = size > max(ox, oy)
                    if not sel.any():
                        continue
                    out[np.minimum(yi[sel] + oy, h - 1), np.minimum(xi[sel] + ox, w - 1)] = colour
        else:
            length = max(3, int(16 * s))
            for k in range(length):
                sel = z * length > k
                out[np.minimum(yi[sel] + k, h - 1), np.minimum(xi[sel] + k // 5, w - 1)] = colour
