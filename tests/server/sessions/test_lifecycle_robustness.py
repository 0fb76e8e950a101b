"""Lifecycle edge cases over real HTTP and WebRTC, with ``/debug/resources`` to check for leaks."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

from reactor_protocol.messages import Channel, Command, UploadRef
from support.resource_counts import resources, settle
from support.rtc_client import HEADERS, raw_client
from support.servers import ServerFactory
from support.waiting import eventually

ECHO = {"model": "echo", "width": 320, "height": 180, "fps": 10}
SIG = "/sessions/{sid}/transport/webrtc"


async def offer_from_new_pc() -> tuple[RTCPeerConnection, dict[str, Any]]:
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    t = pc.addTransceiver("video", direction="recvonly")
    pc.createDataChannel("data")
    pc.createDataChannel("control")
    await pc.setLocalDescription(await pc.createOffer())
    mapping = [{"name": "main_video", "kind": "video", "direction": "recvonly", "mid": t.mid}]
    return pc, {"sdp_offer": pc.localDescription.sdp, "track_mapping": mapping}


def test_debug_endpoint_is_off_by_default(echo_server: str) -> None:
    assert httpx.get(f"{echo_server}/debug/resources").status_code == 404


async def test_double_stop(server_factory: ServerFactory) -> None:
    with server_factory(**ECHO) as server:
        async with raw_client(server.url) as c:
            c.send_raw("control", b"\x10\x03\x52\x00")  # ping
            stops = await asyncio.gather(*(c.http.post("/stop_session") for _ in range(2)))
            assert sorted(r.status_code for r in stops) in ([200, 200], [200, 409]), [r.text for r in stops]
            assert (await c.http.post("/stop_session")).status_code == 409
            assert (await c.http.get("/session")).status_code == 404
            health = (await c.http.get("/health")).json()
            assert health["state"] == "available"


async def test_reoffers_leave_exactly_one_peer_connection(server_factory: ServerFactory) -> None:
    with server_factory(**ECHO, extra=["--debug-endpoints"]) as server:
        async with raw_client(server.url) as c:
            url = SIG.format(sid=c.session_id) + f"/connections/{c.connection_id}/sdp_params"
            for _ in range(20):
                pc, offer = await offer_from_new_pc()
                assert (await c.http.put(url, json=offer)).status_code == 202
                assert (await c.http.get(url)).status_code == 200
                await pc.close()
            counts = await settle(c.http, lambda r: r["peer_connections"] <= 1)
            assert counts["peer_connections"] == 1, counts
            # The last re-offer actually connects, on the same connection id and session.
            pc, offer = await offer_from_new_pc()
            assert (await c.http.put(url, json=offer)).status_code == 202
            await pc.setRemoteDescription(
                RTCSessionDescription((await c.http.get(url)).json()["sdp_answer"], "answer")
            )
            await eventually(lambda: pc.connectionState == "connected", what="the re-offered peer to connect")
            counts = await settle(c.http, lambda r: r["peer_connections"] == 1)
            assert counts["peer_connections"] == 1 and counts["sessions"] == 1, counts
            assert (await c.http.get("/session")).json()["session_id"] == c.session_id
            await pc.close()


async def test_connection_that_never_connects_is_reaped(server_factory: ServerFactory) -> None:
    # Long enough for the count below to see the connection before it is reaped.
    with server_factory(**ECHO, extra=["--debug-endpoints", "--negotiation-timeout", "5"]) as server:
        async with httpx.AsyncClient(base_url=server.url, headers=HEADERS, timeout=10) as http:
            sid = (await http.post("/start_session", json={})).json()["session_id"]
            cid = (await http.post(SIG.format(sid=sid) + "/connections", json={})).json()["connection_id"]
            pc, offer = await offer_from_new_pc()  # its answer is never applied: ICE cannot complete
            url = SIG.format(sid=sid) + f"/connections/{cid}/sdp_params"
            assert (await http.post(url, json=offer)).status_code == 202
            assert (await http.get(url)).status_code == 200
            assert (await resources(http))["peer_connections"] == 1
            counts = await settle(http, lambda r: r["peer_connections"] == 0)
            assert counts["peer_connections"] == 0, counts
            assert (await http.get("/session")).json()["state"] == "suspended"
            await pc.close()


async def test_signalling_answers_404_after_the_keepalive_window(server_factory: ServerFactory) -> None:
    with server_factory(**ECHO, extra=["--keepalive", "1"]) as server:
        async with raw_client(server.url) as c:
            sid, cid = c.session_id, c.connection_id
        async with httpx.AsyncClient(base_url=server.url, headers=HEADERS, timeout=30) as http:

            async def ended() -> bool:
                return (await http.get("/session")).status_code == 404

            await eventually(ended, interval=0.2, what="the session to end after the keep-alive window")
            base = SIG.format(sid=sid)
            _, offer = await offer_from_new_pc()
            calls = [
                http.get(f"{base}/ice_servers"),
                http.post(f"{base}/connections", json={}),
                http.get(f"{base}/connections/{cid}/sdp_params"),
                http.put(f"{base}/connections/{cid}/sdp_params", json=offer),
                http.post(
                    f"{base}/connections/{cid}/ice_candidates", json={"candidates": [], "is_final": True}
                ),
                http.post(f"/sessions/{sid}/uploads", json={"name": "a", "size": 1}),
            ]
            for r in await asyncio.gather(*calls):
                assert r.status_code == 404, (r.request.method, r.request.url, r.text)


async def one_session(url: str) -> None:
    async with raw_client(url) as c:
        c.send_raw("control", b"\x10\x03\x52\x00")  # ping
        r = await c.http.post(f"/sessions/{c.session_id}/uploads", json={"name": "f.bin", "size": 3})
        assert (await c.http.put(r.json()["presigned_url"], content=b"abc")).status_code == 200
        ref = UploadRef(r.json()["presigned_id"], "f.bin", "application/octet-stream", 3)
        reply = await c.request(Channel.DATA, Command("use", {}, {"f": ref}), "data_1")
        assert reply.payload is not None
        # A re-offer on the same connection, then a stop while connected.
        pc, offer = await offer_from_new_pc()
        url_ = SIG.format(sid=c.session_id) + f"/connections/{c.connection_id}/sdp_params"
        assert (await c.http.put(url_, json=offer)).status_code == 202
        await pc.close()
        assert (await c.http.post("/stop_session")).status_code == 200


async def test_nothing_leaks_across_sessions(server_factory: ServerFactory) -> None:
    with server_factory(**ECHO, extra=["--debug-endpoints"]) as server:
        async with httpx.AsyncClient(base_url=server.url, headers=HEADERS, timeout=10) as http:
            await one_session(server.url)  # warm-up: lazily started pools and caches
            idle = await settle(http, lambda r: r["sessions"] == 0 and r["peer_connections"] == 0)
            for _ in range(3):
                await one_session(server.url)

            def back_to_idle(r: dict[str, Any]) -> bool:
                return (
                    r["sessions"] == 0
                    and r["peer_connections"] == 0
                    and r["upload_files"] == 0
                    and r["asyncio_tasks"] <= idle["asyncio_tasks"]
                    and r["threads"] - r["executor_threads"] <= idle["threads"] - idle["executor_threads"]
                    and r["open_fds"] <= idle["open_fds"]
                )

            after = await settle(http, back_to_idle)
            assert back_to_idle(after), {"idle": idle, "after": after}
