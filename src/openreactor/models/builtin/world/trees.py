"""Trees of a ``world`` scene: a layer of pines (tiered cones) or round broadleaf trees, in
clumps, snowy when the scene is."""

from __future__ import annotations

import numpy as np

from openreactor.models.builtin.world.layers import Canvas, Layer
from openreactor.models.builtin.world.pixels import value_noise_1d
from openreactor.models.builtin.world.scene import RGB
from openreactor.models.builtin.world.stage import Stage


def trees(
    stage: Stage,
    depth: float,
    count: int,
    h_lo: float,
    h_hi: float,
    colour: RGB,
    kind: str = "pine",
    clump: float = 0.0,
    period_screens: float = 2.0,
) -> Layer:
    """``count`` trees ``h_lo``..``h_hi`` units tall at ``depth``, ``kind`` ``"pine"`` or ``"round"``,
    gathered into clumps by ``clump`` (0: spread evenly)."""
    p = stage.period(period_screens)
    rng = stage.rng
    base = stage.base_elev(depth)
    tallest = stage.px(h_hi, depth)
    canvas = Canvas(int(tallest) + 4, base - 2, p, int(tallest) + 8)
    density = value_noise_1d(p, 7, rng)
    xs_: list[float] = []
    while len(xs_) < count:
        x = rng.random() * p
        if rng.random() < (1 - clump) + clump * density[int(x)] ** 2:
            xs_.append(x)
    snow = stage.spec.snowy
    for x in sorted(xs_, key=lambda _: rng.random()):
        h = stage.px(h_lo + (h_hi - h_lo) * rng.random(), depth)
        b = base - rng.random() * 0.08 * h
        tone = np.asarray(colour, np.float32) * (0.8 + 0.4 * rng.random())
        if kind == "pine":
            hw = h * (0.2 + 0.06 * rng.random())
            reg = canvas.region(x - hw, x + hw, b, b + h)
            if reg is None:
                continue
            rs, cs, elev, cols = reg
            q = np.clip((elev - b) / h, 0, 1)
            tiers = 4
            frac = (q * tiers) % 1.0
            w = hw * (1 - q) * (0.55 + 0.45 * (1 - frac))
            w = np.where(q < 0.1, hw * 0.07, w)
            dx = cols - x
            inside = np.abs(dx) <= w
            side = np.where(dx < 0, 1.1, 0.72)
            rgb = stage.lit(tone)[None, None, :] * side[..., None] * (0.85 + 0.25 * q)[..., None]
            trunk = (q < 0.1)[..., None]
            rgb = np.where(trunk, stage.lit((70, 48, 32)) * 0.8, rgb)
            if snow:
                snowy = ((w - np.abs(dx)) < np.maximum(1.5, 0.35 * w)) & (frac > 0.2) & (q >= 0.1)
                rgb = np.where(snowy[..., None], stage.lit((236, 240, 250)) * side[..., None] ** 0.5, rgb)
            canvas.paint(rs, cs, inside, rgb)
        else:  # round broadleaf tree
            r = h * (0.28 + 0.08 * rng.random())
            trunk_h = h - 1.8 * r
            reg = canvas.region(x - r, x + r, b, b + h)
            if reg is None:
                continue
            rs, cs, elev, cols = reg
            cy = b + trunk_h + r
            dx, dy = cols - x, elev - cy
            crown = (dx / r) ** 2 + (dy / (r * 0.95)) ** 2 <= 1.0
            trunk = (np.abs(dx) < max(1.0, r * 0.12)) & (elev < cy)
            light_k = np.clip(0.9 + 0.35 * (dy - dx) / r, 0.55, 1.3)
            rgb = stage.lit(tone)[None, None, :] * light_k[..., None]
            if snow:
                rgb = np.where((dy > r * 0.35)[..., None], stage.lit((236, 240, 250)), rgb)
            rgb = np.where((trunk & ~crown)[..., None], stage.lit((84, 60, 40)), rgb)
            canvas.paint(rs, cs, crown | trunk, rgb)
    return canvas.finish(stage.width, depth, stage.lt.fog, stage.fog_at(depth))
