"""Real cluster processes on loopback for the scale-out tests.

``Cluster`` starts a ``redis-server`` (no persistence: a restart comes back empty, the worst
case), worker nodes (``openreactor worker``) and coordinators (``openreactor coordinator``),
each a process of its own with its log in the test's tmp dir. Keys are made in Redis with
``openreactor keys --redis``. Everything binds 127.0.0.1 and is stopped at teardown.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from support.paths import REPO
from support.processes import die_with_parent
from support.servers import free_port, server_env, skip_unless_ci
from support.waiting import wait_until

HOST = "127.0.0.1"
API = {"Reactor-API-Version": "1", "Reactor-API-Accept-Version": "1"}
SESSION_BODY = {"model": {"name": "probe"}, "client_info": {"sdk_type": "python", "sdk_version": "test"}}
STARTING = (httpx.HTTPError, OSError)
"""What a process that is still starting (or restarting) answers: ``wait_until(..., ignoring=STARTING)``."""


@dataclass
class Proc:
    name: str
    process: subprocess.Popen[bytes]
    log_path: Path
    url: str = ""

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill_machine(self) -> None:
        """SIGKILL the process and every process it started: nothing gets to say goodbye."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return int(self.process.returncode)


@dataclass
class Cluster:
    tmp: Path
    redis_port: int = 0
    redis: Proc | None = None
    workers: dict[str, Proc] = field(default_factory=dict)
    coordinators: list[Proc] = field(default_factory=list)

    @property
    def redis_url(self) -> str:
        return f"redis://{HOST}:{self.redis_port}/0"

    def _spawn(self, name: str, args: list[str], url: str = "") -> Proc:
        log_path = self.tmp / f"{name}.log"
        with open(log_path, "wb") as out:
            # A session (process group) of its own: a test can kill a node with all its worker
            # processes at once, as when its machine dies.
            process = subprocess.Popen(
                die_with_parent(args),
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=REPO,
                env=server_env(),
                start_new_session=True,
            )
        return Proc(name, process, log_path, url)

    def start_redis(self, *, persistent: bool = False) -> None:
        """``persistent``: an append-only file synced on every write (how a cluster's Redis should
        run: API keys and secrets live there); else nothing survives a restart."""
        if shutil.which("redis-server") is None:
            skip_unless_ci("redis-server is not installed (apt-get install redis-server)")
        self.redis_port = self.redis_port or free_port(HOST)
        args = ["redis-server", "--port", str(self.redis_port), "--bind", HOST, "--save", ""]
        if persistent:
            data = self.tmp / "redis-data"
            data.mkdir(exist_ok=True)
            args += ["--dir", str(data), "--appendonly", "yes", "--appendfsync", "always"]
        else:
            args += ["--appendonly", "no"]
        self.redis = self._spawn("redis", args)

        def up() -> bool:
            socket.create_connection((HOST, self.redis_port), timeout=1).close()
            return True

        wait_until(up, ignoring=STARTING, what="redis-server")

    def start_worker(
        self, worker_id: str, *, workers: int = 1, model: str = "probe", extra: list[str] | None = None
    ) -> Proc:
        port = free_port(HOST)
        args = [
            sys.executable, "-m", "openreactor", "worker", "--redis", self.redis_url, "--worker-id", worker_id,
            "--model", model, "--width", "640", "--height", "360", "--fps", "10",
            "--host", HOST, "--port", str(port), "--ice-host", HOST, "--workers", str(workers),
            "--heartbeat", "0.5", "--worker-ttl", "2", *(extra or []),
        ]  # fmt: skip
        proc = self._spawn(f"worker-{worker_id}", args, f"http://{HOST}:{port}")
        self.workers[worker_id] = proc
        return proc

    def start_coordinator(self, extra: list[str] | None = None) -> Proc:
        port = free_port(HOST)
        args = [
            sys.executable, "-m", "openreactor", "coordinator", "--redis", self.redis_url,
            "--host", HOST, "--port", str(port), "--heartbeat", "0.5", "--worker-ttl", "2",
            "--log-level", "info", *(extra or []),
        ]  # fmt: skip
        proc = self._spawn(f"coordinator-{len(self.coordinators)}", args, f"http://{HOST}:{port}")
        self.coordinators.append(proc)
        wait_until(
            lambda: httpx.get(f"{proc.url}/health", timeout=1).status_code == 200,
            timeout=60,
            interval=0.1,
            ignoring=STARTING,
            what="the coordinator's /health",
        )
        return proc

    def health(self, coordinator: int = 0) -> dict[str, Any]:
        body: dict[str, Any] = httpx.get(f"{self.coordinators[coordinator].url}/health", timeout=5).json()
        return body

    def wait_workers(self, *worker_ids: str, timeout: float = 90) -> None:
        """Until every named worker node is announced and alive (its processes loaded the model)."""

        def ready() -> bool:
            for wid, proc in self.workers.items():
                if wid in worker_ids and proc.process.poll() is not None:
                    raise AssertionError(f"worker {wid} exited:\n{proc.log()}")
            alive = {w["worker_id"] for w in self.health()["workers"] if w["alive"] and not w["draining"]}
            return set(worker_ids) <= alive

        wait_until(ready, timeout=timeout, interval=0.25, ignoring=STARTING, what=f"workers {worker_ids}")

    def create_key(self, name: str = "test") -> tuple[str, str]:
        out = subprocess.run(
            [sys.executable, "-m", "openreactor", "keys", "--redis", self.redis_url, "create", "--name", name],
            check=True, capture_output=True, text=True, cwd=REPO,
        ).stdout.split()  # fmt: skip
        return out[0], out[1]

    def revoke_key(self, key_id: str) -> None:
        subprocess.run(
            [sys.executable, "-m", "openreactor", "keys", "--redis", self.redis_url, "revoke", key_id],
            check=True, capture_output=True, cwd=REPO,
        )  # fmt: skip

    def stop(self) -> None:
        for proc in [*self.coordinators, *self.workers.values()]:
            proc.stop(timeout=40)
        if self.redis is not None:
            self.redis.stop()

    def logs(self) -> str:
        procs = [*self.coordinators, *self.workers.values()]
        return "\n".join(f"--- {p.name} ---\n{p.log()[-3000:]}" for p in procs)


def token(url: str, key: str, body: Any = None) -> str:
    r = httpx.post(f"{url}/tokens", headers={"Reactor-API-Key": key}, json=body, timeout=10)
    assert r.status_code == 200, r.text
    jwt: str = r.json()["jwt"]
    return jwt


def bearer(jwt: str) -> dict[str, str]:
    return {**API, "Authorization": f"Bearer {jwt}"}
