"""Advertise a public address for host candidates behind a 1:1 NAT (``ice_public_addresses``).

aioice can only offer addresses it can bind, and behind NAT (a cloud VM with an elastic IP, a
container with published UDP ports) the public address is on no interface: binding it fails and
ICE silently offers nothing. Instead the answer gets, for each host candidate on a mapped local
address, a server-reflexive twin on the public address with the same port, exactly what a STUN
query would have found, without a STUN round trip before the answer. The host candidate stays
for clients on the same network. Checks the client sends to the public address reach the same
socket through the NAT, so aioice needs to know nothing about it.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

from aioice.candidate import candidate_foundation, candidate_priority


@dataclass(frozen=True, slots=True)
class PublicAddress:
    public: str
    local: str | None
    """Only host candidates on this address; None: every host candidate of the same IP version."""

    def applies_to(self, address: str) -> bool:
        if self.local is not None:
            return self.local == address
        return ipaddress.ip_address(address).version == ipaddress.ip_address(self.public).version


def parse_public_addresses(entries: Iterable[str]) -> list[PublicAddress]:
    """``"PUBLIC"`` or ``"LOCAL=PUBLIC"`` entries. Raises ``ValueError`` for anything else."""
    out = []
    for entry in entries:
        local, _, public = entry.strip().rpartition("=")
        public_ip = ipaddress.ip_address(public.strip())
        local_ip = ipaddress.ip_address(local.strip()) if local else None
        if local_ip is not None and local_ip.version != public_ip.version:
            raise ValueError(f"{entry!r} maps between IPv4 and IPv6")
        out.append(PublicAddress(str(public_ip), str(local_ip) if local_ip is not None else None))
    return out


def _public_twin(line: str, mappings: list[PublicAddress]) -> str | None:
    """The srflx ``a=candidate`` line for a host candidate line, or None when none applies."""
    # a=candidate:<foundation> <component> <transport> <priority> <address> <port> typ <type> ...
    parts = line[len("a=candidate:") :].split()
    if len(parts) < 8 or parts[6] != "typ" or parts[7] != "host" or parts[2].lower() != "udp":
        return None
    component, address, port = int(parts[1]), parts[4], parts[5]
    try:
        mapping = next((m for m in mappings if m.applies_to(address)), None)
    except ValueError:  # an mDNS name or something else that is not an address
        return None
    if mapping is None or mapping.public == address:
        return None
    foundation = candidate_foundation("srflx", "udp", address)
    priority = candidate_priority(component, "srflx")
    return (
        f"a=candidate:{foundation} {component} udp {priority} {mapping.public} {port} "
        f"typ srflx raddr {address} rport {port}"
    )


def add_public_candidates(sdp: str, entries: Iterable[str]) -> str:
    """``sdp`` with a public srflx candidate after each mapped host candidate."""
    mappings = parse_public_addresses(entries)
    if not mappings:
        return sdp
    out = []
    for line in sdp.split("\r\n"):
        out.append(line)
        if line.startswith("a=candidate:"):
            twin = _public_twin(line, mappings)
            if twin is not None:
                out.append(twin)
    return "\r\n".join(out)
