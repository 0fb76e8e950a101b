"""Procedural parallax renderer of the ``world`` model (numpy only, one core, no neural network).

A scene (:class:`SceneRenderer`) is built once per prompt from a
:class:`~openreactor.models.builtin.world.scene.SceneSpec`, part by part, each in its module:

* :mod:`.sky`: a sky gradient table, a sun or moon patch, star positions, the cloud layer;
* :mod:`.terrain` (with :mod:`.trees` and :mod:`.buildings`): silhouette layers (mountains,
  hills, dunes, trees, buildings) as periodic panoramas (:mod:`.layers`);
* :mod:`.ground`: a ground texture in world coordinates at several blur/fog levels;
* :mod:`.weather`: snow or rain particles;
* :mod:`.billboard`: an uploaded picture standing in the scene.

Drawing a frame then only slices, copies and gathers precomputed pixels, back to front, on
packed ``uint32`` pixels (:mod:`.pixels`); the frame is unpacked once at the end. The parts are
built in a fixed order from one random stream (:class:`~.stage.Stage`), so a spec always gives
the same frames.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from openreactor.models.builtin.world.billboard import Billboard
from openreactor.models.builtin.world.ground import Ground
from openreactor.models.builtin.world.layers import Layer, draw_layer
from openreactor.models.builtin.world.pixels import Packed, unpack_into
from openreactor.models.builtin.world.scene import SceneSpec
from openreactor.models.builtin.world.sky import Sky, clouds_layer
from openreactor.models.builtin.world.stage import Camera, Stage
from openreactor.models.builtin.world.terrain import terrain_layers
from openreactor.models.builtin.world.weather import Particles

__all__ = ["Camera", "SceneRenderer"]


class SceneRenderer:
    """Everything precomputed for one :class:`SceneSpec` at one resolution, and the frame drawer."""

    def __init__(self, spec: SceneSpec, width: int, height: int) -> None:
        stage = Stage(spec, width, height)
        self.stage = stage
        self.spec = spec
        self.width, self.height = width, height
        self.f, self.pano, self.cx = stage.f, stage.pano, stage.cx
        self.lt = stage.lt
        # The order matters: each part draws from the stage's random stream as it is built.
        self.sky = Sky(stage)
        self.layers: list[Layer] = []
        if self.lt.clouds > 0:
            self.layers.append(clouds_layer(stage))
        self.layers += terrain_layers(stage)
        self.ground = Ground(stage, self.sky)
        self.particles = Particles(stage)
        self.billboard: Billboard | None = None
        self._last: Camera | None = None

    def set_billboard(self, picture: npt.NDArray[np.uint8] | None, world_x: float | None = None) -> None:
        """Stand ``picture`` (RGB, already sized in screen pixels) in the world, or remove it."""
        self.billboard = None if picture is None else Billboard.build(self.stage, picture, world_x)

    def billboard_world_x(self) -> float | None:
        return None if self.billboard is None else self.billboard.world_x

    def restart(self) -> None:
        """Forget the previous camera (particles jump nowhere on the next frame)."""
        self._last = None

    def horizon(self, pitch_deg: float) -> float:
        """Screen row of the horizon at ``pitch_deg`` (looking up moves it down)."""
        return self.stage.horizon(pitch_deg)

    def render_packed(self, cam: Camera, dt: float) -> Packed:
        """Draw the scene for ``cam`` as packed pixels; advances the particles by ``dt`` seconds."""
        h, w = self.height, self.width
        yaw_px = cam.yaw_deg / 360.0 * self.pano
        yh = self.horizon(cam.pitch_deg)
        out: Packed = np.empty((h, w), np.uint32)
        self.sky.draw(out, yh, yaw_px, cam.t)
        self.ground.draw(out, yh, cam, yaw_px)
        for layer in self.layers:
            draw_layer(out, layer, self.stage, yh, yaw_px, cam)
        if self.billboard is not None:
            self.billboard.draw(out, self.stage, yh, yaw_px, cam)
        last = self._last
        d_yaw = 0.0 if last is None else yaw_px - last.yaw_deg / 360.0 * self.pano
        d_x = 0.0 if last is None else cam.x - last.x
        self.particles.draw(out, cam, dt, d_yaw, d_x)
        self._last = cam
        return out

    def render(self, cam: Camera, dt: float) -> npt.NDArray[np.uint8]:
        """Draw the scene for ``cam`` as an RGB ``(H, W, 3)`` frame."""
        packed = self.render_packed(cam, dt)
        frame = np.empty((self.height, self.width, 3), np.uint8)
        unpack_into(packed, frame)
        return frame
