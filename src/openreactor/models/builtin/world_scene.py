"""Moved to :mod:`openreactor.models.builtin.world.scene`; kept so that ``tests/models/test_world.py``
imports it by its old name until the tests are reorganised."""

from openreactor.models.builtin.world.scene import (
    DEFAULT_PROMPT,
    RGB,
    SceneSpec,
    Terrain,
    TimeOfDay,
    Weather,
    scene_from_prompt,
    words_of,
)

__all__ = [
    "DEFAULT_PROMPT",
    "RGB",
    "SceneSpec",
    "Terrain",
    "TimeOfDay",
    "Weather",
    "scene_from_prompt",
    "words_of",
]
