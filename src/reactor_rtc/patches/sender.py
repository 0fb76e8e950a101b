"""aiortc's ``RTCRtpSender``: its receiver feedback, made to reach an encoder of our own.

Our video tracks hand aiortc encoded packets (``recv()`` returns ``av.Packet``), so aiortc's own
encoder, the only thing its feedback handling talks to, is bypassed. Two per-instance wrappers
(nothing changes on the class):

* **wrap** ``RTCRtpSender._send_keyframe()``, which aiortc calls on a PLI or FIR: the track's
  :meth:`~EncoderFeedback.request_keyframe` runs after it. Without this a lost packet freezes the
  picture until the next periodic keyframe.
* **wrap** ``RTCRtpSender._handle_rtcp_packet(packet)`` (a coroutine; ``RTCDtlsTransport`` calls
  it for every RTCP packet routed to the sender) and **read** ``RTCRtpSender._ssrc``: REMB for our
  SSRC goes to :meth:`~EncoderFeedback.set_bandwidth_estimate`, RR/SR loss for it to
  :meth:`~EncoderFeedback.report_loss`, then aiortc's handler runs as before. aiortc hands REMB
  only to its own encoder and uses RR loss for nothing; without this our encoder sends its
  configured maximum whatever the link carries.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

from aiortc import RTCRtpSender
from aiortc.rtp import RTCP_PSFB_APP, RtcpPsfbPacket, RtcpRrPacket, RtcpSrPacket, unpack_remb_fci

log = logging.getLogger(__name__)


class KeyframeTarget(Protocol):
    def request_keyframe(self) -> None:
        """A receiver asked for a keyframe (PLI/FIR)."""
        ...


class EncoderFeedback(Protocol):
    def set_bandwidth_estimate(self, bps: int) -> None:
        """The receiver's bandwidth estimate (REMB), in bits per second."""
        ...

    def report_loss(self, fraction: float) -> None:
        """The fraction (0..1) of our packets the receiver reports lost (RTCP RR/SR)."""
        ...


def forward_keyframe_requests(sender: RTCRtpSender, track: KeyframeTarget) -> None:
    """Make the receiver's PLI/FIR reach ``track`` (wraps the sender's private ``_send_keyframe``)."""
    original = getattr(sender, "_send_keyframe", None)
    if original is None:
        return

    def send_keyframe() -> None:
        original()
        track.request_keyframe()

    sender._send_keyframe = send_keyframe  # type: ignore[method-assign]


def forward_bandwidth_estimates(sender: RTCRtpSender, track: EncoderFeedback) -> None:
    """Make the receiver's REMB and RR loss reach ``track`` (wraps the private ``_handle_rtcp_packet``)."""
    original = getattr(sender, "_handle_rtcp_packet", None)
    if original is None:
        return

    def forward(packet: Any) -> None:
        if isinstance(packet, (RtcpRrPacket, RtcpSrPacket)):
            for report in packet.reports:
                if report.ssrc == sender._ssrc:
                    track.report_loss(report.fraction_lost / 256)
        elif isinstance(packet, RtcpPsfbPacket) and packet.fmt == RTCP_PSFB_APP:
            bitrate, ssrcs = unpack_remb_fci(packet.fci)
            if sender._ssrc in ssrcs:
                track.set_bandwidth_estimate(bitrate)

    async def handle_rtcp_packet(packet: Any) -> None:
        try:
            forward(packet)
        except Exception:  # an error here would end aiortc's receive loop, and the connection
            log.debug("RTCP feedback not forwarded", exc_info=True)
        await original(packet)

    sender._handle_rtcp_packet = handle_rtcp_packet  # type: ignore[method-assign]
