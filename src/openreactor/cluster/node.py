"""``openreactor worker``: one machine's pool of worker processes, announced to the cluster.

The node runs ``WorkerRegistry`` (N pre-spawned worker processes, each with the model loaded
once, one session at a time) and serves the internal API that coordinators call: ``POST
/sessions`` to start a session that a coordinator placed here, ``POST /sessions/{sid}/{method}``
(one ``SessionHost`` call, passed to the session's worker process as is) and the upload bytes.
Every call but ``/health`` needs ``Authorization: Bearer <cluster secret>``.

Every ``heartbeat_s`` the node writes its whole truth to Redis (address, models and versions,
capacity, live sessions) with a TTL: a restarted Redis is refilled by the next beat, and a node
that stops beating is reaped by the coordinators (its sessions end with ``worker_lost``). Media
never passes through here: clients reach the worker processes' ICE addresses directly.

SIGTERM drains: the node stops taking sessions (``draining``), lets the live ones run for up to
``drain_timeout_s``, ends the rest (``server_shutdown``, clients get ``session_ended``), leaves
the registry and exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import socket
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import httpx
from redis.exceptions import RedisError
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from openreactor.cluster.store import ClusterStore, LiveSession
from openreactor.metrics import CONTENT_TYPE_LATEST
from openreactor.metrics_merge import merge_expositions
from openreactor.models.api import Model
from openreactor.models.loader import resolve_model_class
from openreactor.session_host import SessionBusyError, SessionClosedError, SessionRequest, UnknownModelError
from openreactor.sessions.session import EndReason
from openreactor.sessions.uploads import UnknownUploadError
from openreactor.settings import Settings
from openreactor.workers import rpc
from openreactor.workers.pool import WorkerRegistry
from openreactor.workers.remote import RemoteSessionHost
from reactor_rtc import set_host_addresses

log = logging.getLogger(__name__)
logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per relayed call is noise

CLUSTER_SECRET_NAME = "cluster"
RELAY_TIMEOUT_S = 30.0
"""One call relayed to a worker process (a long poll: no limit)."""
OPEN_PATHS = frozenset({"/health", "/metrics"})
"""The internal API's paths that need no cluster secret."""


class WorkerNode:
    """The pool, its announcements to Redis, and the drain on SIGTERM."""

    def __init__(self, model: type[Model], settings: Settings, store: ClusterStore) -> None:
        if not settings.redis_url:
            raise ValueError("a worker node needs redis_url")
        self.settings = settings
        self.store = store
        self.model = model
        self.pool = WorkerRegistry(model, settings)
        self.worker_id = settings.worker_id or f"{socket.gethostname()}-{uuid.uuid4().hex[:8]}"
        self.url = (settings.advertise_url or f"http://{settings.host}:{settings.port}").rstrip("/")
        self.draining = False
        self.secret = b""
        self._pending_releases: dict[str, tuple[RemoteSessionHost, str]] = {}
        self._beat_task: asyncio.Task[None] | None = None
        self._release_tasks: set[asyncio.Task[None]] = set()
        self._redis_ok = True
        self.pool.on_session_ended.append(self._session_ended)

    async def start(self) -> None:
        self.secret = (
            self.settings.cluster_secret.encode()
            if self.settings.cluster_secret
            else await self.store.shared_secret(CLUSTER_SECRET_NAME)
        )
        await self.pool.start()
        await self.beat()
        self._beat_task = asyncio.ensure_future(self._beat_forever())
        log.info(
            "worker node %s at %s serves %s with %d workers",
            self.worker_id,
            self.url,
            self.model.name,
            len(self.pool.workers),
        )

    # -- Redis --------------------------------------------------------------------------------------

    def _live(self) -> list[LiveSession]:
        return [
            LiveSession(h.session_id, h.owner or "", h.model_name or self.model.name, h.descriptor)
            for h in self.pool.live_sessions()
        ]

    async def beat(self) -> None:
        """Release what ended, then announce; a Redis outage is logged once and retried next beat."""
        try:
            for session_id, (host, reason) in list(self._pending_releases.items()):
                await self.store.release(
                    session_id,
                    reason,
                    worker_id=self.worker_id,
                    url=self.url,
                    owner=host.owner or "",
                    model=host.model_name,
                    descriptor=host.descriptor,
                )
                self._pending_releases.pop(session_id, None)
            await self.store.announce(
                self.worker_id,
                self.url,
                [(self.model.name, self.model.version)],
                len(self.pool.workers),
                draining=self.draining or self.pool.shutting_down,
                ttl_s=self.settings.worker_ttl_s,
                sessions=self._live(),
            )
        except (RedisError, OSError) as exc:
            if self._redis_ok:
                log.warning(
                    "worker node %s cannot reach Redis (%s); retrying every beat", self.worker_id, exc
                )
            self._redis_ok = False
            return
        if not self._redis_ok:
            log.info("worker node %s re-announced to Redis", self.worker_id)
        self._redis_ok = True

    async def _beat_forever(self) -> None:
        while True:
            await asyncio.sleep(self.settings.heartbeat_s)
            await self.beat()

    def _session_ended(self, host: RemoteSessionHost) -> None:
        self._pending_releases[host.session_id] = (host, host.end_reason or EndReason.CLIENT_ENDED)
        if self._beat_task is not None:  # tell the cluster now, not at the next beat
            task = asyncio.ensure_future(self.beat())
            self._release_tasks.add(task)
            task.add_done_callback(self._release_tasks.discard)

    # -- drain and stop -----------------------------------------------------------------------------

    async def drain(self) -> None:
        """Stop taking sessions, let live ones run up to ``drain_timeout_s``, end the rest, leave."""
        self.draining = True
        await self.beat()
        log.info("worker node %s draining (%d live sessions)", self.worker_id, len(self.pool.live_sessions()))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.drain_timeout_s
        while self.pool.live_sessions() and loop.time() < deadline:
            await asyncio.sleep(0.2)
        await self.stop()

    async def stop(self) -> None:
        if self._beat_task is not None:
            self._beat_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._beat_task
            self._beat_task = None
        self.draining = True
        await self.pool.shutdown(EndReason.SERVER_SHUTDOWN)
        with contextlib.suppress(RedisError, OSError):
            await self.beat()  # the releases of the sessions just ended
            await self.store.leave(self.worker_id)
        log.info("worker node %s left the cluster", self.worker_id)


# -- the internal API -----------------------------------------------------------------------------


def _node(request: Request) -> WorkerNode:
    node: WorkerNode = request.app.state.node
    return node


class ClusterSecretAuth:
    """Every call of the internal API but ``OPEN_PATHS`` needs ``Authorization: Bearer <cluster
    secret>`` (compared in constant time); else 401."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] not in OPEN_PATHS:
            request = Request(scope)
            scheme, _, token = request.headers.get("authorization", "").partition(" ")
            secret = _node(request).secret
            if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), secret):
                await rpc.refused("Unauthorized", "bad cluster credentials", 401)(scope, receive, send)
                return
        await self.app(scope, receive, send)


async def health(request: Request) -> Response:
    node = _node(request)
    return JSONResponse(
        {
            "status": "draining" if node.draining else "healthy",
            "worker_id": node.worker_id,
            "model": {"name": node.model.name, "version": node.model.version},
            "capacity": len(node.pool.workers),
            "sessions": len(node.pool.live_sessions()),
        }
    )


async def metrics(request: Request) -> Response:
    """Every worker process's metrics in one scrape (labelled ``worker``); no secret, like /health."""
    expositions = await _node(request).pool.worker_expositions()
    return Response(merge_expositions(expositions), media_type=CONTENT_TYPE_LATEST)


async def start(request: Request) -> Response:
    node = _node(request)
    if node.draining:
        return rpc.refused("Busy", "this worker is draining", 409)
    placed = rpc.decode(SessionRequest, await request.json())
    try:
        host = await node.pool.start_session(replace(placed, owner=placed.owner or None))
    except UnknownModelError as exc:
        return rpc.refused("UnknownModel", str(exc), 404)
    except SessionBusyError as exc:
        return rpc.refused("Busy", str(exc), 409)
    await node.beat()
    return JSONResponse(host.descriptor, status_code=201)


async def call(request: Request) -> Response:
    """One ``SessionHost`` call, relayed to the session's worker process unread."""
    node = _node(request)
    session_id, method = request.path_params["session_id"], request.path_params["method"]
    host = await node.pool.get(session_id)
    if host is None or host.closed:
        reason = host.end_reason if host is not None else None
        return rpc.refusal(
            SessionClosedError(f"session {session_id} has ended ({reason or 'not on this worker'})", reason)
        )
    try:
        response = await host.forward(
            method, await request.body(), timeout=rpc.timeout_of(method, RELAY_TIMEOUT_S)
        )
    except httpx.HTTPError:
        return rpc.refusal(SessionClosedError(f"the worker process of session {session_id} did not answer"))
    return Response(response.content, status_code=response.status_code, media_type="application/json")


async def upload_bytes(request: Request) -> Response:
    upload_id = request.path_params["upload_id"]
    host = await _node(request).pool.host_of_upload(upload_id)
    if request.method == "GET":
        return JSONResponse({"result": host is not None})
    if host is None:
        return rpc.refusal(UnknownUploadError(f"no upload {upload_id}"))
    raw = request.headers.get(rpc.DECLARED_LENGTH)
    try:
        slot = await host.receive_upload(upload_id, request.stream(), int(raw) if raw else None)
    except Exception as exc:  # the worker's typed refusal, passed on by name
        return rpc.refusal(exc)
    return JSONResponse({"result": rpc.encode(rpc.SlotRecord.of(slot))})


def create_node_app(settings: Settings, model: Model | None = None) -> Starlette:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if settings.ice_host_addresses is not None:
            set_host_addresses(settings.ice_host_addresses)
        # Only the worker processes load the model; the node needs its class (name, version).
        model_class = type(model) if model is not None else resolve_model_class(settings.model)
        store = ClusterStore(str(settings.redis_url), settings.cluster_prefix)
        node = WorkerNode(model_class, settings, store)
        app.state.node = node
        try:
            await node.start()
            yield
        finally:
            await node.stop()
            await store.aclose()

    return Starlette(
        routes=rpc.routes(health=health, metrics=metrics, start=start, call=call, upload=upload_bytes),
        middleware=[Middleware(ClusterSecretAuth)],
        lifespan=lifespan,
    )


def run_node(settings: Settings, log_config: dict[str, Any] | None = None) -> int:
    """Serve until SIGTERM/SIGINT; the first one drains (see module doc), a second one stops now."""
    import uvicorn

    app = create_node_app(settings)

    class DrainingServer(uvicorn.Server):
        draining_task: asyncio.Task[None] | None = None

        def handle_exit(self, sig: int, frame: Any) -> None:
            node: WorkerNode | None = getattr(app.state, "node", None)
            if node is None or self.draining_task is not None:
                super().handle_exit(sig, frame)
                return

            async def drain_then_exit() -> None:
                try:
                    await node.drain()
                finally:
                    self.should_exit = True

            self.draining_task = asyncio.get_event_loop().create_task(drain_then_exit())

    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        log_config=log_config,
        timeout_graceful_shutdown=5,
    )
    DrainingServer(config).run()
    return 0
