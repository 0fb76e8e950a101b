"""A bare aiortc client for server tests that need to put exact bytes on the wire.

Deliberately not our SDK: these tests check what the server does with messages no well-behaved
client would send.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx
from aiortc import RTCConfiguration, RTCDataChannel, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamTrack

from reactor_protocol.messages import Channel, Envelope
from reactor_protocol.wire import codec_for
from reactor_rtc import set_host_addresses

HEADERS = {"Reactor-API-Version": "1", "Reactor-API-Accept-Version": "1", "Reactor-WebRTC-Version": "1.0"}


@dataclass
class RawClient:
    http: httpx.AsyncClient
    session_id: str
    connection_id: int
    pc: RTCPeerConnection
    channels: dict[str, RTCDataChannel]
    inbox: asyncio.Queue[tuple[str, bytes | str]] = field(default_factory=asyncio.Queue)
    video: MediaStreamTrack | None = None

    def send_raw(self, channel: str, raw: bytes | str) -> None:
        self.channels[channel].send(raw)

    def send(self, env: Envelope, wire: str = "v1") -> None:
        codec = codec_for(wire)  # type: ignore[arg-type]
        self.channels[codec.wire_channel(env) if wire == "v0" else env.channel.value].send(
            codec.encode(env, "client")
        )

    async def receive(self, wire: str = "v1", timeout: float = 5.0) -> Envelope:
        label, raw = await asyncio.wait_for(self.inbox.get(), timeout)
        return codec_for(wire).decode(raw, Channel(label), "server")  # type: ignore[arg-type]


@contextlib.asynccontextmanager
async def raw_client(
    url: str, *, channels: tuple[str, ...] = ("data", "control"), legacy: bool = False, start: bool = True
) -> AsyncIterator[RawClient]:
    """Start a session (or join the running one), connect one peer, yield it; close afterwards."""
    set_host_addresses(["127.0.0.1"])
    async with httpx.AsyncClient(base_url=url, headers=HEADERS, timeout=10) as http:
        if start:
            r = await http.post("/start_session", json={})
        else:
            r = await http.get("/session")
        r.raise_for_status()
        sid = r.json()["session_id"]
        base = f"/sessions/{sid}/transport/webrtc"
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        transceiver = pc.addTransceiver("video", direction="recvonly")
        opened = {label: pc.createDataChannel(label) for label in channels}
        client = RawClient(http, sid, 0, pc, opened)
        for label, channel in opened.items():
            channel.on("message", lambda raw, label=label: client.inbox.put_nowait((label, raw)))

        @pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            client.video = track

        await pc.setLocalDescription(await pc.createOffer())
        offer = {
            "sdp_offer": pc.localDescription.sdp,
            "track_mapping": [
                {"name": "main_video", "kind": "video", "direction": "recvonly", "mid": transceiver.mid}
            ],
        }
        if legacy:
            r = await http.post(f"{base}/sdp_params", json=offer)
            assert r.status_code == 202, r.text
            answer_url = f"{base}/sdp_params"
        else:
            r = await http.post(f"{base}/connections", json={})
            client.connection_id = r.json()["connection_id"]
            r = await http.post(f"{base}/connections/{client.connection_id}/sdp_params", json=offer)
            assert r.status_code == 202, r.text
            answer_url = f"{base}/connections/{client.connection_id}/sdp_params"
        r = await http.get(answer_url)
        assert r.status_code == 200, "the answer must be ready at the first poll"
        await pc.setRemoteDescription(RTCSessionDescription(r.json()["sdp_answer"], "answer"))
        for _ in range(200):
            if pc.connectionState == "connected" and all(c.readyState == "open" for c in opened.values()):
                break
            await asyncio.sleep(0.05)
        assert pc.connectionState == "connected"
        try:
            yield client
        finally:
            await pc.close()
