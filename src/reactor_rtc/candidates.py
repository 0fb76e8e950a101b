"""ICE candidate lines as they travel in the signalling JSON (PROTOCOL.md §3.1, §3.3)."""

from __future__ import annotations

import re

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
