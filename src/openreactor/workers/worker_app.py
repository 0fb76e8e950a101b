"""The worker process: the model loaded once, one session at a time, served on a unix socket.

``python -m openreactor worker-process --socket PATH --settings JSON`` runs :func:`run_worker`. It
serves the internal API of ``rpc``: each ``SessionHost`` call is dispatched from ``rpc.METHODS``
to the ``InProcessSessionHost``; refusals carry the name of the exception the host raised, so the
front's ``RemoteSessionHost`` raises the same one. Nothing here is reachable from outside the
machine (a unix socket only the front knows).

A session that ends with ``model_timeout`` or ``memory_limit`` leaves this process unfit for the
next one (a model thread Python cannot kill, memory the model may still hold), so the worker then
exits and the pool starts a fresh one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from openreactor import process_memory
from openreactor.metrics import CONTENT_TYPE_LATEST, ServerMetrics
from openreactor.models.api import Model
from openreactor.models.loader import load_model
from openreactor.models.schema import openapi_document
from openreactor.session_host import InProcessSessionHost, SessionClosedError, SessionRequest
from openreactor.sessions.session import EndReason
from openreactor.settings import Settings
from openreactor.workers import rpc
from reactor_rtc import set_host_addresses

log = logging.getLogger(__name__)

UNFIT_AFTER = frozenset({EndReason.MODEL_TIMEOUT, EndReason.MEMORY_LIMIT})
"""End reasons after which this worker process exits rather than host another session."""
EXIT_GRACE_S = 0.2
"""Before exiting, time for the front's pending ``wait_closed`` call to get the end reason."""


class WorkerState:
    def __init__(self, model: Model, settings: Settings) -> None:
        self.model = model
        self.settings = settings
        self.host: InProcessSessionHost | None = None
        self.metrics = ServerMetrics()
        """This process's sessions' metrics; the front re-exposes them (``metrics_merge``)."""
        self.exit_watch: asyncio.Task[None] | None = None
        self._owns_uploads_root = settings.upload_dir is None
        self.uploads_root = settings.upload_dir or Path(
            tempfile.mkdtemp(prefix="openreactor-worker-uploads-")
        )

    def live(self, session_id: str) -> InProcessSessionHost:
        host = self.host
        if host is None or host.session_id != session_id:
            raise SessionClosedError(f"session {session_id} is not on this worker")
        return host

    async def shutdown(self) -> None:
        if self.host is not None and not self.host.closed:
            await self.host.stop(EndReason.SERVER_SHUTDOWN)
        if self._owns_uploads_root:
            shutil.rmtree(self.uploads_root, ignore_errors=True)


def _state(request: Request) -> WorkerState:
    state: WorkerState = request.app.state.worker
    return state


async def health(request: Request) -> Response:
    host = _state(request).host
    busy = host is not None and not host.closed
    files = sum(len(names) for _, _, names in os.walk(_state(request).uploads_root))
    return JSONResponse(
        {"pid": os.getpid(), "session_id": host.session_id if busy and host else None, "upload_files": files}
    )


async def schema(request: Request) -> Response:
    return JSONResponse(openapi_document(_state(request).model))


async def metrics(request: Request) -> Response:
    return Response(_state(request).metrics.render(), media_type=CONTENT_TYPE_LATEST)


async def start(request: Request) -> Response:
    state = _state(request)
    wanted = rpc.decode(SessionRequest, await request.json())
    if state.host is not None and not state.host.closed:
        return rpc.refused("Busy", "this worker hosts a session", 409)
    host = await InProcessSessionHost.open(
        wanted, state.model, state.settings, uploads_root=state.uploads_root, metrics=state.metrics
    )
    state.host = host
    state.exit_watch = asyncio.create_task(_exit_if_unfit(host))
    log.info("worker %d hosts session %s", os.getpid(), host.session_id)
    return JSONResponse(await host.describe(), status_code=201)


async def call(request: Request) -> Response:
    """``POST /sessions/{sid}/{method}``: one ``SessionHost`` call, its arguments in the JSON body."""
    method = rpc.METHODS.get(request.path_params["method"])
    if method is None:
        return rpc.refused("NoSuchMethod", request.path_params["method"], 404)
    args = method.decode_args(await request.json())
    try:
        result = await method.serve(_state(request).live(request.path_params["session_id"]), args)
    except rpc.FORWARDED as exc:
        return rpc.refusal(exc)
    return JSONResponse({"result": rpc.encode(result)})


async def upload_bytes(request: Request) -> Response:
    upload_id = request.path_params["upload_id"]
    host = _state(request).host
    if request.method == "GET":
        return JSONResponse({"result": host is not None and host.has_upload(upload_id)})
    raw = request.headers.get(rpc.DECLARED_LENGTH)
    try:
        if host is None:
            raise SessionClosedError("no session on this worker")
        slot = await host.receive_upload(upload_id, request.stream(), int(raw) if raw else None)
    except rpc.FORWARDED as exc:
        return rpc.refusal(exc)
    return JSONResponse({"result": rpc.encode(rpc.SlotRecord.of(slot))})


def create_worker_app(settings: Settings, model: Model | None = None) -> Starlette:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        set_host_addresses(settings.ice_host_addresses)
        loaded = model if model is not None else load_model(settings.model, settings.model_options())
        process_memory.set_baseline()  # the memory limit counts from here: model loaded, no session
        state = WorkerState(loaded, settings)
        app.state.worker = state
        try:
            yield
        finally:
            await state.shutdown()

    return Starlette(
        routes=[
            *rpc.routes(health=health, metrics=metrics, start=start, call=call, upload=upload_bytes),
            Route("/schema", schema, methods=["GET"]),
        ],
        lifespan=lifespan,
    )


async def _exit_if_unfit(host: InProcessSessionHost) -> None:
    await host.session.wait_closed()
    reason = host.session.end_reason
    # A session ended otherwise (say, stopped) while a model call hung also leaves a stuck thread.
    if reason not in UNFIT_AFTER and not host.session.runner.stuck:
        return
    log.warning("worker %d exits: session %s ended with %s", os.getpid(), host.session_id, reason)
    await asyncio.sleep(EXIT_GRACE_S)
    os.kill(os.getpid(), signal.SIGTERM)  # uvicorn's graceful shutdown, as when the pool stops us


def run_worker(socket_path: str, settings: Settings) -> int:
    """Serve the internal API on ``socket_path`` until SIGTERM (or the front goes away)."""
    import uvicorn

    from openreactor.logs import configure_logging

    log_config = configure_logging(settings.log_level, settings.log_format)
    signal.signal(signal.SIGTERM, lambda *_: None)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(socket_path)
    config = uvicorn.Config(
        create_worker_app(settings),
        uds=socket_path,
        log_level=settings.log_level.lower(),
        log_config=log_config,
        access_log=False,
        timeout_graceful_shutdown=5,
    )
    server = uvicorn.Server(config)

    async def serve() -> None:
        watchdog = asyncio.ensure_future(_exit_when_orphaned(server))
        try:
            await server.serve()
        finally:
            watchdog.cancel()

    asyncio.run(serve())
    return 0


async def _exit_when_orphaned(server: Any) -> None:
    """The front died without stopping us (SIGKILL): shut down rather than linger."""
    parent = os.getppid()
    while True:
        await asyncio.sleep(1.0)
        if os.getppid() != parent:
            server.should_exit = True
            return
