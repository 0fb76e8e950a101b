"""What every part of a ``world`` scene is built and drawn against: the screen, the lens, the
scene's light and its random stream, and where the camera is.

The camera sits ``CAM_H`` units above a flat ground and looks along it; yaw shifts every layer
sideways (a cylindrical panorama of ``pano`` pixels), pitch moves the horizon up and down.
Elevations count pixels above the horizon.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from openreactor.models.builtin.world.lighting import lighting_for
from openreactor.models.builtin.world.pixels import Arr
from openreactor.models.builtin.world.scene import RGB, SceneSpec

FOV_DEG = 75.0
"""Horizontal field of view."""
CAM_H = 2.0
"""Camera height above the ground, in world units."""


@dataclass(frozen=True, slots=True)
class Camera:
    """Where the camera is, in the units the renderer wants."""

    yaw_deg: float
    pitch_deg: float
    x: float
    """Sideways position (world units)."""
    z: float
    """Forward position (world units)."""
    t: float
    """Scene time in seconds (clouds, waves, twinkle, particles)."""


class Stage:
    """One :class:`SceneSpec` at one resolution: geometry, light and the random stream.

    Every part draws from ``rng`` while it is built, in the order the renderer builds them, so
    the same spec always gives the same pixels.
    """

    def __init__(self, spec: SceneSpec, width: int, height: int) -> None:
        self.spec = spec
        self.width, self.height = width, height
        self.f = 0.5 * width / math.tan(math.radians(FOV_DEG) / 2)
        """Focal length in pixels."""
        self.pano = int(round(2 * math.pi * self.f))
        """Width of the full 360° panorama in pixels."""
        self.lt = lighting_for(spec)
        self.rng = np.random.default_rng(spec.seed % (2**63))
        self.cx = width / 2.0
        self.max_elev = int(height + self.f) + 2

    def px(self, units: float, depth: float) -> float:
        """Screen pixels of ``units`` world units seen at ``depth``."""
        return units * self.f / depth

    def base_elev(self, depth: float) -> int:
        """Elevation (negative) where the ground at ``depth`` meets what stands on it."""
        return -int(round(CAM_H * self.f / depth))

    def lit(self, rgb: RGB | Arr) -> Arr:
        return np.asarray(rgb, np.float32) * np.asarray(self.lt.light, np.float32)

    def fog_at(self, depth: float) -> float:
        return 1.0 - math.exp(-depth / self.lt.fog_dist)

    def period(self, screens: float) -> int:
        return int(self.width * screens)

    def horizon(self, pitch_deg: float) -> float:
        """Screen row of the horizon at ``pitch_deg`` (looking up moves it down)."""
        return self.height / 2 + self.f * math.tan(math.radians(pitch_deg))

    def screen_x(self, world_x: float, yaw_px: float, cam_x: float, depth: float) -> float:
        """Screen column of panorama column ``world_x`` (nearest copy around the view centre)."""
        sx = world_x - yaw_px - cam_x * self.f / depth
        return (sx - self.cx + self.pano / 2) % self.pano - self.pano / 2 + self.cx
