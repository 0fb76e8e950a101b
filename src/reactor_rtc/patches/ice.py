"""aioice: the host-address seam, and reads of its private checking state.

* **write** ``aioice.ice.get_host_addresses`` (module function): ``Connection.gather_candidates``
  looks it up as a module global each time it gathers, so replacing it chooses the host candidates
  of every ICE connection made afterwards, in the whole process. aiortc has no option for it.
  :func:`install_host_address_hook` installs the chooser of :mod:`reactor_rtc.ice_hosts`.
* **read** ``RTCPeerConnection.__iceTransports`` (aiortc, name-mangled), ``RTCIceTransport._connection``
  (aiortc) and ``Connection._check_list`` / ``Connection._nominated`` (aioice): how many candidate
  pairs a connection is checking (the server's diagnosis of a connection that cannot form) and
  which pair was nominated (the SDK's stats). Read defensively: when they move, 0 pairs / no pair.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import aioice.ice

HostAddresses = Callable[[bool, bool], list[str]]
"""``(use_ipv4, use_ipv6) -> addresses``: the signature of ``aioice.ice.get_host_addresses``."""

aioice_host_addresses: HostAddresses = aioice.ice.get_host_addresses
"""aioice's own choice (every interface but loopback), kept before any hook replaces it."""


def install_host_address_hook(choose: HostAddresses) -> None:
    """Make aioice gather host candidates from ``choose`` (process-wide; installing again replaces it)."""
    aioice.ice.get_host_addresses = choose  # type: ignore[assignment]  # a def there, any callable here


def installed_host_address_hook() -> HostAddresses:
    """What aioice calls now to pick host addresses (its own function until a hook is installed)."""
    current: HostAddresses = aioice.ice.get_host_addresses
    return current


def candidate_pair_count(pc: Any) -> int:
    """How many candidate pairs aioice has to check for ``pc`` (an ``RTCPeerConnection``); 0 also
    when aiortc's internals have moved (then the candidates alone decide)."""
    try:
        transports = pc._RTCPeerConnection__iceTransports
        return sum(len(t._connection._check_list) for t in transports)
    except AttributeError:
        return 0


def nominated_pairs(ice_transport: Any) -> list[Any]:
    """The candidate pairs (``aioice.ice.CandidatePair``) aioice nominated on ``ice_transport``
    (an ``RTCIceTransport``); empty when there is none, or aioice's internals have moved."""
    connection = getattr(ice_transport, "_connection", None)
    nominated = getattr(connection, "_nominated", None) or {}
    return list(nominated.values())
