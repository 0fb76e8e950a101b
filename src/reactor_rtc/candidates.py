"""ICE candidate lines as they travel in the signalling JSON (PROTOCOL.md §3.1, §3.3), and what
they say about an endpoint, for the messages that explain a connection that cannot form (the
server's log, the SDK's ``TRANSPORT_ERROR``)."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass

from aiortc import RTCIceCandidate
from aiortc.sdp import candidate_from_sdp

_UFRAG_IN_CANDIDATE = re.compile(r"\bufrag\s+(\S+)")
_UFRAG_IN_SDP = re.compile(r"^a=ice-ufrag:(\S+)", re.MULTILINE)


def parse_candidate(line: str, sdp_mid: str | None, sdp_mline_index: int | None) -> RTCIceCandidate | None:
    """Parse one ``candidate:...`` line; ``None`` for kinds aioice cannot use (TCP) or garbage.

    Raises nothing: a candidate we cannot use is dropped, never fatal (PROTOCOL.md §3.3).
    """
    text = line.strip()
    if text.startswith("a="):
        text = text[2:]
    if text.startswith("candidate:"):
        text = text[len("candidate:") :]
    if not text:
        return None
    try:
        candidate = candidate_from_sdp(text)
    except (ValueError, IndexError):
        return None
    if candidate.protocol.lower() != "udp":
        return None
    candidate.sdpMid = sdp_mid
    # Under BUNDLE a candidate without an index belongs to the first m-section.
    candidate.sdpMLineIndex = sdp_mline_index if sdp_mline_index is not None else 0
    return candidate


def ufrag_of_candidate(line: str) -> str | None:
    """The ``ufrag`` token libwebrtc appends to a candidate line, if present."""
    match = _UFRAG_IN_CANDIDATE.search(line)
    return match.group(1) if match else None


def ufrag_of_sdp(sdp: str) -> str | None:
    """The first ``a=ice-ufrag`` of an SDP blob."""
    match = _UFRAG_IN_SDP.search(sdp)
    return match.group(1) if match else None


@dataclass(frozen=True, slots=True)
class IceCandidate:
    """What one candidate line says: where, over what, and of which type."""

    address: str
    """An IP address, or a browser's ``<uuid>.local`` mDNS name."""
    port: int
    type: str
    """``host``, ``srflx``, ``prflx`` or ``relay``."""
    protocol: str = "udp"

    def __str__(self) -> str:
        host = f"[{self.address}]" if ":" in self.address else self.address
        transport = "" if self.protocol == "udp" else f"/{self.protocol}"
        return f"{host}:{self.port} {self.type}{transport}"

    @property
    def loopback(self) -> bool:
        try:
            return ipaddress.ip_address(self.address).is_loopback
        except ValueError:  # an mDNS name (abc.local) or garbage
            return self.address.lower() == "localhost"

    @property
    def mdns(self) -> bool:
        return self.address.lower().endswith(".local")


def describe_candidate(line: str) -> IceCandidate | None:
    """``[a=]candidate:<foundation> <component> <protocol> <priority> <address> <port> typ <type> …``
    as a record; ``None`` for anything else."""
    text = line.strip()
    if text.startswith("a="):
        text = text[2:]
    if not text.startswith("candidate:"):
        return None
    parts = text[len("candidate:") :].split()
    if len(parts) < 8 or parts[6] != "typ" or not parts[5].isdigit():
        return None
    return IceCandidate(parts[4], int(parts[5]), parts[7].lower(), parts[2].lower())


def sdp_candidates(sdp: str | None) -> list[IceCandidate]:
    """The distinct candidates of an SDP blob, in order (BUNDLE repeats them per m-section)."""
    out: list[IceCandidate] = []
    for line in (sdp or "").splitlines():
        candidate = describe_candidate(line)
        if candidate is not None and candidate not in out:
            out.append(candidate)
    return out


def candidate_listing(candidates: Iterable[IceCandidate]) -> str:
    """``"127.0.0.1:5000 host, abc.local:6000 host"``, or ``"none"``."""
    return ", ".join(str(c) for c in candidates) or "none"
