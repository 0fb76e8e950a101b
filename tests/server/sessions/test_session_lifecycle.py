"""Session timers, re-offers, keyframes and shutdown, over real WebRTC on loopback."""

from __future__ import annotations

import asyncio

import httpx

from reactor_protocol.messages import Channel, Command, Envelope, Kind, Ping, ResumeTrack, SessionEnded
from support.rtc_client import HEADERS, raw_client
from support.servers import ServerFactory
from support.waiting import eventually


async def test_unknown_track_in_resume_gets_an_error(probe_server: str) -> None:
    async with raw_client(probe_server) as c:
        c.send(Envelope.notification(Channel.CONTROL, ResumeTrack("nope")))
        err = await c.receive()
        assert err.payload.code == "unknown_track"  # type: ignore[union-attr]


async def test_silent_connection_is_dropped_and_session_expires(server_factory: ServerFactory) -> None:
    # The keep-alive window is the time the poll below has to see the session suspended.
    with server_factory(extra=["--liveness-timeout", "2", "--keepalive", "5"]) as server:
        async with raw_client(server.url) as c:
            c.send(Envelope.notification(Channel.CONTROL, Ping()))
            # Silent from here: dropped after ~2 s, then the session lives 5 s more and ends.
            async with httpx.AsyncClient(base_url=server.url, headers=HEADERS, timeout=30) as http:
                states: list[str | int] = []

                async def ended() -> bool:
                    r = await http.get("/session")
                    states.append(r.json()["state"] if r.status_code == 200 else r.status_code)
                    return r.status_code == 404

                await eventually(ended, timeout=60, interval=0.25, what="the silent session to end")
            assert "suspended" in states, states


async def test_reoffer_on_same_connection_keeps_the_session(probe_server: str) -> None:
    async with raw_client(probe_server) as c:
        c.send(Envelope(Channel.DATA, Kind.REQUEST, Command("set_value", {"value": 99.0}), "data_1"))
        assert (await c.receive()).request_id == "data_1"
        cid, sid = c.connection_id, c.session_id
    # The first peer is closed; a new peer re-offers on the same connection id (PUT).
    from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

    from openreactor.models.builtin.probe_pattern import decode_probe

    async with httpx.AsyncClient(base_url=probe_server, headers=HEADERS, timeout=30) as http:
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        t = pc.addTransceiver("video", direction="recvonly")
        control = pc.createDataChannel("control")
        pc.createDataChannel("data")
        await pc.setLocalDescription(await pc.createOffer())
        url = f"/sessions/{sid}/transport/webrtc/connections/{cid}/sdp_params"
        offer = {
            "sdp_offer": pc.localDescription.sdp,
            "track_mapping": [{"name": "main_video", "kind": "video", "direction": "recvonly", "mid": t.mid}],
        }
        assert (await http.put(url, json=offer)).status_code == 202
        got: list = []
        pc.on("track", got.append)
        await pc.setRemoteDescription(
            RTCSessionDescription((await http.get(url)).json()["sdp_answer"], "answer")
        )
        await eventually(
            lambda: control.readyState == "open" and got, what="the re-offered peer's channel and track"
        )
        from reactor_protocol.wire import codec_for

        control.send(
            codec_for("v1").encode(
                Envelope.notification(Channel.CONTROL, ResumeTrack("main_video")), "client"
            )
        )
        code = None
        for _ in range(20):
            code = decode_probe((await asyncio.wait_for(got[0].recv(), 30)).to_ndarray(format="rgb24"))
            if code:
                break
        assert code is not None and code.value == 99, "server-side state survives the re-offer"
        assert code.counter > 0
        assert (await http.get("/session")).json()["session_id"] == sid
        await pc.close()


async def test_sigterm_tells_clients_and_exits_cleanly(server_factory: ServerFactory) -> None:
    with server_factory() as server:
        async with raw_client(server.url) as c:
            # The server has heard from this connection (a request answered) before the signal.
            ack = await c.request(Channel.DATA, Command("set_value", {"value": 1.0}), "data_1")
            assert ack.payload is None
            server.process.send_signal(15)
            ended = await c.receive()
            assert ended.payload == SessionEnded("server_shutdown")
            # How fast it exits is bench/bench_faults.py's to measure; here: it exits, cleanly.
            status = await asyncio.to_thread(server.process.wait, 60)
            assert status == 0, server.log()
