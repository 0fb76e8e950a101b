"""The light of a ``world`` scene: sky colours, sun, stars, fog and clouds, from the time of day,
changed by weather, terrain, colour words and an uploaded image's tint."""

from __future__ import annotations

from dataclasses import dataclass

from openreactor.models.builtin.world.scene import RGB, SceneSpec


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
