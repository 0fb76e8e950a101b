"""The sky of a ``world`` scene: the gradient, the sun (a moon at night, a ringed planet in
space), the stars, and the cloud layer."""

from __future__ import annotations

import math

import numpy as np

from openreactor.models.builtin.world.layers import Canvas, Layer
from openreactor.models.builtin.world.pixels import ALPHA, Arr, Packed, mix, pack, pack1
from openreactor.models.builtin.world.stage import Stage


class Sky:
    """Sky colours by elevation, the sun's patch and the stars, precomputed for one stage."""

    def __init__(self, stage: Stage) -> None:
        self.stage = stage
        self._build_table()
        self._build_sun()
        self._build_stars()

    def colour(self, elev: Arr) -> Arr:
        """Float RGB of the sky at elevations ``elev``."""
        s = self.stage
        span = 0.55 * s.height
        t = np.clip(elev / span, 0.0, 1.0) ** 0.75
        return mix(s.lt.sky_horizon, s.lt.sky_top, t[..., None])

    def _build_table(self) -> None:
        n = 2 * self.stage.max_elev + 1
        elev = np.arange(n, dtype=np.float32) - self.stage.max_elev
        self.table = pack(self.colour(elev))
        """Packed sky colour by elevation + max_elev."""

    def _build_sun(self) -> None:
        s = self.stage
        lt, spec = s.lt, s.spec
        elev_deg = 11.0 if spec.terrain == "space" else lt.sun_elev_deg
        self.sun_elev = int(s.f * math.tan(math.radians(elev_deg)))
        side = (spec.seed >> 8) % 1000 / 1000.0 - 0.5
        self.sun_x = s.cx + side * 0.5 * s.width  # panorama x, visible at yaw 0
        self.sun_colour = pack1(lt.sun)
        if spec.terrain == "space":
            r_disc, r_glow = 0.2 * s.height, 0.22 * s.height
        elif spec.time == "night":
            r_disc, r_glow = 0.028 * s.height, 0.16 * s.height
        else:
            r_disc, r_glow = 0.035 * s.height, 0.42 * s.height
        if spec.weather != "clear" and spec.terrain != "space":
            r_disc *= 0.8
        r = int(max(r_disc, r_glow)) + 2
        self.sun_r = r
        self.sun_disc_r = r_disc
        yy, xx = np.mgrid[-r : r + 1, -r : r + 1].astype(np.float32)
        dist = np.hypot(yy, xx)
        elev = self.sun_elev - yy
        rgb = self.colour(elev)
        sun = np.asarray(lt.sun, np.float32)
        if spec.terrain == "space":  # a ringed planet
            hue = np.asarray(spec.accent or (200.0, 150.0, 110.0), np.float32)
            band = 0.75 + 0.25 * np.sin(yy / r_disc * 9.0 + np.sin(xx / r_disc * 3.0))
            shade = np.clip(1.0 - (xx + yy) / (1.6 * r_disc), 0.15, 1.2)
            body = hue[None, None, :] * (band * shade)[..., None]
            disc = dist <= r_disc
            rgb = np.where(disc[..., None], body, rgb)
            ring_r = np.hypot(xx, yy * 4.0)
            ring = (ring_r > 1.25 * r_disc) & (ring_r < 1.7 * r_disc) & ~(disc & (yy < 0))
            ring &= np.abs(yy) < r * 0.5
            rgb = np.where(ring[..., None], mix(hue, (235.0, 225.0, 210.0), 0.6) * 0.9, rgb)
        else:
            fall = np.exp(-((dist / r_glow) ** 2) * 3.0) - math.exp(-3.0)  # reaches 0 at r_glow
            glow = lt.glow * np.clip(fall / (1.0 - math.exp(-3.0)), 0.0, 1.0)
            rgb = mix(rgb, sun, glow[..., None])
            disc = dist <= r_disc
            body = np.broadcast_to(sun, rgb.shape)
            if spec.time == "night":  # a moon with a few darker seas
                seas = np.zeros_like(dist, dtype=np.bool_)
                for k, (a, rr, sz) in enumerate(((0.6, 0.35, 0.3), (2.4, 0.5, 0.18), (4.2, 0.3, 0.22))):
                    a += (spec.seed % 5) * 0.4 + k * 0.1
                    cy, cx = math.sin(a) * r_disc * rr, math.cos(a) * r_disc * rr
                    seas |= np.hypot(yy - cy, xx - cx) < r_disc * sz
                body = np.where(seas[..., None], sun * 0.86, sun)
            rgb = np.where(disc[..., None], body, rgb)
        self.sun_patch = pack(rgb)

    def _build_stars(self) -> None:
        s = self.stage
        n = int(s.lt.stars * 900 * s.pano * s.height / (1280 * 720 * 4.2))
        rng = s.rng
        self.star_x = rng.integers(0, s.pano, n).astype(np.int64)
        self.star_e = (rng.random(n) ** 1.3 * s.max_elev).astype(np.int64) + 2
        self.star_b = (rng.random(n) ** 2 * 190 + 60).astype(np.float32)
        self.star_phase = (rng.random(n) * 6.283).astype(np.float32)
        self.star_speed = (rng.random(n) * 3 + 1).astype(np.float32)
        dx = (self.star_x - self.sun_x + s.pano / 2) % s.pano - s.pano / 2
        behind = np.hypot(dx, self.star_e - self.sun_elev) < self.sun_disc_r * 1.8  # the moon or planet
        keep = ~behind
        self.star_x, self.star_e, self.star_b = self.star_x[keep], self.star_e[keep], self.star_b[keep]
        self.star_phase, self.star_speed = self.star_phase[keep], self.star_speed[keep]

    # -- drawing -----------------------------------------------------------------------------------

    def draw(self, out: Packed, yh: float, yaw_px: float, t: float) -> None:
        """Fill the rows above the horizon ``yh``: one colour per row, then the sun and the stars."""
        sky_rows = min(self.stage.height, max(0, int(math.ceil(yh))))
        if sky_rows:
            elev = np.int64(round(yh)) - np.arange(sky_rows)
            idx = np.clip(elev + self.stage.max_elev, 0, len(self.table) - 1)
            out[:sky_rows] = self.table[idx][:, None]
            self._draw_sun(out, yh, yaw_px)
            self._draw_stars(out, yh, yaw_px, t)

    def _draw_sun(self, out: Packed, yh: float, yaw_px: float) -> None:
        s = self.stage
        r = self.sun_r
        sx = int(round(s.screen_x(self.sun_x, yaw_px, 0.0, 1.0)))
        sy = int(round(yh)) - self.sun_elev
        x0, x1 = max(0, sx - r), min(s.width, sx + r + 1)
        y0, y1 = max(0, sy - r), min(s.height, sy + r + 1, int(math.ceil(yh)))
        if x0 >= x1 or y0 >= y1:
            return
        out[y0:y1, x0:x1] = self.sun_patch[y0 - (sy - r) : y1 - (sy - r), x0 - (sx - r) : x1 - (sx - r)]

    def _draw_stars(self, out: Packed, yh: float, yaw_px: float, t: float) -> None:
        if not len(self.star_x):
            return
        s = self.stage
        sx = (self.star_x - int(yaw_px)) % s.pano
        sy = int(round(yh)) - self.star_e
        ok = (sx < s.width) & (sy >= 0) & (sy < min(s.height, int(yh)))
        if not ok.any():
            return
        b = self.star_b[ok] * (0.6 + 0.4 * np.sin(self.star_phase[ok] + t * self.star_speed[ok]))
        bi = b.astype(np.uint32)
        out[sy[ok], sx[ok]] = bi | (bi << np.uint32(8)) | (np.minimum(bi + 20, 255) << np.uint32(16)) | ALPHA


def clouds_layer(stage: Stage) -> Layer:
    """Cumulus banks on a slowly drifting layer far away (more and bigger with more cover)."""
    s = stage
    lt, rng = s.lt, s.rng
    period = s.period(2.5)
    lo, hi = int(0.12 * s.height), int(0.5 * s.height)
    canvas = Canvas(hi + int(0.12 * s.height), lo - 4, period, int(0.6 * s.width))
    cover = lt.clouds
    count = int(4 + 14 * cover)
    lit_top = mix(
        s.lit((255, 255, 255)) * 0.4 + np.asarray(lt.sky_horizon, np.float32) * 0.6,
        lt.sun,
        0.25 * lt.glow,
    )
    shade = mix(lit_top, lt.sky_top, 1 - lt.cloud_shade) * 0.78
    for _ in range(count):
        cx = rng.random() * period
        base = lo + rng.random() ** 1.5 * (hi - lo)
        size = (0.04 + 0.09 * rng.random()) * s.height * (1.3 if cover > 0.8 else 1.0)
        span = size * (3 + 5 * rng.random())
        for _p in range(int(4 + 5 * rng.random())):
            px = cx + (rng.random() - 0.5) * span
            rx = size * (0.8 + 1.0 * rng.random())
            ry = rx * (0.45 + 0.25 * rng.random())
            py = base + ry * 0.3 * rng.random()
            reg = canvas.region(px - rx, px + rx, base, py + ry)
            if reg is None:
                continue
            rs, cs, elev, cols = reg
            inside = ((cols - px) / rx) ** 2 + ((elev - py) / ry) ** 2 <= 1.0
            inside &= elev >= base
            k = np.clip((elev - base) / (py + ry - base + 1e-3), 0, 1)
            rgb = mix(shade, lit_top, (k**0.6)[..., None])
            canvas.paint(rs, cs, inside, rgb)
    return canvas.finish(s.width, 3000.0, lt.fog, 0.0, wind=(8 + 10 * cover) * s.width / 1280)
