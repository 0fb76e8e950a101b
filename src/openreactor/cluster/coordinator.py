"""``openreactor coordinator``: the public front of a cluster, with no state of its own.

It answers the cloud plane (``/tokens``, ``/sessions``, signalling and uploads under a session)
with the same app as ``openreactor serve`` (``http.app.create_app``); only the registry differs. ``ClusterRegistry``
places a new session on a worker node with room for the requested model (one atomic Redis script,
so any number of coordinators behind a load balancer never over-place), then relays each
signalling call to that node's internal API, authenticated with the cluster secret. Media flows
between the client and the worker directly. Which node hosts a session, its owner and state are
read from Redis on every request.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import httpx
from redis.exceptions import RedisError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from openreactor import __version__
from openreactor.auth.access import CloudAuth
from openreactor.auth.ratelimit import RateLimiter
from openreactor.auth.tokens import TokenIssuer
from openreactor.cluster.keys import RedisKeyLookup
from openreactor.cluster.node import CLUSTER_SECRET_NAME
from openreactor.cluster.store import ClusterStore, SessionRecord
from openreactor.http.app import Backend, Plane, create_app
from openreactor.metrics import ServerMetrics
from openreactor.session_host import (
    DebugStatus,
    SessionBusyError,
    SessionHost,
    SessionLimitError,
    SessionRequest,
    UnknownModelError,
)
from openreactor.sessions.session import EndReason
from openreactor.sessions.uploads import UploadSlot
from openreactor.settings import Settings
from openreactor.workers import rpc
from openreactor.workers.remote import CALL_TIMEOUT_S, RemoteSessionHost

log = logging.getLogger(__name__)
logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per relayed call is noise

JWT_SECRET_NAME = "jwt"
REDIS_RETRY_AFTER_S = 1

_STATE_OF_RECORD = {"placed": "pending", "live": "waiting", "closed": "closed"}


class ClusterSessionHost(RemoteSessionHost):
    """A session on a worker node; remembers its upload slots in Redis for ``PUT /uploads/{id}``."""

    def __init__(self, store: ClusterStore, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.store = store

    async def create_upload(self, name: str, size: int, mime_type: str) -> UploadSlot:
        slot = await super().create_upload(name, size, mime_type)
        await self.store.remember_upload(slot.upload_id, self.session_id)
        return slot


class ClusterRegistry:
    """The ``SessionRegistry`` of a coordinator, answered from Redis and the worker nodes."""

    def __init__(self, store: ClusterStore, settings: Settings, secret: bytes) -> None:
        self.store = store
        self.settings = settings
        self.shutting_down = False
        self.client = httpx.AsyncClient(
            headers={"authorization": f"Bearer {secret.decode()}"}, timeout=CALL_TIMEOUT_S
        )
        self._reaper: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._reaper = asyncio.ensure_future(self._reap_forever())

    async def _reap_forever(self) -> None:
        """Every coordinator reaps dead workers (idempotent in Redis), so one is enough to keep it true."""
        while True:
            await asyncio.sleep(self.settings.heartbeat_s)
            try:
                if await self.store.reap():
                    log.warning("ended the sessions of a worker node that stopped answering")
            except (RedisError, OSError):
                pass

    def _host(self, record: SessionRecord) -> ClusterSessionHost:
        descriptor = {
            "session_id": record.session_id,
            "cluster": record.worker_id,
            "model": {"name": record.model},
            "server_info": {"server_version": __version__},
            **record.descriptor,
            "state": _STATE_OF_RECORD.get(record.state, "closed")
            if record.state != "live" or not record.descriptor
            else record.descriptor.get("state", "waiting"),
        }
        if record.end_reason:
            descriptor["end_reason"] = record.end_reason
        return ClusterSessionHost(
            self.store, record.session_id, self.client, record.url, descriptor, owner=record.owner or None
        )

    async def start_session(self, request: SessionRequest) -> ClusterSessionHost:
        model, version, owner = request.model, request.version, request.owner
        if self.shutting_down:
            raise SessionBusyError("the coordinator is shutting down")
        if model is None:
            raise UnknownModelError("the cluster needs a model name")
        session_id = request.session_id or str(uuid.uuid4())
        placement = await self.store.place(
            session_id, model, version, owner, self.settings.max_sessions_per_key
        )
        if placement.outcome == "no_model":
            wanted = f"{model} version {version}" if version else model
            raise UnknownModelError(f"no worker serves model {wanted!r}")
        if placement.outcome == "key_limit":
            raise SessionLimitError(
                f"this API key already holds {self.settings.max_sessions_per_key} concurrent session(s)"
            )
        if placement.outcome != "ok":
            raise SessionBusyError("every worker serving this model is busy")
        try:
            descriptor = await rpc.start_session(
                self.client,
                placement.url,
                replace(request, session_id=session_id),
                who=f"worker {placement.worker_id}",
                timeout=CALL_TIMEOUT_S,
            )
        except SessionBusyError:
            await self.store.release(session_id, EndReason.WORKER_LOST)
            raise
        await self.store.mark_live(session_id, descriptor)
        log.info("session %s placed on worker %s", session_id, placement.worker_id)
        return ClusterSessionHost(
            self.store,
            session_id,
            self.client,
            placement.url,
            {**descriptor, "cluster": placement.worker_id},
            owner=owner,
        )

    async def get(self, session_id: str) -> ClusterSessionHost | None:
        record = await self.store.session(session_id)
        if record is None:
            return None
        if record.state != "closed" and not await self.store.worker_alive(record.worker_id):
            await self.store.reap()
            record = await self.store.session(session_id) or record
        return self._host(record)

    async def host_of_upload(self, upload_id: str) -> ClusterSessionHost | None:
        session_id = await self.store.session_of_upload(upload_id)
        host = None if session_id is None else await self.get(session_id)
        return None if host is None or host.closed else host

    async def stop_session(self, host: SessionHost, reason: str) -> None:
        await host.stop(reason)
        await self.store.release(host.session_id, reason)

    @property
    def running(self) -> SessionHost | None:
        return None  # no local plane on a coordinator

    async def schema(self) -> dict[str, Any]:
        raise UnknownModelError("a coordinator serves the models of its workers, not one of its own")

    async def health(self) -> tuple[int, dict[str, Any]]:
        try:
            workers = await self.store.workers()
        except (RedisError, OSError) as exc:
            return 503, {"status": "unhealthy", "detail": f"redis: {exc}"}
        alive = [w for w in workers if w["alive"]]
        return 200, {
            "status": "healthy",
            "state": "serving",
            "detail": None,
            "workers": workers,
            "capacity": sum(w["capacity"] for w in alive if not w["draining"]),
            "sessions": sum(w["sessions"] for w in alive),
        }

    async def metrics_sources(self) -> list[tuple[str, str]] | None:
        return None  # each worker node serves its own

    async def debug_status(self) -> DebugStatus:
        return DebugStatus(sessions=0, upload_files=0)  # sessions and uploads live on the worker nodes

    async def shutdown(self, reason: str) -> None:
        """Sessions live on the workers and outlive a coordinator: nothing to end here."""
        self.shutting_down = True
        if self._reaper is not None:
            self._reaper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reaper
        await self.client.aclose()


async def handle_redis_error(request: Request, exc: Exception) -> Response:
    log.warning("redis unavailable: %s", exc)
    return JSONResponse(
        {"detail": "the cluster's state store is unavailable; retry shortly"},
        status_code=503,
        headers={"Retry-After": str(REDIS_RETRY_AFTER_S)},
    )


def create_coordinator_app(settings: Settings) -> Starlette:
    if not settings.redis_url:
        raise ValueError("a coordinator needs redis_url")

    @contextlib.asynccontextmanager
    async def backend(metrics: ServerMetrics) -> AsyncIterator[Backend]:
        store = ClusterStore(str(settings.redis_url), settings.cluster_prefix)
        try:
            secret = (
                settings.cluster_secret.encode()
                if settings.cluster_secret
                else await store.shared_secret(CLUSTER_SECRET_NAME)
            )
            registry = ClusterRegistry(store, settings, secret)
            auth = CloudAuth(
                RedisKeyLookup(store.redis, settings.cluster_prefix),
                TokenIssuer(await store.shared_secret(JWT_SECRET_NAME)),
                RateLimiter(settings.token_rate_per_minute),
            )
            registry.start()
            log.info("coordinator on redis %s (prefix %r)", settings.redis_url, settings.cluster_prefix)
            yield Backend(registry, auth)
        finally:
            await store.aclose()

    planes = [Plane.HEALTH, Plane.CLOUD, Plane.SIGNALLING, Plane.UPLOADS, Plane.OPENAPI]
    return create_app(
        settings,
        backend,
        [*planes, *([Plane.METRICS] if settings.metrics else [])],
        extra_exception_handlers={RedisError: handle_redis_error},
    )
