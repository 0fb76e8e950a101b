"""A sliding-window rate limit: at most ``limit`` events per ``window_s`` seconds per key.

``POST /tokens`` is limited per client address and per API key (``Settings.token_rate_per_minute``)
so a leaked or guessed key cannot be hammered into a flood of tokens, and a client cannot try keys
at full speed.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable


class RateLimiter:
    def __init__(
        self, limit: int, window_s: float = 60.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit
        """Events allowed per window; 0 or less disables the limit."""
        self.window_s = window_s
        self._clock = clock
        self._events: dict[str, deque[float]] = {}

    def _prune(self, key: str, now: float) -> deque[float]:
        events = self._events.setdefault(key, deque())
        while events and events[0] <= now - self.window_s:
            events.popleft()
        return events

    def retry_after(self, key: str) -> int | None:
        """Whole seconds until ``key`` may act again, or ``None`` when it may act now."""
        if self.limit <= 0:
            return None
        now = self._clock()
        events = self._prune(key, now)
        if len(events) < self.limit:
            if not events:
                del self._events[key]
            return None
        return max(1, math.ceil(events[0] + self.window_s - now))

    def hit(self, key: str) -> None:
        """Count one event for ``key``."""
        if self.limit <= 0:
            return
        now = self._clock()
        self._prune(key, now).append(now)
        if len(self._events) > 10_000:  # forget idle keys so the table stays bounded
            for stale in [k for k, v in self._events.items() if not v or v[-1] <= now - self.window_s]:
                del self._events[stale]
