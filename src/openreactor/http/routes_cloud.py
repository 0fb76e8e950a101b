"""Cloud control plane on the embedded server (PROTOCOL.md §2.2-2.4): tokens and sessions.

Sessions created here belong to the API key behind the token; their signalling and upload routes
then require a bearer token that may act on them (see ``authorize_session``).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from openreactor.http.access import AnyHost, auth_of, bearer_scope, registry_of
from openreactor.http.errors import ApiError
from openreactor.http.request_parsing import check_api_version, json_object
from openreactor.registry import SessionBusyError, UnknownModelError
from openreactor.sessions.session import EndReason

RETRY_AFTER_BUSY_S = 5


async def cloud_descriptor(host: AnyHost) -> dict[str, Any]:
    descriptor = await host.describe()
    descriptor["state"] = descriptor["state"].upper()
    return descriptor


def _count_token_request(request: Request, who: str) -> None:
    """One ``/tokens`` request by ``who``; 429 with ``Retry-After`` once over the per-minute limit."""
    limiter = auth_of(request).token_rate
    wait = limiter.retry_after(who)
    if wait is not None:
        raise ApiError(429, f"too many token requests; retry in {wait} s", {"Retry-After": str(wait)})
    limiter.hit(who)


async def tokens(request: Request) -> Response:
    # Every attempt counts against the caller's address (failed ones too: no fast key guessing),
    # then a valid key's requests count against the key wherever they come from.
    _count_token_request(request, f"addr:{request.client.host if request.client else 'unknown'}")
    key = request.headers.get("reactor-api-key") or request.headers.get("x-api-key")
    if not key:
        raise ApiError(401, "missing Reactor-API-Key header")
    key_id = await auth_of(request).keys.verify_key(key)
    if key_id is None:
        raise ApiError(401, "unknown or revoked API key")
    _count_token_request(request, f"key:{key_id}")
    body = await json_object(request, allow_null=True) if request.method == "POST" else {}
    token, expires_at = auth_of(request).tokens.mint(key_id, body)
    return JSONResponse({"jwt": token, "expires_at": expires_at})


async def create_session(request: Request) -> Response:
    check_api_version(request)
    scope = await bearer_scope(request)
    body = await json_object(request, allow_empty=False)
    model = body.get("model")
    name = model.get("name") if isinstance(model, dict) else None
    if not isinstance(name, str) or not name:
        raise ApiError(400, "the body needs model.name")
    if scope.sessions is not None:
        raise ApiError(403, "a session-bound token may act on its sessions but not create new ones")
    if not scope.allows_model(name):
        raise ApiError(403, f"this token may not create sessions for model {name!r}")
    version = model.get("version") if isinstance(model, dict) else None
    if version is not None and not isinstance(version, str):
        raise ApiError(400, "model.version must be a string")
    generation = (body.get("extra_configs") or {}).get("generation", "streamed")
    if generation != "streamed":
        raise ApiError(400, f"generation {generation!r} is not supported by this server (only 'streamed')")
    try:
        host = await registry_of(request).start_session(
            owner=scope.key_id,
            model=name,
            version=version,
            max_duration_s=scope.max_session_duration_s,
        )
    except UnknownModelError as exc:
        raise ApiError(404, str(exc)) from exc
    except SessionBusyError as exc:
        raise ApiError(429, f"no capacity: {exc}", {"Retry-After": str(RETRY_AFTER_BUSY_S)}) from exc
    return JSONResponse(await cloud_descriptor(host), status_code=201)


async def _owned_host(request: Request) -> AnyHost:
    check_api_version(request)
    scope = await bearer_scope(request)
    session_id = request.path_params["session_id"]
    host = await registry_of(request).get(session_id)
    if host is None or host.owner is None:
        raise ApiError(404, f"Unknown session {session_id}")
    if not scope.allows_session(session_id, host.owner, host.model_name):
        raise ApiError(403, f"this token may not act on session {session_id}")
    return host


async def get_session(request: Request) -> Response:
    return JSONResponse(await cloud_descriptor(await _owned_host(request)))


async def delete_session(request: Request) -> Response:
    host = await _owned_host(request)
    await registry_of(request).stop_session(host, EndReason.CLIENT_ENDED)
    return Response(status_code=204)


routes = [
    Route("/tokens", tokens, methods=["POST", "GET"]),
    Route("/sessions", create_session, methods=["POST"]),
    Route("/sessions/{session_id}", get_session, methods=["GET"]),
    Route("/sessions/{session_id}", delete_session, methods=["DELETE"]),
]
