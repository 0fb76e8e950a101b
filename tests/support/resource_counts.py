"""Resource counts of a server started with ``--debug-endpoints`` (``GET /debug/resources``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from support.waiting import eventually


async def resources(http: httpx.AsyncClient) -> dict[str, Any]:
    r = await http.get("/debug/resources")
    assert r.status_code == 200, r.text
    return dict(r.json())


async def settle(
    http: httpx.AsyncClient, ok: Callable[[dict[str, Any]], bool], timeout: float = 30
) -> dict[str, Any]:
    """The counts once ``ok`` holds (tear-down is asynchronous); fails with the last counts if it never does."""
    last: dict[str, Any] = {}

    async def settled() -> dict[str, Any] | None:
        last.clear()
        last.update(await resources(http))
        return dict(last) if ok(last) else None

    try:
        return await eventually(settled, timeout=timeout, interval=0.2, what="the resource counts to settle")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; last counts: {last}") from None
