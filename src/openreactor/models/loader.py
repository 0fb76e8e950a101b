"""Find a model class by built-in name or import path, and build it with the options it takes."""

from __future__ import annotations

import importlib
import inspect
from typing import Any

from openreactor.models.api import Model
from openreactor.models.builtin import BUILTIN_MODELS


class ModelNotFoundError(LookupError):
    pass


def resolve_model_class(spec: str) -> type[Model]:
    """``probe`` (a built-in) or ``package.module:Class``. Raises :class:`ModelNotFoundError`."""
    if spec in BUILTIN_MODELS:
        return BUILTIN_MODELS[spec]
    if ":" not in spec:
        known = ", ".join(sorted(BUILTIN_MODELS))
        raise ModelNotFoundError(
            f"unknown model {spec!r}: built-ins are {known}, or use package.module:Class"
        )
    module_name, _, attr = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
        cls = getattr(module, attr)
    except (ImportError, AttributeError) as exc:
        raise ModelNotFoundError(f"cannot import model {spec!r}: {exc}") from exc
    if not (isinstance(cls, type) and issubclass(cls, Model)):
        raise ModelNotFoundError(f"{spec!r} is not a subclass of openreactor.Model")
    return cls


def load_model(spec: str, options: dict[str, Any]) -> Model:
    """Instantiate the model once, passing only the options its constructor accepts."""
    cls = resolve_model_class(spec)
    params = inspect.signature(cls.__init__).parameters
    takes_kwargs = any(p.kind is p.VAR_KEYWORD for p in params.values())
    accepted = {k: v for k, v in options.items() if takes_kwargs or k in params}
    return cls(**accepted)
