"""Browsers' ICE candidates as the server meets them. A connection that cannot form says why
(transport/ice_diagnosis.py): the server's ICE candidates are all loopback and the client's are
only mDNS names (or none), the dead end of a browser meeting ``--ice-host 127.0.0.1`` (the
browser's side of it is in tests/e2e_browser/test_browser.py). And mDNS names in an offer never
hold up its answer (transport/mdns.py)."""

from __future__ import annotations

import asyncio
import logging
import re
import threading
import uuid
import warnings
from pathlib import Path

import aioice.ice
import httpx
import pytest
from aiortc import RTCConfiguration, RTCPeerConnection

from openreactor.serve import create_serve_app
from openreactor.settings import Settings
from openreactor.transport.ice_diagnosis import LOOPBACK_HINT, host_addresses_notice, loopback_dead_end
from openreactor.transport.mdns import defer_mdns_candidates
from reactor_rtc import IceCandidate, describe_candidate, sdp_candidates, set_host_addresses
from support.servers import ServerFactory, ServerProcess

with warnings.catch_warnings():  # starlette's "use httpx2" notice; httpx is what the suite has
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient
from support.waiting import eventually, wait_until

HEADERS = {"Reactor-API-Version": "1", "Reactor-API-Accept-Version": "1", "Reactor-WebRTC-Version": "1.0"}
MDNS = "candidate:2129227259 1 udp 2113937151 a8068517-cb2b-4264-8b11-f758ac5bdf93.local 49071 typ host generation 0"
LOOPBACK = IceCandidate("127.0.0.1", 55120, "host")


def test_candidate_lines_are_read_from_both_forms() -> None:
    assert describe_candidate(MDNS) == IceCandidate("a8068517-cb2b-4264-8b11-f758ac5bdf93.local", 49071, "host")
    assert describe_candidate(
        "a=candidate:1 1 UDP 5 192.0.2.2 9 typ srflx raddr 1.2.3.4 rport 1"
    ) == IceCandidate("192.0.2.2", 9, "srflx")
    assert describe_candidate("a=end-of-candidates") is None
    sdp = "v=0\r\na=candidate:1 1 udp 5 127.0.0.1 9 typ host\r\nm=x\r\na=candidate:1 1 udp 5 127.0.0.1 9 typ host\r\n"
    assert sdp_candidates(sdp) == [IceCandidate("127.0.0.1", 9, "host")]


def test_the_loopback_dead_end_and_nothing_else() -> None:
    mdns = describe_candidate(MDNS)
    assert mdns is not None and mdns.mdns and not mdns.loopback
    none = loopback_dead_end([LOOPBACK], [])
    assert none is not None and "no candidate at all" in none and LOOPBACK_HINT in none
    only_mdns = loopback_dead_end([LOOPBACK], [mdns])
    assert only_mdns is not None and "a8068517-cb2b-4264-8b11-f758ac5bdf93.local:49071" in only_mdns
    assert "127.0.0.1:55120 host" in only_mdns
    # An address the server can check, or a server address a browser can use: something else.
    assert loopback_dead_end([LOOPBACK], [mdns, IceCandidate("127.0.0.1", 1, "host")]) is None
    assert loopback_dead_end([IceCandidate("192.0.2.2", 1, "host")], [mdns]) is None
    assert loopback_dead_end([LOOPBACK, IceCandidate("203.0.113.9", 1, "srflx")], [mdns]) is None
    assert loopback_dead_end([], [mdns]) is None


def test_the_startup_notice_warns_when_ice_offers_only_loopback() -> None:
    level, message = host_addresses_notice(["127.0.0.1"], configured=True)
    assert level == logging.WARNING and "only loopback" in message and LOOPBACK_HINT in message
    level, message = host_addresses_notice(["192.0.2.2", "127.0.0.1"], configured=False)
    assert level == logging.INFO and message == "ICE offers 192.0.2.2, 127.0.0.1 (from this machine's network interfaces)"


def _mdns_only(sdp: str) -> tuple[str, list[str]]:
    """The offer without its candidates, and those candidates with their addresses hidden behind
    random ``.local`` names, as Chromium trickles them when no camera permission was granted."""
    kept, hidden = [], []
    for line in sdp.split("\r\n"):
        if line.startswith("a=candidate:"):
            parts = line[2:].split()
            parts[4] = f"{uuid.uuid4()}.local"
            hidden.append(" ".join(parts))
        elif line != "a=end-of-candidates":
            kept.append(line)
    return "\r\n".join(kept), hidden


async def test_server_warns_when_a_client_offers_only_mdns_names_to_loopback_ice(server_factory: ServerFactory) -> None:
    set_host_addresses(["127.0.0.1"])
    with server_factory(model="probe", ice_host="127.0.0.1") as server:
        proc: ServerProcess = server
        async with httpx.AsyncClient(base_url=proc.url, headers=HEADERS, timeout=10) as http:
            sid = (await http.post("/start_session", json={})).json()["session_id"]
            base = f"/sessions/{sid}/transport/webrtc"
            pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
            try:
                pc.createDataChannel("data")
                await pc.setLocalDescription(await pc.createOffer())
                offer, hidden = _mdns_only(pc.localDescription.sdp)
                assert hidden
                cid = (await http.post(f"{base}/connections", json={})).json()["connection_id"]
                r = await http.post(f"{base}/connections/{cid}/sdp_params", json={"sdp_offer": offer})
                assert r.status_code == 202, r.text
                items = [{"candidate": c, "sdp_mid": "0", "sdp_mline_index": 0} for c in hidden]
                r = await http.post(f"{base}/connections/{cid}/ice_candidates", json={"candidates": items})
                assert r.status_code == 202, r.text
                await eventually(
                    lambda: "is not connecting" in proc.log(), interval=0.1, what="the server's ICE warning"
                )
            finally:
                await pc.close()
        log = proc.log()
    warnings = [line for line in log.splitlines() if "is not connecting" in line]
    assert len(warnings) == 1, log[-4000:]
    line = warnings[0]
    assert "WARNING" in line and f"connection {cid} " in line
    assert re.search(r"127\.0\.0\.1:\d+ host", line), line  # the server's own candidate
    assert hidden[0].split()[4] in line, line  # the client's mDNS names
    assert "without --ice-host" in line and "--allow-loopback-in-peer-connection" in line
    # aioice's own narration of the unresolvable names stays out of an info-level log.
    assert "could not be resolved" not in log


# -- mDNS candidates in an offer never hold up the answer (transport/mdns.py) ---------------------


def test_mdns_candidates_are_taken_out_of_the_offer_with_their_end_marker() -> None:
    sdp = "\r\n".join(
        [
            "v=0",
            "m=video 9 UDP/TLS/RTP/SAVPF 96",
            "a=mid:0",
            "a=candidate:1 1 udp 5 abc.local 9 typ host",
            "a=candidate:2 1 udp 5 192.0.2.7 9 typ host",
            "a=end-of-candidates",
            "m=application 9 UDP/DTLS/SCTP webrtc-datachannel",
            "a=mid:1",
            "a=end-of-candidates",
            "",
        ]
    )
    deferred = defer_mdns_candidates(sdp)
    assert deferred.candidates == [("candidate:1 1 udp 5 abc.local 9 typ host", "0", 0)]
    assert deferred.end_of_candidates
    assert "abc.local" not in deferred.sdp and "192.0.2.7" in deferred.sdp
    assert deferred.sdp.count("a=end-of-candidates") == 1  # the other section's stays
    untouched = defer_mdns_candidates(sdp.replace("abc.local", "192.0.2.8"))
    assert untouched.sdp == sdp.replace("abc.local", "192.0.2.8") and not untouched.candidates


def test_an_offer_with_mdns_candidates_is_answered_while_they_resolve(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """aioice resolves a ``.local`` name when the candidate is added (up to a second per offer);
    here the resolution does not end until the answer is in hand, so an answer that waited for it
    would never come."""
    answered = threading.Event()
    asked: list[str] = []

    class NeverAnswering:
        async def resolve(self, hostname: str, timeout: float | None = 1.0) -> str | None:
            asked.append(hostname)
            while not answered.is_set():
                await asyncio.sleep(0.01)
            return None

    async def fake_protocol(subscriber: object) -> NeverAnswering:
        return NeverAnswering()

    monkeypatch.setattr(aioice.ice, "get_or_create_mdns_protocol", fake_protocol)
    set_host_addresses(["127.0.0.1"])
    app = create_serve_app(Settings(model="probe", state_dir=tmp_path / "state", ice_host_addresses=("127.0.0.1",)))
    offer = asyncio.run(_offer_with_embedded_mdns_candidates())
    with TestClient(app, headers=HEADERS) as client:
        sid = client.post("/start_session", json={}).json()["session_id"]
        base = f"/sessions/{sid}/transport/webrtc"
        cid = client.post(f"{base}/connections", json={}).json()["connection_id"]
        try:
            r = client.post(f"{base}/connections/{cid}/sdp_params", json={"sdp_offer": offer})
            assert r.status_code == 202, r.text
            r = client.get(f"{base}/connections/{cid}/sdp_params")
            assert r.status_code == 200 and "a=candidate:" in r.json()["sdp_answer"], r.text
        finally:
            answered.set()
        wait_until(lambda: asked, what="the mDNS names to be looked up after the answer")
        assert all(name.endswith(".local") for name in asked), asked  # added after all
        client.post("/stop_session", json={})


async def _offer_with_embedded_mdns_candidates() -> str:
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    try:
        pc.createDataChannel("data")
        await pc.setLocalDescription(await pc.createOffer())
        lines = []
        for line in pc.localDescription.sdp.split("\r\n"):
            if line.startswith("a=candidate:"):
                parts = line.split()
                parts[4] = f"{uuid.uuid4()}.local"
                line = " ".join(parts)
            lines.append(line)
        sdp = "\r\n".join(lines)
        assert ".local" in sdp and "a=end-of-candidates" in sdp
        return sdp
    finally:
        await pc.close()
