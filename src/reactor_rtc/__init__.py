"""aiortc glue shared by the server and the Python SDK: ICE host addresses and candidate parsing.

Kept apart from ``reactor_protocol`` (which is pure: no I/O, no aiortc) and from both
``openreactor`` and ``reactor_sdk`` (which must not import each other).
"""

from reactor_rtc.candidates import parse_candidate, ufrag_of_candidate, ufrag_of_sdp
from reactor_rtc.ice_hosts import configured_host_addresses, set_host_addresses

__all__ = [
    "configured_host_addresses",
    "parse_candidate",
    "set_host_addresses",
    "ufrag_of_candidate",
    "ufrag_of_sdp",
]
