"""Procedural parallax renderer of the ``world`` model (numpy only, one core, no neural network).

A scene (:class:`SceneRenderer`) is built once per prompt from a
:class:`~openreactor.models.builtin.world_scene.SceneSpec`: a sky gradient table, a sun or moon
patch, star positions, cloud and silhouette layers (mountains, hills, dunes, trees, buildings)
as periodic panoramas, a ground texture in world coordinates at several blur/fog levels, and
weather particles. Drawing a frame then only slices, copies and gathers precomputed pixels:

* the camera sits ``CAM_H`` units above a flat ground and looks along it; yaw shifts every
  layer sideways (a cylindrical panorama), pitch moves the horizon up and down;
* each layer stands at a distance and scrolls with the camera's sideways position at a speed
  inversely proportional to it (parallax);
* every ground row is at a depth: the row gathers its texels from the ground texture at that
  depth (perspective), so forward motion pulls the ground towards the viewer.

All compositing is on packed ``uint32`` pixels (``R | G << 8 | B << 16``), which numpy copies
and masks several times faster than 3-byte pixels; the frame is unpacked once at the end.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from openreactor.models.builtin.world_scene import RGB, SceneSpec

Arr = npt.NDArray[Any]
Packed = npt.NDArray[np.uint32]

FOV_DEG = 75.0
"""Horizontal field of view."""
CAM_H = 2.0
"""Camera height above the ground, in world units."""
TEX_T, TEX_P = 256, 1024
"""Ground texture rows (depth) and columns (sideways); periodic both ways."""
KV, KU = 16.0, 32.0
"""Ground texels per world unit, along depth and sideways."""
ALPHA = np.uint32(0xFF000000)


def pack(rgb: Arr) -> Packed:
    """Float RGB ``(..., 3)`` in 0..255 → packed ``uint32`` pixels."""
    c = np.clip(rgb, 0.0, 255.0).astype(np.uint32)
    out: Packed = c[..., 0] | (c[..., 1] << np.uint32(8)) | (c[..., 2] << np.uint32(16)) | ALPHA
    return out


def pack1(rgb: RGB | Arr) -> np.uint32:
    return np.uint32(pack(np.asarray(rgb, dtype=np.float32)))


def unpack_into(packed: Packed, out: npt.NDArray[np.uint8]) -> None:
    """Packed pixels ``(H, W)`` → RGB ``(H, W, 3)`` (three strided channel copies)."""
    b = packed.view(np.uint8).reshape(packed.shape[0], packed.shape[1], 4)
    for ch in range(3):
        out[:, :, ch] = b[:, :, ch]


def mix(a: Arr | RGB, b: Arr | RGB, t: Arr | float) -> Arr:
    a_ = np.asarray(a, dtype=np.float32)
    b_ = np.asarray(b, dtype=np.float32)
    return a_ + (b_ - a_) * t


def value_noise_1d(n: int, cells: int, rng: np.random.Generator) -> Arr:
    """Smooth periodic noise in 0..1 of length ``n`` with ``cells`` random knots."""
    vals = rng.random(cells).astype(np.float32)
    x = np.arange(n, dtype=np.float32) * (cells / n)
    i = np.floor(x).astype(np.int64)
    fr = x - i
    s = fr * fr * (3.0 - 2.0 * fr)
    out: Arr = vals[i % cells] * (1.0 - s) + vals[(i + 1) % cells] * s
    return out


def fbm_1d(n: int, cells: int, octaves: int, rng: np.random.Generator, gain: float = 0.5) -> Arr:
    total = np.zeros(n, np.float32)
    amp, norm = 1.0, 0.0
    for o in range(octaves):
        total += amp * value_noise_1d(n, min(n, cells * 2**o), rng)
        norm += amp
        amp *= gain
    out: Arr = total / norm
    return out


def value_noise_2d(h: int, w: int, ch: int, cw: int, rng: np.random.Generator) -> Arr:
    """Smooth noise in 0..1 of shape ``(h, w)``, periodic both ways, ``ch`` x ``cw`` knots."""
    vals = rng.random((ch, cw)).astype(np.float32)
    y = np.arange(h, dtype=np.float32) * (ch / h)
    x = np.arange(w, dtype=np.float32) * (cw / w)
    iy, ix = np.floor(y).astype(np.int64), np.floor(x).astype(np.int64)
    fy, fx = y - iy, x - ix
    sy = (fy * fy * (3 - 2 * fy))[:, None]
    sx = (fx * fx * (3 - 2 * fx))[None, :]
    y0, y1 = (iy % ch)[:, None], ((iy + 1) % ch)[:, None]
    x0, x1 = (ix % cw)[None, :], ((ix + 1) % cw)[None, :]
    top = vals[y0, x0] * (1 - sx) + vals[y0, x1] * sx
    bot = vals[y1, x0] * (1 - sx) + vals[y1, x1] * sx
    out: Arr = top * (1 - sy) + bot * sy
    return out


def box_blur_wrap(img: Arr, ry: int, rx: int) -> Arr:
    """Periodic box blur of ``img`` (H, W, C) with radii ``ry`` (rows) and ``rx`` (columns)."""
    out = img
    for axis, r in ((0, ry), (1, rx)):
        if r <= 0:
            continue
        n = out.shape[axis]
        if 2 * r + 1 >= n:
            out = np.broadcast_to(out.mean(axis=axis, keepdims=True), out.shape).copy()
            continue
        pad = np.concatenate(
            [np.take(out, range(n - r - 1, n), axis=axis), out, np.take(out, range(r), axis=axis)], axis=axis
        )
        c = np.cumsum(pad, axis=axis, dtype=np.float32)
        hi = np.take(c, range(2 * r + 1, n + 2 * r + 1), axis=axis)
        lo = np.take(c, range(0, n), axis=axis)
        out = (hi - lo) / (2 * r + 1)
    return out


# ---------------------------------------------------------------------------------------------
# Lighting


@dataclass(frozen=True, slots=True)
class Lighting:
    sky_top: RGB
    sky_horizon: RGB
    sun: RGB
    light: RGB
    """Multiplier of every lit (non-glowing) colour."""
    sun_elev_deg: float
    glow: float
    stars: float
    """Star density (0: none)."""
    fog_dist: float
    clouds: float
    """Cloud cover 0..1."""
    cloud_shade: float

    @property
    def fog(self) -> RGB:
        return self.sky_horizon


TIME_LIGHTING: dict[str, Lighting] = {
    "dawn": Lighting(
        (66, 92, 168), (255, 170, 120), (255, 228, 175), (1.0, 0.8, 0.74), 5.0, 0.95, 0.12, 650.0, 0.35, 0.75
    ),
    "day": Lighting(
        (46, 118, 226), (178, 212, 246), (255, 252, 232), (1.05, 1.05, 1.0), 17.0, 0.45, 0.0, 900.0, 0.4, 0.85
    ),
    "dusk": Lighting(
        (44, 40, 108), (250, 112, 68), (255, 160, 90), (0.86, 0.6, 0.56), 3.5, 1.0, 0.25, 600.0, 0.35, 0.65
    ),
    "night": Lighting(
        (4, 6, 22), (28, 42, 84), (236, 238, 255), (0.34, 0.4, 0.58), 13.0, 0.4, 1.0, 500.0, 0.2, 0.3
    ),
}


def _lum(c: RGB) -> float:
    return 0.3 * c[0] + 0.59 * c[1] + 0.11 * c[2]


def _scale(c: RGB, k: float) -> RGB:
    return (c[0] * k, c[1] * k, c[2] * k)


def _mixc(a: RGB, b: RGB, t: float) -> RGB:
    return (a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, a[2] + (b[2] - a[2]) * t)


def lighting_for(spec: SceneSpec) -> Lighting:
    """Time-of-day lighting, changed by weather, colour accents, an image's tint and terrain."""
    lt = TIME_LIGHTING[spec.time]
    top, hor, sun, light = lt.sky_top, lt.sky_horizon, lt.sun, lt.light
    glow, stars, fog_dist, clouds, shade = lt.glow, lt.stars, lt.fog_dist, lt.clouds, lt.cloud_shade
    day_lum = _lum(light) / _lum((1.05, 1.05, 1.0))
    if spec.weather in ("snow", "rain", "fog"):
        grey = {"snow": (196.0, 202.0, 214.0), "rain": (104.0, 110.0, 122.0), "fog": (206.0, 206.0, 210.0)}[
            spec.weather
        ]
        amount = {"snow": 0.72, "rain": 0.7, "fog": 0.75}[spec.weather]
        g = _scale(grey, 0.25 + 0.75 * day_lum)
        top, hor = _mixc(top, g, amount), _mixc(hor, g, amount * 0.85)
        light = _scale(light, {"snow": 0.95, "rain": 0.75, "fog": 0.9}[spec.weather])
        glow *= 0.4
        stars *= 0.2
        fog_dist = {"snow": 420.0, "rain": 380.0, "fog": 60.0}[spec.weather]
        clouds, shade = 0.9, shade * 0.8
    if spec.terrain == "space":
        top, hor = (0.0, 0.0, 4.0), (14.0, 10.0, 30.0)
        light = (0.85, 0.85, 0.95)
        stars, clouds, fog_dist, glow = 2.6, 0.0, 5000.0, 0.0
    for tint, strength in ((spec.accent, spec.accent_strength), (spec.image_tint, spec.image_tint_strength)):
        if tint is None or strength <= 0:
            continue
        peak = max(tint) or 1.0
        norm = (tint[0] / peak, tint[1] / peak, tint[2] / peak)
        top = _mixc(top, _scale(norm, max(_lum(top), 30.0) / max(_lum(norm), 0.05)), strength)
        hor = _mixc(hor, _scale(norm, max(_lum(hor), 40.0) / max(_lum(norm), 0.05)), strength)
        light = _mixc(light, _scale(norm, _lum(light) / max(_lum(norm), 0.05)), strength * 0.8)
    return Lighting(top, hor, sun, light, lt.sun_elev_deg, glow, stars, fog_dist, clouds, shade)


# ---------------------------------------------------------------------------------------------
# Layers


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


# ---------------------------------------------------------------------------------------------
# The scene


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


class SceneRenderer:
    """Everything precomputed for one :class:`SceneSpec` at one resolution, and the frame drawer."""

    def __init__(self, spec: SceneSpec, width: int, height: int) -> None:
        self.spec = spec
        self.width, self.height = width, height
        self.f = 0.5 * width / math.tan(math.radians(FOV_DEG) / 2)
        self.pano = int(round(2 * math.pi * self.f))
        self.lt = lighting_for(spec)
        self.rng = np.random.default_rng(spec.seed % (2**63))
        self.cx = width / 2.0
        self.max_elev = int(height + self.f) + 2
        self._build_sky()
        self._build_sun()
        self._build_stars()
        self.layers: list[Layer] = []
        if self.lt.clouds > 0:
            self.layers.append(self._build_clouds())
        self._build_terrain_layers()
        self._build_ground()
        self._build_particles()
        self.billboard: Billboard | None = None
        self._xs = np.arange(width, dtype=np.float32) - np.float32(self.cx)
        self._last: Camera | None = None

    # -- helpers --------------------------------------------------------------------------

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

    # -- sky -------------------------------------------------------------------------------

    def _sky_colour(self, elev: Arr) -> Arr:
        span = 0.55 * self.height
        t = np.clip(elev / span, 0.0, 1.0) ** 0.75
        return mix(self.lt.sky_horizon, self.lt.sky_top, t[..., None])

    def _build_sky(self) -> None:
        n = 2 * self.max_elev + 1
        elev = np.arange(n, dtype=np.float32) - self.max_elev
        self.sky_table = pack(self._sky_colour(elev))
        """Packed sky colour by elevation + max_elev."""

    def _build_sun(self) -> None:
        lt, spec = self.lt, self.spec
        elev_deg = 11.0 if spec.terrain == "space" else lt.sun_elev_deg
        self.sun_elev = int(self.f * math.tan(math.radians(elev_deg)))
        side = (spec.seed >> 8) % 1000 / 1000.0 - 0.5
        self.sun_x = self.cx + side * 0.5 * self.width  # panorama x, visible at yaw 0
        self.sun_colour = pack1(lt.sun)
        if spec.terrain == "space":
            r_disc, r_glow = 0.2 * self.height, 0.22 * self.height
        elif spec.time == "night":
            r_disc, r_glow = 0.028 * self.height, 0.16 * self.height
        else:
            r_disc, r_glow = 0.035 * self.height, 0.42 * self.height
        if spec.weather != "clear" and spec.terrain != "space":
            r_disc *= 0.8
        r = int(max(r_disc, r_glow)) + 2
        self.sun_r = r
        self.sun_disc_r = r_disc
        yy, xx = np.mgrid[-r : r + 1, -r : r + 1].astype(np.float32)
        dist = np.hypot(yy, xx)
        elev = self.sun_elev - yy
        rgb = self._sky_colour(elev)
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
        n = int(self.lt.stars * 900 * self.pano * self.height / (1280 * 720 * 4.2))
        rng = self.rng
        self.star_x = rng.integers(0, self.pano, n).astype(np.int64)
        self.star_e = (rng.random(n) ** 1.3 * self.max_elev).astype(np.int64) + 2
        self.star_b = (rng.random(n) ** 2 * 190 + 60).astype(np.float32)
        self.star_phase = (rng.random(n) * 6.283).astype(np.float32)
        self.star_speed = (rng.random(n) * 3 + 1).astype(np.float32)
        dx = (self.star_x - self.sun_x + self.pano / 2) % self.pano - self.pano / 2
        behind = np.hypot(dx, self.star_e - self.sun_elev) < self.sun_disc_r * 1.8  # the moon or planet
        keep = ~behind
        self.star_x, self.star_e, self.star_b = self.star_x[keep], self.star_e[keep], self.star_b[keep]
        self.star_phase, self.star_speed = self.star_phase[keep], self.star_speed[keep]

    def _build_clouds(self) -> Layer:
        lt, rng = self.lt, self.rng
        period = self.period(2.5)
        lo, hi = int(0.12 * self.height), int(0.5 * self.height)
        canvas = Canvas(hi + int(0.12 * self.height), lo - 4, period, int(0.6 * self.width))
        cover = lt.clouds
        count = int(4 + 14 * cover)
        lit_top = mix(
            self.lit((255, 255, 255)) * 0.4 + np.asarray(lt.sky_horizon, np.float32) * 0.6,
            lt.sun,
            0.25 * lt.glow,
        )
        shade = mix(lit_top, lt.sky_top, 1 - lt.cloud_shade) * 0.78
        for _ in range(count):
            cx = rng.random() * period
            base = lo + rng.random() ** 1.5 * (hi - lo)
            size = (0.04 + 0.09 * rng.random()) * self.height * (1.3 if cover > 0.8 else 1.0)
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
        return canvas.finish(self.width, 3000.0, lt.fog, 0.0, wind=(8 + 10 * cover) * self.width / 1280)

    # -- terrain layers ----------------------------------------------------------------------

    def _mountains(
        self,
        depth: float,
        lo: float,
        hi: float,
        rock: RGB,
        cells: int,
        snowline: float | None,
        period_screens: float = 3.0,
        sharp: float = 1.6,
    ) -> Layer:
        p = self.period(period_screens)
        n = fbm_1d(p, cells, 5, self.rng, 0.5)
        ridge = 1.0 - np.abs(2.0 * n - 1.0)
        h_units = lo + (hi - lo) * ridge**sharp
        heights = h_units * self.f / depth
        base = self.base_elev(depth) - 2
        top = int(heights.max()) + 1
        elev = (top - np.arange(top - base + 1, dtype=np.float32))[:, None]
        shade = slope_shade(heights, 0.28)[None, :, None]
        rel = np.clip((elev - base) / (float(heights.max()) - base + 1e-3), 0, 1)[..., None]
        col = self.lit(rock) * shade * (0.75 + 0.25 * rel)
        if snowline is not None:
            jag = fbm_1d(p, cells * 4, 3, self.rng)[None, :] * 0.25
            snow = (elev / (heights.max() + 1e-3)) > (snowline + jag - 0.12)
            snow &= elev > (heights[None, :] * (snowline + 0.1 * jag))
            col = np.where(snow[..., None], self.lit((238, 242, 250)) * shade, col)
        col = mix(col, self.lt.fog, (1 - rel) ** 4 * 0.3)
        return profile_layer(heights, top, base, col, self.width, depth, self.lt.fog, self.fog_at(depth))

    def _hills(
        self,
        depth: float,
        lo: float,
        hi: float,
        colour: RGB,
        cells: int,
        dunes: bool = False,
        period_screens: float = 2.5,
    ) -> Layer:
        p = self.period(period_screens)
        n = fbm_1d(p, cells, 3 if dunes else 4, self.rng, 0.4)
        if dunes:
            n = np.abs(np.sin(n * math.pi * 2.2)) ** 0.8
        heights = (lo + (hi - lo) * n) * self.f / depth
        base = self.base_elev(depth) - 2
        top = int(heights.max()) + 1
        elev = (top - np.arange(top - base + 1, dtype=np.float32))[:, None]
        shade = slope_shade(heights, 0.45 if dunes else 0.2)[None, :, None]
        rel = np.clip((elev - base) / (float(heights.max()) - base + 1e-3), 0, 1)[..., None]
        col = self.lit(colour) * shade * (0.85 + 0.2 * rel)
        if self.spec.snowy:
            col = mix(col, self.lit((236, 240, 248)) * shade, 0.8)
        return profile_layer(heights, top, base, col, self.width, depth, self.lt.fog, self.fog_at(depth))

    def _trees(
        self,
        depth: float,
        count: int,
        h_lo: float,
        h_hi: float,
        colour: RGB,
        kind: str = "pine",
        clump: float = 0.0,
        period_screens: float = 2.0,
    ) -> Layer:
        p = self.period(period_screens)
        rng = self.rng
        base = self.base_elev(depth)
        tallest = self.px(h_hi, depth)
        canvas = Canvas(int(tallest) + 4, base - 2, p, int(tallest) + 8)
        density = value_noise_1d(p, 7, rng)
        xs_: list[float] = []
        while len(xs_) < count:
            x = rng.random() * p
            if rng.random() < (1 - clump) + clump * density[int(x)] ** 2:
                xs_.append(x)
        snow = self.spec.snowy
        for x in sorted(xs_, key=lambda _: rng.random()):
            h = self.px(h_lo + (h_hi - h_lo) * rng.random(), depth)
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
                rgb = self.lit(tone)[None, None, :] * side[..., None] * (0.85 + 0.25 * q)[..., None]
                trunk = (q < 0.1)[..., None]
                rgb = np.where(trunk, self.lit((70, 48, 32)) * 0.8, rgb)
                if snow:
                    snowy = ((w - np.abs(dx)) < np.maximum(1.5, 0.35 * w)) & (frac > 0.2) & (q >= 0.1)
                    rgb = np.where(snowy[..., None], self.lit((236, 240, 250)) * side[..., None] ** 0.5, rgb)
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
                rgb = self.lit(tone)[None, None, :] * light_k[..., None]
                if snow:
                    rgb = np.where((dy > r * 0.35)[..., None], self.lit((236, 240, 250)), rgb)
                rgb = np.where((trunk & ~crown)[..., None], self.lit((84, 60, 40)), rgb)
                canvas.paint(rs, cs, crown | trunk, rgb)
        return canvas.finish(self.width, depth, self.lt.fog, self.fog_at(depth))

    def _buildings(
        self,
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
        p = self.period(period_screens)
        rng = self.rng
        base = self.base_elev(depth)
        tallest = self.px(h_hi, depth) * 1.15
        canvas = Canvas(int(tallest) + 4, base - 2, p, int(self.px(w_hi, depth)) + 4)
        night = self.spec.time in ("night", "dusk")
        neon = self.spec.neon
        win_px = max(2.0, self.px(1.0, depth))
        x = 0.0
        while x < p:
            w = self.px(w_lo + (w_hi - w_lo) * rng.random(), depth)
            if rng.random() < gaps:
                x += w * 0.6
                continue
            h = self.px(h_lo + (h_hi - h_lo) * rng.random() ** 1.5, depth)
            reg = canvas.region(x, x + w, base, base + h * 1.15)
            if reg is None:
                x += w
                continue
            rs, cs, elev, cols = reg
            body = (elev <= base + h) & (cols >= x) & (cols < x + w)
            tone = np.asarray(palette[int(rng.integers(len(palette)))], np.float32) * (
                0.85 + 0.3 * rng.random()
            )
            lx = (cols - x) / w
            rgb = self.lit(tone)[None, None, :] * np.where(lx < 0.12, 1.12, 0.92)[..., None]
            # windows: a grid, some lit at night
            gx, gy = win_px * (1.6 + rng.random()), win_px * (1.8 + 0.6 * rng.random())
            cx_in = ((cols - x - gx * 0.5) % gx) < gx * 0.5
            cy_in = ((elev - base - gy * 0.6) % gy) < gy * 0.5
            win = (
                cx_in
                & cy_in
                & (cols > x + gx * 0.4)
                & (cols < x + w - gx * 0.4)
                & (elev < base + h - gy * 0.6)
            )
            win &= elev > base + gy * 0.8
            wid = (np.floor((cols - x) / gx) * 131 + np.floor((elev - base) / gy) * 71 + x) % 97
            if night:
                lit_frac = 0.45 if self.spec.time == "night" else 0.25
                on = (wid / 97.0) < lit_frac
                glow: Arr = np.asarray((255, 206, 120), np.float32)
                if neon:
                    neon_cols = np.asarray([(255, 60, 220), (60, 230, 255), (255, 230, 90)], np.float32)
                    glow = neon_cols[(wid.astype(np.int64) % 3)]
                wcol = np.where(on[..., None], glow, self.lit(tone) * 0.35)
            else:
                glass = mix(self.lt.sky_horizon, self.lt.sky_top, 0.5)
                wcol = np.broadcast_to(mix(glass, tone, 0.3) * 0.8, rgb.shape)
            rgb = np.where(win[..., None], wcol, rgb)
            roof = body & (elev > base + h - max(2.0, win_px * 0.6))
            roof_col = self.lit((236, 240, 248)) if self.spec.snowy else self.lit(tone) * 0.7
            rgb = np.where(roof[..., None], roof_col, rgb)
            mask = body
            if rng.random() < 0.35:  # an antenna or a spire
                ax = x + w * (0.3 + 0.4 * rng.random())
                ant = (np.abs(cols - ax) < max(1.0, w * 0.03)) & (elev > base + h) & (elev < base + h * 1.12)
                mask = mask | ant
                rgb = np.where(ant[..., None], self.lit(tone) * 0.6, rgb)
            canvas.paint(rs, cs, mask, rgb)
            x += w * (0.9 + 0.2 * rng.random())
        return canvas.finish(self.width, depth, self.lt.fog, self.fog_at(depth))

    def _build_terrain_layers(self) -> None:
        terrain, snowy = self.spec.terrain, self.spec.snowy
        add = self.layers.append
        if terrain == "forest":
            add(self._mountains(450, 30, 80, (96, 110, 132), 6, 0.55 if snowy else 0.8))
            add(self._hills(160, 4, 14, (58, 96, 72), 5))
            add(self._trees(70, 160, 5, 9, (30, 74, 46), "pine", 0.3, 2.0))
            add(self._trees(24, 26, 6, 12, (28, 66, 38), "pine", 0.6, 2.0))
        elif terrain == "ocean":
            add(self._mountains(900, 8, 40, (80, 92, 110), 4, 0.7 if snowy else None, 3.0, 2.4))
        elif terrain == "city":
            greys: list[RGB] = [
                (120, 124, 135),
                (150, 146, 140),
                (96, 104, 120),
                (170, 160, 150),
                (130, 96, 80),
            ]
            add(self._buildings(320, 999, 25, 110, 8, 20, greys, 2.5, 0.05))
            add(self._buildings(110, 999, 12, 45, 6, 14, greys, 2.0, 0.1))
            add(self._buildings(36, 999, 6, 22, 5, 10, greys, 2.0, 0.3))
        elif terrain == "desert":
            add(self._mountains(500, 15, 45, (176, 104, 66), 5, None, 3.0, 0.5))
            add(self._hills(120, 3, 12, (214, 160, 96), 5, dunes=True))
            add(self._hills(35, 0.5, 3.0, (226, 178, 112), 4, dunes=True))
        elif terrain == "mountains":
            add(self._mountains(700, 25, 170, (112, 118, 136), 5, 0.45 if snowy else 0.6))
            add(self._mountains(220, 15, 60, (88, 92, 96), 7, 0.55 if snowy else 0.85, 2.5, 1.3))
            add(self._trees(45, 50, 5, 10, (34, 74, 48), "pine", 0.7, 2.0))
        elif terrain == "plains":
            add(self._hills(260, 6, 22, (90, 120, 90), 4))
            add(self._hills(80, 1.5, 7, (104, 150, 70), 5))
            add(self._trees(28, 14, 4, 8, (64, 120, 50), "round", 0.7, 2.0))
        else:  # space
            add(self._mountains(300, 4, 22, (110, 108, 116), 9, None, 3.0, 2.0))
            add(self._hills(40, 0.2, 1.6, (128, 124, 130), 9))

    # -- ground ------------------------------------------------------------------------------

    def _ground_texture(self) -> Arr:
        """The ground's albedo, ``(TEX_T, TEX_P, 3)`` float: rows along depth, columns sideways."""
        rng, terrain, snowy = self.rng, self.spec.terrain, self.spec.snowy
        T, P = TEX_T, TEX_P
        coarse = value_noise_2d(T, P, 8, 16, rng)
        fine = value_noise_2d(T, P, 64, 128, rng)
        grain = rng.random((T, P)).astype(np.float32)
        v = np.arange(T, dtype=np.float32)[:, None]
        u = np.arange(P, dtype=np.float32)[None, :]
        um = (u - P / 2) / KU  # sideways metres from the texture's centre line
        vm = v / KV

        def colour(a: RGB, b: RGB, t: Arr) -> Arr:
            return mix(a, b, t[..., None])

        if terrain in ("forest", "plains", "mountains"):
            base = {
                "forest": ((46, 84, 34), (76, 112, 44)),
                "plains": ((90, 140, 52), (128, 162, 66)),
                "mountains": ((84, 96, 64), (120, 118, 98)),
            }[terrain]
            tex = colour(base[0], base[1], coarse * 0.7 + fine * 0.3)
            tufts = (grain > 0.93) & (fine > 0.4)
            tex = np.where(tufts[..., None], tex * 0.7, tex)
            if terrain == "plains":
                flowers = grain > 0.995
                tex = np.where(flowers[..., None], np.asarray((240, 220, 90), np.float32), tex)
            if terrain == "mountains":
                rock = value_noise_2d(T, P, 16, 32, rng) > 0.62
                tex = np.where(rock[..., None], colour((110, 108, 104), (150, 146, 140), fine), tex)
            path = np.abs(um + 1.5 * np.sin(vm * 0.4)) < 0.9
            tex = np.where(path[..., None], colour((110, 92, 64), (140, 120, 86), fine), tex)
        elif terrain == "ocean":
            tex = colour((14, 54, 96), (30, 86, 128), coarse * 0.6 + fine * 0.4)
            swell = np.sin(vm * 6.0 + coarse * 9.0 + np.sin(um * 0.7) * 1.5)
            crest = np.clip((swell - 0.7) / 0.3, 0.0, 1.0) * np.clip((fine - 0.4) * 4.0, 0.0, 1.0)
            tex = mix(tex, (170, 200, 228), (0.6 * crest)[..., None])
            tex = mix(tex, (8, 36, 70), (0.35 * np.clip(-swell, 0.0, 1.0))[..., None])
            if snowy:
                floe = value_noise_2d(T, P, 8, 16, rng) > 0.68
                tex = np.where(floe[..., None], colour((220, 230, 240), (245, 248, 252), fine), tex)
        elif terrain == "city":
            asphalt = colour((52, 52, 58), (74, 74, 80), fine * 0.5 + grain * 0.5)
            au = np.abs(um)
            dash = (vm % 6.0) < 3.0
            lines = ((au < 0.12) & dash) | (np.abs(au - 2.6) < 0.08) & dash | (np.abs(au - 5.0) < 0.1)
            centre = au < 0.12
            tiles = colour((130, 128, 124), (156, 152, 146), fine)
            grout = ((um % 1.5) < 0.08) | ((vm % 1.5) < 0.1)
            tiles = np.where(grout[..., None], tiles * 0.75, tiles)
            cross = ((vm % 16.0) < 2.4) & (au < 5.0) & ((um % 0.8) < 0.4)
            tex = np.where((au < 5.2)[..., None], asphalt, tiles)
            line_col = np.where(
                centre[..., None],
                np.asarray((235, 190, 60), np.float32),
                np.asarray((230, 230, 230), np.float32),
            )
            tex = np.where((lines | cross)[..., None], line_col, tex)
            kerb = np.abs(au - 5.35) < 0.15
            tex = np.where(kerb[..., None], np.asarray((176, 172, 166), np.float32), tex)
            if snowy:
                snow = colour((212, 218, 230), (246, 248, 252), coarse * 0.5 + fine * 0.5)
                tracks = (np.abs(np.abs(au - 1.3) - 0.5) < 0.12) | (np.abs(np.abs(au - 3.9) - 0.5) < 0.12)
                tracks &= au < 5.0
                slush = mix(asphalt, snow, 0.72)
                tex = np.where(tracks[..., None], slush, mix(tex, snow, 0.82))
        elif terrain == "desert":
            ripple = 0.5 + 0.5 * np.sin(vm * 7.0 + coarse * 10.0 + np.sin(um * 0.5) * 2.0)
            tex = colour((196, 150, 92), (236, 196, 136), ripple * 0.5 + coarse * 0.5)
            stones = grain > 0.997
            tex = np.where(stones[..., None], np.asarray((120, 90, 60), np.float32), tex)
        else:  # space: regolith with craters
            tex = colour((92, 90, 96), (150, 148, 152), coarse * 0.5 + fine * 0.3 + grain * 0.2)
            for _ in range(60):
                cu, cv = rng.random() * P, rng.random() * T
                r = 4 + rng.random() ** 2 * 40
                du = (u - cu + P / 2) % P - P / 2
                dv = (v - cv + T / 2) % T - T / 2
                d = np.hypot(du, dv * 2.0) / r
                tex = np.where((d < 0.85)[..., None], tex * 0.72, tex)
                tex = np.where(((d >= 0.85) & (d < 1.05))[..., None], tex * 1.2, tex)
        if snowy and terrain not in ("ocean", "city"):
            snow = colour((214, 222, 236), (248, 250, 255), coarse * 0.6 + fine * 0.4)
            tex = mix(tex, snow, np.clip((coarse + fine) * 0.7 + 0.35, 0, 0.95)[..., None])
        out: Arr = tex.astype(np.float32)
        return out

    def _build_ground(self) -> None:
        tex = self._ground_texture() * np.asarray(self.lt.light, np.float32)
        self.ground_mean = tex.reshape(-1, 3).mean(axis=0)
        fog = np.asarray(self.lt.fog, np.float32)
        # Levels: level k serves depths up to d_k, where one screen row spans about 2**k texel
        # rows; it is blurred that much and fogged for its depth. Farther rows are one colour.
        depths: list[float] = []
        levels: list[Packed] = []
        k = 0
        while True:
            span = 2.0**k
            d = math.sqrt(span * CAM_H * self.f / KV)
            if span > TEX_T / 8:
                break
            lat = d / self.f * KU
            blurred = box_blur_wrap(tex, int(span // 2), int(lat // 2))
            levels.append(pack(mix(blurred, fog, self.fog_at(d * 0.85))))
            depths.append(d)
            k += 1
        self.ground_levels = np.ascontiguousarray(np.stack(levels).reshape(-1))
        self.level_depths = np.asarray(depths, np.float32)
        self.level_rows = TEX_T * TEX_P
        self.water = self.spec.terrain == "ocean"
        self.glitter = (self.rng.random((256, 256)) * 255).astype(np.uint8)

    def _draw_ground(self, out: Packed, yh: float, cam: Camera, yaw_px: float) -> None:
        h = self.height
        y0 = max(0, int(math.ceil(yh)))
        if y0 >= h:
            return
        ys = np.arange(y0, h, dtype=np.float32)
        dy = ys - np.float32(yh) + np.float32(0.5)
        d = np.float32(CAM_H * self.f) / dy
        level = np.searchsorted(self.level_depths, d)
        near = level < len(self.level_depths)
        n_near = int(near.sum())  # rows are far → near from the top, so the near ones are last
        n_far = len(ys) - n_near
        if n_far:
            fd = d[:n_far]
            fog_k = (1.0 - np.exp(-fd / self.lt.fog_dist))[:, None]
            far_rgb = mix(
                self.ground_mean, self.lt.fog, np.maximum(fog_k, self.fog_at(float(self.level_depths[-1])))
            )
            out[y0 : y0 + n_far] = pack(far_rgb)[:, None]
        if not n_near:
            return
        dn = d[n_far:]
        scale = (dn * np.float32(KU / self.f)).astype(np.float32)
        shift = (np.float32(yaw_px / self.f) * dn + np.float32(cam.x)) * np.float32(KU) + np.float32(
            TEX_P / 2
        )
        vz = cam.z
        if self.water:
            vz += cam.t * 0.9
            shift = shift + np.float32(0.35 * KU) * np.sin(dn * np.float32(1.3) + np.float32(cam.t * 1.7))
        v = ((dn + np.float32(vz)) * np.float32(KV)).astype(np.int64) % TEX_T
        row_base = (level[n_far:].astype(np.int64) * TEX_T + v) * TEX_P
        u = np.multiply.outer(scale, self._xs)
        u += shift[:, None]
        ui = u.astype(np.int64)
        ui &= TEX_P - 1
        ui += row_base[:, None]
        out[y0 + n_far :] = self.ground_levels.take(ui)
        if self.water and self.lt.glow > 0.2 and self.spec.weather == "clear":
            self._draw_glitter(out, y0 + n_far, dn, v, yaw_px, cam)

    def _draw_glitter(self, out: Packed, y_start: int, dn: Arr, v: Arr, yaw_px: float, cam: Camera) -> None:
        sx = self._screen_x(self.sun_x, yaw_px, 0.0, 1.0)
        half = 4.0 + 0.2 * (CAM_H * self.f) / dn  # wider towards the viewer
        wmax = int(half.max()) + 1
        c0, c1 = max(0, int(sx) - wmax), min(self.width, int(sx) + wmax)
        if c0 >= c1 or not len(dn):
            return
        cols = np.arange(c0, c1)
        phase = int(cam.t * 9)
        sparkle = self.glitter[(v[:, None] * 3 + phase) % 256, (cols[None, :] + phase * 7) % 256]
        edge = np.abs(cols[None, :] - np.float32(sx)) / half[:, None]  # 0 centre .. 1 edge
        pattern = sparkle > (170 + 85 * edge).astype(np.int64)
        np.copyto(out[y_start:, c0:c1], self.sun_colour, where=pattern)

    # -- particles -------------------------------------------------------------------------------

    def _build_particles(self) -> None:
        kind = self.spec.weather if self.spec.weather in ("snow", "rain") else "none"
        self.particle_kind = kind
        area = self.width * self.height / (1280 * 720)
        n = int({"snow": 900, "rain": 700, "none": 0}[kind] * area)
        rng = self.rng
        self.p_x = (rng.random(n) * self.width).astype(np.float32)
        self.p_y = (rng.random(n) * self.height).astype(np.float32)
        self.p_z = (0.25 + 0.75 * rng.random(n)).astype(np.float32)
        self.p_phase = (rng.random(n) * 6.283).astype(np.float32)
        light = self.lit((255, 255, 255))
        self.p_colour = pack1(mix(light, (255, 255, 255), 0.35) * (0.95 if kind == "snow" else 0.75))

    def _draw_particles(self, out: Packed, cam: Camera, dt: float, d_yaw_px: float, d_x: float) -> None:
        if not len(self.p_x):
            return
        w, h = self.width, self.height
        s = h / 720.0
        z = self.p_z
        parallax = d_yaw_px + d_x * self.f / (6.0 / z)
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

    # -- billboard -------------------------------------------------------------------------------

    def set_billboard(self, picture: npt.NDArray[np.uint8] | None, world_x: float | None = None) -> None:
        """Stand ``picture`` (RGB, already sized in screen pixels) in the world, or remove it."""
        if picture is None:
            self.billboard = None
            return
        ph, pw = picture.shape[:2]
        depth = 14.0
        border = max(3, ph // 24)
        post_h = int(self.px(CAM_H * 0.55, depth))
        post_w = max(3, pw // 30)
        bh, bw = ph + 2 * border + post_h, pw + 2 * border
        rgb = np.zeros((bh, bw, 3), np.float32)
        mask = np.zeros((bh, bw), np.bool_)
        wood = self.lit((120, 84, 52))
        rgb[: ph + 2 * border] = wood
        mask[: ph + 2 * border] = True
        rgb[border : border + ph, border : border + pw] = picture.astype(np.float32)
        for px0 in (int(bw * 0.18), int(bw * 0.82) - post_w):
            rgb[ph + 2 * border :, px0 : px0 + post_w] = wood * 0.7
            mask[ph + 2 * border :, px0 : px0 + post_w] = True
        base = self.base_elev(depth)
        x = self.cx + self.width * 0.08 if world_x is None else world_x
        self.billboard = Billboard(pack(rgb), mask, x, depth, base)

    def billboard_world_x(self) -> float | None:
        return None if self.billboard is None else self.billboard.world_x

    # -- drawing -----------------------------------------------------------------------------------

    def _screen_x(self, world_x: float, yaw_px: float, cam_x: float, depth: float) -> float:
        """Screen column of panorama column ``world_x`` (nearest copy around the view centre)."""
        sx = world_x - yaw_px - cam_x * self.f / depth
        return (sx - self.cx + self.pano / 2) % self.pano - self.pano / 2 + self.cx

    def _draw_layer(self, out: Packed, layer: Layer, yh: float, yaw_px: float, cam: Camera) -> None:
        off = int(yaw_px + cam.x * self.f / layer.depth + layer.wind * cam.t) % layer.period
        y_top = int(round(yh)) - layer.top  # screen row of the layer's row 0
        r0 = max(0, -y_top)
        r1 = min(layer.pix.shape[0], self.height - y_top)
        if r0 >= r1:
            return
        w = self.width
        np.copyto(
            out[y_top + r0 : y_top + r1],
            layer.pix[r0:r1, off : off + w],
            where=layer.mask[r0:r1, off : off + w],
        )

    def _draw_sun(self, out: Packed, yh: float, yaw_px: float) -> None:
        r = self.sun_r
        sx = int(round(self._screen_x(self.sun_x, yaw_px, 0.0, 1.0)))
        sy = int(round(yh)) - self.sun_elev
        x0, x1 = max(0, sx - r), min(self.width, sx + r + 1)
        y0, y1 = max(0, sy - r), min(self.height, sy + r + 1, int(math.ceil(yh)))
        if x0 >= x1 or y0 >= y1:
            return
        out[y0:y1, x0:x1] = self.sun_patch[y0 - (sy - r) : y1 - (sy - r), x0 - (sx - r) : x1 - (sx - r)]

    def _draw_stars(self, out: Packed, yh: float, yaw_px: float, t: float) -> None:
        if not len(self.star_x):
            return
        sx = (self.star_x - int(yaw_px)) % self.pano
        sy = int(round(yh)) - self.star_e
        ok = (sx < self.width) & (sy >= 0) & (sy < min(self.height, int(yh)))
        if not ok.any():
            return
        b = self.star_b[ok] * (0.6 + 0.4 * np.sin(self.star_phase[ok] + t * self.star_speed[ok]))
        bi = b.astype(np.uint32)
        out[sy[ok], sx[ok]] = bi | (bi << np.uint32(8)) | (np.minimum(bi + 20, 255) << np.uint32(16)) | ALPHA

    def _draw_billboard(self, out: Packed, yh: float, yaw_px: float, cam: Camera) -> None:
        bb = self.billboard
        if bb is None:
            return
        bh, bw = bb.pix.shape
        sx = int(round(self._screen_x(bb.world_x, yaw_px, cam.x, bb.depth)))
        sy = int(round(yh)) - bb.base - bh  # screen row of its top
        x0, x1 = max(0, sx), min(self.width, sx + bw)
        y0, y1 = max(0, sy), min(self.height, sy + bh)
        if x0 >= x1 or y0 >= y1:
            return
        np.copyto(
            out[y0:y1, x0:x1],
            bb.pix[y0 - sy : y1 - sy, x0 - sx : x1 - sx],
            where=bb.mask[y0 - sy : y1 - sy, x0 - sx : x1 - sx],
        )

    def restart(self) -> None:
        """Forget the previous camera (particles jump nowhere on the next frame)."""
        self._last = None

    def horizon(self, pitch_deg: float) -> float:
        """Screen row of the horizon at ``pitch_deg`` (looking up moves it down)."""
        return self.height / 2 + self.f * math.tan(math.radians(pitch_deg))

    def render_packed(self, cam: Camera, dt: float) -> Packed:
        """Draw the scene for ``cam`` as packed pixels; advances the particles by ``dt`` seconds."""
        h, w = self.height, self.width
        yaw_px = cam.yaw_deg / 360.0 * self.pano
        yh = self.horizon(cam.pitch_deg)
        out: Packed = np.empty((h, w), np.uint32)
        # sky: one colour per row, by elevation
        sky_rows = min(h, max(0, int(math.ceil(yh))))
        if sky_rows:
            elev = np.int64(round(yh)) - np.arange(sky_rows)
            idx = np.clip(elev + self.max_elev, 0, len(self.sky_table) - 1)
            out[:sky_rows] = self.sky_table[idx][:, None]
            self._draw_sun(out, yh, yaw_px)
            self._draw_stars(out, yh, yaw_px, cam.t)
        self._draw_ground(out, yh, cam, yaw_px)
        for layer in self.layers:
            self._draw_layer(out, layer, yh, yaw_px, cam)
        self._draw_billboard(out, yh, yaw_px, cam)
        last = self._last
        d_yaw = 0.0 if last is None else yaw_px - last.yaw_deg / 360.0 * self.pano
        d_x = 0.0 if last is None else cam.x - last.x
        self._draw_particles(out, cam, dt, d_yaw, d_x)
        self._last = cam
        return out

    def render(self, cam: Camera, dt: float) -> npt.NDArray[np.uint8]:
        """Draw the scene for ``cam`` as an RGB ``(H, W, 3)`` frame."""
        packed = self.render_packed(cam, dt)
        frame = np.empty((self.height, self.width, 3), np.uint8)
        unpack_into(packed, frame)
        return frame
