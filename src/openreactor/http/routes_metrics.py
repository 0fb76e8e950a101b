"""``GET /metrics``: the server's Prometheus metrics (``openreactor.metrics``), text format."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from openreactor.http.access import registry_of
from openreactor.metrics import CONTENT_TYPE_LATEST, ServerMetrics
from openreactor.metrics_merge import merge_expositions


async def metrics(request: Request) -> Response:
    """This process's metrics; with worker processes, theirs too (each sample labelled ``worker``)."""
    server_metrics: ServerMetrics = request.app.state.metrics
    others = await registry_of(request).metrics_sources()
    if others is not None:
        sources = [("front", server_metrics.render().decode()), *others]
        return Response(merge_expositions(sources), media_type=CONTENT_TYPE_LATEST)
    return Response(server_metrics.render(), media_type=CONTENT_TYPE_LATEST)


routes = [Route("/metrics", metrics, methods=["GET"])]
