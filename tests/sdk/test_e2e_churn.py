"""Bounded churn with our SDK: reconnect storms and repeated disconnects leak nothing, on either side."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

import httpx

from reactor_sdk import Reactor, ReactorStatus
from support.servers import ServerFactory

PROBE = {"model": "probe", "width": 640, "height": 360, "fps": 30}


async def server_counts(url: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=url, timeout=10) as http:
        r = await http.get("/debug/resources")
        assert r.status_code == 200, r.text
        return dict(r.json())


async def settle(url: str, ok: Callable[[dict[str, Any]], bool], timeout: float = 20.0) -> dict[str, Any]:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        counts = await server_counts(url)
        if ok(counts) or asyncio.get_running_loop().time() > deadline:
            return counts
        await asyncio.sleep(0.2)


def client_tasks() -> int:
    return len([t for t in asyncio.all_tasks() if not t.done()])


async def test_reconnect_storm_and_double_disconnect_leak_nothing(server_factory: ServerFactory) -> None:
    with server_factory(**PROBE, extra=["--debug-endpoints"]) as server:
        tasks_before, threads_before = client_tasks(), threading.active_count()
        frames: list[int] = []
        reactor = Reactor("probe", local=True, api_url=server.url, ice_host_addresses=["127.0.0.1"])
        reactor.on_frame(lambda frame: frames.append(1))
        async with reactor:
            sid = reactor.session_id
            # 10 recoverable disconnect/reconnect cycles, then 5 forced renegotiations back to back.
            for _ in range(10):
                await reactor.disconnect(recoverable=True)
                assert reactor.status is ReactorStatus.DISCONNECTED and reactor.session_id == sid
                await reactor.reconnect()
                assert reactor.status is ReactorStatus.READY
            await asyncio.gather(*(reactor.reconnect(force=True) for _ in range(5)))
            assert reactor.session_id == sid
            live = await settle(server.url, lambda r: r["peer_connections"] == 1)
            assert live["peer_connections"] == 1 and live["sessions"] == 1, live
            seen = len(frames)
            for _ in range(50):
                if len(frames) > seen + 10:
                    break
                await asyncio.sleep(0.1)
            assert len(frames) > seen + 10, "frames flow after the storm"
            await reactor.disconnect()
            await reactor.disconnect()  # a second disconnect is a no-op, not an error
        await reactor.disconnect()  # and so is one after the context manager closed the client
        after = await settle(server.url, lambda r: r["sessions"] == 0 and r["peer_connections"] == 0)
        assert after["sessions"] == 0 and after["peer_connections"] == 0, after
        for _ in range(50):
            if client_tasks() <= tasks_before and threading.active_count() <= threads_before:
                break
            await asyncio.sleep(0.1)
        assert client_tasks() <= tasks_before, [t for t in asyncio.all_tasks() if not t.done()]
        assert threading.active_count() <= threads_before, [t.name for t in threading.enumerate()]
