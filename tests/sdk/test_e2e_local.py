"""Local mode against the real server: the model name is checked at connect, a second client
joins the running session, and what the descriptor says about the server (``server_info``)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

import httpx
import numpy as np
import pytest

from openreactor.models.builtin.probe_pattern import decode_probe
from reactor_sdk import NotFoundError, Reactor, ReactorError, ReactorStatus, SessionTerminalError
from support.servers import ServerFactory

pytestmark = pytest.mark.timeout(90)



def client(url: str, model: str = "probe", **kw: Any) -> Reactor:
    return Reactor(model, api_url=url, local=True, ice_host_addresses=["127.0.0.1"], **kw)


class Counters:
    """Probe counters seen by a sync frame handler; ``wait_for_more`` wakes on new frames."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.lock = threading.Lock()
        self.counters: list[int] = []
        self.changed = asyncio.Event()

    def __call__(self, frame: np.ndarray) -> None:
        code = decode_probe(frame)
        if code is None:
            return
        with self.lock:
            self.counters.append(code.counter)
        self.loop.call_soon_threadsafe(self.changed.set)

    def count(self) -> int:
        with self.lock:
            return len(self.counters)

    async def wait_for_more(self, n: int, what: str, timeout: float = 15.0) -> None:
        """Until ``n`` more decodable frames than now have arrived (bounded; fails naming ``what``)."""
        target = self.count() + n
        try:
            async with asyncio.timeout(timeout):
                while self.count() < target:
                    self.changed.clear()
                    if self.count() >= target:
                        break
                    await self.changed.wait()
        except TimeoutError:
            raise AssertionError(f"timed out waiting for {what}") from None


async def until(
    predicate: Callable[[], bool], event: asyncio.Event, what: str, timeout: float = 15.0
) -> None:
    try:
        async with asyncio.timeout(timeout):
            while not predicate():
                event.clear()
                if predicate():
                    break
                await event.wait()
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None


async def session_state(url: str) -> tuple[int, str | None]:
    async with httpx.AsyncClient() as http:
        response = await http.get(f"{url}/session")
    return response.status_code, response.json().get("state") if response.status_code == 200 else None


async def test_a_wrong_model_name_is_refused_at_connect(server_factory: ServerFactory) -> None:
    with server_factory(model="world") as server:
        errors: list[ReactorError] = []
        reactor = client(server.url, "probe")
        reactor.on_error(errors.append)
        with pytest.raises(NotFoundError) as info:
            await reactor.connect()
        message = info.value.message
        assert "'probe'" in message and "'world'" in message and server.url in message
        assert info.value.operation == "connect" and str(info.value).startswith("[api:NOT_FOUND]")
        assert errors == [info.value]
        assert reactor.status is ReactorStatus.DISCONNECTED and reactor.session_id is None
        # The session it started to find out was stopped again: the right client gets one.
        assert (await session_state(server.url))[0] == 404
        async with client(server.url, "world") as right:
            assert right.status is ReactorStatus.READY
        await reactor.aclose()


async def test_a_second_local_client_joins_the_running_session(probe_server: str) -> None:
    loop = asyncio.get_running_loop()
    first, second = client(probe_server), client(probe_server)
    seen_first, seen_second = Counters(loop), Counters(loop)
    first.on_frame(seen_first)
    second.on_frame(seen_second)
    second_errors: list[ReactorError] = []
    second_error = asyncio.Event()

    def on_second_error(error: ReactorError) -> None:
        second_errors.append(error)
        second_error.set()

    second.on_error(on_second_error)
    try:
        await first.connect()
        await second.connect()  # the server's one session is running: join it
        assert second.status is ReactorStatus.READY
        assert second.session_id == first.session_id is not None
        await seen_second.wait_for_more(5, "frames on the joined client")
        # Commands work from the joined client too.
        assert await second.send_command("set_value", {"value": 321}) is None

        await second.disconnect()  # a joined client leaves the session running…
        assert second.status is ReactorStatus.DISCONNECTED and second.session_id is None
        assert await session_state(probe_server) == (200, "active")
        await seen_first.wait_for_more(10, "frames on the first client after the second left")
        assert first.status is ReactorStatus.READY

        await second.connect()  # …and can join again
        assert second.session_id == first.session_id
        await seen_second.wait_for_more(3, "frames after joining again")

        await first.disconnect()  # the client that started the session ends it, for everyone
        assert (await session_state(probe_server))[0] == 404
        await until(lambda: bool(second_errors), second_error, "the joined client to hear the end")
        assert isinstance(second_errors[0], SessionTerminalError)
        assert second.status is ReactorStatus.DISCONNECTED and second.session_id is None
    finally:
        await second.aclose()
        await first.aclose()


async def test_descriptor_names_the_device_and_errors_name_the_side(probe_server: str) -> None:
    async with httpx.AsyncClient() as http:
        descriptor = (await http.post(f"{probe_server}/start_session", json={})).json()
        await http.post(f"{probe_server}/stop_session")
    assert descriptor["server_info"]["device"] == "cpu"  # no torch loaded by the probe model
    async with client(probe_server) as reactor:
        with pytest.raises(ReactorError) as info:
            await reactor.send_command("no_such_command")
    err = info.value
    assert err.component == "gpu"  # the official value, kept for apps that branch on it
    assert err.server_device == "cpu" and err.label == "model"
    assert str(err).startswith("[model:invalid_command] ")
