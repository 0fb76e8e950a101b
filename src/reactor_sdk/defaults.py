"""Default URLs, client identity, and timers of the SDK (SDK-API §0.4)."""

from __future__ import annotations

import os
from typing import Final

__version__: Final = "0.1.0"

LOCAL_API_URL: Final = "http://localhost:8080"
"""A local runtime: one model, at most one session."""

DEFAULT_API_URL: Final[str] = os.environ.get("REACTOR_API_URL") or LOCAL_API_URL
"""The ``REACTOR_API_URL`` environment variable if set (read once, at import), else our own
server at ``http://localhost:8080``."""

SDK_TYPE: Final = "python"

CONNECT_READY_TIMEOUT_S: Final = 30.0
"""From applying the SDP answer until the peer is connected and both channels are open."""

SESSION_POLL_FIRST_DELAY_S: Final = 0.2
SESSION_POLL_MAX_DELAY_S: Final = 10.0
SESSION_POLL_ATTEMPTS: Final = 20

HTTP_TIMEOUT_S: Final = 15.0
"""Per HTTP call (connect, read, write); signalling answers within a few seconds."""


def client_info() -> dict[str, str]:
    """The ``client_info`` object sent with session creation, offers and candidates."""
    return {"sdk_version": __version__, "sdk_type": SDK_TYPE}
