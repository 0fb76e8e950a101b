"""Cloud control plane on the embedded server (PROTOCOL.md §2.2-2.4): tokens and sessions.

Sessions created here belong to the API key behind the token; their signalling and upload routes
then require a bearer token that may act on them (see ``authorize_session``).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from openreactor.http.access import auth_of, bearer_scope, registry_of
from openreactor.http.bodies import CreateSession, TokenRequest, read_body
from openreactor.http.errors import ApiError
from openreactor.http.request_parsing import check_api_version
from openreactor.session_host import SessionHost, SessionRequest
from openreactor.sessions.session import EndReason


async def cloud_descriptor(host: SessionHost) -> dict[str, Any]:
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
    body = await read_body(request, TokenRequest) if request.method == "POST" else TokenRequest()
    token, expires_at = auth_of(request).tokens.mint(
        key_id, expires_after=body.expires_after, authorization_details=body.authorization_details
    )
    return JSONResponse({"jwt": token, "expires_at": expires_at})


async def create_session(request: Request) -> Response:
    check_api_version(request)
    scope = await bearer_scope(request)
    body = await read_body(request, CreateSession)
    if scope.sessions is not None:
        raise ApiError(403, "a session-bound token may act on its sessions but not create new ones")
    if not scope.allows_model(body.model.name):
        raise ApiError(403, f"this token may not create sessions for model {body.model.name!r}")
    wanted = SessionRequest(
        owner=scope.key_id,
        model=body.model.name,
        version=body.model.version,
        max_duration_s=scope.max_session_duration_s,
    )
    host = await registry_of(request).start_session(wanted)
    return JSONResponse(await cloud_descriptor(host), status_code=201)


async def _owned_host(request: Request) -> SessionHost:
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
