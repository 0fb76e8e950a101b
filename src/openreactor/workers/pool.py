"""``WorkerRegistry``: the many-session registry of ``serve --workers N``.

N worker processes are spawned up front (``python -m openreactor worker-process``), each loading
the model once. A new session goes to a free worker; with none free, or when the caller's API key
already holds ``max_sessions_per_key`` sessions, ``start_session`` raises ``SessionBusyError``
(the routes answer 429 with ``Retry-After``). A worker whose process exits ends its session
(state ``closed``, reason ``model_error``) and is replaced; the other sessions stream on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import httpx

from openreactor.metrics import ServerMetrics
from openreactor.models.api import Model
from openreactor.registry import ENDED_SESSIONS_KEPT, check_model, serving_health
from openreactor.session_host import (
    DebugStatus,
    SessionBusyError,
    SessionHost,
    SessionLimitError,
    SessionRequest,
    WorkerUnavailableError,
)
from openreactor.sessions.session import EndReason
from openreactor.settings import Settings
from openreactor.workers import rpc
from openreactor.workers.remote import RemoteSessionHost
from openreactor.workers.settings_codec import dump_settings

log = logging.getLogger(__name__)

DEFAULT_MAX_SESSION_DURATION_S = 1200.0
"""With workers (the cloud plane on one machine), no session lives longer than this unless set."""
WORKER_START_TIMEOUT_S = 60.0
WORKER_CALL_TIMEOUT_S = 10.0
STOP_GRACE_S = 10.0


class Worker:
    """One worker process and the session it hosts, if any."""

    def __init__(self, index: int, socket_path: str) -> None:
        self.index = index
        self.socket_path = socket_path
        self.process: asyncio.subprocess.Process | None = None
        self.ready = False
        self.host: RemoteSessionHost | None = None
        self.client: httpx.AsyncClient | None = None
        self.started_at = time.time()
        self.sessions_served = 0

    @property
    def pid(self) -> int | None:
        return None if self.process is None else self.process.pid

    @property
    def free(self) -> bool:
        alive = self.process is not None and self.process.returncode is None
        return alive and self.ready and (self.host is None or self.host.closed)

    def status(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "pid": self.pid,
            "ready": self.ready,
            "alive": self.process is not None and self.process.returncode is None,
            "session_id": self.host.session_id if self.host is not None and not self.host.closed else None,
            "sessions_served": self.sessions_served,
        }


class WorkerRegistry:
    """Sessions on a pool of worker processes (a ``SessionRegistry``, as ``LocalRegistry`` is)."""

    def __init__(
        self, model: type[Model], settings: Settings, *, metrics: ServerMetrics | None = None
    ) -> None:
        self.model = model
        """The model's class, for its name and version: only the worker processes load the model."""
        self._schema: dict[str, Any] | None = None
        self.settings = settings
        self.metrics = metrics
        self.shutting_down = False
        self.max_session_duration_s = settings.max_session_duration_s or DEFAULT_MAX_SESSION_DURATION_S
        self._dir = tempfile.mkdtemp(prefix="openreactor-workers-")
        self.workers = [Worker(i, os.path.join(self._dir, f"w{i}.sock")) for i in range(settings.workers)]
        self.sessions: dict[str, RemoteSessionHost] = {}
        self.ended: dict[str, RemoteSessionHost] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self.workers_replaced = 0
        self.on_session_ended: list[Callable[[RemoteSessionHost], None]] = []
        """Called once per session when it ends (a worker node tells the cluster)."""

    # -- worker processes ------------------------------------------------------------------------

    async def start(self) -> None:
        """Spawn every worker and wait until each has its model loaded and answers."""
        await asyncio.gather(*(self._spawn(w) for w in self.workers))

    async def _spawn(self, worker: Worker) -> None:
        worker.ready = False
        worker.host = None
        if worker.client is not None:
            await worker.client.aclose()
            worker.client = None
        worker.started_at = time.time()
        worker.process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "openreactor",
            "worker-process",
            "--socket",
            worker.socket_path,
            "--settings",
            dump_settings(self.settings),
        )
        self._spawn_task(self._supervise(worker, worker.process))
        deadline = time.monotonic() + WORKER_START_TIMEOUT_S
        transport = httpx.AsyncHTTPTransport(uds=worker.socket_path)
        async with httpx.AsyncClient(transport=transport, base_url="http://worker", timeout=2) as client:
            while worker.process.returncode is None:
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get("/health")).status_code == 200:
                        worker.ready = True
                        log.info("worker %d ready (pid %d)", worker.index, worker.process.pid)
                        return
                if time.monotonic() > deadline:
                    raise RuntimeError(f"worker {worker.index} did not start in {WORKER_START_TIMEOUT_S} s")
                await asyncio.sleep(0.05)
        raise RuntimeError(f"worker {worker.index} exited while starting ({worker.process.returncode})")

    async def _supervise(self, worker: Worker, process: asyncio.subprocess.Process) -> None:
        """When a worker process exits: its session is over; unless shutting down, start another."""
        code = await process.wait()
        if worker.process is not process:
            return
        worker.ready = False
        host = worker.host
        if host is not None and not host.closed:
            log.error(
                "worker %d (pid %d) exited (%s): session %s lost",
                worker.index,
                process.pid,
                code,
                host.session_id,
            )
            host.mark_closed(EndReason.MODEL_ERROR)
            self._retire(host)
        if self.shutting_down:
            return
        self.workers_replaced += 1
        log.warning("replacing worker %d", worker.index)
        try:
            await self._spawn(worker)
        except RuntimeError:
            log.exception("could not replace worker %d", worker.index)

    def _spawn_task(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- sessions -------------------------------------------------------------------------------

    @property
    def running(self) -> RemoteSessionHost | None:
        """The local-mode session (``/start_session``, no owner), if one runs: local routes see one."""
        for host in list(self.sessions.values()):
            if host.closed:
                self._retire(host)
            elif host.owner is None:
                return host
        return None

    def live_sessions(self) -> list[RemoteSessionHost]:
        return [h for h in self.sessions.values() if not h.closed]

    def _retire(self, host: RemoteSessionHost) -> None:
        if self.sessions.pop(host.session_id, None) is not None:
            for callback in self.on_session_ended:
                callback(host)
        self.ended[host.session_id] = host
        while len(self.ended) > ENDED_SESSIONS_KEPT:
            self.ended.pop(next(iter(self.ended)))

    async def start_session(self, request: SessionRequest) -> RemoteSessionHost:
        """A new session on a free worker; ``SessionBusyError`` when none is free or the key is at its limit."""
        owner = request.owner
        if self.shutting_down:
            raise SessionBusyError("cannot start session while shutting down")
        check_model(self.model, request.model, request.version)
        live = self.live_sessions()
        if owner is None and self.running is not None:
            raise SessionBusyError("cannot start session while a local session runs")
        limit = self.settings.max_sessions_per_key
        if owner is not None and limit is not None and sum(h.owner == owner for h in live) >= limit:
            raise SessionLimitError(f"this API key already holds {limit} concurrent session(s)")
        worker = next((w for w in self.workers if w.free), None)
        if worker is None or worker.pid is None:
            raise SessionBusyError(f"all {len(self.workers)} workers are busy")
        session_id = request.session_id or str(uuid.uuid4())
        duration = min(request.max_duration_s or self.max_session_duration_s, self.max_session_duration_s)
        # Claimed before the first await, so concurrent requests never pick the same worker.
        worker.host = placeholder = RemoteSessionHost(
            session_id, self._client_for(worker), "http://worker", {"state": "waiting"}, owner=owner
        )
        try:
            descriptor = await rpc.start_session(
                self._client_for(worker),
                "http://worker",
                replace(request, session_id=session_id, max_duration_s=duration),
                who=f"worker {worker.index}",
                timeout=WORKER_CALL_TIMEOUT_S,
            )
        except SessionBusyError:
            worker.host = None
            raise
        host = RemoteSessionHost(
            session_id,
            self._client_for(worker),
            "http://worker",
            descriptor,
            owner=owner,
            worker_pid=worker.pid,
        )
        host._duration_limit = duration
        if worker.host is placeholder:
            worker.host = host
        worker.sessions_served += 1
        self.sessions[session_id] = host
        self._spawn_task(self._watch(worker, host))
        return host

    def _client_for(self, worker: Worker) -> httpx.AsyncClient:
        if worker.client is None:
            worker.client = httpx.AsyncClient(transport=httpx.AsyncHTTPTransport(uds=worker.socket_path))
        return worker.client

    async def _watch(self, worker: Worker, host: RemoteSessionHost) -> None:
        reason = await host.watch()
        if reason is not None:
            host.mark_closed(reason)
            self._retire(host)
        # else: the worker went away; ``_supervise`` records the loss.

    async def get(self, session_id: str) -> RemoteSessionHost | None:
        host = self.sessions.get(session_id)
        if host is not None and host.closed:
            self._retire(host)
        return host or self.ended.get(session_id)

    async def host_of_upload(self, upload_id: str) -> RemoteSessionHost | None:
        """The live session whose worker issued ``upload_id`` (asked of each worker in turn)."""
        for worker in self.workers:
            host = worker.host
            if host is None or host.closed or host.worker_pid is None:
                continue
            with contextlib.suppress(httpx.HTTPError, ValueError):
                response = await self._client_for(worker).get(
                    f"http://worker/uploads/{upload_id}", timeout=WORKER_CALL_TIMEOUT_S
                )
                if response.json().get("result"):
                    return host
        return None

    async def schema(self) -> dict[str, Any]:
        """The model's OpenAPI document, as a worker process (which loaded the model) builds it."""
        if self._schema is None:
            for worker in self.workers:
                if not worker.ready:
                    continue
                with contextlib.suppress(httpx.HTTPError, ValueError):
                    response = await self._client_for(worker).get("http://worker/schema", timeout=5)
                    if response.status_code == 200:
                        self._schema = dict(response.json())
                        break
        if self._schema is None:
            raise WorkerUnavailableError("no worker process answered for the model's schema")
        return self._schema

    async def health(self) -> tuple[int, dict[str, Any]]:
        return serving_health(self.shutting_down, self.running)

    async def metrics_sources(self) -> list[tuple[str, str]] | None:
        return await self.worker_expositions()

    async def debug_status(self) -> DebugStatus:
        sessions = len(self.live_sessions())
        return DebugStatus(sessions, await self._count_upload_files(), workers=self.workers_status())

    async def worker_expositions(self) -> list[tuple[str, str]]:
        """Each ready worker's ``/metrics`` text, labelled with its index."""
        out = []
        for worker in self.workers:
            if not worker.ready:
                continue
            with contextlib.suppress(httpx.HTTPError):
                response = await self._client_for(worker).get("http://worker/metrics", timeout=2)
                if response.status_code == 200:
                    out.append((str(worker.index), response.text))
        return out

    async def _count_upload_files(self) -> int:
        """Files in every worker's upload folder (for leak checks)."""
        total = 0
        for worker in self.workers:
            if not worker.ready:
                continue
            with contextlib.suppress(httpx.HTTPError, ValueError):
                response = await self._client_for(worker).get("http://worker/health", timeout=2)
                total += int(response.json().get("upload_files", 0))
        return total

    def workers_status(self) -> dict[str, Any]:
        return {
            "workers": [w.status() for w in self.workers],
            "free": sum(w.free for w in self.workers),
            "replaced": self.workers_replaced,
            "max_session_duration_s": self.max_session_duration_s,
            "max_sessions_per_key": self.settings.max_sessions_per_key,
        }

    async def stop_session(self, host: SessionHost, reason: str) -> None:
        await host.stop(reason)

    async def shutdown(self, reason: str) -> None:
        """End every session (clients get ``session_ended``), then stop the workers."""
        self.shutting_down = True
        await asyncio.gather(*(h.stop(reason) for h in self.live_sessions()), return_exceptions=True)
        for worker in self.workers:
            if worker.process is not None and worker.process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    worker.process.send_signal(signal.SIGTERM)
        for worker in self.workers:
            if worker.process is None:
                continue
            try:
                await asyncio.wait_for(worker.process.wait(), STOP_GRACE_S)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    worker.process.kill()
                await worker.process.wait()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for worker in self.workers:
            if worker.client is not None:
                await worker.client.aclose()
        shutil.rmtree(self._dir, ignore_errors=True)

