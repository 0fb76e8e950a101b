"""Moved to :mod:`reactor_rtc.patches.receiver` with the other patches of aiortc's internals.

Kept so that ``tests/sdk/test_jitter.py`` and ``bench/bad_network.py`` import it by its old name
until the tests are reorganised; new code imports from ``reactor_rtc.patches``.
"""

from __future__ import annotations

from reactor_rtc.patches.receiver import _RECEIVER_ATTR as _RECEIVER_ATTR
from reactor_rtc.patches.receiver import (
    MAX_HOLE_WAIT_S,
    NACK_WINDOW,
    UNREPAIRABLE_WAIT_S,
    BoundedWaitJitterBuffer,
    bound_jitter_wait,
)

__all__ = [
    "MAX_HOLE_WAIT_S",
    "NACK_WINDOW",
    "UNREPAIRABLE_WAIT_S",
    "BoundedWaitJitterBuffer",
    "bound_jitter_wait",
]
