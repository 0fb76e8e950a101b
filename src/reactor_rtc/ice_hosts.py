"""Which local addresses ICE may offer as host candidates.

aioice gathers host candidates from every interface except 127.0.0.1 and ::1, and aiortc has no
option to change that. Tests on loopback need 127.0.0.1, and a real deployment may want to pin
one interface (or several). aioice's module-level ``get_host_addresses`` is the only seam, so we
install a wrapper once: with addresses configured it returns exactly those, otherwise it defers
to aioice's own choice. The setting is process-wide because ICE gathering is.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Sequence

import aioice.ice

_original: Callable[[bool, bool], list[str]] = aioice.ice.get_host_addresses
_configured: tuple[str, ...] | None = None


def _host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
    if _configured is None:
        return _original(use_ipv4, use_ipv6)
    out = []
    for address in _configured:
        version = ipaddress.ip_address(address).version
        if (version == 4 and use_ipv4) or (version == 6 and use_ipv6):
            out.append(address)
    return out


def set_host_addresses(addresses: Sequence[str] | None) -> None:
    """Use exactly ``addresses`` as ICE host candidates (``None``: aioice's default interfaces).

    Raises ``ValueError`` for something that is not an IP address.
    """
    global _configured
    if addresses is None:
        _configured = None
    else:
        _configured = tuple(str(ipaddress.ip_address(a.strip())) for a in addresses if a.strip())
    aioice.ice.get_host_addresses = _host_addresses


def configured_host_addresses() -> tuple[str, ...] | None:
    """The addresses set with :func:`set_host_addresses`, or ``None`` for aioice's default."""
    return _configured
