"""Bearer-token checks shared by the cloud routes and the routes of cloud-owned sessions."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import Request

from openreactor.auth.access import CloudAuth
from openreactor.auth.tokens import TokenError, TokenScope
from openreactor.http.errors import ApiError
from openreactor.registry import LocalRegistry
from openreactor.session_host import InProcessSessionHost
from openreactor.workers.pool import WorkerRegistry
from openreactor.workers.remote import RemoteSessionHost

if TYPE_CHECKING:
    from typing import TypeAlias

    from openreactor.cluster.coordinator import ClusterRegistry

    AnyRegistry: TypeAlias = LocalRegistry | WorkerRegistry | ClusterRegistry

AnyHost = InProcessSessionHost | RemoteSessionHost
"""A session in this process (local mode), in a worker process (``serve --workers N``) or on a
worker node (``openreactor coordinator``)."""


def registry_of(request: Request) -> AnyRegistry:
    registry: AnyRegistry = request.app.state.registry
    return registry


def local_registry_of(request: Request) -> LocalRegistry | WorkerRegistry:
    """The registry of ``openreactor serve`` (the local plane exists only there)."""
    registry = registry_of(request)
    if not isinstance(registry, LocalRegistry | WorkerRegistry):
        raise ApiError(404, "this server has no local plane")
    return registry


def auth_of(request: Request) -> CloudAuth:
    auth: CloudAuth = request.app.state.auth
    return auth


async def bearer_scope(request: Request) -> TokenScope:
    try:
        return await auth_of(request).scope_of(request.headers.get("authorization"))
    except TokenError as exc:
        raise ApiError(exc.status, exc.message) from exc


async def authorize_session(request: Request, host: AnyHost) -> None:
    """Sessions created on the cloud plane accept only tokens that may act on them."""
    if host.owner is None:
        return
    scope = await bearer_scope(request)
    if not scope.allows_session(host.session_id, host.owner, host.model_name):
        raise ApiError(403, f"this token may not act on session {host.session_id}")


async def live_host(request: Request) -> AnyHost:
    """The session named in the path, if the caller may act on it and it has not ended (else 404/401/403)."""
    session_id = request.path_params["session_id"]
    host = await registry_of(request).get(session_id)
    if host is None:
        raise ApiError(404, f"Unknown session {session_id}")
    await authorize_session(request, host)
    if host.closed:
        raise ApiError(404, f"session {session_id} has ended ({host.end_reason})")
    return host
