"""Input tracks over real WebRTC: a raw client publishes colours, the webcam model sends them back."""

from __future__ import annotations

import httpx
import numpy as np

from openreactor.models.builtin.webcam import webcam_effect
from reactor_protocol.messages import (
    Channel,
    Envelope,
    ErrorMessage,
    Ping,
    PublishTrack,
    PublishTrackResponse,
    ResumeTrack,
    UnpublishTrack,
)
from support.rtc_client import HEADERS, RawClient, SolidVideoTrack, raw_client
from support.servers import ServerFactory

W, H = 320, 180
WEBCAM = {"model": "webcam", "width": W, "height": H, "fps": 15}
LEFT, RIGHT = (224, 32, 96), (32, 224, 160)
"""Input colours at the centre of the model's posterisation levels, so codec noise cannot flip them."""


def two_colour_picture() -> np.ndarray:
    picture = np.empty((180, 320, 3), np.uint8)
    picture[:, :160], picture[:, 160:] = LEFT, RIGHT
    return picture


def expected_output() -> np.ndarray:
    return webcam_effect(two_colour_picture(), W, H)


def looks_like(frame: np.ndarray, expected: np.ndarray, tolerance: float = 24.0) -> bool:
    """Mean colours of the four quadrant centres match (robust to VP8 twice over)."""
    for y in (H // 4, 3 * H // 4):
        for x in (W // 4, 3 * W // 4):
            got = frame[y - 8 : y + 8, x - 8 : x + 8].reshape(-1, 3).mean(axis=0)
            want = expected[y - 8 : y + 8, x - 8 : x + 8].reshape(-1, 3).mean(axis=0)
            if np.abs(got - want).max() > tolerance:
                return False
    return True


async def wait_for_output(c: RawClient, want: bool, frames: int = 90) -> np.ndarray:
    expected = expected_output()
    for _ in range(frames):
        frame = await c.frame()
        if looks_like(frame, expected) == want:
            return frame
    raise AssertionError(f"no output frame {'matched' if want else 'left'} the transformed input")


async def test_published_webcam_comes_back_transformed(server_factory: ServerFactory) -> None:
    with server_factory(**WEBCAM) as server:
        d = httpx.post(f"{server.url}/start_session", headers=HEADERS, json={}).json()
        assert {"name": "webcam", "kind": "video", "direction": "sendonly"} in d["capabilities"]["tracks"]
        source = SolidVideoTrack(two_colour_picture())
        async with raw_client(server.url, start=False, publish={"webcam": source}) as c:
            c.send(Envelope.notification(Channel.CONTROL, ResumeTrack("main_video")))
            # Frames flow on the m-section, but until the client claims the slot the model waits.
            frame = await c.frame()
            assert not looks_like(frame, expected_output())
            assert source.sent > 0
            reply = await c.request(Channel.CONTROL, PublishTrack("webcam"), "ctrl_1")
            assert reply.payload == PublishTrackResponse("webcam")
            frame = await wait_for_output(c, True)
            # Mirrored: the left half of the output carries the right half of the input, tinted.
            assert frame[H // 2, W // 4, 1] > 150 and frame[H // 2, 3 * W // 4, 0] > 120
            c.send(Envelope.notification(Channel.CONTROL, UnpublishTrack("webcam")))
            await wait_for_output(c, False)  # the model sees no input again: the waiting pattern


async def test_publish_refusals(server_factory: ServerFactory) -> None:
    with server_factory(**WEBCAM) as server:
        async with raw_client(server.url) as first, raw_client(server.url, start=False) as second:
            first.send(Envelope.notification(Channel.CONTROL, Ping()))
            second.send(Envelope.notification(Channel.CONTROL, Ping()))
            ok = await first.request(Channel.CONTROL, PublishTrack("webcam"), "ctrl_1")
            assert ok.payload == PublishTrackResponse("webcam")
            again = await first.request(Channel.CONTROL, PublishTrack("webcam"), "ctrl_2")
            assert again.payload == PublishTrackResponse("webcam"), "the holder may claim again"
            taken = await second.request(Channel.CONTROL, PublishTrack("webcam"), "ctrl_1")
            assert isinstance(taken.payload, ErrorMessage) and taken.payload.code == "publish_refused"
            unknown = await second.request(Channel.CONTROL, PublishTrack("microphone"), "ctrl_2")
            assert isinstance(unknown.payload, ErrorMessage) and unknown.payload.code == "unknown_track"
            assert "webcam" in unknown.payload.message
            first.send(Envelope.notification(Channel.CONTROL, UnpublishTrack("webcam")))
            freed = await second.request(Channel.CONTROL, PublishTrack("webcam"), "ctrl_3")
            assert freed.payload == PublishTrackResponse("webcam")
