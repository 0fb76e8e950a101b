"""Each patch of aiortc/aioice internals in ``reactor_rtc.patches``: the attribute it touches is
still there, with the signature or type we rely on, and the patch still takes effect.

A failure here after upgrading aiortc or aioice means a patch no longer does what it says: read
the module named in the failing test (``reactor_rtc/patches/``) before anything else.
"""

from __future__ import annotations

import asyncio
import inspect
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator
from typing import Any

import aioice
import aioice.ice
import pytest
from aiortc import (
    RTCPeerConnection,
    RTCRtpReceiver,
    RTCRtpSender,
    RTCSessionDescription,
    VideoStreamTrack,
)
from aiortc.jitterbuffer import JitterBuffer
from aiortc.rtcdtlstransport import RTCDtlsTransport
from aiortc.rtcicetransport import RTCIceTransport
from aiortc.rtp import (
    RTCP_PSFB_APP,
    RTCP_PSFB_FIR,
    RTCP_PSFB_PLI,
    RtcpPsfbPacket,
    RtcpReceiverInfo,
    RtcpRrPacket,
    pack_remb_fci,
)

from reactor_rtc.ice_hosts import configured_host_addresses, set_host_addresses
from reactor_rtc.patches import (
    PATCHED_AGAINST,
    BoundedWaitJitterBuffer,
    aioice_host_addresses,
    bound_jitter_wait,
    candidate_pair_count,
    forward_bandwidth_estimates,
    forward_keyframe_requests,
    install_host_address_hook,
    installed_host_address_hook,
    nominated_pairs,
)
from reactor_rtc.patches.receiver import _RECEIVER_ATTR

VERSIONS = f"patched against {PATCHED_AGAINST}"


def parameters(function: Any) -> list[str]:
    return list(inspect.signature(function).parameters)


@pytest.fixture
def loopback_ice() -> Any:
    """ICE on 127.0.0.1 for the test, the process-wide setting put back after."""
    before = configured_host_addresses()
    set_host_addresses(["127.0.0.1"])
    yield
    set_host_addresses(before)


# -- ice: aioice.ice.get_host_addresses ------------------------------------------------------------


def test_aioice_picks_host_addresses_through_a_module_function() -> None:
    assert callable(aioice.ice.get_host_addresses), VERSIONS
    assert parameters(aioice.ice.get_host_addresses) == ["use_ipv4", "use_ipv6"], VERSIONS
    assert aioice_host_addresses.__module__ == "aioice.ice", "aioice's own choice was kept"
    assert aioice_host_addresses.__name__ == "get_host_addresses"
    # gather_candidates looks the name up as a module global on each call, so replacing it works
    assert "get_host_addresses(" in inspect.getsource(aioice.Connection.gather_candidates), VERSIONS


async def test_the_host_address_hook_decides_what_aioice_gathers() -> None:
    before = installed_host_address_hook()
    calls: list[tuple[bool, bool]] = []

    def choose(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        calls.append((use_ipv4, use_ipv6))
        return ["127.0.0.1"]

    connection = aioice.Connection(ice_controlling=True, use_ipv6=False)
    try:
        install_host_address_hook(choose)
        assert installed_host_address_hook() is choose
        await connection.gather_candidates()
        hosts = [c.host for c in connection.local_candidates if c.type == "host"]
    finally:
        install_host_address_hook(before)
        await connection.close()
    assert calls == [(True, False)]
    assert hosts == ["127.0.0.1"], "aioice gathered from something other than the hook"


def test_importing_and_constructing_a_client_change_no_ice_state() -> None:
    """``import reactor_rtc.patches`` patches nothing; a ``Reactor`` changes the process-wide ICE
    hosts only when given ``ice_host_addresses`` (its docstring says so)."""
    script = textwrap.dedent(
        """
        import aioice.ice
        original = aioice.ice.get_host_addresses
        import reactor_rtc.patches
        import reactor_sdk
        from reactor_rtc import configured_host_addresses
        reactor_sdk.Reactor("m", local=True)
        assert aioice.ice.get_host_addresses is original, "patched by an import or a plain Reactor"
        reactor_sdk.Reactor("m", local=True, ice_host_addresses=["127.0.0.1"])
        assert aioice.ice.get_host_addresses is not original
        assert configured_host_addresses() == ("127.0.0.1",)
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


# -- sender: RTCRtpSender._send_keyframe, _handle_rtcp_packet, _ssrc ------------------------------


class Feedback:
    """What our video track offers the sender patches."""

    def __init__(self) -> None:
        self.keyframe_requests = 0
        self.estimates: list[int] = []
        self.losses: list[float] = []

    def request_keyframe(self) -> None:
        self.keyframe_requests += 1

    def set_bandwidth_estimate(self, bps: int) -> None:
        self.estimates.append(bps)

    def report_loss(self, fraction: float) -> None:
        self.losses.append(fraction)


@pytest.fixture
async def sender() -> AsyncIterator[RTCRtpSender]:
    pc = RTCPeerConnection()
    try:
        yield pc.addTransceiver("video", direction="sendonly").sender
    finally:
        await pc.close()


def test_the_sender_attributes_we_wrap_are_there() -> None:
    assert parameters(RTCRtpSender._send_keyframe) == ["self"], VERSIONS
    assert not inspect.iscoroutinefunction(RTCRtpSender._send_keyframe), VERSIONS
    assert parameters(RTCRtpSender._handle_rtcp_packet) == ["self", "packet"], VERSIONS
    assert inspect.iscoroutinefunction(RTCRtpSender._handle_rtcp_packet), VERSIONS
    # aiortc calls both through the instance, so a per-instance wrapper is seen
    assert "self._send_keyframe()" in inspect.getsource(RTCRtpSender._handle_rtcp_packet), VERSIONS
    dispatch = inspect.getsource(RTCDtlsTransport._handle_rtcp_data)
    assert "._handle_rtcp_packet(packet)" in dispatch, VERSIONS


async def test_keyframe_requests_reach_the_track(sender: RTCRtpSender) -> None:
    assert isinstance(sender._ssrc, int), VERSIONS
    feedback = Feedback()
    forward_keyframe_requests(sender, feedback)
    for fmt in (RTCP_PSFB_PLI, RTCP_PSFB_FIR):
        await sender._handle_rtcp_packet(RtcpPsfbPacket(fmt=fmt, ssrc=1, media_ssrc=sender._ssrc))
    assert feedback.keyframe_requests == 2
    assert sender._RTCRtpSender__force_keyframe is True, "aiortc's own handling still runs"  # type: ignore[attr-defined]


async def test_remb_and_loss_reach_the_track(sender: RTCRtpSender) -> None:
    feedback = Feedback()
    forward_bandwidth_estimates(sender, feedback)
    ours, other = sender._ssrc, sender._ssrc ^ 1
    for ssrcs, bps in (([other], 500_000), ([ours], 2_500_000)):
        fci = pack_remb_fci(bps, ssrcs)
        await sender._handle_rtcp_packet(RtcpPsfbPacket(fmt=RTCP_PSFB_APP, ssrc=1, media_ssrc=0, fci=fci))
    assert feedback.estimates == [2_500_000]
    reports = [
        RtcpReceiverInfo(
            ssrc=s, fraction_lost=lost, packets_lost=9, highest_sequence=1, jitter=0, lsr=0, dlsr=0
        )
        for s, lost in ((other, 255), (ours, 64))
    ]
    await sender._handle_rtcp_packet(RtcpRrPacket(ssrc=1, reports=reports))
    assert feedback.losses == [0.25]


# -- receiver: RTCRtpReceiver.__jitter_buffer, JitterBuffer internals -----------------------------


def test_the_jitter_buffer_internals_we_use_are_there() -> None:
    buffer = JitterBuffer(capacity=512, is_video=True)
    assert (buffer.capacity, buffer._capacity, buffer._is_video, buffer._origin) == (512, 512, True, None)
    assert isinstance(buffer._packets, list) and len(buffer._packets) == 512, VERSIONS
    assert parameters(JitterBuffer.add) == ["self", "packet"], VERSIONS
    assert parameters(JitterBuffer._remove_frame) == ["self", "sequence_number"], VERSIONS
    assert parameters(JitterBuffer.remove) == ["self", "count"], VERSIONS
    # aiortc reads the buffer through the attribute for every packet, so replacing it is seen
    handle = inspect.getsource(RTCRtpReceiver._handle_rtp_packet)
    assert "self.__jitter_buffer.add(packet)" in handle, VERSIONS


async def test_receivers_hold_the_buffer_we_replace() -> None:
    pc = RTCPeerConnection()
    try:
        video = pc.addTransceiver("video", direction="recvonly").receiver
        audio = pc.addTransceiver("audio", direction="recvonly").receiver
        held = getattr(video, _RECEIVER_ATTR)
        assert type(held) is JitterBuffer and held.capacity == 512 and held._is_video, VERSIONS
        assert type(getattr(audio, _RECEIVER_ATTR)) is JitterBuffer, VERSIONS
        assert bound_jitter_wait(video)
        assert isinstance(getattr(video, _RECEIVER_ATTR), BoundedWaitJitterBuffer)
    finally:
        await pc.close()


# -- a real call: the receiver's buffer sees the packets, the ICE reads see the pairs ----------------


async def connect(offerer: RTCPeerConnection, answerer: RTCPeerConnection) -> None:
    await offerer.setLocalDescription(await offerer.createOffer())
    await answerer.setRemoteDescription(offerer.localDescription)
    await answerer.setLocalDescription(await answerer.createAnswer())
    await offerer.setRemoteDescription(
        RTCSessionDescription(sdp=answerer.localDescription.sdp, type=answerer.localDescription.type)
    )


async def test_a_loopback_call_goes_through_the_patches(loopback_ice: None) -> None:
    sending, receiving = RTCPeerConnection(), RTCPeerConnection()
    try:
        sending.addTrack(VideoStreamTrack())
        tracks: asyncio.Queue[Any] = asyncio.Queue()
        receiving.on("track", tracks.put_nowait)
        await sending.setLocalDescription(await sending.createOffer())
        await receiving.setRemoteDescription(sending.localDescription)
        (transceiver,) = receiving.getTransceivers()
        assert bound_jitter_wait(transceiver.receiver)
        buffer = getattr(transceiver.receiver, _RECEIVER_ATTR)
        await receiving.setLocalDescription(await receiving.createAnswer())
        await sending.setRemoteDescription(receiving.localDescription)
        track = await asyncio.wait_for(tracks.get(), 10)
        await asyncio.wait_for(track.recv(), 10)
        assert candidate_pair_count(receiving) > 0, "the pairs aioice checks are not where we read them"
        assert getattr(transceiver.receiver, _RECEIVER_ATTR) is buffer
        assert buffer._newest is not None, "aiortc fed its packets to another buffer"
        ice = transceiver.receiver.transport.transport
        assert isinstance(ice, RTCIceTransport)
        pairs = nominated_pairs(ice)
        assert pairs and pairs[0].local_candidate.host == "127.0.0.1", VERSIONS
    finally:
        await sending.close()
        await receiving.close()
    assert candidate_pair_count(object()) == 0 and nominated_pairs(object()) == []
