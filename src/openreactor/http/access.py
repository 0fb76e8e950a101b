"""Bearer-token checks shared by the cloud routes and the routes of cloud-owned sessions."""

from __future__ import annotations

from starlette.requests import Request

from openreactor.auth.access import CloudAuth
from openreactor.auth.tokens import TokenError, TokenScope
from openreactor.http.errors import ApiError
from openreactor.session_host import InProcessSessionHost


def auth_of(request: Request) -> CloudAuth:
    auth: CloudAuth = request.app.state.auth
    return auth


def bearer_scope(request: Request) -> TokenScope:
    try:
        return auth_of(request).scope_of(request.headers.get("authorization"))
    except TokenError as exc:
        raise ApiError(exc.status, exc.message) from exc


def authorize_session(request: Request, host: InProcessSessionHost) -> None:
    """Sessions created on the cloud plane accept only tokens that may act on them."""
    if host.owner is None:
        return
    scope = bearer_scope(request)
    if not scope.allows_session(host.session_id, host.owner):
        raise ApiError(403, f"this token may not act on session {host.session_id}")
