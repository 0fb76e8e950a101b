"""Bearer-token checks shared by the cloud routes and the routes of cloud-owned sessions."""

from __future__ import annotations

from starlette.requests import Request

from openreactor.auth.access import CloudAuth
from openreactor.auth.tokens import TokenError, TokenScope
from openreactor.http.errors import ApiError
from openreactor.registry import LocalRegistry
from openreactor.session_host import InProcessSessionHost
from openreactor.workers.pool import WorkerRegistry
from openreactor.workers.remote import RemoteSessionHost

AnyHost = InProcessSessionHost | RemoteSessionHost
"""A session in this process (local mode) or in a worker process (``serve --workers N``)."""


def registry_of(request: Request) -> LocalRegistry | WorkerRegistry:
    registry: LocalRegistry | WorkerRegistry = request.app.state.registry
    return registry


def auth_of(request: Request) -> CloudAuth:
    auth: CloudAuth = request.app.state.auth
    return auth


def bearer_scope(request: Request) -> TokenScope:
    try:
        return auth_of(request).scope_of(request.headers.get("authorization"))
    except TokenError as exc:
        raise ApiError(exc.status, exc.message) from exc


def authorize_session(request: Request, host: AnyHost) -> None:
    """Sessions created on the cloud plane accept only tokens that may act on them."""
    if host.owner is None:
        return
    scope = bearer_scope(request)
    if not scope.allows_session(host.session_id, host.owner, registry_of(request).model.name):
        raise ApiError(403, f"this token may not act on session {host.session_id}")


def live_host(request: Request) -> AnyHost:
    """The session named in the path, if the caller may act on it and it has not ended (else 404/401/403)."""
    session_id = request.path_params["session_id"]
    host = registry_of(request).get(session_id)
    if host is None:
        raise ApiError(404, f"Unknown session {session_id}")
    authorize_session(request, host)
    if host.closed:
        raise ApiError(404, f"session {session_id} has ended ({host.session.end_reason})")
    return host
