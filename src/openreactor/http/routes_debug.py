"""``GET /debug/resources`` (only with ``serve --debug-endpoints``): counts that leak tests compare."""

from __future__ import annotations

import asyncio
import os
import threading

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from openreactor.http.access import registry_of
from openreactor.transport.peer import open_peer_connections

EXECUTOR_THREAD_PREFIX = "asyncio_"
"""Names of the event loop's default executor threads; that pool keeps its threads once started."""


def _open_fds() -> int:
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:
        return -1


async def resources(request: Request) -> Response:
    tasks = len(asyncio.all_tasks())
    threads = threading.enumerate()
    peers = open_peer_connections()
    status = await registry_of(request).debug_status()
    return JSONResponse(
        {
            "asyncio_tasks": tasks,
            "threads": len(threads),
            "executor_threads": sum(1 for t in threads if t.name.startswith(EXECUTOR_THREAD_PREFIX)),
            "peer_connections": peers,
            "sessions": status.sessions,
            "upload_files": status.upload_files,
            "open_fds": _open_fds(),
        }
    )


async def workers(request: Request) -> Response:
    """``serve --workers N``: each worker process (pid, session) and the pool's limits."""
    status = await registry_of(request).debug_status()
    return JSONResponse(status.workers if status.workers is not None else {"workers": []})


routes = [Route("/debug/resources", resources, methods=["GET"])]
worker_routes = [Route("/debug/workers", workers, methods=["GET"])]
