"""ModelVideoTrack with a real VP8 encoder: pausing, resuming, keyframes, newest-frame-wins."""

from __future__ import annotations

import asyncio

import av
import pytest
from aiortc.mediastreams import MediaStreamError

from openreactor.models.builtin.probe_pattern import ProbeRenderer, decode_probe
from openreactor.models.frame_slot import FrameSlot
from openreactor.transport.video_encoder import EncoderSettings
from openreactor.transport.video_out import ModelVideoTrack


def is_keyframe(packet: av.Packet) -> bool:
    return bytes(packet)[0] & 1 == 0  # VP8 frame tag: P bit clear on keyframes


async def publish_frames(slot: FrameSlot, renderer: ProbeRenderer, start: int, count: int) -> None:
    loop = asyncio.get_running_loop()
    for n in range(start, start + count):
        slot.publish(renderer.render(n, 0), loop.time())
        await asyncio.sleep(1 / 60)


async def test_keyframe_first_and_after_every_resume() -> None:
    slot, renderer = FrameSlot(), ProbeRenderer(640, 360)
    track = ModelVideoTrack("main_video", slot, EncoderSettings(keyframe_interval_s=100), paused=True)
    producer = asyncio.create_task(publish_frames(slot, renderer, 0, 300))
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(track.recv(), 0.3)  # paused: nothing encoded
    track.resume()
    kinds = [is_keyframe(await track.recv()) for _ in range(5)]
    assert kinds == [True, False, False, False, False]
    track.pause()
    await asyncio.sleep(0.1)
    track.resume()
    assert is_keyframe(await track.recv())
    assert not is_keyframe(await track.recv())
    producer.cancel()
    track.stop()


async def test_slow_reader_gets_the_newest_frame_and_decodes_it() -> None:
    slot, renderer = FrameSlot(), ProbeRenderer(640, 360)
    track = ModelVideoTrack("main_video", slot, EncoderSettings(), paused=False)
    loop = asyncio.get_running_loop()
    for n in range(10):
        slot.publish(renderer.render(n, 5), loop.time())
    packet = await track.recv()
    decoder = av.CodecContext.create("libvpx", "r")
    (frame,) = decoder.decode(packet)
    code = decode_probe(frame.to_ndarray(format="rgb24"))
    assert code is not None and (code.counter, code.value) == (9, 5)
    slot.close()
    with pytest.raises(MediaStreamError):  # the slot is closed
        await track.recv()
