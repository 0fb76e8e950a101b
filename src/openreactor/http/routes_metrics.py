"""``GET /metrics``: the server's Prometheus metrics (``openreactor.metrics``), text format."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from openreactor.metrics import CONTENT_TYPE_LATEST, ServerMetrics


async def metrics(request: Request) -> Response:
    server_metrics: ServerMetrics = request.app.state.metrics
    return Response(server_metrics.render(), media_type=CONTENT_TYPE_LATEST)


routes = [Route("/metrics", metrics, methods=["GET"])]
