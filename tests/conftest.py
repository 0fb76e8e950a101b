"""Shared fixtures: a real ``openreactor serve`` process on loopback, one per test."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
NETNS_RUN = SHARED / "tools" / "netns-run"


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
            [
                sys.executable,
                "-m",
                "openreactor",
                "keys",
                "--state-dir",
                str(self.state_dir),
                "create",
                "--name",
                name,
            ],
            check=True,
            capture_output=True,
            text=True,
            cwd=REPO,
        ).stdout.split()
        return out[0], out[1]

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def terminate(self, timeout: float = 15.0) -> int:
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


TEST_MODELS = REPO / "tests" / "models"
"""On the server's import path, so ``--model crashy_models:CrashOnCommand`` style paths load."""


def server_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(TEST_MODELS), env.get("PYTHONPATH")) if p)
    return env


def wait_healthy(server: ServerProcess, timeout: float = 30) -> None:
    """Until ``GET /health`` answers 200; fails with the server's log if it exits or takes too long."""
    deadline = time.monotonic() + timeout
    while True:
        if server.process.poll() is not None:
            raise AssertionError(f"server exited early ({server.process.returncode}):\n{server.log()}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{server.url}/health", timeout=1).status_code == 200:
                return
        if time.monotonic() > deadline:
            raise AssertionError(f"server not healthy in {timeout} s:\n{server.log()}")
        time.sleep(0.1)


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
    args = [
        sys.executable,
        "-m",
        "openreactor",
        "serve",
        "--model",
        model,
        "--host",
        host,
        "--port",
        str(port),
    ]
    for flag, value in (("--width", width), ("--height", height), ("--fps", fps), ("--ice-host", ice_host)):
        if value is not None:
            args += [flag, str(value)]
    state_dir = tmp_path / f"state-{port}"
    args += ["--state-dir", str(state_dir), *(extra or [])]
    log_path = tmp_path / f"server-{port}.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, cwd=REPO, env=server_env())
    server = ServerProcess(f"http://{host}:{port}", process, log_path, state_dir)
    try:
        wait_healthy(server)
        yield server
    finally:
        server.terminate()


@pytest.fixture
def probe_server(tmp_path: Path) -> Iterator[str]:
    """Base URL of a probe server at 640x360@30 on 127.0.0.1 (ICE on 127.0.0.1)."""
    with run_server(tmp_path, model="probe") as server:
        yield server.url


@pytest.fixture
def echo_server(tmp_path: Path) -> Iterator[str]:
    with run_server(tmp_path, model="echo", width=None, height=None, fps=None) as server:
        yield server.url


@pytest.fixture
def server_factory(tmp_path: Path) -> Iterator[object]:
    """``with server_factory(model=..., extra=[...]) as server:`` for tests that need options."""

    def factory(**kwargs: object) -> contextlib.AbstractContextManager[ServerProcess]:
        return run_server(tmp_path, **kwargs)  # type: ignore[arg-type]

    yield factory


def official_python() -> Path:
    """The interpreter of the venv holding the official ``reactor-sdk`` (never our own package)."""
    return Path(os.environ.get("OPENREACTOR_OFFICIAL_PYTHON", REPO / ".interop-venv" / "bin" / "python"))


def skip_unless_ci(reason: str) -> None:
    """Skip a test whose peer is missing on a developer machine; in CI (every peer installed) fail."""
    if os.environ.get("CI"):
        pytest.fail(f"CI must run this test: {reason}")
    pytest.skip(reason)
