"""Settings to and from JSON, to hand a front's settings to its worker processes."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from openreactor.settings import Settings

_PATHS = ("state_dir", "upload_dir", "tls_cert", "tls_key", "turn_secret_file")
_TUPLES = ("ice_host_addresses", "cors_origins", "turn_urls", "stun_urls", "ice_public_addresses")
_SECRETS = ("cluster_secret",)
"""Never handed on: worker processes do not need them, and their command line is world-readable."""


def dump_settings(settings: Settings) -> str:
    out: dict[str, Any] = {}
    for f in dataclasses.fields(Settings):
        if f.name in _SECRETS:
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
    known = {f.name for f in dataclasses.fields(Settings)}
    values = {k: v for k, v in raw.items() if k in known}
    for name in _PATHS:
        if values.get(name) is not None:
            values[name] = Path(values[name])
    for name in _TUPLES:
        if values.get(name) is not None:
            values[name] = tuple(values[name])
    return Settings(**values)
