"""This process's resident memory, for the per-session memory limit (``max_session_memory_mb``).

The limit is on growth above a baseline. A worker process records its baseline once its model is
loaded (:func:`set_baseline`), so memory a session leaves behind counts against the next one too
and the worker gets replaced. In local mode there is no process baseline: the session measures
from its own start, since the server process also holds the HTTP front and every transport.
"""

from __future__ import annotations

import ctypes
import gc
import os

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
_baseline: int | None = None


def rss_bytes() -> int | None:
    """Resident set size now (Linux ``/proc/self/statm``); ``None`` where that isn't readable."""
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        return None


def set_baseline() -> None:
    """Record the current RSS as this process's baseline (a worker, once its model is loaded)."""
    global _baseline
    _baseline = rss_bytes()


def baseline() -> int | None:
    return _baseline


def release_memory() -> None:
    """Collect garbage, then ask glibc to hand free heap pages back to the OS (a no-op elsewhere).

    Without ``malloc_trim`` freed numpy buffers stay in the allocator's arenas and RSS doesn't fall,
    so a server that just dropped a leaking session would still look full.
    """
    gc.collect()
    try:
        trim = getattr(ctypes.CDLL(None), "malloc_trim", None)  # the symbols already loaded: libc's
    except OSError:
        trim = None
    if trim is not None:
        trim(0)
