"""Shared fixtures: real ``openreactor serve`` processes on loopback (helpers in ``support/``)."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.servers import ServerFactory, run_server


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
def server_factory(tmp_path: Path) -> ServerFactory:
    """``with server_factory(model=..., extra=[...]) as server:`` for tests that need options."""
    return functools.partial(run_server, tmp_path)
