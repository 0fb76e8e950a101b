"""``create_app``: the HTTP front as an ASGI app, for whichever registry serves the sessions.

``openreactor serve`` (``openreactor.serve``) and ``openreactor coordinator``
(``openreactor.cluster.coordinator``) each build their registry and mount the planes they serve;
this module knows only the ``SessionRegistry`` interface (``openreactor.session_host``).
"""

from __future__ import annotations

import contextlib
import enum
import ipaddress
import logging
from collections.abc import AsyncIterator, Callable, Collection, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from openreactor.auth.access import CloudAuth
from openreactor.http import (
    openapi,
    routes_cloud,
    routes_debug,
    routes_health,
    routes_local,
    routes_metrics,
    routes_playground,
    routes_signalling,
    routes_uploads,
)
from openreactor.http.errors import Handler, exception_handlers, is_bearer_path
from openreactor.metrics import ServerMetrics
from openreactor.session_host import SessionRegistry
from openreactor.sessions.session import EndReason
from openreactor.settings import Settings

log = logging.getLogger(__name__)

CORS_METHODS = ["GET", "POST", "PUT", "DELETE", "OPTIONS"]
CORS_HEADERS = [
    "Authorization",
    "Content-Type",
    "Reactor-API-Version",
    "Reactor-API-Accept-Version",
    "Reactor-WebRTC-Version",
]
"""What browsers may send cross-origin (PROTOCOL.md §2.1), the raw upload ``PUT`` included. Not
``Reactor-API-Key``: keys belong on an app server (docs/browser-auth.md), never in a browser."""

LOOPBACK_ORIGINS = r"https?://(localhost|127(\.\d{1,3}){3}|\[::1\])(:\d{1,5})?"
"""Origins of pages served from this machine, on any port: ``http(s)://localhost``,
``127.0.0.0/8`` and ``[::1]`` (an app's dev server next to the model server)."""


class PlaneCors:
    """CORS by plane (the rule is in ``Settings.cors_origins``), with Starlette's ``CORSMiddleware``
    doing the work: one instance answers every origin on the bearer routes, the other the local
    plane's allowed origins. Neither allows credentials: no cookie ever authorises a call."""

    def __init__(self, app: ASGIApp, local_origins: Sequence[str] = ()) -> None:
        common: dict[str, Any] = {
            "allow_methods": CORS_METHODS,
            "allow_headers": CORS_HEADERS,
            "expose_headers": ["Retry-After"],
            # Answer Chromium's Private Network Access preflight too: the origin rule is the whole rule.
            "allow_private_network": True,
            "max_age": 600,
        }
        self.bearer = CORSMiddleware(app, allow_origins=["*"], **common)
        if local_origins:
            self.local = CORSMiddleware(app, allow_origins=list(local_origins), **common)
        else:
            self.local = CORSMiddleware(app, allow_origin_regex=LOOPBACK_ORIGINS, **common)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and is_bearer_path(scope["path"]):
            await self.bearer(scope, receive, send)
        else:
            await self.local(scope, receive, send)


def cors_middleware(settings: Settings) -> list[Middleware]:
    """The CORS layer of the embedded server and the coordinator (see ``Settings.cors_origins``)."""
    return [Middleware(PlaneCors, local_origins=tuple(settings.cors_origins))]


def is_loopback(host: str) -> bool:
    """Whether binding ``host`` keeps the server reachable from this machine only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def warn_if_exposed(settings: Settings) -> None:
    """A loud warning when the unauthenticated local-mode routes are reachable from the network."""
    if is_loopback(settings.host):
        return
    log.warning(
        "SECURITY: listening on %s, a non-loopback address. The local-mode routes (/start_session, "
        "/session, /stop_session and the signalling and upload routes of a session started there) "
        "take NO credentials: anyone who can reach this port can start, use and stop a session. "
        "Only cloud-plane sessions (POST /tokens, POST /sessions) require a bearer token. Bind to "
        "127.0.0.1, or put the server behind a firewall or an authenticating proxy.",
        settings.host,
    )


class Plane(enum.Enum):
    """A group of routes an app may mount (in this order)."""

    HEALTH = "health"
    LOCAL = "local"
    """``/start_session``, ``/session``, ``/stop_session``, ``/schema`` (``openreactor serve`` only)."""
    CLOUD = "cloud"
    SIGNALLING = "signalling"
    UPLOADS = "uploads"
    OPENAPI = "openapi"
    DEBUG = "debug"
    DEBUG_WORKERS = "debug_workers"
    METRICS = "metrics"
    PLAYGROUND = "playground"


ROUTES: dict[Plane, Sequence[BaseRoute]] = {
    Plane.HEALTH: routes_health.routes,
    Plane.LOCAL: routes_local.routes,
    Plane.CLOUD: routes_cloud.routes,
    Plane.SIGNALLING: routes_signalling.routes,
    Plane.UPLOADS: routes_uploads.routes,
    Plane.OPENAPI: openapi.routes,
    Plane.DEBUG: routes_debug.routes,
    Plane.DEBUG_WORKERS: routes_debug.worker_routes,
    Plane.METRICS: routes_metrics.routes,
    Plane.PLAYGROUND: routes_playground.routes,
}


@dataclass(frozen=True, slots=True)
class Backend:
    """What the routes reach through ``app.state``: the sessions and the cloud plane's credentials."""

    registry: SessionRegistry
    auth: CloudAuth


BackendFactory = Callable[[ServerMetrics], AbstractAsyncContextManager[Backend]]
"""Builds the backend in the app's lifespan, given the app's metrics; its exit frees what it made
(after the registry's ``shutdown``)."""


def create_app(
    settings: Settings,
    backend: Backend | BackendFactory,
    planes: Collection[Plane],
    *,
    metrics: ServerMetrics | None = None,
    extra_exception_handlers: Mapping[Any, Handler] | None = None,
) -> Starlette:
    """The HTTP front over ``backend`` (or what the factory builds at startup), serving ``planes``.

    On exit the registry's ``shutdown`` ends its sessions (``server_shutdown``). ``metrics``: the
    app's own (a fresh registry per app otherwise, so several apps in one process count apart).
    """
    metrics = metrics if metrics is not None else ServerMetrics()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        opened = backend(metrics) if callable(backend) else contextlib.nullcontext(backend)
        async with opened as ready:
            app.state.registry = ready.registry
            app.state.auth = ready.auth
            app.state.settings = settings
            app.state.metrics = metrics
            try:
                yield
            finally:
                await ready.registry.shutdown(EndReason.SERVER_SHUTDOWN)

    return Starlette(
        routes=[route for plane in Plane if plane in planes for route in ROUTES[plane]],
        middleware=cors_middleware(settings),
        lifespan=lifespan,
        exception_handlers=exception_handlers(extra_exception_handlers),
    )
