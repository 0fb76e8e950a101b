"""``openreactor serve``: the embedded server's registry and the planes it mounts.

One model, loaded here (``LocalRegistry``), or ``--workers N`` worker processes that each load it
(``workers.pool.WorkerRegistry``); the HTTP front (``http.app.create_app``) is the same for both.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

from starlette.applications import Starlette

from openreactor.auth.access import CloudAuth
from openreactor.http.app import Backend, BackendFactory, Plane, create_app, warn_if_exposed
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


def serve_planes(settings: Settings) -> list[Plane]:
    """Both planes, always; debug routes, metrics and the playground as the settings say."""
    planes = [Plane.HEALTH, Plane.LOCAL, Plane.CLOUD, Plane.SIGNALLING, Plane.UPLOADS, Plane.OPENAPI]
    if settings.debug_endpoints:
        planes.append(Plane.DEBUG)
        if settings.workers > 0:
            planes.append(Plane.DEBUG_WORKERS)
    if settings.metrics:
        planes.append(Plane.METRICS)
    if settings.playground:
        planes.append(Plane.PLAYGROUND)
    return planes


def serve_backend(settings: Settings, model: Model | None = None) -> BackendFactory:
    """The registry of ``settings`` (``model``, already loaded, overrides ``settings.model``) and
    the key store and signing secret under ``settings.state_dir``."""

    @contextlib.asynccontextmanager
    async def build(metrics: ServerMetrics) -> AsyncIterator[Backend]:
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
        auth = CloudAuth.open(settings.state_dir, settings.token_rate_per_minute)
        warn_if_exposed(settings)
        log.info("serving model %s", registry.model.name)
        yield Backend(registry, auth)

    return build


def create_serve_app(settings: Settings, model: Model | None = None) -> Starlette:
    """The embedded server as an ASGI app. ``model`` (already loaded) overrides ``settings.model``."""
    return create_app(settings, serve_backend(settings, model), serve_planes(settings))
