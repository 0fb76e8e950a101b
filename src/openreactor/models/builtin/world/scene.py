"""Prompt → scene parameters for the procedural ``world`` model (keywords, no neural network).

:func:`scene_from_prompt` reads a prompt word by word. Known words pick the time of day, the
terrain, the weather and colour accents; every other word counts as *unknown* and, hashed with
SHA-256, picks whatever the known words left open (terrain, time of day) and a colour cast, so
any prompt gives a distinct scene and the same prompt always gives the same one.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, replace
from typing import Literal

TimeOfDay = Literal["dawn", "day", "dusk", "night"]
Terrain = Literal["forest", "ocean", "city", "desert", "mountains", "plains", "space"]
Weather = Literal["clear", "snow", "rain", "fog"]
RGB = tuple[float, float, float]

TIMES: tuple[TimeOfDay, ...] = ("dawn", "day", "dusk", "night")
TERRAINS: tuple[Terrain, ...] = ("forest", "ocean", "city", "desert", "mountains", "plains", "space")

TIME_WORDS: dict[str, TimeOfDay] = {
    **dict.fromkeys(["dawn", "sunrise", "morning", "daybreak", "aurora"], "dawn"),
    **dict.fromkeys(["day", "daytime", "noon", "midday", "afternoon", "sunny", "sun", "bright"], "day"),
    **dict.fromkeys(["dusk", "sunset", "evening", "twilight", "golden-hour"], "dusk"),
    **dict.fromkeys(["night", "midnight", "nighttime", "moon", "moonlight", "moonlit", "dark"], "night"),
}

TERRAIN_WORDS: dict[str, Terrain] = {
    **dict.fromkeys(
        [
            "forest",
            "forests",
            "woods",
            "wood",
            "woodland",
            "tree",
            "trees",
            "jungle",
            "pine",
            "pines",
            "taiga",
        ],
        "forest",
    ),
    **dict.fromkeys(
        [
            "ocean",
            "sea",
            "seas",
            "water",
            "lake",
            "beach",
            "waves",
            "wave",
            "coast",
            "island",
            "bay",
            "river",
        ],
        "ocean",
    ),
    **dict.fromkeys(
        [
            "city",
            "town",
            "buildings",
            "building",
            "street",
            "streets",
            "skyline",
            "downtown",
            "urban",
            "metropolis",
            "village",
            "skyscrapers",
            "cyberpunk",
        ],
        "city",
    ),
    **dict.fromkeys(["desert", "sand", "sandy", "dunes", "dune", "sahara", "canyon", "mesa"], "desert"),
    **dict.fromkeys(
        ["mountain", "mountains", "alps", "peaks", "peak", "cliffs", "volcano", "valley", "glacier"],
        "mountains",
    ),
    **dict.fromkeys(
        ["field", "fields", "meadow", "grass", "plains", "farm", "prairie", "hills", "tundra"], "plains"
    ),
    **dict.fromkeys(
        ["space", "stars", "galaxy", "planet", "nebula", "cosmos", "asteroid", "alien", "lunar", "mars"],
        "space",
    ),
}

WEATHER_WORDS: dict[str, Weather] = {
    **dict.fromkeys(
        ["snow", "snowy", "snowing", "blizzard", "winter", "snowfall", "frozen", "ice", "icy", "arctic"],
        "snow",
    ),
    **dict.fromkeys(["rain", "rainy", "raining", "storm", "stormy", "thunder", "drizzle", "monsoon"], "rain"),
    **dict.fromkeys(["fog", "foggy", "mist", "misty", "haze", "hazy", "smoke", "cloudy", "overcast"], "fog"),
}

ACCENT_WORDS: dict[str, RGB] = {
    "red": (255.0, 70.0, 50.0),
    "crimson": (220.0, 30.0, 60.0),
    "orange": (255.0, 140.0, 40.0),
    "autumn": (235.0, 120.0, 40.0),
    "golden": (255.0, 195.0, 70.0),
    "gold": (255.0, 195.0, 70.0),
    "yellow": (255.0, 230.0, 60.0),
    "green": (70.0, 220.0, 90.0),
    "emerald": (40.0, 200.0, 120.0),
    "blue": (60.0, 110.0, 255.0),
    "cyan": (50.0, 230.0, 240.0),
    "teal": (40.0, 180.0, 170.0),
    "purple": (160.0, 70.0, 230.0),
    "violet": (150.0, 90.0, 255.0),
    "pink": (255.0, 110.0, 190.0),
    "neon": (255.0, 40.0, 220.0),
    "cyberpunk": (255.0, 40.0, 220.0),
    "silver": (200.0, 205.0, 215.0),
    "sepia": (200.0, 150.0, 100.0),
}

STOP_WORDS = frozenset(
    "a an the of in at on by with and or to from into over under near under above below is are "
    "some very this that my our its it as for".split()
)


@dataclass(frozen=True, slots=True)
class SceneSpec:
    """What a prompt asks for; :class:`~openreactor.models.builtin.world.render.SceneRenderer` draws it."""

    prompt: str
    time: TimeOfDay
    terrain: Terrain
    weather: Weather
    snowy: bool
    """Snow on the ground (snow or winter words), with or without falling snow."""
    accent: RGB | None
    """A colour cast over the whole scene (from colour words or from unknown words)."""
    accent_strength: float
    seed: int
    neon: bool = False
    image_tint: RGB | None = None
    """Average colour of an image brought in with ``set_image``, and how much it tints the light."""
    image_tint_strength: float = 0.0

    def with_image_tint(self, colour: RGB | None, strength: float) -> SceneSpec:
        return replace(self, image_tint=colour, image_tint_strength=strength)


def words_of(prompt: str) -> list[str]:
    return re.findall(r"[a-z0-9][a-z0-9'\-]*", prompt.lower())


def _digest(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8")).digest()


def _hue_rgb(hue: float) -> RGB:
    """A saturated colour of hue ``hue`` in [0, 1)."""
    h6 = (hue % 1.0) * 6.0
    i = int(h6)
    f = h6 - i
    q, t = 1.0 - f, f
    r, g, b = [(1, t, 0), (q, 1, 0), (0, 1, t), (0, q, 1), (t, 0, 1), (1, 0, q)][i % 6]
    return (40.0 + 215.0 * r, 40.0 + 215.0 * g, 40.0 + 215.0 * b)


def scene_from_prompt(prompt: str) -> SceneSpec:
    """Scene parameters for ``prompt`` (deterministic: same prompt, same scene)."""
    words = words_of(prompt)
    time: TimeOfDay | None = None
    terrain: Terrain | None = None
    weather: Weather | None = None
    snowy = False
    accents: list[RGB] = []
    unknown: list[str] = []
    neon = False
    for raw in words:
        word = raw.strip("'-")
        singular = word[:-1] if word.endswith("s") and len(word) > 3 else word
        known = False
        for w in (word, singular):
            if w in TIME_WORDS and time is None:
                time = TIME_WORDS[w]
            if w in TERRAIN_WORDS and terrain is None:
                terrain = TERRAIN_WORDS[w]
            if w in WEATHER_WORDS:
                if weather is None:
                    weather = WEATHER_WORDS[w]
                if WEATHER_WORDS[w] == "snow":
                    snowy = True
            if w in ACCENT_WORDS:
                accents.append(ACCENT_WORDS[w])
                neon = neon or w in ("neon", "cyberpunk")
            if w in TIME_WORDS or w in TERRAIN_WORDS or w in WEATHER_WORDS or w in ACCENT_WORDS:
                known = True
        if not known and word not in STOP_WORDS and word:
            unknown.append(word)
    digest = _digest(" ".join(words) or prompt)
    unknown_digest = _digest(" ".join(unknown))
    if terrain is None:
        terrain = TERRAINS[unknown_digest[0] % (len(TERRAINS) - 1)]  # space only when asked for
    if time is None:
        time = TIMES[unknown_digest[1] % len(TIMES)] if unknown else "day"
    if neon and time in ("day",) and "day" not in words:
        time = "night"
    accent: RGB | None = None
    strength = 0.0
    if accents:
        n = float(len(accents))
        accent = (
            sum(a[0] for a in accents) / n,
            sum(a[1] for a in accents) / n,
            sum(a[2] for a in accents) / n,
        )
        strength = 0.35
    elif unknown:
        accent = _hue_rgb(unknown_digest[2] / 256.0)
        strength = 0.4 + 0.2 * unknown_digest[3] / 255.0
    if terrain == "space":
        weather = "clear" if weather in (None, "rain", "fog") else weather
    return SceneSpec(
        prompt=prompt,
        time=time,
        terrain=terrain,
        weather=weather or "clear",
        snowy=snowy,
        accent=accent,
        accent_strength=strength,
        seed=int.from_bytes(digest[:8], "little"),
        neon=neon,
    )


DEFAULT_PROMPT = "a forest at dawn"
