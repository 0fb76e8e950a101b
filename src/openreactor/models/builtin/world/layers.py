"""Layers of a ``world`` scene: periodic panorama strips (clouds, mountains, hills, trees,
buildings) standing at a distance, painted once and then copied into every frame.

Each layer scrolls with the camera's sideways position at a speed inversely proportional to its
distance (parallax), and with the yaw like everything else on the panorama.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from openreactor.models.builtin.world.pixels import Arr, Packed, mix, pack
from openreactor.models.builtin.world.scene import RGB
from openreactor.models.builtin.world.stage import Camera, Stage


@dataclass(slots=True)
class Layer:
    """A periodic panorama strip at a distance: pixels and mask ``(rows, period + width)``."""

    pix: Packed
    mask: npt.NDArray[np.bool_]
    period: int
    top: int
    """Elevation (pixels above the horizon) of row 0."""
    depth: float
    wind: float = 0.0
    """Own drift in pixels per second (clouds)."""


class Canvas:
    """Float RGB + mask strip between elevations ``bottom`` and ``top`` for painting a layer."""

    def __init__(self, top: int, bottom: int, period: int, margin: int) -> None:
        self.top, self.bottom, self.period = top, bottom, period
        self.rows = top - bottom + 1
        self.width = period + margin
        self.rgb = np.zeros((self.rows, self.width, 3), np.float32)
        self.mask = np.zeros((self.rows, self.width), np.bool_)

    def region(self, x0: float, x1: float, e0: float, e1: float) -> tuple[slice, slice, Arr, Arr] | None:
        """Slices of the box ``x0..x1`` x elevations ``e0..e1``, with its elevations and columns."""
        c0, c1 = max(0, int(math.floor(x0))), min(self.width, int(math.ceil(x1)) + 1)
        r0 = max(0, self.top - int(math.ceil(e1)))
        r1 = min(self.rows, self.top - int(math.floor(e0)) + 1)
        if c0 >= c1 or r0 >= r1:
            return None
        elev = (self.top - np.arange(r0, r1, dtype=np.float32))[:, None]
        cols = np.arange(c0, c1, dtype=np.float32)[None, :]
        return slice(r0, r1), slice(c0, c1), elev, cols

    def paint(self, rs: slice, cs: slice, mask: Arr, rgb: Arr) -> None:
        m = np.broadcast_to(mask, (rs.stop - rs.start, cs.stop - cs.start))
        self.mask[rs, cs] |= m
        np.copyto(self.rgb[rs, cs], np.broadcast_to(rgb, m.shape + (3,)), where=m[:, :, None])

    def finish(self, width: int, depth: float, fog: RGB, fog_amount: float, wind: float = 0.0) -> Layer:
        p = self.period
        over = self.width - p
        if over > 0:  # fold what was painted past the period onto its start
            m = self.mask[:, p:]
            np.copyto(self.rgb[:, :over], self.rgb[:, p:], where=m[:, :, None])
            self.mask[:, :over] |= m
        rgb = mix(self.rgb[:, :p], fog, min(fog_amount, 0.8))
        pix = pack(rgb)
        ext = np.concatenate([pix, pix[:, : width + 1]], axis=1)
        mask = np.concatenate([self.mask[:, :p], self.mask[:, : width + 1]], axis=1)
        return Layer(np.ascontiguousarray(ext), np.ascontiguousarray(mask), p, self.top, depth, wind)


def profile_layer(
    heights: Arr, top: int, base: int, colour: Arr, width: int, depth: float, fog: RGB, fog_amount: float
) -> Layer:
    """A silhouette layer: column ``x`` is filled from elevation ``base`` up to ``heights[x]``.

    ``colour`` is ``(rows, period, 3)`` for elevations ``top`` down to ``base``.
    """
    canvas = Canvas(top, base, len(heights), 0)
    elev = (top - np.arange(canvas.rows, dtype=np.float32))[:, None]
    canvas.mask[:] = elev <= heights[None, :]
    canvas.rgb[:] = colour
    return canvas.finish(width, depth, fog, fog_amount)


def slope_shade(heights: Arr, strength: float) -> Arr:
    """Per-column light factor: slopes facing left (towards the sun side) lighter."""
    d = np.roll(heights, -5) - np.roll(heights, 5)
    k: Arr = 1.0 + strength * np.tanh(d * 0.08)
    return k


def draw_layer(out: Packed, layer: Layer, stage: Stage, yh: float, yaw_px: float, cam: Camera) -> None:
    """Copy the visible part of ``layer`` into ``out``, its row 0 ``layer.top`` above the horizon ``yh``."""
    off = int(yaw_px + cam.x * stage.f / layer.depth + layer.wind * cam.t) % layer.period
    y_top = int(round(yh)) - layer.top  # screen row of the layer's row 0
    r0 = max(0, -y_top)
    r1 = min(layer.pix.shape[0], stage.height - y_top)
    if r0 >= r1:
        return
    w = stage.width
    np.copyto(
        out[y_top + r0 : y_top + r1],
        layer.pix[r0:r1, off : off + w],
        where=layer.mask[r0:r1, off : off + w],
    )
