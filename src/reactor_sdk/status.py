"""The client's connection status (SDK-API §1.3.1)."""

from __future__ import annotations

import enum


class ReactorStatus(enum.StrEnum):
    """Where a client stands; a ``str`` enum, so ``status == "ready"`` also holds.

    A normal connect goes ``CONNECTING → WAITING → READY``; a reconnect ``CONNECTING → READY``.
    """

    DISCONNECTED = "disconnected"
    """No live connection. A recoverable session may still be held."""
    CONNECTING = "connecting"
    """Talking to the API: minting a token, creating the session, or renegotiating."""
    WAITING = "waiting"
    """The session exists; waiting for the runtime and for WebRTC setup."""
    READY = "ready"
    """The peer is connected and both data channels are open."""
