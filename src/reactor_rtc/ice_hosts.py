"""Which local addresses ICE may offer as host candidates.

aioice gathers host candidates from every interface except 127.0.0.1 and ::1, and aiortc has no
option to change that. Tests on loopback need 127.0.0.1, and a real deployment may want to pin
one interface (or several). aioice's module-level ``get_host_addresses`` is the only seam, so
:func:`set_host_addresses` installs a chooser there (:mod:`reactor_rtc.patches.ice`): with
addresses configured it returns exactly those, otherwise :func:`default_host_addresses`. The
setting is process-wide because ICE gathering is: it applies to every peer connection this process
makes afterwards, server and clients alike.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from reactor_rtc.patches.ice import aioice_host_addresses, install_host_address_hook

_configured: tuple[str, ...] | None = None


LOOPBACK_ADDRESSES: tuple[str, ...] = ("127.0.0.1", "::1")


def default_host_addresses(use_ipv4: bool = True, use_ipv6: bool = True) -> list[str]:
    """aioice's choice (every interface but loopback); loopback only on a machine that has nothing
    else, so that clients on the same machine still connect (browsers need a non-loopback one)."""
    found: list[str] = aioice_host_addresses(use_ipv4, use_ipv6)
    return found or _pick(LOOPBACK_ADDRESSES, use_ipv4, use_ipv6)


def _pick(addresses: Sequence[str], use_ipv4: bool, use_ipv6: bool) -> list[str]:
    out = []
    for address in addresses:
        version = ipaddress.ip_address(address).version
        if (version == 4 and use_ipv4) or (version == 6 and use_ipv6):
            out.append(address)
    return out


def _host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
    if _configured is None:
        return default_host_addresses(use_ipv4, use_ipv6)
    return _pick(_configured, use_ipv4, use_ipv6)


def set_host_addresses(addresses: Sequence[str] | None) -> None:
    """Use exactly ``addresses`` as ICE host candidates (``None``: :func:`default_host_addresses`).

    Process-wide: every ICE gathering in this process from now on (the first call installs the
    hook in aioice). Raises ``ValueError`` for something that is not an IP address.
    """
    global _configured
    if addresses is None:
        _configured = None
    else:
        _configured = tuple(str(ipaddress.ip_address(a.strip())) for a in addresses if a.strip())
    install_host_address_hook(_host_addresses)


def host_addresses() -> list[str]:
    """The addresses ICE offers now (configured, else :func:`default_host_addresses`)."""
    return _host_addresses(True, True)


def configured_host_addresses() -> tuple[str, ...] | None:
    """The addresses set with :func:`set_host_addresses`, or ``None`` for :func:`default_host_addresses`."""
    return _configured
