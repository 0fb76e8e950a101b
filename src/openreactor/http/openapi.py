"""``GET /openapi.json``: an OpenAPI 3.1 description of this server's own HTTP API.

Request bodies are described by their dataclasses (``http.bodies``: the schema the routes validate
against); the operations and the response schemas are written here (PROTOCOL.md §2, §3, §7).
:func:`openapi_document` keeps only the
operations the app actually registers, so optional routes (``/debug/...``, the playground) appear
exactly when they are served. ``tests/server/http/test_openapi.py`` checks that every registered route
is described; ``tests/server/http/test_http_fuzz.py`` runs schemathesis against this document.

Every refusal (4xx/5xx) has the body ``{"detail": "<text>"}`` (``openreactor.http.errors``).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route

from openreactor import __version__
from openreactor.http.bodies import (
    BODIES,
    Body,
    Candidates,
    CreateSession,
    CreateUpload,
    NewConnection,
    Offer,
    StartSession,
    StopSession,
    TokenRequest,
    body_schema,
)

JSON = "application/json"
OPENAPI_PATH = "/openapi.json"

Schema = dict[str, Any]


def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: Schema, description: str) -> Schema:
    return {"description": description, "content": {JSON: {"schema": schema}}}


_ERROR_TEXT = {
    400: "Malformed request (bad JSON, missing fields, bad version header)",
    401: "Missing, unknown or expired credentials",
    403: "The token may not act on this resource",
    404: "Unknown session, connection or upload",
    405: "Method not allowed",
    409: "Conflict (a session is already running / none is running / upload already done)",
    413: "Body too large",
    426: "Client API version too old",
    429: "No capacity, or too many token requests (with Retry-After)",
    501: "Client API version newer than the server's",
    503: "Shutting down, the connection limit is reached, or the cluster's Redis is down (with Retry-After)",
    507: "The upload store is full (nothing was kept; retry later)",
}


def _errors(*codes: int) -> dict[str, Schema]:
    return {str(code): _json(_ref("Error"), _ERROR_TEXT[code]) for code in codes}


def _body(cls: type[Body]) -> Schema:
    """The request body of an operation: the dataclass ``cls`` (``components.schemas.<its name>``)."""
    return {"required": not cls.allow_empty, "content": {JSON: {"schema": _ref(cls.__name__)}}}


def _path_param(name: str, schema: Schema | None = None) -> Schema:
    return {"name": name, "in": "path", "required": True, "schema": schema or {"type": "string"}}


def _header(name: str, description: str) -> Schema:
    return {
        "name": name,
        "in": "header",
        "required": False,
        "schema": {"type": "string"},
        "description": description,
    }


API_VERSION = _header(
    "Reactor-API-Version", "Client API version; this server speaks 1 (426 older, 501 newer)"
)
WEBRTC_VERSION = _header("Reactor-WebRTC-Version", "Signalling version; this server speaks 1.0")
AUTHORIZATION = _header("Authorization", "Bearer JWT from POST /tokens (cloud-owned sessions)")
API_KEY = _header("Reactor-API-Key", "An API key made with `openreactor keys create`")
SESSION_ID = _path_param("session_id")
CONNECTION_ID = _path_param("connection_id", {"type": "string", "pattern": "^[0-9]+$"})

# The errors every version-checked route can answer with.
_VERSIONED = (400, 426, 501)

RESPONSE_SCHEMAS: dict[str, Schema] = {
    "Error": {
        "type": "object",
        "required": ["detail"],
        "properties": {"detail": {"type": "string"}},
        "description": "The body of every refusal",
    },
    "Health": {
        "type": "object",
        "required": ["status", "state"],
        "properties": {
            "status": {"type": "string", "enum": ["healthy", "unhealthy"]},
            "state": {"type": "string", "enum": ["available", "serving", "terminated"]},
            "detail": {"type": ["string", "null"]},
        },
    },
    "Session": {
        "type": "object",
        "required": ["session_id", "state", "model"],
        "properties": {
            "session_id": {"type": "string"},
            "state": {
                "type": "string",
                "description": "lower case on the local plane, upper case on the cloud one",
            },
            "cluster": {"type": "string"},
            "model": {"type": "object", "properties": {"name": {"type": "string"}}},
            "server_info": {"type": "object"},
            "generation": {"type": "string"},
            "selected_transport": {"type": "object"},
            "capabilities": {"type": "object"},
            "end_reason": {"type": "string"},
        },
    },
    "Stopped": {
        "type": "object",
        "required": ["session_id", "state"],
        "properties": {"session_id": {"type": "string"}, "state": {"type": "string", "enum": ["closed"]}},
    },
    "Token": {
        "type": "object",
        "required": ["jwt", "expires_at"],
        "properties": {"jwt": {"type": "string"}, "expires_at": {"type": "integer"}},
    },
    "IceServers": {
        "type": "object",
        "required": ["ice_servers"],
        "properties": {"ice_servers": {"type": "array", "items": {"type": "object"}}},
    },
    "Connection": {
        "type": "object",
        "required": ["connection_id", "track_map"],
        "properties": {"connection_id": {"type": "integer"}, "track_map": {"type": "object"}},
    },
    "OfferAccepted": {
        "type": "object",
        "required": ["connection_id"],
        "properties": {"connection_id": {"type": "integer"}},
    },
    "Answer": {
        "type": "object",
        "required": ["sdp_answer", "connection_id"],
        "properties": {"sdp_answer": {"type": "string"}, "connection_id": {"type": "integer"}},
    },
    "UploadSlot": {
        "type": "object",
        "required": ["presigned_id", "presigned_url", "path"],
        "properties": {
            "presigned_id": {"type": "string"},
            "presigned_url": {"type": "string"},
            "path": {"type": "string"},
        },
    },
    "Uploaded": {
        "type": "object",
        "required": ["upload_id", "size"],
        "properties": {"upload_id": {"type": "string"}, "size": {"type": "integer"}},
    },
    "DebugResources": {
        "type": "object",
        "properties": {
            name: {"type": "integer"}
            for name in (
                "asyncio_tasks",
                "threads",
                "executor_threads",
                "peer_connections",
                "sessions",
                "upload_files",
                "open_fds",
            )
        },
    },
}

SCHEMAS: dict[str, Schema] = {**RESPONSE_SCHEMAS, **{cls.__name__: body_schema(cls) for cls in BODIES}}
"""Every component schema: the responses' and the request bodies'."""

_SESSION_GUARDED = (*_VERSIONED, 401, 403, 404)
_SIGNALLING_PARAMS = [SESSION_ID, API_VERSION, WEBRTC_VERSION, AUTHORIZATION]
_SIGNALLING_BASE = "/sessions/{session_id}/transport/webrtc"


def _offer_op(summary: str, params: list[Schema], accepted: Schema) -> Schema:
    return {
        "summary": summary,
        "tags": ["signalling"],
        "parameters": params,
        "requestBody": _body(Offer),
        "responses": {
            "202": _json(accepted, "Offer taken; poll for the answer"),
            **_errors(*_SESSION_GUARDED, 413, 503),
        },
    }


def _answer_op(summary: str, params: list[Schema]) -> Schema:
    return {
        "summary": summary,
        "tags": ["signalling"],
        "parameters": params,
        "responses": {
            "200": _json(_ref("Answer"), "The SDP answer"),
            "202": {"description": "The answer is not ready yet; poll again"},
            **_errors(*_SESSION_GUARDED),
        },
    }


def _candidates_op(summary: str, params: list[Schema]) -> Schema:
    return {
        "summary": summary,
        "tags": ["signalling"],
        "parameters": params,
        "requestBody": _body(Candidates),
        "responses": {"202": {"description": "Candidates taken"}, **_errors(*_SESSION_GUARDED, 413)},
    }


_CONNECTION_PARAMS = [*_SIGNALLING_PARAMS, CONNECTION_ID]
_LEGACY_ANSWER_PARAMS = [
    *_SIGNALLING_PARAMS,
    {"name": "connection_id", "in": "query", "required": False, "schema": {"type": "string"}},
]

PATHS: dict[str, dict[str, Schema]] = {
    "/health": {
        "get": {
            "summary": "Liveness and whether a session runs",
            "tags": ["local"],
            "responses": {
                "200": _json(_ref("Health"), "Serving or available"),
                "503": _json(_ref("Health"), "Shutting down"),
            },
        }
    },
    "/start_session": {
        "post": {
            "summary": "Start the one local session",
            "tags": ["local"],
            "parameters": [API_VERSION],
            "requestBody": _body(StartSession),
            "responses": {
                "200": _json(_ref("Session"), "The new session"),
                **_errors(*_VERSIONED, 409, 413, 503),
            },
        }
    },
    "/session": {
        "get": {
            "summary": "The running local session",
            "tags": ["local"],
            "parameters": [API_VERSION, AUTHORIZATION],
            "responses": {"200": _json(_ref("Session"), "The session"), **_errors(*_SESSION_GUARDED)},
        }
    },
    "/stop_session": {
        "post": {
            "summary": "Stop the running local session",
            "tags": ["local"],
            "parameters": [API_VERSION, AUTHORIZATION],
            "requestBody": _body(StopSession),
            "responses": {
                "200": _json(_ref("Stopped"), "Stopped"),
                **_errors(*_VERSIONED, 401, 403, 409, 413),
            },
        }
    },
    "/schema": {
        "get": {
            "summary": "The model's commands and tracks as an OpenAPI document",
            "tags": ["local"],
            "responses": {"200": _json({"type": "object"}, "The model's document")},
        }
    },
    OPENAPI_PATH: {
        "get": {
            "summary": "This document",
            "tags": ["meta"],
            "responses": {"200": _json({"type": "object"}, "OpenAPI 3.1")},
        }
    },
    "/tokens": {
        method: {
            "summary": "Mint a JWT from an API key",
            "tags": ["cloud"],
            "parameters": [API_KEY, _header("X-API-Key", "Alias of Reactor-API-Key")],
            **({"requestBody": _body(TokenRequest)} if method == "post" else {}),
            "responses": {"200": _json(_ref("Token"), "A token"), **_errors(400, 401, 413, 429)},
        }
        for method in ("get", "post")
    },
    "/sessions": {
        "post": {
            "summary": "Create a session (cloud plane)",
            "tags": ["cloud"],
            "parameters": [API_VERSION, AUTHORIZATION],
            "requestBody": _body(CreateSession),
            "responses": {
                "201": _json(_ref("Session"), "The new session"),
                **_errors(*_VERSIONED, 401, 403, 404, 413, 429, 503),
            },
        }
    },
    "/sessions/{session_id}": {
        "get": {
            "summary": "A cloud-plane session",
            "tags": ["cloud"],
            "parameters": [SESSION_ID, API_VERSION, AUTHORIZATION],
            "responses": {"200": _json(_ref("Session"), "The session"), **_errors(*_SESSION_GUARDED)},
        },
        "delete": {
            "summary": "End a cloud-plane session",
            "tags": ["cloud"],
            "parameters": [SESSION_ID, API_VERSION, AUTHORIZATION],
            "responses": {"204": {"description": "Ended"}, **_errors(*_SESSION_GUARDED)},
        },
    },
    f"{_SIGNALLING_BASE}/ice_servers": {
        "get": {
            "summary": "ICE servers for a connection",
            "tags": ["signalling"],
            "parameters": _SIGNALLING_PARAMS,
            "responses": {"200": _json(_ref("IceServers"), "ICE servers"), **_errors(*_SESSION_GUARDED)},
        }
    },
    f"{_SIGNALLING_BASE}/connections": {
        "post": {
            "summary": "Open a connection id",
            "tags": ["signalling"],
            "parameters": _SIGNALLING_PARAMS,
            "requestBody": _body(NewConnection),
            "responses": {
                "201": _json(_ref("Connection"), "The connection"),
                **_errors(*_SESSION_GUARDED, 413, 503),
            },
        }
    },
    f"{_SIGNALLING_BASE}/connections/{{connection_id}}/sdp_params": {
        "post": _offer_op("Send the SDP offer of a connection", _CONNECTION_PARAMS, _ref("OfferAccepted")),
        "put": _offer_op("Send the SDP offer of a connection", _CONNECTION_PARAMS, _ref("OfferAccepted")),
        "get": _answer_op("Poll for the SDP answer of a connection", _CONNECTION_PARAMS),
    },
    f"{_SIGNALLING_BASE}/connections/{{connection_id}}/ice_candidates": {
        "post": _candidates_op("Trickle ICE candidates of a connection", _CONNECTION_PARAMS),
    },
    f"{_SIGNALLING_BASE}/sdp_params": {
        "post": _offer_op(
            "Legacy: the SDP offer of the session's one v0 connection",
            _SIGNALLING_PARAMS,
            _ref("OfferAccepted"),
        ),
        "put": _offer_op(
            "Legacy: the SDP offer of the session's one v0 connection",
            _SIGNALLING_PARAMS,
            _ref("OfferAccepted"),
        ),
        "get": _answer_op("Legacy: poll for the SDP answer", _LEGACY_ANSWER_PARAMS),
    },
    f"{_SIGNALLING_BASE}/ice_candidates": {
        "post": _candidates_op("Legacy: trickle ICE candidates", _SIGNALLING_PARAMS),
    },
    "/sessions/{session_id}/uploads": {
        "post": {
            "summary": "Reserve an upload slot",
            "tags": ["uploads"],
            "parameters": [SESSION_ID, API_VERSION, AUTHORIZATION],
            "requestBody": _body(CreateUpload),
            "responses": {
                "201": _json(_ref("UploadSlot"), "The slot and its presigned URL"),
                **_errors(*_SESSION_GUARDED, 409, 413),
            },
        }
    },
    "/uploads/{upload_id}": {
        "put": {
            "summary": "The raw bytes of an upload (the presigned URL; the id is the credential)",
            "tags": ["uploads"],
            "parameters": [_path_param("upload_id")],
            "requestBody": {
                "required": True,
                "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
            },
            "responses": {"200": _json(_ref("Uploaded"), "Stored"), **_errors(400, 404, 409, 413, 507)},
        }
    },
    "/metrics": {
        "get": {
            "summary": "Prometheus metrics, text exposition format (unless `serve --no-metrics`)",
            "tags": ["metrics"],
            "responses": {
                "200": {
                    "description": "The metrics",
                    "content": {"text/plain": {"schema": {"type": "string"}}},
                }
            },
        }
    },
    "/debug/resources": {
        "get": {
            "summary": "Resource counts (only with `serve --debug-endpoints`)",
            "tags": ["debug"],
            "responses": {"200": _json(_ref("DebugResources"), "Counts")},
        }
    },
    "/debug/workers": {
        "get": {
            "summary": "Worker processes and their sessions (only with `serve --workers N --debug-endpoints`)",
            "tags": ["debug"],
            "responses": {"200": _json({"type": "object"}, "The pool")},
        }
    },
    "/": {
        "get": {
            "summary": "The browser playground (only when the playground is enabled)",
            "tags": ["playground"],
            "responses": {
                "200": {"description": "The page", "content": {"text/html": {"schema": {"type": "string"}}}},
                "404": {
                    "description": "The playground is not built",
                    "content": {"text/plain": {"schema": {"type": "string"}}},
                },
            },
        }
    },
    "/playground/{path}": {
        "get": {
            "summary": "The playground's static assets",
            "tags": ["playground"],
            "parameters": [_path_param("path")],
            "responses": {
                "200": {"description": "The asset", "content": {"*/*": {"schema": {"type": "string"}}}},
                **_errors(404, 405),
            },
        }
    },
}
"""Every operation this server can serve; :func:`openapi_document` keeps the registered ones."""


def registered_operations(routes: Iterable[BaseRoute]) -> dict[str, set[str]]:
    """``{path: {lower-case methods}}`` of the app's routes (HEAD left out; a Mount counts as GET on
    ``<prefix>/{path}``)."""
    out: dict[str, set[str]] = {}
    for route in routes:
        if isinstance(route, Route):
            methods = {m.lower() for m in (route.methods or {"GET"})} - {"head"}
            out.setdefault(route.path, set()).update(methods)
        elif isinstance(route, Mount):
            out.setdefault(f"{route.path}/{{path}}", set()).add("get")
    return out


def openapi_document(routes: Iterable[BaseRoute]) -> dict[str, Any]:
    """The OpenAPI document of the operations among ``routes`` (an app's ``app.routes``)."""
    registered = registered_operations(routes)
    paths: dict[str, Any] = {}
    for path, operations in PATHS.items():
        kept = {m: op for m, op in operations.items() if m in registered.get(path, set())}
        if kept:
            paths[path] = copy.deepcopy(kept)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "openreactor server",
            "version": __version__,
            "description": "The HTTP API of an openreactor server (PROTOCOL.md §2, §3, §7). Every "
            'refusal has the body {"detail": "<text>"}.',
        },
        "paths": paths,
        "components": {"schemas": copy.deepcopy(SCHEMAS)},
    }


async def openapi_json(request: Request) -> Response:
    return JSONResponse(openapi_document(request.app.routes))


routes = [Route(OPENAPI_PATH, openapi_json, methods=["GET"])]
