"""A bare aiortc client for server tests that need to put exact bytes on the wire.

Deliberately not our SDK: these tests check what the server does with messages no well-behaved
client would send.
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import av
import httpx
import numpy as np
from aiortc import RTCConfiguration, RTCDataChannel, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamTrack

from reactor_protocol.messages import Channel, Envelope, ErrorMessage, Kind
from reactor_protocol.wire import codec_for
from reactor_rtc import set_host_addresses
from support.waiting import eventually

HEADERS = {"Reactor-API-Version": "1", "Reactor-API-Accept-Version": "1", "Reactor-WebRTC-Version": "1.0"}
WAIT_S = 30.0
"""How long a client waits for a message or a frame before the test fails (only a failure waits this long)."""


@dataclass
class RawClient:
    http: httpx.AsyncClient
    session_id: str
    connection_id: int
    pc: RTCPeerConnection
    channels: dict[str, RTCDataChannel]
    inbox: asyncio.Queue[tuple[str, bytes | str]] = field(default_factory=asyncio.Queue)
    video: MediaStreamTrack | None = None
    others: list[Envelope] = field(default_factory=list)

    def send_raw(self, channel: str, raw: bytes | str) -> None:
        self.channels[channel].send(raw)

    def send(self, env: Envelope, wire: str = "v1") -> None:
        codec = codec_for(wire)  # type: ignore[arg-type]
        self.channels[codec.wire_channel(env) if wire == "v0" else env.channel.value].send(
            codec.encode(env, "client")
        )

    async def receive(self, wire: str = "v1", timeout: float = WAIT_S) -> Envelope:
        label, raw = await asyncio.wait_for(self.inbox.get(), timeout)
        return codec_for(wire).decode(raw, Channel(label), "server")  # type: ignore[arg-type]

    async def request(self, channel: Channel, payload: Any, rid: str, timeout: float = WAIT_S) -> Envelope:
        """Send a REQUEST and return its RESPONSE (other messages meanwhile go to ``others``)."""
        self.send(Envelope(channel, Kind.REQUEST, payload, rid))
        return await self.receive_until(lambda e: e.kind is Kind.RESPONSE and e.request_id == rid, timeout)

    async def receive_until(self, match: Callable[[Envelope], bool], timeout: float = WAIT_S) -> Envelope:
        """The first message that matches; the ones before it are kept in ``others``."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            env = await self.receive(timeout=max(0.01, deadline - asyncio.get_running_loop().time()))
            if match(env):
                return env
            self.others.append(env)

    async def frame(self, timeout: float = WAIT_S) -> np.ndarray:
        """The next decoded output frame as RGB."""
        assert self.video is not None
        frame = await asyncio.wait_for(self.video.recv(), timeout)
        return np.asarray(frame.to_ndarray(format="rgb24"))


def is_error(code: str) -> Callable[[Envelope], bool]:
    return lambda e: isinstance(e.payload, ErrorMessage) and e.payload.code == code


class SolidVideoTrack(MediaStreamTrack):
    """A client-side video source sending one RGB picture (changeable) at ``fps``."""

    kind = "video"

    def __init__(self, picture: np.ndarray, fps: float = 15.0) -> None:
        super().__init__()
        self.picture = picture
        self.fps = fps
        self.sent = 0
        self._start: float | None = None

    async def recv(self) -> av.VideoFrame:
        if self._start is None:
            self._start = time.monotonic()
        due = self._start + self.sent / self.fps
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        frame = av.VideoFrame.from_ndarray(self.picture, format="rgb24")
        frame.pts = self.sent
        frame.time_base = fractions.Fraction(1, int(self.fps))
        self.sent += 1
        return frame


@contextlib.asynccontextmanager
async def raw_client(
    url: str,
    *,
    channels: tuple[str, ...] = ("data", "control"),
    legacy: bool = False,
    start: bool = True,
    publish: dict[str, MediaStreamTrack] | None = None,
) -> AsyncIterator[RawClient]:
    """Start a session (or join the running one), connect one peer, yield it; close afterwards.

    ``publish`` maps input track names to local tracks sent on ``sendonly`` m-sections (the
    publisher slot itself is claimed with a ``publish_track`` request, as real clients do).
    """
    set_host_addresses(["127.0.0.1"])
    async with httpx.AsyncClient(base_url=url, headers=HEADERS, timeout=WAIT_S) as http:
        if start:
            r = await http.post("/start_session", json={})
        else:
            r = await http.get("/session")
        r.raise_for_status()
        sid = r.json()["session_id"]
        base = f"/sessions/{sid}/transport/webrtc"
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        transceiver = pc.addTransceiver("video", direction="recvonly")
        senders = {
            name: pc.addTransceiver(track, direction="sendonly") for name, track in (publish or {}).items()
        }
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
                {"name": "main_video", "kind": "video", "direction": "recvonly", "mid": transceiver.mid},
                *(
                    {"name": name, "kind": "video", "direction": "sendonly", "mid": t.mid}
                    for name, t in senders.items()
                ),
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
        await eventually(
            lambda: (
                pc.connectionState == "connected" and all(c.readyState == "open" for c in opened.values())
            ),
            what="the peer connection and its data channels to open",
        )
        try:
            yield client
        finally:
            await pc.close()
