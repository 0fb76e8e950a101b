"""Model commands as ``send_command`` builds and reads them (SDK-API §1.1.3, §1.1.4).

:func:`command_message` checks the arguments and turns the data into a wire ``Command``:
``FileRef`` values directly under a key go to the ``uploads`` map, nested ones are inlined as
``{upload_id, name, mime_type, size}``, numpy scalars become Python numbers, and anything that is
not a JSON value (or a non-finite number) is refused with ``DecodeError``. The encoded size is
checked when the message is sent (``PeerLink.send``: ``MessageTooLargeError`` over the limit).
:func:`command_reply` reads the model's correlated reply.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from reactor_protocol.messages import Command, ErrorMessage, ModelMessage, Payload, UploadRef
from reactor_sdk.errors import DecodeError, ReactorError
from reactor_sdk.file_ref import FileRef


def command_message(
    command: str, data: Mapping[str, Any] | None, *, scope: str, timeout: float, operation: str
) -> Command:
    """The wire ``Command`` for ``send_command(command, data, scope=…, timeout=…)``.

    ``ValueError`` for an empty command name, another scope than ``"application"`` or a timeout
    that is not a positive number; ``DecodeError`` when ``data`` is not a JSON object.
    """
    if not isinstance(command, str) or not command:
        raise ValueError("command must be a non-empty string")
    if data is None:
        data = {}
    elif not isinstance(data, Mapping):
        raise DecodeError("command data must be a JSON object", component="gpu", operation=operation)
    if scope != "application":
        raise ValueError("only scope='application' is supported")
    if not (isinstance(timeout, int | float) and timeout > 0 and math.isfinite(timeout)):
        raise ValueError("timeout must be a positive number of seconds")
    body, uploads = command_body(data, operation)
    return Command(command, body, uploads)


def command_reply(command: str, payload: Payload | None, operation: str) -> dict[str, Any] | None:
    """``{"type", "data"}`` of a reply message, ``None`` for a bare acknowledgement; a refusal
    raises a ``ReactorError`` with the model's code, anything else ``DecodeError``."""
    if payload is None:
        return None
    if isinstance(payload, ModelMessage):
        return {"type": payload.type, "data": payload.data}
    if isinstance(payload, ErrorMessage):
        raise ReactorError(
            payload.code,
            f"command {command!r} failed ({payload.code}): {payload.message}",
            recoverable=False,
            component="gpu",
            operation=operation,
        )
    raise DecodeError(
        f"unexpected reply {type(payload).__name__} to a command", component="gpu", operation=operation
    )


def command_body(data: Mapping[str, Any], operation: str) -> tuple[dict[str, Any], dict[str, UploadRef]]:
    """Split command data: top-level ``FileRef``s go to the wire ``uploads`` map, nested ones are
    inlined; everything else must be a JSON value."""
    body: dict[str, Any] = {}
    uploads: dict[str, UploadRef] = {}
    for key, value in data.items():
        if not isinstance(key, str):
            raise DecodeError(
                "command data must be a JSON object (string keys)", component="gpu", operation=operation
            )
        if isinstance(value, FileRef):
            uploads[key] = value.to_upload_ref()
        else:
            body[key] = json_value(value, operation)
    return body, uploads


def json_value(value: Any, operation: str) -> Any:
    """``value`` as a JSON value (``FileRef`` inlined, numpy scalars unwrapped); ``DecodeError``
    for anything else."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int | float):
        if isinstance(value, float) and not math.isfinite(value):
            raise DecodeError(
                f"command data holds a non-finite number {value!r}", component="gpu", operation=operation
            )
        return value
    if isinstance(value, np.generic):
        return json_value(value.item(), operation)
    if isinstance(value, FileRef):
        return value.to_wire()
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise DecodeError(
                    "command data must be a JSON object (string keys)", component="gpu", operation=operation
                )
            out[key] = json_value(item, operation)
        return out
    if isinstance(value, list | tuple):
        return [json_value(item, operation) for item in value]
    raise DecodeError(
        f"command data must be a JSON object; {type(value).__name__} is not a JSON value",
        component="gpu",
        operation=operation,
    )
