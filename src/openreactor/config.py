"""Settings from a TOML file, ``OPENREACTOR_<FIELD>`` environment variables and CLI flags.

Every :class:`~openreactor.settings.Settings` field may be set in each layer, by its field name
(``port``, ``keepalive_s``, ``state_dir``…), parsed by its type annotation (and checked against its
``choices``). Precedence: CLI flag > environment > file > default.
An unknown key in the file is an error (with the closest known name); environment variables that
name no field are ignored, since other tools share the ``OPENREACTOR_`` prefix.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import os
import tomllib
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from openreactor.settings import Settings, setting_specs

ENV_PREFIX = "OPENREACTOR_"
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


class ConfigError(ValueError):
    """A setting that cannot be used: unknown name, wrong type, unreadable file."""


def field_types() -> dict[str, Any]:
    """Settings field name -> its (resolved) type annotation."""
    hints = typing.get_type_hints(Settings)
    return {f.name: hints[f.name] for f in dataclasses.fields(Settings)}


def optional_inner(tp: Any) -> tuple[Any, bool]:
    """``(T, True)`` for ``T | None``, else ``(tp, False)``."""
    if isinstance(tp, types.UnionType) or typing.get_origin(tp) is typing.Union:
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0], True
    return tp, False


def _unknown(name: str, source: str) -> ConfigError:
    known = sorted(field_types())
    close = difflib.get_close_matches(name, known, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return ConfigError(f"{source}: unknown setting {name!r}{hint}; known settings: {', '.join(known)}")


def coerce(
    name: str, value: Any, source: str, *, from_env: bool = False, base_dir: Path | None = None
) -> Any:
    """``value`` (a TOML value, or with ``from_env`` a string to parse) as field ``name``'s type."""
    types_by_name = field_types()
    if name not in types_by_name:
        raise _unknown(name, source)
    tp, optional = optional_inner(types_by_name[name])
    from_env = from_env and isinstance(value, str)

    def bad(expected: str) -> ConfigError:
        return ConfigError(f"{source}: {name} must be {expected}, not {value!r}")

    if optional and from_env and value.strip().lower() in ("", "none", "null"):
        return None
    origin = typing.get_origin(tp)
    if tp is bool:
        if isinstance(value, bool):
            return value
        if from_env and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
        raise bad("a boolean")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if from_env:
            try:
                return int(value.strip())
            except ValueError:
                pass
        raise bad("an integer")
    if tp is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if from_env:
            try:
                return float(value.strip())
            except ValueError:
                pass
        raise bad("a number")
    if tp is str:
        choices = setting_specs()[name].choices
        if isinstance(value, str) and (not choices or value in choices):
            return value
        raise bad(f"one of {', '.join(choices)}" if choices else "a string")
    if tp is Path:
        if not isinstance(value, str) or not value:
            raise bad("a path")
        path = Path(value).expanduser()
        return base_dir / path if base_dir is not None and not path.is_absolute() else path
    if origin is tuple:
        items = [v.strip() for v in value.split(",") if v.strip()] if from_env else value
        if not isinstance(items, list) or not all(isinstance(v, str) for v in items):
            raise bad("a list of strings (comma-separated in the environment)")
        return tuple(items)
    if origin is list:
        items = value
        if from_env:
            try:
                items = json.loads(value)
            except json.JSONDecodeError as exc:
                raise bad(f"a JSON list ({exc})") from exc
        if not isinstance(items, list) or not all(isinstance(v, dict) for v in items):
            raise bad("a list of tables")
        return items
    raise ConfigError(f"{source}: {name} cannot be set here")  # pragma: no cover - every field is handled


def load_file(path: Path) -> dict[str, Any]:
    """The settings in a TOML file (flat keys named like the fields); relative paths are the file's."""
    try:
        with open(path, "rb") as f:
            raw = tomllib.load(f)
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror or exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from exc
    base_dir = path.resolve().parent
    return {name: coerce(name, value, str(path), base_dir=base_dir) for name, value in raw.items()}


def load_env(environ: Mapping[str, str]) -> dict[str, Any]:
    """Settings from ``OPENREACTOR_<FIELD>`` variables (field name in upper case)."""
    names = {name.upper(): name for name in field_types()}
    out: dict[str, Any] = {}
    for key, value in environ.items():
        if not key.startswith(ENV_PREFIX):
            continue
        name = names.get(key[len(ENV_PREFIX) :])
        if name is not None:
            out[name] = coerce(name, value, f"${key}", from_env=True)
    return out


def resolve_settings(
    *,
    config_file: Path | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    defaults: Mapping[str, Any] | None = None,
) -> Settings:
    """Settings from (lowest first) defaults, ``config_file``, ``environ``, then ``overrides``."""
    merged: dict[str, Any] = dict(defaults or {})
    if config_file is not None:
        merged.update(load_file(config_file))
    merged.update(load_env(os.environ if environ is None else environ))
    for name, value in (overrides or {}).items():
        if name not in field_types():
            raise _unknown(name, "command line")
        merged[name] = value
    if "liveness_check_s" not in merged and "liveness_timeout_s" in merged:
        # Check often enough that a silent connection is dropped close to its timeout.
        merged["liveness_check_s"] = min(Settings().liveness_check_s, merged["liveness_timeout_s"] / 4)
    return Settings(**merged)
