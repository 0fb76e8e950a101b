"""Local-mode control plane (PROTOCOL.md §2.5): one model, at most one session."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from openreactor.http.access import authorize_session, local_registry_of
from openreactor.http.errors import ApiError
from openreactor.http.request_parsing import check_api_version, json_object
from openreactor.models.schema import openapi_document
from openreactor.registry import SessionBusyError
from openreactor.sessions.session import EndReason
from openreactor.workers.pool import WorkerRegistry

MAX_REASON_CHARS = 64


async def health(request: Request) -> Response:
    registry = local_registry_of(request)
    state = "terminated" if registry.shutting_down else ("serving" if registry.running else "available")
    status = 503 if registry.shutting_down else 200
    return JSONResponse(
        {"status": "healthy" if status == 200 else "unhealthy", "state": state, "detail": None},
        status_code=status,
    )


async def start_session(request: Request) -> Response:
    check_api_version(request)
    body = await json_object(request)
    generation = body.get("generation", "streamed")
    if generation != "streamed":
        raise ApiError(400, f"generation {generation!r} is not supported by this server (only 'streamed')")
    try:
        host = await local_registry_of(request).start_session()
    except SessionBusyError as exc:
        raise ApiError(409, str(exc)) from exc
    return JSONResponse(await host.describe())


async def get_session(request: Request) -> Response:
    check_api_version(request)
    host = local_registry_of(request).running
    if host is None:
        raise ApiError(404, "No session running")
    await authorize_session(request, host)
    return JSONResponse(await host.describe())


async def stop_session(request: Request) -> Response:
    check_api_version(request)
    body = await json_object(request)
    reason = body.get("reason", EndReason.CLIENT_ENDED)
    if not isinstance(reason, str) or len(reason) > MAX_REASON_CHARS:
        raise ApiError(400, f"reason must be a string of at most {MAX_REASON_CHARS} characters")
    host = local_registry_of(request).running
    if host is None:
        raise ApiError(409, "no session is running")
    await authorize_session(request, host)
    await host.stop(reason or EndReason.CLIENT_ENDED)
    return JSONResponse({"session_id": host.session_id, "state": "closed"})


async def schema(request: Request) -> Response:
    registry = local_registry_of(request)
    if isinstance(registry, WorkerRegistry):
        try:
            return JSONResponse(await registry.schema())
        except SessionBusyError as exc:
            raise ApiError(503, str(exc), {"Retry-After": "1"}) from exc
    return JSONResponse(openapi_document(registry.model))


routes = [
    Route("/health", health, methods=["GET"]),
    Route("/start_session", start_session, methods=["POST"]),
    Route("/session", get_session, methods=["GET"]),
    Route("/stop_session", stop_session, methods=["POST"]),
    Route("/schema", schema, methods=["GET"]),
]
