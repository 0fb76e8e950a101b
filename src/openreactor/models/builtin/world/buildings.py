"""Buildings of a ``world`` scene: a layer of blocks with window grids (lit at dusk and night,
neon in a cyberpunk city), roofs, antennas and spires."""

from __future__ import annotations

import numpy as np

from openreactor.models.builtin.world.layers import Canvas, Layer
from openreactor.models.builtin.world.pixels import Arr, mix
from openreactor.models.builtin.world.scene import RGB
from openreactor.models.builtin.world.stage import Stage


def buildings(
    stage: Stage,
    depth: float,
    count: int,
    h_lo: float,
    h_hi: float,
    w_lo: float,
    w_hi: float,
    palette: list[RGB],
    period_screens: float = 2.0,
    gaps: float = 0.15,
) -> Layer:
    """A street of blocks at ``depth`` (heights ``h_lo``..``h_hi``, widths ``w_lo``..``w_hi`` units,
    colours from ``palette``), with a gap instead of a block a ``gaps`` fraction of the time.

    ``count`` is unused: the blocks fill the period.
    """
    p = stage.period(period_screens)
    rng = stage.rng
    base = stage.base_elev(depth)
    tallest = stage.px(h_hi, depth) * 1.15
    canvas = Canvas(int(tallest) + 4, base - 2, p, int(stage.px(w_hi, depth)) + 4)
    night = stage.spec.time in ("night", "dusk")
    neon = stage.spec.neon
    win_px = max(2.0, stage.px(1.0, depth))
    x = 0.0
    while x < p:
        w = stage.px(w_lo + (w_hi - w_lo) * rng.random(), depth)
        if rng.random() < gaps:
            x += w * 0.6
            continue
        h = stage.px(h_lo + (h_hi - h_lo) * rng.random() ** 1.5, depth)
        reg = canvas.region(x, x + w, base, base + h * 1.15)
        if reg is None:
            x += w
            continue
        rs, cs, elev, cols = reg
        body = (elev <= base + h) & (cols >= x) & (cols < x + w)
        tone = np.asarray(palette[int(rng.integers(len(palette)))], np.float32) * (0.85 + 0.3 * rng.random())
        lx = (cols - x) / w
        rgb = stage.lit(tone)[None, None, :] * np.where(lx < 0.12, 1.12, 0.92)[..., None]
        # windows: a grid, some lit at night
        gx, gy = win_px * (1.6 + rng.random()), win_px * (1.8 + 0.6 * rng.random())
        cx_in = ((cols - x - gx * 0.5) % gx) < gx * 0.5
        cy_in = ((elev - base - gy * 0.6) % gy) < gy * 0.5
        win = cx_in & cy_in & (cols > x + gx * 0.4) & (cols < x + w - gx * 0.4) & (elev < base + h - gy * 0.6)
        win &= elev > base + gy * 0.8
        wid = (np.floor((cols - x) / gx) * 131 + np.floor((elev - base) / gy) * 71 + x) % 97
        if night:
            lit_frac = 0.45 if stage.spec.time == "night" else 0.25
            on = (wid / 97.0) < lit_frac
            glow: Arr = np.asarray((255, 206, 120), np.float32)
            if neon:
                neon_cols = np.asarray([(255, 60, 220), (60, 230, 255), (255, 230, 90)], np.float32)
                glow = neon_cols[(wid.astype(np.int64) % 3)]
            wcol = np.where(on[..., None], glow, stage.lit(tone) * 0.35)
        else:
            glass = mix(stage.lt.sky_horizon, stage.lt.sky_top, 0.5)
            wcol = np.broadcast_to(mix(glass, tone, 0.3) * 0.8, rgb.shape)
        rgb = np.where(win[..., None], wcol, rgb)
        roof = body & (elev > base + h - max(2.0, win_px * 0.6))
        roof_col = stage.lit((236, 240, 248)) if stage.spec.snowy else stage.lit(tone) * 0.7
        rgb = np.where(roof[..., None], roof_col, rgb)
        mask = body
        if rng.random() < 0.35:  # an antenna or a spire
            ax = x + w * (0.3 + 0.4 * rng.random())
            ant = (np.abs(cols - ax) < max(1.0, w * 0.03)) & (elev > base + h) & (elev < base + h * 1.12)
            mask = mask | ant
            rgb = np.where(ant[..., None], stage.lit(tone) * 0.6, rgb)
        canvas.paint(rs, cs, mask, rgb)
        x += w * (0.9 + 0.2 * rng.random())
    return canvas.finish(stage.width, depth, stage.lt.fog, stage.fog_at(depth))
