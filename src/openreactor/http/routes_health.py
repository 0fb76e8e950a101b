"""``GET /health``: the registry's own account (a session running, workers and Redis reachable)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from openreactor.http.access import registry_of


async def health(request: Request) -> Response:
    status, body = await registry_of(request).health()
    return JSONResponse(body, status_code=status)


routes = [Route("/health", health, methods=["GET"])]
