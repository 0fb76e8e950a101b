"""What a session needs from one client connection, whatever carries it (aiortc today), and the
two ways a session answers a client's message on it."""

from __future__ import annotations

from typing import Protocol

from reactor_protocol.messages import Envelope, ErrorMessage, Kind, Payload


class ClientLink(Protocol):
    """One client connection as seen by its session."""

    @property
    def connection_id(self) -> int: ...

    @property
    def last_inbound(self) -> float:
        """``loop.time()`` of the last message received on either channel (or of connecting)."""
        ...

    def send(self, envelope: Envelope) -> None:
        """Queue a message for this client (held back until its wire version is known)."""
        ...

    def set_output_paused(self, track: str, paused: bool) -> bool:
        """Pause or resume one output track for this client; False if there is no such track."""
        ...

    async def close(self, reason: str) -> None:
        """Tear the transport down (the session decides whether the client may come back)."""
        ...


def answer(link: ClientLink, request: Envelope, payload: Payload | None) -> None:
    """Reply to a REQUEST; notifications get no reply."""
    if request.kind is Kind.REQUEST:
        link.send(request.reply(payload))


def refuse(link: ClientLink, request: Envelope, error: ErrorMessage) -> None:
    """``error`` in reply to a REQUEST, or as a notification on its channel (v0 has no replies)."""
    if request.kind is Kind.REQUEST:
        link.send(request.reply(error))
    else:
        link.send(Envelope(request.channel, Kind.NOTIFICATION, error))
