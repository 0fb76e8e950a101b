"""``create_app(settings)``: the ASGI app; its lifespan loads the model and ends sessions on exit."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.exceptions import HTTPException

from openreactor.auth.access import CloudAuth
from openreactor.http import routes_cloud, routes_debug, routes_local, routes_signalling, routes_uploads
from openreactor.http.errors import ApiError, handle_api_error, handle_http_exception, handle_unexpected
from openreactor.models.api import Model
from openreactor.models.loader import load_model
from openreactor.registry import LocalRegistry
from openreactor.sessions.session import EndReason
from openreactor.settings import Settings
from reactor_rtc import set_host_addresses

log = logging.getLogger(__name__)


def create_app(settings: Settings, model: Model | None = None) -> Starlette:
    """The server as an ASGI app. ``model`` (already loaded) overrides ``settings.model``."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if settings.ice_host_addresses is not None:
            set_host_addresses(settings.ice_host_addresses)
        loaded = model if model is not None else load_model(settings.model, settings.model_options())
        registry = LocalRegistry(loaded, settings)
        app.state.registry = registry
        app.state.settings = settings
        app.state.auth = CloudAuth.open(settings.state_dir)
        log.info("serving model %s", loaded.name)
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
            *(routes_debug.routes if settings.debug_endpoints else []),
        ],
        lifespan=lifespan,
        exception_handlers={
            ApiError: handle_api_error,
            HTTPException: handle_http_exception,
            Exception: handle_unexpected,
        },
    )
