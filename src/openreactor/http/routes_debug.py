"""``GET /debug/resources`` (only with ``serve --debug-endpoints``): counts that leak tests compare."""

from __future__ import annotations

import asyncio
import os
import threading

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from openreactor.http.access import local_registry_of
from openreactor.transport.peer import open_peer_connections
from openreactor.workers.pool import WorkerRegistry

EXECUTOR_THREAD_PREFIX = "asyncio_"
"""Names of the event loop's default executor threads; that pool keeps its threads once started."""


def _open_fds() -> int:
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:
        return -1


async def resources(request: Request) -> Response:
    registry = local_registry_of(request)
    threads = threading.enumerate()
    return JSONResponse(
        {
            "asyncio_tasks": len(asyncio.all_tasks()),
            "threads": len(threads),
            "executor_threads": sum(1 for t in threads if t.name.startswith(EXECUTOR_THREAD_PREFIX)),
            "peer_connections": open_peer_connections(),
            "sessions": (
                len(registry.live_sessions())
                if isinstance(registry, WorkerRegistry)
                else (0 if registry.running is None else 1)
            ),
            "upload_files": await registry.count_upload_files(),
            "open_fds": _open_fds(),
        }
    )


async def workers(request: Request) -> Response:
    """``serve --workers N``: each worker process (pid, session) and the pool's limits."""
    registry = local_registry_of(request)
    if not isinstance(registry, WorkerRegistry):
        return JSONResponse({"workers": []})
    return JSONResponse(registry.workers_status())


routes = [Route("/debug/resources", resources, methods=["GET"])]
worker_routes = [Route("/debug/workers", workers, methods=["GET"])]
