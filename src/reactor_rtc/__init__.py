"""aiortc glue shared by the server and the Python SDK: ICE host addresses and candidate parsing.

Every use of aiortc's or aioice's private internals lives in :mod:`reactor_rtc.patches`.

Kept apart from ``reactor_protocol`` (which is pure: no I/O, no aiortc) and from both
``openreactor`` and ``reactor_sdk`` (which must not import each other).
"""

from reactor_rtc.candidates import (
    IceCandidate,
    candidate_listing,
    describe_candidate,
    parse_candidate,
    sdp_candidates,
    ufrag_of_candidate,
    ufrag_of_sdp,
)
from reactor_rtc.ice_hosts import configured_host_addresses, host_addresses, set_host_addresses

__all__ = [
    "IceCandidate",
    "candidate_listing",
    "describe_candidate",
    "sdp_candidates",
    "configured_host_addresses",
    "host_addresses",
    "parse_candidate",
    "set_host_addresses",
    "ufrag_of_candidate",
    "ufrag_of_sdp",
]
