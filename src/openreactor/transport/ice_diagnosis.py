"""Why a connection cannot form, in words a newcomer can act on.

The common dead end: the server offers only loopback ICE addresses (``--ice-host 127.0.0.1``, or a
machine whose only interface is loopback) and the browser offers none it could use. Browsers do
not gather on loopback (Chromium: unless started with ``--allow-loopback-in-peer-connection``)
and hide their own host addresses behind random ``<uuid>.local`` mDNS names, which a server
rarely resolves (aioice asks the mDNS group for a second and gives up). Nothing fails then: ICE
just never starts, and both ends wait out their timeouts. :func:`loopback_dead_end` names the
candidates of both ends and says what to do, for the server's log; the JS SDK carries the same
hint in its ``TRANSPORT_ERROR`` (js/src/reactor.ts).
"""

from __future__ import annotations

import ipaddress
import logging

from reactor_rtc import IceCandidate, candidate_listing

DIAGNOSIS_DELAY_S = 3.0
"""A connection not up this long after the answer is looked at (a loopback one connects in well
under a second when it can connect at all). Shorter than the JS SDK's 5 s wait for a first local
candidate (``LOCAL_CANDIDATE_TIMEOUT_MS``), so that the warning is logged before that client gives
up and closes the connection."""

LOOPBACK_HINT = (
    "Start the server without --ice-host (ICE then uses this machine's network interfaces) or with "
    "--ice-host <a LAN address of this machine>; for a test browser on this machine, start Chromium "
    "with --allow-loopback-in-peer-connection."
)


def loopback_dead_end(local: list[IceCandidate], remote: list[IceCandidate]) -> str | None:
    """The explanation when this server offers only loopback candidates and the client offers none
    but mDNS names (or none at all); ``None`` when something else is going on."""
    if not local or not all(c.loopback for c in local):
        return None
    if any(not c.mdns for c in remote):
        return None
    theirs = (
        "offered no candidate at all (no network interface it may use: browsers skip loopback)"
        if not remote
        else f"offered only mDNS names that this server cannot use ({candidate_listing(remote)})"
    )
    return (
        f"this server's ICE candidates are all loopback ({candidate_listing(local)}) and the client {theirs}, "
        "so ICE has no pair to check. Browsers do not gather on loopback (Chromium: unless started "
        "with --allow-loopback-in-peer-connection) and hide their own addresses behind .local names. "
        + LOOPBACK_HINT
    )


def host_addresses_notice(addresses: list[str], configured: bool) -> tuple[int, str]:
    """The startup log line about the addresses ICE offers: ``(logging level, message)``.
    A warning when they are all loopback, which only clients on this machine that are not
    browsers can use."""
    listing = ", ".join(addresses) or "none"
    origin = "--ice-host" if configured else "this machine's network interfaces"
    loopback = [a for a in addresses if ipaddress.ip_address(a).is_loopback]
    if addresses and len(loopback) == len(addresses):
        return logging.WARNING, (
            f"ICE offers only loopback addresses ({listing}, from {origin}): clients on this machine "
            "can connect; browsers skip loopback candidates, so one connects only from another "
            f"interface of this machine, and browsers elsewhere never do. {LOOPBACK_HINT}"
        )
    return logging.INFO, f"ICE offers {listing} (from {origin})"
