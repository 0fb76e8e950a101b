"""The worker process: the model loaded once, one session at a time, served on a unix socket.

``python -m openreactor worker-process --socket PATH --settings JSON`` runs :func:`run_worker`. The
internal API mirrors the ``SessionHost`` methods one to one; refusals carry the name of the
exception the in-process host raised, so the front's ``RemoteSessionHost`` raises the same one.
Nothing here is reachable from outside the machine (a unix socket only the front knows).

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
import uuid
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
from openreactor.session_host import (
    ConnectionLimitError,
    InProcessSessionHost,
    SessionClosedError,
    UnknownConnectionError,
)
from openreactor.sessions.session import EndReason
from openreactor.sessions.uploads import UploadError, UploadSlot
from openreactor.settings import Settings
from openreactor.transport.peer import OfferError, TrackMapping
from reactor_rtc import set_host_addresses

log = logging.getLogger(__name__)

FORWARDED_ERRORS = (
    UnknownConnectionError,
    SessionClosedError,
    ConnectionLimitError,
    OfferError,
    UploadError,
)
"""Exceptions of the in-process host that travel to the front by class name."""

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


def _refusal(exc: Exception) -> Response:
    status = 409 if isinstance(exc, SessionClosedError | ConnectionLimitError) else 400
    message = exc.message if isinstance(exc, UploadError) else str(exc)
    return JSONResponse({"error": type(exc).__name__, "message": message}, status_code=status)


def slot_json(slot: UploadSlot) -> dict[str, Any]:
    return {
        "upload_id": slot.upload_id,
        "name": slot.name,
        "mime_type": slot.mime_type,
        "size": slot.size,
        "path": str(slot.path),
        "issued_at": slot.issued_at,
    }


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
    body = await request.json()
    if state.host is not None and not state.host.closed:
        return JSONResponse({"error": "Busy", "message": "this worker hosts a session"}, status_code=409)
    session_id = str(body.get("session_id") or uuid.uuid4())
    host = InProcessSessionHost(
        session_id,
        state.model,
        state.settings,
        uploads_dir=state.uploads_root / session_id,
        metrics=state.metrics,
    )
    host.start()
    if body.get("max_duration_s"):
        await host.limit_duration(float(body["max_duration_s"]))
    state.host = host
    state.exit_watch = asyncio.create_task(_exit_if_unfit(host))
    log.info("worker %d hosts session %s", os.getpid(), session_id)
    return JSONResponse(await host.describe(), status_code=201)


async def call(request: Request) -> Response:
    """``POST /sessions/{sid}/{method}``: one ``SessionHost`` call, arguments in the JSON body."""
    state = _state(request)
    method = request.path_params["method"]
    body: dict[str, Any] = await request.json() if method != "receive_upload" else {}
    try:
        host = state.live(request.path_params["session_id"])
        result: Any = None
        if method == "describe":
            result = await host.describe()
        elif method == "create_connection":
            cid, track_map = await host.create_connection()
            result = {"connection_id": cid, "track_map": track_map}
        elif method == "offer":
            mapping = [TrackMapping(**m) for m in body.get("mapping", [])]
            result = await host.offer(
                int(body["connection_id"]),
                str(body["sdp"]),
                mapping,
                create=bool(body.get("create")),
                wire=body.get("wire"),
            )
        elif method == "answer":
            result = await host.answer(int(body["connection_id"]))
        elif method == "add_candidates":
            await host.add_candidates(int(body["connection_id"]), list(body["candidates"]))
        elif method == "create_upload":
            result = slot_json(await host.create_upload(body["name"], int(body["size"]), body["mime_type"]))
        elif method == "limit_duration":
            await host.limit_duration(float(body["seconds"]))
        elif method == "stop":
            await host.stop(str(body.get("reason") or EndReason.CLIENT_ENDED))
        elif method == "wait_closed":
            await host.wait_closed()
            result = host.session.end_reason
        else:
            return JSONResponse({"error": "NoSuchMethod", "message": method}, status_code=404)
    except FORWARDED_ERRORS as exc:
        return _refusal(exc)
    return JSONResponse({"result": result})


async def upload_bytes(request: Request) -> Response:
    state = _state(request)
    upload_id = request.path_params["upload_id"]
    host = state.host
    if request.method == "GET":
        return JSONResponse({"result": host is not None and host.has_upload(upload_id)})
    raw = request.headers.get("x-declared-length")
    try:
        if host is None:
            raise SessionClosedError("no session on this worker")
        slot = await host.receive_upload(upload_id, request.stream(), int(raw) if raw else None)
    except FORWARDED_ERRORS as exc:
        return _refusal(exc)
    return JSONResponse({"result": slot_json(slot)})


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
            Route("/health", health, methods=["GET"]),
            Route("/metrics", metrics, methods=["GET"]),
            Route("/schema", schema, methods=["GET"]),
            Route("/sessions", start, methods=["POST"]),
            Route("/sessions/{session_id}/{method}", call, methods=["POST"]),
            Route("/uploads/{upload_id}", upload_bytes, methods=["GET", "PUT"]),
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
