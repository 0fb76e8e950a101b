"""Reading JSON bodies and protocol headers, with the protocol's error statuses."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request

from openreactor.http.errors import ApiError

MAX_JSON_BODY = 1 << 20
SUPPORTED_API_VERSION = 1


async def json_object(
    request: Request, *, allow_empty: bool = True, allow_null: bool = False
) -> dict[str, Any]:
    """The body as a JSON object; 400 for malformed JSON or anything but an object."""
    body = await request.body()
    if len(body) > MAX_JSON_BODY:
        raise ApiError(413, f"request body over {MAX_JSON_BODY} bytes")
    if not body.strip():
        if allow_empty:
            return {}
        raise ApiError(400, "a JSON body is required")
    try:
        value = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, f"malformed JSON body: {exc}") from exc
    if value is None and allow_null:
        return {}
    if not isinstance(value, dict):
        raise ApiError(400, "the JSON body must be an object")
    return value


def check_api_version(request: Request) -> None:
    """426 for a client API version older than ours, 501 for a newer one (PROTOCOL.md §2.1)."""
    raw = request.headers.get("reactor-api-version")
    if raw is None:
        return
    try:
        version = int(raw.strip())
    except ValueError as exc:
        raise ApiError(400, f"malformed Reactor-API-Version {raw!r}") from exc
    if version < SUPPORTED_API_VERSION:
        raise ApiError(426, "client API version too old")
    if version > SUPPORTED_API_VERSION:
        raise ApiError(501, "server does not support client API version")


def check_webrtc_version(request: Request) -> None:
    raw = request.headers.get("reactor-webrtc-version")
    if raw is not None and raw.strip() != "1.0":
        raise ApiError(400, f"unsupported Reactor-WebRTC-Version {raw!r}; this server speaks 1.0")
