"""Sizes and timers of the protocol as named constants (PROTOCOL.md §3.4, §5.1, §8.2)."""

from __future__ import annotations

MAX_MESSAGE_BYTES = 262_144
"""Largest data-channel message without chunking (256 KiB)."""

REQUEST_TIMEOUT_S = 10.0
"""Every REQUEST gets exactly one RESPONSE within this time (client-side deadline)."""

PING_INTERVAL_S = 10.0
"""Client heartbeat period (the first ping is sent as soon as the client is ready)."""

LIVENESS_TIMEOUT_S = 20.0
"""A connection with no inbound channel message for this long is dropped by the server."""

LIVENESS_CHECK_S = 2.0
"""How often the server's watchdog looks."""

KEEPALIVE_WINDOW_S = 30.0
"""How long a session with no connected client lives before it ends."""

ANSWER_POLL_DELAYS_S = (0.0, 0.2, 0.4, 0.8, 1.6, 3.2)
"""Delays before each SDP-answer poll (the official clients' schedule: 6 attempts)."""

UPLOAD_RESOLVE_TIMEOUT_S = 10.0
"""How long the server waits for an upload referenced by a command to land."""

LOCAL_SESSION_ID = "00000000-0000-0000-0000-000000000000"
"""The session id a local runtime reports."""
