"""Real ``openreactor serve`` processes on loopback, as the tests start them."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import httpx
import pytest

from support.paths import REPO, TEST_MODELS
from support.processes import die_with_parent
from support.waiting import wait_until


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


@dataclass
class ServerProcess:
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path
    state_dir: Path

    def create_key(self, name: str = "test") -> tuple[str, str]:
        """``openreactor keys create`` against this server's state dir: (key id, plain key)."""
        out = subprocess.run(
            [sys.executable, "-m", "openreactor", "keys", "--state-dir", str(self.state_dir),
             "create", "--name", name],
            check=True, capture_output=True, text=True, cwd=REPO,
        ).stdout.split()  # fmt: skip
        return out[0], out[1]

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def terminate(self, timeout: float = 30.0) -> int:
        """SIGTERM and wait; returns the exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError(
                f"server did not exit within {timeout} s of SIGTERM:\n{self.log()}"
            ) from None


def server_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(TEST_MODELS), env.get("PYTHONPATH")) if p)
    return env


def wait_healthy(server: ServerProcess, timeout: float = 60) -> None:
    """Until ``GET /health`` answers 200; fails with the server's log if it exits or takes too long."""

    def healthy() -> bool:
        if server.process.poll() is not None:
            raise AssertionError(f"server exited early ({server.process.returncode}):\n{server.log()}")
        return httpx.get(f"{server.url}/health", timeout=5).status_code == 200

    try:
        wait_until(healthy, timeout=timeout, interval=0.1, ignoring=(httpx.HTTPError,), what="GET /health")
    except AssertionError as exc:
        raise AssertionError(f"{exc}:\n{server.log()}") from None


@contextlib.contextmanager
def run_server(
    tmp_path: Path,
    *,
    model: str = "probe",
    width: int | None = 640,
    height: int | None = 360,
    fps: float | None = 30,
    host: str = "127.0.0.1",
    ice_host: str | None = "127.0.0.1",
    extra: list[str] | None = None,
) -> Iterator[ServerProcess]:
    """Start ``python -m openreactor serve`` on a free port; SIGTERM it afterwards."""
    port = free_port(host)
    args = [sys.executable, "-m", "openreactor", "serve", "--model", model, "--host", host, "--port", str(port)]
    for flag, value in (("--width", width), ("--height", height), ("--fps", fps), ("--ice-host", ice_host)):
        if value is not None:
            args += [flag, str(value)]
    state_dir = tmp_path / f"state-{port}"
    args += ["--state-dir", str(state_dir), *(extra or [])]
    log_path = tmp_path / f"server-{port}.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            die_with_parent(args), stdout=log, stderr=subprocess.STDOUT, cwd=REPO, env=server_env()
        )
    server = ServerProcess(f"http://{host}:{port}", process, log_path, state_dir)
    try:
        wait_healthy(server)
        yield server
    finally:
        server.terminate()


class ServerFactory(Protocol):
    """The ``server_factory`` fixture: ``with server_factory(model=..., extra=[...]) as server:``."""

    def __call__(
        self,
        *,
        model: str = ...,
        width: int | None = ...,
        height: int | None = ...,
        fps: float | None = ...,
        host: str = ...,
        ice_host: str | None = ...,
        extra: list[str] | None = ...,
    ) -> contextlib.AbstractContextManager[ServerProcess]: ...


def skip_unless_ci(reason: str) -> None:
    """Skip a test whose peer is missing on a developer machine; in CI (every peer installed) fail."""
    if os.environ.get("CI"):
        pytest.fail(f"CI must run this test: {reason}")
    pytest.skip(reason)
