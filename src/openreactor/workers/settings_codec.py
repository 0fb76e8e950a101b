"""Settings to and from JSON, to hand a front's settings to its worker processes.

Driven by the fields' types (paths and tuples have no JSON form of their own); secrets
(``setting(..., secret=True)``) are never handed on: worker processes do not need them, and their
command line is world-readable."""

from __future__ import annotations

import dataclasses
import json
import typing
from pathlib import Path
from typing import Any

from openreactor.config import field_types, optional_inner
from openreactor.settings import Settings, setting_specs


def dump_settings(settings: Settings) -> str:
    specs = setting_specs()
    out: dict[str, Any] = {}
    for f in dataclasses.fields(Settings):
        if specs[f.name].secret:
            continue
        value = getattr(settings, f.name)
        if isinstance(value, Path):
            value = str(value)
        elif isinstance(value, tuple):
            value = list(value)
        out[f.name] = value
    return json.dumps(out)


def load_settings(text: str) -> Settings:
    raw: dict[str, Any] = json.loads(text)
    types = field_types()
    values: dict[str, Any] = {}
    for name, value in raw.items():
        if name not in types:
            continue
        tp, _ = optional_inner(types[name])
        if value is not None and tp is Path:
            value = Path(value)
        elif value is not None and typing.get_origin(tp) is tuple:
            value = tuple(value)
        values[name] = value
    return Settings(**values)
