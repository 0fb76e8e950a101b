"""Built-in models, by name (``openreactor models`` lists them), each imported when first used.

:data:`BUILTINS` names each model's class as ``"module:Class"`` with its one-line description, so
listing them imports nothing, and ``--model probe`` imports the probe and nothing else (not the
world renderer). :data:`BUILTIN_MODELS` maps a name to the class, importing its module on first
access. To add a built-in: write its module here, then one :class:`BuiltinModel` line below
(``tests/server/models/test_builtin_registry.py`` checks that the description matches the class's).
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from openreactor.models.api import Model


@dataclass(frozen=True, slots=True)
class BuiltinModel:
    name: str
    target: str
    """``"package.module:Class"``, imported on first use."""
    description: str
    """The class's ``description``, repeated here so that listing imports nothing."""

    def load(self) -> type[Model]:
        """Import the module and return the class."""
        module_name, _, attr = self.target.partition(":")
        cls: type[Model] = getattr(importlib.import_module(module_name), attr)
        return cls


BUILTINS: tuple[BuiltinModel, ...] = (
    BuiltinModel(
        "echo",
        "openreactor.models.builtin.echo:EchoModel",
        "Echoes every command back to its sender (files as name, size and SHA-256).",
    ),
    BuiltinModel(
        "probe",
        "openreactor.models.builtin.probe:ProbeModel",
        "Benchmark pattern: frame counter and last value in 16x16 blocks (PROBE.md).",
    ),
    BuiltinModel(
        "webcam",
        "openreactor.models.builtin.webcam:WebcamModel",
        "Mirrors, posterises and tints the client's webcam input.",
    ),
    BuiltinModel(
        "world",
        "openreactor.models.builtin.world:WorldModel",
        "Procedural prompt-driven world (keyword rules and numpy drawing, no neural network): "
        "sky, terrain, weather and colours from the prompt; move and turn the camera; "
        "set_image stands an uploaded picture in the scene.",
    ),
)


class _LazyModels(Mapping[str, "type[Model]"]):
    """Name -> model class; a class's module is imported when the class is first asked for."""

    def __init__(self, entries: tuple[BuiltinModel, ...]) -> None:
        self._entries = {entry.name: entry for entry in entries}

    def __getitem__(self, name: str) -> type[Model]:
        return self._entries[name].load()

    def __contains__(self, name: object) -> bool:  # by name: no import
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)


BUILTIN_MODELS: Mapping[str, type[Model]] = _LazyModels(BUILTINS)
"""Name -> class, imported on access (``in`` and iterating the names import nothing)."""
