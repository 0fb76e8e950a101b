"""A model's OpenAPI document (PROTOCOL.md §6.2) and command validation against it.

Commands validate against exactly the schemas the document publishes (JSON Schema 2020-12), with
``$ref``s into ``components.schemas`` resolved in place.
"""

from __future__ import annotations

import copy
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

from openreactor.models.api import CommandError, CommandSpec, Model
from openreactor.models.arguments import from_wire, record_schema

UPLOAD_REFERENCE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "format": "reactor-upload-reference",
    "properties": {
        "upload_id": {"type": "string"},
        "name": {"type": "string"},
        "mime_type": {"type": "string"},
        "size": {"type": "integer"},
    },
    "required": ["upload_id", "name", "mime_type", "size"],
}

_REF_PREFIX = "#/components/schemas/"


def component_schemas(model: type[Model] | Model) -> dict[str, Any]:
    """``components.schemas``: the upload reference and every declared message record."""
    schemas: dict[str, Any] = {"ReactorUploadReference": copy.deepcopy(UPLOAD_REFERENCE_SCHEMA)}
    for record in model.message_types().values():
        schemas[record.__name__] = record_schema(record)
    return schemas


def _json_body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


def openapi_document(model: Model, version: str = "v0.0.0") -> dict[str, Any]:
    """The OpenAPI 3.1 document that clients get from ``/schema`` and ``request_schema``."""
    paths: dict[str, Any] = {}
    for spec in model.command_specs().values():
        responses: dict[str, Any] = {"202": {"description": "Event accepted"}}
        if spec.reply is not None:
            responses["200"] = {
                "description": f"Reply: {spec.reply.__name__}",
                **_json_body({"$ref": _REF_PREFIX + spec.reply.__name__}),
            }
        paths[f"/events/{spec.name}"] = {
            "post": {
                "operationId": spec.name,
                "summary": spec.description.splitlines()[0] if spec.description else spec.name,
                "description": spec.description,
                "requestBody": _json_body(copy.deepcopy(spec.schema)),
                "responses": responses,
            }
        }
    webhooks: dict[str, Any] = {}
    for wire_type, record in model.message_types().items():
        doc = (record.__doc__ or "").strip()
        summary = doc.splitlines()[0] if doc and not doc.startswith(record.__name__ + "(") else wire_type
        webhooks[wire_type] = {
            "post": {
                "operationId": wire_type,
                "summary": summary,
                "requestBody": _json_body({"$ref": _REF_PREFIX + record.__name__}),
                "responses": {"200": {"description": "Delivered"}},
            }
        }
    return {
        "openapi": "3.1.0",
        "info": {"title": model.name, "version": version, "description": model.description},
        "x-reactor": {
            "tracks": [{"name": t.name, "kind": t.kind, "direction": t.direction} for t in model.tracks],
            "accepts_any_command": model.accepts_any_command(),
        },
        "paths": paths,
        "webhooks": webhooks,
        "components": {"schemas": component_schemas(model)},
    }


def inline_refs(schema: Any, components: dict[str, Any]) -> Any:
    """``schema`` with every ``{"$ref": "#/components/schemas/X"}`` replaced by ``X`` itself."""
    if isinstance(schema, dict):
        ref = schema.get("$ref")
        if isinstance(ref, str) and ref.startswith(_REF_PREFIX) and ref[len(_REF_PREFIX) :] in components:
            rest = {k: inline_refs(v, components) for k, v in schema.items() if k != "$ref"}
            return {**inline_refs(components[ref[len(_REF_PREFIX) :]], components), **rest}
        return {k: inline_refs(v, components) for k, v in schema.items()}
    if isinstance(schema, list):
        return [inline_refs(v, components) for v in schema]
    return schema


def _integers_from_doubles(schema: dict[str, Any], value: Any) -> Any:
    """Turn ``3.0`` back into ``3`` where the schema says integer.

    The v1 codec already decodes integral doubles as ``int``; this covers what still arrives as a
    float: a JSON ``3.0`` on v0, or an integer beyond 2**53 that the double rounded.
    """
    if isinstance(value, float) and schema.get("type") == "integer" and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        props = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        out = {}
        for key, item in value.items():
            sub = props.get(key, extra if isinstance(extra, dict) else {})
            out[key] = _integers_from_doubles(sub, item)
        return out
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [_integers_from_doubles(schema["items"], item) for item in value]
    for option in schema.get("anyOf", []):
        if isinstance(option, dict) and Draft202012Validator(option).is_valid(value):
            return _integers_from_doubles(option, value)
    return value


def _path_of(error: Any) -> str:
    return ".".join(str(p) for p in error.absolute_path) or "(arguments)"


class CommandValidator:
    """Validates command arguments against each command's JSON schema (2020-12)."""

    def __init__(self, specs: dict[str, CommandSpec], components: dict[str, Any] | None = None) -> None:
        self._specs = specs
        refs = components if components is not None else {"ReactorUploadReference": UPLOAD_REFERENCE_SCHEMA}
        self._schemas = {name: inline_refs(spec.schema, refs) for name, spec in specs.items()}
        self._validators = {name: Draft202012Validator(schema) for name, schema in self._schemas.items()}

    def validate(self, name: str, data: dict[str, Any]) -> dict[str, Any]:
        """Return the arguments as JSON, integers restored; raise ``CommandError(invalid_command)``.

        The message names the offending field by its path, e.g. ``set_value: value: 70000 is
        greater than the maximum of 65535`` or ``place: items.2.x: 'a' is not of type 'number'``.
        """
        validator = self._validators.get(name)
        if validator is None:
            raise CommandError("invalid_command", f"unknown command {name!r}")
        error = best_match(validator.iter_errors(data))
        if error is not None:
            raise CommandError("invalid_command", f"{name}: {_path_of(error)}: {error.message}")
        result: dict[str, Any] = _integers_from_doubles(self._schemas[name], data)
        return result

    def to_arguments(self, name: str, data: dict[str, Any]) -> dict[str, Any]:
        """Validated JSON as the handler's annotations promise it (enums, dataclasses, floats)."""
        types = self._specs[name].arg_types
        return {key: from_wire(types[key], value) if key in types else value for key, value in data.items()}
