"""Every place where we reach into aiortc's or aioice's internals, and nowhere else.

Written against aiortc 1.16.0 (pinned in pyproject.toml) and aioice 0.13.0. When either changes,
``tests/rtc/test_rtc_patches.py`` checks that each attribute below still exists, has the signature or
type we rely on, and that the patch still takes effect; read the module named here before bumping.

=================  ================================================  =====================================
module             what it touches (private unless said)             why
=================  ================================================  =====================================
``ice``            write ``aioice.ice.get_host_addresses``           choose ICE host candidates (loopback
                   (module function, process-wide)                   for tests, pinned interfaces);
                                                                     :mod:`reactor_rtc.ice_hosts`
``ice``            read ``RTCPeerConnection.__iceTransports``,       candidate pairs being checked (server
                   ``RTCIceTransport._connection``,                  diagnosis), the nominated pair (SDK
                   ``Connection._check_list`` / ``._nominated``      stats)
``sender``         wrap ``RTCRtpSender._send_keyframe`` per          PLI/FIR reach our own VP8 encoder
                   instance
``sender``         wrap ``RTCRtpSender._handle_rtcp_packet`` per     REMB and RR loss reach our encoder's
                   instance, read ``RTCRtpSender._ssrc``             bitrate control
``receiver``       replace ``RTCRtpReceiver.__jitter_buffer``;       a lost video packet freezes ~0.2 s,
                   subclass ``JitterBuffer`` (its ``_origin``,       not ~2.5 s (SDK receivers)
                   ``_packets``, ``_capacity``, ``_remove_frame``)
=================  ================================================  =====================================

Only :func:`install_host_address_hook` changes process-wide state, and only when called (by
:func:`reactor_rtc.set_host_addresses`); importing this package patches nothing. The others act on
the one sender or receiver they are given.

Not patches, kept where they are because they use public API only: ``openreactor.logs`` sets the
``aioice`` logger's level (aioice narrates every pair check at INFO), and
``openreactor.transport.mdns`` keeps a browser's ``.local`` candidates out of the offer's SDP
(aioice would resolve them inside ``setRemoteDescription``, a second each).
"""

from reactor_rtc.patches.ice import (
    HostAddresses,
    aioice_host_addresses,
    candidate_pair_count,
    install_host_address_hook,
    installed_host_address_hook,
    nominated_pairs,
)
from reactor_rtc.patches.receiver import BoundedWaitJitterBuffer, bound_jitter_wait
from reactor_rtc.patches.sender import (
    EncoderFeedback,
    KeyframeTarget,
    forward_bandwidth_estimates,
    forward_keyframe_requests,
)

PATCHED_AGAINST = {"aiortc": "1.16.0", "aioice": "0.13.0"}
"""The versions whose internals the patches were written and tested against."""

__all__ = [
    "PATCHED_AGAINST",
    "BoundedWaitJitterBuffer",
    "EncoderFeedback",
    "HostAddresses",
    "KeyframeTarget",
    "aioice_host_addresses",
    "bound_jitter_wait",
    "candidate_pair_count",
    "forward_bandwidth_estimates",
    "forward_keyframe_requests",
    "install_host_address_hook",
    "installed_host_address_hook",
    "nominated_pairs",
]
