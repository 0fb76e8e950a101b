"""``create_app(settings)``: the ASGI app; its lifespan loads the model and ends sessions on exit."""

from __future__ import annotations

import contextlib
import ipaddress
import logging
from collections.abc import AsyncIterator, Sequence
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from openreactor.auth.access import CloudAuth
from openreactor.http import (
    openapi,
    routes_cloud,
    routes_debug,
    routes_local,
    routes_metrics,
    routes_playground,
    routes_signalling,
    routes_uploads,
)
from openreactor.http.errors import ApiError, handle_api_error, handle_http_exception, handle_unexpected
from openreactor.metrics import ServerMetrics
from openreactor.models.api import Model
from openreactor.models.loader import load_model, resolve_model_class
from openreactor.registry import LocalRegistry
from openreactor.sessions.session import EndReason
from openreactor.settings import Settings
from openreactor.transport.ice_diagnosis import host_addresses_notice
from openreactor.workers.pool import WorkerRegistry
from reactor_rtc import host_addresses, set_host_addresses

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


def is_bearer_path(path: str) -> bool:
    """The routes of ``/sessions`` and ``/uploads/…``: a bearer token (cloud sessions) or an
    unguessable id (the session's or the upload's) is their credential, never the page's origin."""
    return path == "/sessions" or path.startswith(("/sessions/", "/uploads/"))


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


def create_app(settings: Settings, model: Model | None = None) -> Starlette:
    """The server as an ASGI app. ``model`` (already loaded) overrides ``settings.model``."""
    metrics = ServerMetrics()  # a registry per app: several apps in one process count apart

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        set_host_addresses(settings.ice_host_addresses)
        log.log(*host_addresses_notice(host_addresses(), settings.ice_host_addresses is not None))
        registry: LocalRegistry | WorkerRegistry
        if settings.workers > 0:
            # The worker processes load the model; this process needs only its class (name, version).
            registry = WorkerRegistry(
                type(model) if model is not None else resolve_model_class(settings.model),
                settings,
                metrics=metrics,
            )
            try:
                await registry.start()
            except BaseException:
                await registry.shutdown(EndReason.SERVER_SHUTDOWN)
                raise
        else:
            loaded = model if model is not None else load_model(settings.model, settings.model_options())
            registry = LocalRegistry(loaded, settings, metrics=metrics)
        app.state.registry = registry
        app.state.settings = settings
        app.state.metrics = metrics
        app.state.auth = CloudAuth.open(settings.state_dir, settings.token_rate_per_minute)
        warn_if_exposed(settings)
        log.info("serving model %s", registry.model.name)
        try:
            yield
        finally:
            await registry.shutdown(EndReason.SERVER_SHUTDOWN)

    return Starlette(
        routes=[
            *routes_local.routes,
            *routes_cloud.routes,
            *routes_signalling.routes,
            *routes_uploads.routes,
            *openapi.routes,
            *(routes_debug.routes if settings.debug_endpoints else []),
            *(routes_debug.worker_routes if settings.debug_endpoints and settings.workers > 0 else []),
            *(routes_metrics.routes if settings.metrics else []),
            *(routes_playground.routes if settings.playground else []),
        ],
        middleware=cors_middleware(settings),
        lifespan=lifespan,
        exception_handlers={
            ApiError: handle_api_error,
            HTTPException: handle_http_exception,
            Exception: handle_unexpected,
        },
    )
