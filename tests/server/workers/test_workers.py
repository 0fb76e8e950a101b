"""``serve --workers N``: concurrent sessions, each in its own worker process (real processes)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from support.servers import ServerFactory, ServerProcess
from support.waiting import eventually

pytestmark = pytest.mark.timeout(180)

V = {"Reactor-API-Version": "1", "Reactor-API-Accept-Version": "1"}
SESSION_BODY = {"model": {"name": "probe"}}


def mint(server: ServerProcess, key: str) -> str:
    r = httpx.post(f"{server.url}/tokens", headers={"Reactor-API-Key": key})
    assert r.status_code == 200, r.text
    return str(r.json()["jwt"])


def bearer(token: str) -> dict[str, str]:
    return {**V, "Authorization": f"Bearer {token}"}


def workers(server: ServerProcess) -> list[dict[str, Any]]:
    r = httpx.get(f"{server.url}/debug/workers")
    assert r.status_code == 200, r.text
    return list(r.json()["workers"])


def worker_of(server: ServerProcess, session_id: str) -> dict[str, Any]:
    return next(w for w in workers(server) if w["session_id"] == session_id)


@pytest.fixture
def pool(server_factory: ServerFactory) -> Iterator[ServerProcess]:
    with server_factory(extra=["--workers", "2", "--debug-endpoints"]) as server:
        yield server


def test_capacity_429_and_per_key_limit(server_factory: ServerFactory) -> None:
    with server_factory(
        extra=["--workers", "2", "--max-sessions-per-key", "1", "--debug-endpoints"]
    ) as server:
        _, key_a = server.create_key("a")
        _, key_b = server.create_key("b")
        _, key_c = server.create_key("c")
        ta, tb, tc = mint(server, key_a), mint(server, key_b), mint(server, key_c)
        first = httpx.post(f"{server.url}/sessions", headers=bearer(ta), json=SESSION_BODY)
        assert first.status_code == 201, first.text
        again = httpx.post(f"{server.url}/sessions", headers=bearer(ta), json=SESSION_BODY)
        assert again.status_code == 429 and int(again.headers["retry-after"]) > 0
        second = httpx.post(f"{server.url}/sessions", headers=bearer(tb), json=SESSION_BODY)
        assert second.status_code == 201, second.text
        full = httpx.post(f"{server.url}/sessions", headers=bearer(tc), json=SESSION_BODY)
        assert full.status_code == 429 and int(full.headers["retry-after"]) > 0
        pids = {w["pid"] for w in workers(server)}
        assert len(pids) == 2 and os.getpid() not in pids
        # Ending one frees its worker for the next session (no model load).
        sid = first.json()["session_id"]
        assert httpx.delete(f"{server.url}/sessions/{sid}", headers=bearer(ta)).status_code == 204
        assert httpx.get(f"{server.url}/sessions/{sid}", headers=bearer(ta)).json()["state"] == "CLOSED"
        third = httpx.post(f"{server.url}/sessions", headers=bearer(tc), json=SESSION_BODY)
        assert third.status_code == 201, third.text
        assert {w["pid"] for w in workers(server)} == pids


async def test_two_sdk_sessions_stream_and_a_killed_worker_ends_only_its_own(pool: ServerProcess) -> None:
    from openreactor.models.builtin.probe_pattern import decode_probe
    from reactor_sdk import Reactor, ReactorError

    _, key = pool.create_key()
    codes: list[list[Any]] = [[], []]
    errors: list[list[ReactorError]] = [[], []]
    clients = [
        Reactor("probe", api_key=key, api_url=pool.url, ice_host_addresses=["127.0.0.1"]) for _ in range(2)
    ]
    for i, reactor in enumerate(clients):
        reactor.on_frame(lambda frame, i=i: codes[i].append(decode_probe(frame)))
        reactor.on_error(errors[i].append)
    try:
        await asyncio.gather(*(c.connect() for c in clients))
        sids = [c.session_id for c in clients]
        assert sids[0] != sids[1] and None not in sids
        await clients[0].send_command("set_value", {"value": 11})
        await clients[1].send_command("set_value", {"value": 22})

        def shows(i: int, value: int) -> Callable[[], bool]:
            return lambda: any(c is not None and c.value == value for c in codes[i])

        for i, value in enumerate((11, 22)):
            await eventually(shows(i, value), what=f"client {i} frames showing {value}")
        # One scrape of the front sees both worker processes' sessions, labelled by worker.
        exposition = httpx.get(f"{pool.url}/metrics").text
        started = {
            line.split('worker="')[1].split('"')[0]: float(line.rsplit(" ", 1)[1])
            for line in exposition.splitlines()
            if line.startswith("openreactor_sessions_started_total{")
        }
        assert started == {"front": 0.0, "0": 1.0, "1": 1.0}, started
        first_frames = sum(
            float(line.rsplit(" ", 1)[1])
            for line in exposition.splitlines()
            if line.startswith("openreactor_time_to_first_frame_seconds_count{")
        )
        assert first_frames >= 2, exposition
        token = mint(pool, key)
        busy = httpx.post(f"{pool.url}/sessions", headers=bearer(token), json=SESSION_BODY)
        assert busy.status_code == 429 and int(busy.headers["retry-after"]) > 0

        victim = worker_of(pool, str(sids[0]))
        os.kill(victim["pid"], signal.SIGKILL)
        await eventually(
            lambda: (
                httpx.get(f"{pool.url}/sessions/{sids[0]}", headers=bearer(token)).json()["state"] == "CLOSED"
            ),
            what="the lost session closed",
        )
        lost = httpx.get(f"{pool.url}/sessions/{sids[0]}", headers=bearer(token)).json()
        assert lost["end_reason"] == "model_error"
        # The other session streams on.
        before = len(codes[1])
        await eventually(lambda: len(codes[1]) >= before + 10, what="frames on the surviving session")
        assert httpx.get(f"{pool.url}/sessions/{sids[1]}", headers=bearer(token)).json()["state"] != "CLOSED"
        assert not errors[1]
        # The client of the lost session learns it (its transport dies).
        # (aiortc notices through consent expiry, about 30 s after the kill)
        await eventually(lambda: errors[0], timeout=90, what="an error on the lost client")
        # A replacement worker takes new sessions.
        await eventually(
            lambda: sum(w["ready"] and w["session_id"] is None for w in workers(pool)) == 1,
            what="a replacement worker",
        )
        assert victim["pid"] not in {w["pid"] for w in workers(pool)}
        fresh = httpx.post(f"{pool.url}/sessions", headers=bearer(token), json=SESSION_BODY)
        assert fresh.status_code == 201, fresh.text
    finally:
        for c in clients:
            await c.disconnect()


async def test_a_model_crash_in_one_worker_leaves_the_other_session_streaming(server_factory: ServerFactory) -> None:
    from reactor_sdk import Reactor, ReactorError

    model = "crashy_models:CrashOnCommand"
    with server_factory(model=model, width=None, height=None, fps=None, extra=["--workers", "2"]) as server:
        _, key = server.create_key()
        frames = [0, 0]
        errors: list[list[ReactorError]] = [[], []]
        clients = [
            Reactor("crashy", api_key=key, api_url=server.url, ice_host_addresses=["127.0.0.1"])
            for _ in range(2)
        ]
        for i, reactor in enumerate(clients):

            def count(frame: Any, i: int = i) -> None:
                frames[i] += 1

            reactor.on_frame(count)
            reactor.on_error(errors[i].append)
        try:
            await asyncio.gather(*(c.connect() for c in clients))
            sids = [c.session_id for c in clients]
            await eventually(lambda: min(frames) >= 5, what="frames on both sessions")
            with contextlib.suppress(ReactorError):  # the crash may beat the reply
                await clients[0].send_command("crash", {}, timeout=5)
            await eventually(lambda: bool(errors[0]), what="the crash reported to its client")
            token = mint(server, key)
            await eventually(
                lambda: (
                    httpx.get(f"{server.url}/sessions/{sids[0]}", headers=bearer(token)).json()["state"]
                    == "CLOSED"
                ),
                what="the crashed session closed",
            )
            before = frames[1]
            await eventually(lambda: frames[1] >= before + 10, what="frames on the other session")
            assert not errors[1]
            # The crashed session's worker (model loaded, process alive) takes the next session.
            fresh = httpx.post(
                f"{server.url}/sessions", headers=bearer(token), json={"model": {"name": "crashy"}}
            )
            assert fresh.status_code == 201, fresh.text
        finally:
            for c in clients:
                await c.disconnect()
