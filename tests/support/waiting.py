"""Waiting in tests: on a condition, with a deadline that only bounds a failure.

Tests wait for what a user would see (a frame, a state, a log line), never for a fixed time and
never assert how long something took (speed is measured by the scripts in ``bench/``). The
deadline is generous: it exists so that a broken build fails with a message instead of hanging.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")

DEFAULT_TIMEOUT_S = 30.0


def wait_until(
    check: Callable[[], T],
    *,
    timeout: float = DEFAULT_TIMEOUT_S,
    what: str = "condition",
    interval: float = 0.05,
    ignoring: tuple[type[BaseException], ...] = (),
) -> T:
    """Call ``check`` until it returns something truthy and return that (blocking).

    Exceptions of the types in ``ignoring`` count as "not yet" (a server still starting)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = check()
        except ignoring:
            value = None  # type: ignore[assignment]
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


async def eventually(
    check: Callable[[], T | Awaitable[T]],
    *,
    timeout: float = DEFAULT_TIMEOUT_S,
    what: str = "condition",
    interval: float = 0.02,
    ignoring: tuple[type[BaseException], ...] = (),
) -> T:
    """The event-loop twin of :func:`wait_until`: ``check`` may be sync or async."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = check()
            value = await result if inspect.isawaitable(result) else result
        except ignoring:
            value = None
        if value:
            return value  # type: ignore[return-value]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(interval)
