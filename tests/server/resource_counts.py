"""Resource counts of a server started with ``--debug-endpoints`` (``GET /debug/resources``)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx


async def resources(http: httpx.AsyncClient) -> dict[str, Any]:
    r = await http.get("/debug/resources")
    assert r.status_code == 200, r.text
    return dict(r.json())


async def settle(
    http: httpx.AsyncClient, ok: Callable[[dict[str, Any]], bool], timeout: float = 20
) -> dict[str, Any]:
    """Poll the counts until ``ok`` holds (tear-down is asynchronous); the last counts either way."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        counts = await resources(http)
        if ok(counts) or asyncio.get_running_loop().time() > deadline:
            return counts
        await asyncio.sleep(0.2)
