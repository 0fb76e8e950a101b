"""An uploaded picture standing in a ``world`` scene: a wooden frame on two posts, on the ground
at a fixed distance, moving with the camera like everything else."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from openreactor.models.builtin.world.pixels import Packed, pack
from openreactor.models.builtin.world.stage import CAM_H, Camera, Stage

BILLBOARD_DEPTH = 14.0
"""How far away the billboard stands, in world units."""


@dataclass(slots=True)
class Billboard:
    """An uploaded image standing in the world: a framed panel on posts."""

    pix: Packed
    mask: npt.NDArray[np.bool_]
    world_x: float
    """Panorama pixel (at yaw 0, x 0) of its left edge."""
    depth: float
    base: int
    """Elevation of its bottom row (negative: below the horizon, standing on the ground)."""

    @classmethod
    def build(cls, stage: Stage, picture: npt.NDArray[np.uint8], world_x: float | None = None) -> Billboard:
        """``picture`` (RGB, already sized in screen pixels) framed and on posts; ``world_x``
        ``None``: a little right of the view's centre at yaw 0."""
        ph, pw = picture.shape[:2]
        depth = BILLBOARD_DEPTH
        border = max(3, ph // 24)
        post_h = int(stage.px(CAM_H * 0.55, depth))
        post_w = max(3, pw // 30)
        bh, bw = ph + 2 * border + post_h, pw + 2 * border
        rgb = np.zeros((bh, bw, 3), np.float32)
        mask = np.zeros((bh, bw), np.bool_)
        wood = stage.lit((120, 84, 52))
        rgb[: ph + 2 * border] = wood
        mask[: ph + 2 * border] = True
        rgb[border : border + ph, border : border + pw] = picture.astype(np.float32)
        for px0 in (int(bw * 0.18), int(bw * 0.82) - post_w):
            rgb[ph + 2 * border :, px0 : px0 + post_w] = wood * 0.7
            mask[ph + 2 * border :, px0 : px0 + post_w] = True
        base = stage.base_elev(depth)
        x = stage.cx + stage.width * 0.08 if world_x is None else world_x
        return cls(pack(rgb), mask, x, depth, base)

    def draw(self, out: Packed, stage: Stage, yh: float, yaw_px: float, cam: Camera) -> None:
        bh, bw = self.pix.shape
        sx = int(round(stage.screen_x(self.world_x, yaw_px, cam.x, self.depth)))
        sy = int(round(yh)) - self.base - bh  # screen row of its top
        x0, x1 = max(0, sx), min(stage.width, sx + bw)
        y0, y1 = max(0, sy), min(stage.height, sy + bh)
        if x0 >= x1 or y0 >= y1:
            return
        np.copyto(
            out[y0:y1, x0:x1],
            self.pix[y0 - sy : y1 - sy, x0 - sx : x1 - sx],
            where=self.mask[y0 - sy : y1 - sy, x0 - sx : x1 - sx],
        )
