"""What the routes reach through the app: the session registry, the cloud auth, bearer checks."""

from __future__ import annotations

from starlette.requests import Request

from openreactor.auth.access import CloudAuth
from openreactor.auth.tokens import TokenScope
from openreactor.http.errors import ApiError
from openreactor.session_host import SessionHost, SessionRegistry


def registry_of(request: Request) -> SessionRegistry:
    registry: SessionRegistry = request.app.state.registry
    return registry


def auth_of(request: Request) -> CloudAuth:
    auth: CloudAuth = request.app.state.auth
    return auth


async def bearer_scope(request: Request) -> TokenScope:
    """The scope of the request's bearer token; ``TokenError`` (401) without a valid one."""
    return await auth_of(request).scope_of(request.headers.get("authorization"))


async def authorize_session(request: Request, host: SessionHost) -> None:
    """Sessions created on the cloud plane accept only tokens that may act on them."""
    if host.owner is None:
        return
    scope = await bearer_scope(request)
    if not scope.allows_session(host.session_id, host.owner, host.model_name):
        raise ApiError(403, f"this token may not act on session {host.session_id}")


async def live_host(request: Request) -> SessionHost:
    """The session named in the path, if the caller may act on it and it has not ended (else 404/401/403)."""
    session_id = request.path_params["session_id"]
    host = await registry_of(request).get(session_id)
    if host is None:
        raise ApiError(404, f"Unknown session {session_id}")
    await authorize_session(request, host)
    if host.closed:
        raise ApiError(404, f"session {session_id} has ended ({host.end_reason})")
    return host
