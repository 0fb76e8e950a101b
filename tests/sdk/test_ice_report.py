"""The ICE part of a failed connection's error: candidates of both sides and a hint."""

from __future__ import annotations

import re

import pytest
from aiortc import RTCPeerConnection, RTCSessionDescription

from reactor_rtc import IceCandidate, sdp_candidates, set_host_addresses
from reactor_sdk import TransportError
from reactor_sdk.connection import PeerLink, RequestIds, TrackSpec
from reactor_sdk.frame_reader import FrameSinks
from reactor_sdk.ice_report import describe_ice_attempt, ice_hint

pytestmark = pytest.mark.timeout(60)

SDP = """v=0\r
o=- 1 1 IN IP4 0.0.0.0\r
s=-\r
m=video 9 UDP/TLS/RTP/SAVPF 96\r
a=candidate:1 1 udp 2130706431 192.168.1.20 50000 typ host\r
a=candidate:2 1 udp 1694498815 203.0.113.7 50001 typ srflx raddr 192.168.1.20 rport 50000\r
a=candidate:3 1 tcp 1518280447 192.168.1.20 9 typ host tcptype active\r
a=candidate:4 1 udp 2130706431 fe80::1 50002 typ host\r
m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r
a=candidate:1 1 udp 2130706431 192.168.1.20 50000 typ host\r
a=end-of-candidates\r
"""


def cand(address: str, port: int = 5000, kind: str = "host") -> IceCandidate:
    return IceCandidate(address, port, kind)


def test_candidates_are_read_from_the_sdp_once_each() -> None:
    got = sdp_candidates(SDP)
    assert [str(c) for c in got] == [
        "192.168.1.20:50000 host",
        "203.0.113.7:50001 srflx",
        "192.168.1.20:9 host/tcp",
        "[fe80::1]:50002 host",
    ]
    assert sdp_candidates(None) == [] and sdp_candidates("v=0\r\n") == []


def test_hints() -> None:
    loop = [cand("127.0.0.1")]
    lan = [cand("192.168.1.20")]
    assert "server offered no ICE candidates" in ice_hint(lan, [])
    assert "client gathered no ICE candidates" in ice_hint([], lan)
    only_loopback = ice_hint(lan, loop)
    assert "only loopback addresses" in only_loopback
    assert "ice_host_addresses=['127.0.0.1']" in only_loopback and "without --ice-host" in only_loopback
    assert "container" in ice_hint(loop, loop)
    assert "client offered only loopback" in ice_hint(loop, lan)
    assert "UDP" in ice_hint(lan, [cand("10.0.0.2")]) and "--ice-public" in ice_hint(lan, [cand("10.0.0.2")])


def test_description_lists_both_sides() -> None:
    text = describe_ice_attempt(SDP, "a=candidate:1 1 udp 1 127.0.0.1 40000 typ host\r\n")
    assert text.startswith("local ICE candidates: 192.168.1.20:50000 host, 203.0.113.7:50001 srflx")
    assert "remote ICE candidates (from the server): 127.0.0.1:40000 host." in text
    assert "Hint: the server offered only loopback addresses" in text


def link() -> PeerLink:
    return PeerLink(
        [TrackSpec("main_video", "video", "recvonly")],
        [],
        request_ids=RequestIds(),
        sinks=FrameSinks(),
        on_envelope=lambda link, env: None,
        on_lost=lambda link, reason: None,
    )


async def test_a_peer_that_never_connects_names_the_candidates_tried() -> None:
    """A real aiortc answer whose candidates point at a port where nothing listens."""
    set_host_addresses(["127.0.0.1"])
    client = link()
    server = RTCPeerConnection()
    try:
        sdp, _ = await client.create_offer()
        await server.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
        await server.setLocalDescription(await server.createAnswer())
        answer = server.localDescription.sdp
        # Every server candidate moves to the discard port: ICE checks go unanswered.
        dead = re.sub(r"(a=candidate:\S+ \d+ udp \d+ 127\.0\.0\.1) \d+ ", r"\1 9 ", answer)
        await server.close()
        await client.accept_answer(dead)
        with pytest.raises(TransportError) as info:
            await client.wait_ready(1.0)
    finally:
        await server.close()
        await client.close()
    message = info.value.message
    local_port = sdp_candidates(sdp)[0].port
    assert f"local ICE candidates: 127.0.0.1:{local_port} host" in message
    assert "remote ICE candidates (from the server): 127.0.0.1:9 host" in message
    assert "(ICE " in message and "Hint:" in message


async def test_no_answer_at_all_says_the_server_offered_nothing() -> None:
    set_host_addresses(["127.0.0.1"])
    client = link()
    try:
        await client.create_offer()
        with pytest.raises(TransportError) as info:
            await client.wait_ready(0.2)
    finally:
        await client.close()
    message = info.value.message
    assert message.startswith("peer not connected within 0.2 s (ICE new, peer new)")
    assert "local ICE candidates: 127.0.0.1:" in message
    assert "remote ICE candidates (from the server): none" in message
    assert "the server offered no ICE candidates" in message
