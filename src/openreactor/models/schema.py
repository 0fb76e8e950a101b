"""A model's OpenAPI document (PROTOCOL.md §6.2) and command validation against it."""

from __future__ import annotations

import copy
from typing import Any

from jsonschema import Draft202012Validator

from openreactor.models.api import CommandError, CommandSpec, Model

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


def openapi_document(model: Model, version: str = "v0.0.0") -> dict[str, Any]:
    """The OpenAPI 3.1 document that clients get from ``/schema`` and ``request_schema``."""
    paths: dict[str, Any] = {}
    for spec in model.command_specs().values():
        paths[f"/events/{spec.name}"] = {
            "post": {
                "operationId": spec.name,
                "summary": spec.description.splitlines()[0] if spec.description else spec.name,
                "description": spec.description,
                "requestBody": {"content": {"application/json": {"schema": copy.deepcopy(spec.schema)}}},
                "responses": {"202": {"description": "Event accepted"}},
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
        "webhooks": {},
        "components": {"schemas": {"ReactorUploadReference": UPLOAD_REFERENCE_SCHEMA}},
    }


def _integers_from_doubles(schema: dict[str, Any], value: Any) -> Any:
    """v1 carries every number as a double: turn ``3.0`` back into ``3`` where the schema says integer."""
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
    return value


class CommandValidator:
    """Validates command arguments against each command's JSON schema (2020-12)."""

    def __init__(self, specs: dict[str, CommandSpec]) -> None:
        self._specs = specs
        self._validators = {name: Draft202012Validator(spec.schema) for name, spec in specs.items()}

    def validate(self, name: str, data: dict[str, Any]) -> dict[str, Any]:
        """Return the arguments (integers restored); raise ``CommandError(invalid_command)``.

        The message names the offending field by its path, e.g. ``value: 70000 is greater than
        the maximum of 65535``.
        """
        validator = self._validators.get(name)
        if validator is None:
            raise CommandError("invalid_command", f"unknown command {name!r}")
        errors = sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path))
        if errors:
            first = errors[0]
            path = "/".join(str(p) for p in first.absolute_path) or "(arguments)"
            raise CommandError("invalid_command", f"{name}: {path}: {first.message}")
        result: dict[str, Any] = _integers_from_doubles(self._specs[name].schema, data)
        return result
