"""Browsers' ``<uuid>.local`` candidates, kept from holding up the answer.

Chromium and Firefox hide their host addresses behind random mDNS names unless the page holds a
camera or microphone permission. aioice resolves such a name when the candidate is added, asking
the mDNS group and waiting up to a second for an answer that rarely comes (the name is only
answered on the browser's own link, and often not even there). aiortc adds the candidates of an
offer's SDP inside ``setRemoteDescription``, so an offer that carries them (a client that waits
for gathering before it offers, like ``@reactor-team/js-sdk`` 2.9.0) would get its answer a second
late, every time. :func:`defer_mdns_candidates` takes them out of the SDP; the peer adds them right
after the answer, in the background, as if they had been trickled. Connectivity does not wait for
them: the browser's checks reach the server's candidates, which then learns peer-reflexive ones.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from reactor_rtc import describe_candidate


@dataclass(slots=True)
class DeferredCandidates:
    sdp: str
    """The offer without its mDNS candidates (and without the end-of-candidates marker of a
    section that had any: the end is signalled after them, see ``end_of_candidates``)."""
    candidates: list[tuple[str, str | None, int]] = field(default_factory=list)
    """``(candidate line without "a=", sdpMid, m-line index)`` of each mDNS candidate taken out."""
    end_of_candidates: bool = False
    """The offer signalled the end of its candidates: signal it once the deferred ones are added."""


def defer_mdns_candidates(sdp: str) -> DeferredCandidates:
    """Split ``sdp`` into the SDP for ``setRemoteDescription`` and the mDNS candidates to add after."""
    lines = sdp.split("\r\n")
    mids: dict[int, str] = {}
    index = -1
    for line in lines:
        if line.startswith("m="):
            index += 1
        elif line.startswith("a=mid:") and index >= 0:
            mids[index] = line[len("a=mid:") :].strip()
    out = DeferredCandidates(sdp)
    kept: list[tuple[int, str]] = []  # (m-section index, line)
    index = -1
    for line in lines:
        if line.startswith("m="):
            index += 1
        if (candidate := describe_candidate(line)) is not None and candidate.mdns:
            out.candidates.append((line[2:], mids.get(index), max(index, 0)))
        else:
            kept.append((index, line))
    if not out.candidates:
        return out
    deferred_sections = {i for _, _, i in out.candidates}
    is_deferred_end = [
        line.strip() == "a=end-of-candidates" and max(i, 0) in deferred_sections for i, line in kept
    ]
    out.end_of_candidates = any(is_deferred_end)
    out.sdp = "\r\n".join(line for (_, line), drop in zip(kept, is_deferred_end, strict=True) if not drop)
    return out
