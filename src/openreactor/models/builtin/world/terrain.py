"""The land of a ``world`` scene, as silhouette layers: mountains (snow-capped above a snowline),
hills and dunes, and which layers each terrain stands up, far to near (trees and buildings have
modules of their own)."""

from __future__ import annotations

import math

import numpy as np

from openreactor.models.builtin.world.buildings import buildings
from openreactor.models.builtin.world.layers import Layer, profile_layer, slope_shade
from openreactor.models.builtin.world.pixels import fbm_1d, mix
from openreactor.models.builtin.world.scene import RGB
from openreactor.models.builtin.world.stage import Stage
from openreactor.models.builtin.world.trees import trees


def mountains(
    stage: Stage,
    depth: float,
    lo: float,
    hi: float,
    rock: RGB,
    cells: int,
    snowline: float | None,
    period_screens: float = 3.0,
    sharp: float = 1.6,
) -> Layer:
    """A mountain range ``lo``..``hi`` units high at ``depth``: ridged noise, lit slopes, snow above
    ``snowline`` (a fraction of the height; ``None``: no snow)."""
    p = stage.period(period_screens)
    n = fbm_1d(p, cells, 5, stage.rng, 0.5)
    ridge = 1.0 - np.abs(2.0 * n - 1.0)
    h_units = lo + (hi - lo) * ridge**sharp
    heights = h_units * stage.f / depth
    base = stage.base_elev(depth) - 2
    top = int(heights.max()) + 1
    elev = (top - np.arange(top - base + 1, dtype=np.float32))[:, None]
    shade = slope_shade(heights, 0.28)[None, :, None]
    rel = np.clip((elev - base) / (float(heights.max()) - base + 1e-3), 0, 1)[..., None]
    col = stage.lit(rock) * shade * (0.75 + 0.25 * rel)
    if snowline is not None:
        jag = fbm_1d(p, cells * 4, 3, stage.rng)[None, :] * 0.25
        snow = (elev / (heights.max() + 1e-3)) > (snowline + jag - 0.12)
        snow &= elev > (heights[None, :] * (snowline + 0.1 * jag))
        col = np.where(snow[..., None], stage.lit((238, 242, 250)) * shade, col)
    col = mix(col, stage.lt.fog, (1 - rel) ** 4 * 0.3)
    return profile_layer(heights, top, base, col, stage.width, depth, stage.lt.fog, stage.fog_at(depth))


def hills(
    stage: Stage,
    depth: float,
    lo: float,
    hi: float,
    colour: RGB,
    cells: int,
    dunes: bool = False,
    period_screens: float = 2.5,
) -> Layer:
    """Rolling hills ``lo``..``hi`` units high at ``depth``, or sand dunes with sharper crests."""
    p = stage.period(period_screens)
    n = fbm_1d(p, cells, 3 if dunes else 4, stage.rng, 0.4)
    if dunes:
        n = np.abs(np.sin(n * math.pi * 2.2)) ** 0.8
    heights = (lo + (hi - lo) * n) * stage.f / depth
    base = stage.base_elev(depth) - 2
    top = int(heights.max()) + 1
    elev = (top - np.arange(top - base + 1, dtype=np.float32))[:, None]
    shade = slope_shade(heights, 0.45 if dunes else 0.2)[None, :, None]
    rel = np.clip((elev - base) / (float(heights.max()) - base + 1e-3), 0, 1)[..., None]
    col = stage.lit(colour) * shade * (0.85 + 0.2 * rel)
    if stage.spec.snowy:
        col = mix(col, stage.lit((236, 240, 248)) * shade, 0.8)
    return profile_layer(heights, top, base, col, stage.width, depth, stage.lt.fog, stage.fog_at(depth))


def terrain_layers(stage: Stage) -> list[Layer]:
    """The silhouette layers of the spec's terrain, far to near."""
    layers: list[Layer] = []
    terrain, snowy = stage.spec.terrain, stage.spec.snowy
    add = layers.append
    if terrain == "forest":
        add(mountains(stage, 450, 30, 80, (96, 110, 132), 6, 0.55 if snowy else 0.8))
        add(hills(stage, 160, 4, 14, (58, 96, 72), 5))
        add(trees(stage, 70, 160, 5, 9, (30, 74, 46), "pine", 0.3, 2.0))
        add(trees(stage, 24, 26, 6, 12, (28, 66, 38), "pine", 0.6, 2.0))
    elif terrain == "ocean":
        add(mountains(stage, 900, 8, 40, (80, 92, 110), 4, 0.7 if snowy else None, 3.0, 2.4))
    elif terrain == "city":
        greys: list[RGB] = [
            (120, 124, 135),
            (150, 146, 140),
            (96, 104, 120),
            (170, 160, 150),
            (130, 96, 80),
        ]
        add(buildings(stage, 320, 999, 25, 110, 8, 20, greys, 2.5, 0.05))
        add(buildings(stage, 110, 999, 12, 45, 6, 14, greys, 2.0, 0.1))
        add(buildings(stage, 36, 999, 6, 22, 5, 10, greys, 2.0, 0.3))
    elif terrain == "desert":
        add(mountains(stage, 500, 15, 45, (176, 104, 66), 5, None, 3.0, 0.5))
        add(hills(stage, 120, 3, 12, (214, 160, 96), 5, dunes=True))
        add(hills(stage, 35, 0.5, 3.0, (226, 178, 112), 4, dunes=True))
    elif terrain == "mountains":
        add(mountains(stage, 700, 25, 170, (112, 118, 136), 5, 0.45 if snowy else 0.6))
        add(mountains(stage, 220, 15, 60, (88, 92, 96), 7, 0.55 if snowy else 0.85, 2.5, 1.3))
        add(trees(stage, 45, 50, 5, 10, (34, 74, 48), "pine", 0.7, 2.0))
    elif terrain == "plains":
        add(hills(stage, 260, 6, 22, (90, 120, 90), 4))
        add(hills(stage, 80, 1.5, 7, (104, 150, 70), 5))
        add(trees(stage, 28, 14, 4, 8, (64, 120, 50), "round", 0.7, 2.0))
    else:  # space
        add(mountains(stage, 300, 4, 22, (110, 108, 116), 9, None, 3.0, 2.0))
        add(hills(stage, 40, 0.2, 1.6, (128, 124, 130), 9))
    return layers
