"""Python types ⇄ JSON Schema, for typed command arguments, state fields and messages.

The mapping (PROTOCOL.md §6.2)::

    int → integer       float → number       str → string       bool → boolean     Any → {}
    Literal[...] / Enum → enum                X | None → anyOf [X, null]
    list[T] / tuple[T, ...] → array, items T  dict[str, T] → object, additionalProperties T
    a dataclass → object with its fields      UploadedFile → $ref ReactorUploadReference

Constraints and descriptions come from an :class:`Arg` in ``Annotated[T, Arg(...)]``. Values
arrive as JSON (v1 carries every number as a double; the codec gives integral ones back as
``int``) and :func:`from_wire` turns them into what the annotation promises: ``3.0`` into ``3``,
``3`` into ``3.0`` for a float, a string into its ``Enum`` member, an object into its dataclass.
:func:`to_wire` goes the other way for messages.
"""

from __future__ import annotations

import dataclasses
import enum
import re
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from openreactor.models.files import UploadedFile

UPLOAD_REFERENCE_REF = "#/components/schemas/ReactorUploadReference"

_MISSING: Any = dataclasses.MISSING


@dataclass(frozen=True, slots=True)
class Arg:
    """Constraints and a description for a typed argument, state field or message field.

    Used as ``Annotated[int, Arg(ge=0, le=65535, description="Brightness")]``.
    """

    description: str = ""
    ge: float | None = None
    """Smallest allowed number (``minimum``)."""
    le: float | None = None
    """Largest allowed number (``maximum``)."""
    min_length: int | None = None
    """Shortest string (``minLength``) or list (``minItems``)."""
    max_length: int | None = None
    """Longest string (``maxLength``) or list (``maxItems``)."""
    choices: Sequence[Any] | None = None
    """The only allowed values (``enum``)."""
    moderate: bool = True
    """``False`` exempts a text field from content moderation (``x-reactor-moderate: false``)."""

    def merged(self, other: Arg) -> Arg:
        """This Arg with every field that ``other`` sets taken from ``other``."""
        changes = {
            f.name: getattr(other, f.name)
            for f in dataclasses.fields(other)
            if getattr(other, f.name) != f.default
        }
        return dataclasses.replace(self, **changes)

    def apply(self, schema: dict[str, Any]) -> dict[str, Any]:
        """``schema`` with these constraints added (arrays get ``minItems``/``maxItems``)."""
        out = dict(schema)
        if self.description:
            out["description"] = self.description
        if self.ge is not None:
            out["minimum"] = self.ge
        if self.le is not None:
            out["maximum"] = self.le
        is_array = out.get("type") == "array"
        if self.min_length is not None:
            out["minItems" if is_array else "minLength"] = self.min_length
        if self.max_length is not None:
            out["maxItems" if is_array else "maxLength"] = self.max_length
        if self.choices is not None:
            out["enum"] = [to_wire(c) for c in self.choices]
        if not self.moderate:
            out["x-reactor-moderate"] = False
        return out


def snake_case(name: str) -> str:
    """``PromptAccepted`` → ``prompt_accepted`` (the wire ``type`` of a message record)."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name).lower()


def _split_annotated(tp: Any) -> tuple[Any, Arg]:
    arg = Arg()
    while get_origin(tp) is Annotated:
        base, *extras = get_args(tp)
        for extra in extras:
            if isinstance(extra, Arg):
                arg = arg.merged(extra)
        tp = base
    return tp, arg


def _is_union(tp: Any) -> bool:
    return get_origin(tp) in (Union, types.UnionType)


def _json_type_of(values: Sequence[Any]) -> dict[str, Any]:
    kinds = {type(v) for v in values}
    for py, name in ((bool, "boolean"), (int, "integer"), (float, "number"), (str, "string")):
        if kinds == {py}:
            return {"type": name}
    return {}


def type_schema(tp: Any) -> dict[str, Any]:
    """The JSON schema of annotation ``tp``; raises ``TypeError`` for a type with no mapping."""
    tp, arg = _split_annotated(tp)
    return arg.apply(_bare_schema(tp))


def _bare_schema(tp: Any) -> dict[str, Any]:
    origin = get_origin(tp)
    if tp is Any or tp is object:
        return {}
    if tp is None or tp is type(None):
        return {"type": "null"}
    if tp is UploadedFile:
        return {"$ref": UPLOAD_REFERENCE_REF}
    if tp is bool:
        return {"type": "boolean"}
    if tp is int:
        return {"type": "integer"}
    if tp is float:
        return {"type": "number"}
    if tp is str:
        return {"type": "string"}
    if origin is Literal:
        values = list(get_args(tp))
        return {**_json_type_of(values), "enum": values}
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        values = [m.value for m in tp]
        return {**_json_type_of(values), "enum": values}
    if _is_union(tp):
        options = [type_schema(a) for a in get_args(tp)]
        return {"anyOf": options}
    if tp in (list, tuple) or origin in (list, tuple, Sequence):
        items = get_args(tp)
        if origin is tuple and len(items) == 2 and items[1] is Ellipsis:
            items = items[:1]
        if origin is tuple and len(items) != 1:
            raise TypeError(f"only tuple[T, ...] maps to JSON; got {tp}")
        return {"type": "array", "items": type_schema(items[0])} if items else {"type": "array"}
    if tp is dict or origin in (dict, Mapping):
        args = get_args(tp)
        if args and args[0] is not str:
            raise TypeError(f"JSON objects have string keys; got {tp}")
        if len(args) == 2 and args[1] is not Any:
            return {"type": "object", "additionalProperties": type_schema(args[1])}
        return {"type": "object"}
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        return record_schema(tp)
    raise TypeError(f"no JSON schema mapping for {tp!r}")


def field_schema(tp: Any, default: Any = _MISSING) -> dict[str, Any]:
    """The schema of one parameter or field, with its ``default`` when it has one."""
    schema = type_schema(tp)
    if default is not _MISSING:
        schema["default"] = to_wire(default)
    return schema


def object_schema(fields: Mapping[str, tuple[Any, Any]]) -> dict[str, Any]:
    """An object schema from ``{name: (annotation, default or MISSING)}``; no extra properties."""
    return {
        "type": "object",
        "properties": {name: field_schema(tp, default) for name, (tp, default) in fields.items()},
        "required": [name for name, (_, default) in fields.items() if default is _MISSING],
        "additionalProperties": False,
    }


def record_fields(cls: type) -> dict[str, tuple[Any, Any]]:
    """``{name: (annotation, default or MISSING)}`` of a dataclass."""
    hints = typing.get_type_hints(cls, include_extras=True)
    out: dict[str, tuple[Any, Any]] = {}
    for f in dataclasses.fields(cls):
        default = f.default
        if default is _MISSING and f.default_factory is not _MISSING:
            default = typing.cast(Callable[[], Any], f.default_factory)()
        out[f.name] = (hints.get(f.name, Any), default)
    return out


def record_schema(cls: type) -> dict[str, Any]:
    """The schema of a dataclass: its fields as properties, its docstring's first line as title."""
    schema = object_schema(record_fields(cls))
    doc = (cls.__doc__ or "").strip()
    if doc and not doc.startswith(cls.__name__ + "("):  # skip the dataclass-generated signature
        schema = {"description": doc.splitlines()[0], **schema}
    return schema


def from_wire(tp: Any, value: Any) -> Any:
    """``value`` (validated JSON) as annotation ``tp`` promises it: ints, enums, dataclasses."""
    tp, _ = _split_annotated(tp)
    origin = get_origin(tp)
    if value is None:
        return None
    if tp is int and isinstance(value, float) and value.is_integer():
        return int(value)
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return tp(value)
    if _is_union(tp):
        options = [a for a in get_args(tp) if a is not type(None)]
        return from_wire(options[0], value) if len(options) == 1 else value
    if isinstance(value, list) and (origin in (list, tuple, Sequence) or tp in (list, tuple)):
        args = get_args(tp)
        items = [from_wire(args[0], v) for v in value] if args else list(value)
        return tuple(items) if origin is tuple or tp is tuple else items
    if isinstance(value, dict) and origin in (dict, Mapping):
        args = get_args(tp)
        return {k: from_wire(args[1], v) for k, v in value.items()} if len(args) == 2 else value
    if isinstance(value, dict) and dataclasses.is_dataclass(tp) and isinstance(tp, type):
        fields = record_fields(tp)
        return tp(**{k: from_wire(fields[k][0], v) for k, v in value.items() if k in fields})
    return value


def to_wire(value: Any) -> Any:
    """``value`` as JSON: enums by value, dataclasses as objects, tuples as lists."""
    if isinstance(value, enum.Enum):
        return to_wire(value.value)
    if isinstance(value, UploadedFile):
        return {
            "upload_id": value.upload_id,
            "name": value.name,
            "mime_type": value.mime_type,
            "size": value.size,
        }
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_wire(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): to_wire(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_wire(v) for v in value]
    return value
