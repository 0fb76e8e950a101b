"""Local-mode control plane (PROTOCOL.md §2.5): one model, at most one session."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from openreactor.http.access import authorize_session, registry_of
from openreactor.http.bodies import StartSession, StopSession, read_body
from openreactor.http.errors import ApiError
from openreactor.http.request_parsing import check_api_version
from openreactor.session_host import SessionRequest
from openreactor.sessions.session import EndReason


async def start_session(request: Request) -> Response:
    check_api_version(request)
    await read_body(request, StartSession)
    host = await registry_of(request).start_session(SessionRequest())
    return JSONResponse(await host.describe())


async def get_session(request: Request) -> Response:
    check_api_version(request)
    host = registry_of(request).running
    if host is None:
        raise ApiError(404, "No session running")
    await authorize_session(request, host)
    return JSONResponse(await host.describe())


async def stop_session(request: Request) -> Response:
    check_api_version(request)
    body = await read_body(request, StopSession)
    host = registry_of(request).running
    if host is None:
        raise ApiError(409, "no session is running")
    await authorize_session(request, host)
    await host.stop(body.reason or EndReason.CLIENT_ENDED)
    return JSONResponse({"session_id": host.session_id, "state": "closed"})


async def schema(request: Request) -> Response:
    return JSONResponse(await registry_of(request).schema())


routes = [
    Route("/start_session", start_session, methods=["POST"]),
    Route("/session", get_session, methods=["GET"]),
    Route("/stop_session", stop_session, methods=["POST"]),
    Route("/schema", schema, methods=["GET"]),
]
