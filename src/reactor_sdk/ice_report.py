"""What a failed WebRTC connection tried: the ICE candidates of both sides, and a hint.

A connection that never gets past ICE is the most common setup problem (a server offering only
127.0.0.1 to a client on another machine, a client that skipped loopback, UDP blocked). The error
names the candidates each side offered (from the local and remote SDP's ``a=candidate`` lines) so
the mismatch is visible, and says what to change.
"""

from __future__ import annotations

from collections.abc import Sequence

from reactor_rtc import IceCandidate, candidate_listing, sdp_candidates


def ice_hint(local: Sequence[IceCandidate], remote: Sequence[IceCandidate]) -> str:
    """What to try, given the candidates each side offered."""
    if not remote:
        return (
            "the server offered no ICE candidates: check its --ice-host / --ice-public settings "
            "(its log says which addresses it gathers)"
        )
    if not local:
        return (
            "this client gathered no ICE candidates: pass ice_host_addresses=[<an address of this "
            "machine that the server can reach>] to Reactor"
        )
    remote_loopback = all(c.loopback for c in remote)
    local_loopback = [c for c in local if c.loopback]
    if remote_loopback and not local_loopback:
        return (
            "the server offered only loopback addresses (it was started with --ice-host 127.0.0.1, "
            "or has no other interface). On the server's machine pass ice_host_addresses=['127.0.0.1'] "
            "to Reactor; from another machine, start the server without --ice-host (or with "
            "--ice-host <an address this client can reach>)"
        )
    if remote_loopback:
        return (
            "both sides offered loopback addresses but none answered: is the server really on this "
            "machine (a container has a loopback of its own)? Otherwise start it with --ice-host "
            "<an address this client can reach> and leave out ice_host_addresses"
        )
    if len(local_loopback) == len(local):
        return (
            "this client offered only loopback addresses (ice_host_addresses=['127.0.0.1']?) but the "
            "server is elsewhere: pass an address the server can reach, or leave ice_host_addresses out"
        )
    return (
        "no candidate pair connected: check that UDP between these addresses is not blocked "
        "(firewall, NAT, container network); behind NAT start the server with --ice-public, or "
        "give it a TURN server (--turn-url)"
    )


def describe_ice_attempt(local_sdp: str | None, remote_sdp: str | None) -> str:
    """``local candidates: …; remote candidates: …; <hint>`` for an error message."""
    local, remote = sdp_candidates(local_sdp), sdp_candidates(remote_sdp)
    return (
        f"local ICE candidates: {candidate_listing(local)}; remote ICE candidates (from the server): "
        f"{candidate_listing(remote)}. Hint: {ice_hint(local, remote)}"
    )
