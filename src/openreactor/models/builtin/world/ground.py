"""The ground of a ``world`` scene: a texture in world coordinates (grass and paths, waves and
floes, streets and snow, dunes, craters), seen in perspective.

Every ground row is at a depth: the row gathers its texels from the ground texture at that depth
(perspective), so forward motion pulls the ground towards the viewer. The texture is kept at
several blur and fog levels, one per range of depths; rows beyond the last are one colour. Water
sways and glitters under a low sun.
"""

from __future__ import annotations

import math
from typing import Protocol

import numpy as np

from openreactor.models.builtin.world.pixels import Arr, Packed, box_blur_wrap, mix, pack, value_noise_2d
from openreactor.models.builtin.world.scene import RGB
from openreactor.models.builtin.world.stage import CAM_H, Camera, Stage

TEX_T, TEX_P = 256, 1024
"""Ground texture rows (depth) and columns (sideways); periodic both ways."""
KV, KU = 16.0, 32.0
"""Ground texels per world unit, along depth and sideways."""


class Sun(Protocol):
    """Where the sun is on the panorama, and its colour (for the glitter on water)."""

    sun_x: float
    sun_colour: np.uint32


class Ground:
    """The ground's texture levels for one stage, and the ground drawer."""

    def __init__(self, stage: Stage, sun: Sun) -> None:
        self.stage = stage
        self.sun = sun
        self._build()
        self._xs = np.arange(stage.width, dtype=np.float32) - np.float32(stage.cx)

    def _texture(self) -> Arr:
        """The ground's albedo, ``(TEX_T, TEX_P, 3)`` float: rows along depth, columns sideways."""
        rng, terrain, snowy = self.stage.rng, self.stage.spec.terrain, self.stage.spec.snowy
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

    def _build(self) -> None:
        tex = self._texture() * np.asarray(self.stage.lt.light, np.float32)
        self.ground_mean = tex.reshape(-1, 3).mean(axis=0)
        fog = np.asarray(self.stage.lt.fog, np.float32)
        # Levels: level k serves depths up to d_k, where one screen row spans about 2**k texel
        # rows; it is blurred that much and fogged for its depth. Farther rows are one colour.
        depths: list[float] = []
        levels: list[Packed] = []
        k = 0
        while True:
            span = 2.0**k
            d = math.sqrt(span * CAM_H * self.stage.f / KV)
            if span > TEX_T / 8:
                break
            lat = d / self.stage.f * KU
            blurred = box_blur_wrap(tex, int(span // 2), int(lat // 2))
            levels.append(pack(mix(blurred, fog, self.stage.fog_at(d * 0.85))))
            depths.append(d)
            k += 1
        self.ground_levels = np.ascontiguousarray(np.stack(levels).reshape(-1))
        self.level_depths = np.asarray(depths, np.float32)
        self.level_rows = TEX_T * TEX_P
        self.water = self.stage.spec.terrain == "ocean"
        self.glitter = (self.stage.rng.random((256, 256)) * 255).astype(np.uint8)

    def draw(self, out: Packed, yh: float, cam: Camera, yaw_px: float) -> None:
        """Fill the rows below the horizon ``yh``: each row gathers its texels at its depth."""
        h = self.stage.height
        y0 = max(0, int(math.ceil(yh)))
        if y0 >= h:
            return
        ys = np.arange(y0, h, dtype=np.float32)
        dy = ys - np.float32(yh) + np.float32(0.5)
        d = np.float32(CAM_H * self.stage.f) / dy
        level = np.searchsorted(self.level_depths, d)
        near = level < len(self.level_depths)
        n_near = int(near.sum())  # rows are far → near from the top, so the near ones are last
        n_far = len(ys) - n_near
        if n_far:
            fd = d[:n_far]
            fog_k = (1.0 - np.exp(-fd / self.stage.lt.fog_dist))[:, None]
            far_rgb = mix(
                self.ground_mean,
                self.stage.lt.fog,
                np.maximum(fog_k, self.stage.fog_at(float(self.level_depths[-1]))),
            )
            out[y0 : y0 + n_far] = pack(far_rgb)[:, None]
        if not n_near:
            return
        dn = d[n_far:]
        scale = (dn * np.float32(KU / self.stage.f)).astype(np.float32)
        shift = (np.float32(yaw_px / self.stage.f) * dn + np.float32(cam.x)) * np.float32(KU) + np.float32(
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
        if self.water and self.stage.lt.glow > 0.2 and self.stage.spec.weather == "clear":
            self._draw_glitter(out, y0 + n_far, dn, v, yaw_px, cam)

    def _draw_glitter(self, out: Packed, y_start: int, dn: Arr, v: Arr, yaw_px: float, cam: Camera) -> None:
        sx = self.stage.screen_x(self.sun.sun_x, yaw_px, 0.0, 1.0)
        half = 4.0 + 0.2 * (CAM_H * self.stage.f) / dn  # wider towards the viewer
        wmax = int(half.max()) + 1
        c0, c1 = max(0, int(sx) - wmax), min(self.stage.width, int(sx) + wmax)
        if c0 >= c1 or not len(dn):
            return
        cols = np.arange(c0, c1)
        phase = int(cam.t * 9)
        sparkle = self.glitter[(v[:, None] * 3 + phase) % 256, (cols[None, :] + phase * 7) % 256]
        edge = np.abs(cols[None, :] - np.float32(sx)) / half[:, None]  # 0 centre .. 1 edge
        pattern = sparkle > (170 + 85 * edge).astype(np.int64)
        np.copyto(out[y_start:, c0:c1], self.sun.sun_colour, where=pattern)
