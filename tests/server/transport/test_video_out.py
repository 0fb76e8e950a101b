"""ModelVideoTrack with a real VP8 encoder: pausing, resuming, keyframes, newest-frame-wins, and a
bitrate that follows the receiver's bandwidth estimate (REMB)."""

from __future__ import annotations

import asyncio
import time
from types import SimpleNamespace
from typing import Any

import av
import pytest
from aiortc.mediastreams import MediaStreamError
from aiortc.rtp import RTCP_PSFB_APP, RtcpPsfbPacket, RtcpReceiverInfo, RtcpRrPacket, pack_remb_fci

from openreactor.models.builtin.probe_pattern import ProbeRenderer, decode_probe
from openreactor.models.frame_slot import FrameSlot
from openreactor.transport import video_encoder
from openreactor.transport.video_encoder import ESTIMATE_SHARE, EncoderSettings, Vp8Encoder
from openreactor.transport.video_out import KEYFRAME_REQUEST_HOLDOFF_S, ModelVideoTrack
from reactor_rtc.patches import forward_bandwidth_estimates


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


def encode_seconds(
    encoder: Vp8Encoder, renderer: ProbeRenderer, start: int, seconds: float
) -> tuple[int, int]:
    """Encode ``seconds`` of 30 fps probe frames; (bits, keyframes) they took."""
    bits = keyframes = 0
    for n in range(start, start + round(seconds * 30)):
        packet = encoder.encode(renderer.render(n, 0), n * 3000, keyframe=False)
        assert packet is not None
        bits += len(bytes(packet)) * 8
        keyframes += packet.is_keyframe
    return bits, keyframes


def test_encoder_bitrate_follows_the_bandwidth_estimate() -> None:
    # 640x360 probe frames need ~2.7 Mbit/s at the default 8 Mbit/s cap (bench/bad_network.py).
    renderer = ProbeRenderer(640, 360)
    encoder = Vp8Encoder(EncoderSettings(bitrate_min=500_000, bitrate_max=8_000_000))
    assert encoder.target_bitrate == 8_000_000 and encoder.bandwidth_estimate is None
    unconstrained, _ = encode_seconds(encoder, renderer, 0, 2)
    encoder.set_bandwidth_estimate(1_000_000)
    assert encoder.bandwidth_estimate == 1_000_000
    bits, keyframes = encode_seconds(encoder, renderer, 60, 2)
    assert encoder.target_bitrate == int(1_000_000 * ESTIMATE_SHARE)
    assert encoder.retargets == 1 and keyframes == 1  # reopened once, at the new target
    assert bits / 2 < 1.2 * encoder.target_bitrate < 0.6 * unconstrained / 2


def test_retargeting_has_hysteresis(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    monkeypatch.setattr(
        video_encoder, "time", SimpleNamespace(monotonic=lambda: now[0], perf_counter=time.perf_counter)
    )
    renderer = ProbeRenderer(640, 360)
    encoder = Vp8Encoder(EncoderSettings(bitrate_min=1_000_000, bitrate_max=8_000_000))
    frame = renderer.render(0, 0)

    def estimate(bps: int, after_s: float) -> int:
        now[0] += after_s
        encoder.set_bandwidth_estimate(bps)
        assert encoder.encode(frame, int(now[0] * 90_000), keyframe=False) is not None
        return encoder.target_bitrate

    assert estimate(4_000_000, 0.0) == 3_400_000  # the first estimate applies at once
    assert estimate(3_500_000, 0.1) == 3_400_000  # within 10 %: no change (each change is a keyframe)
    assert estimate(2_000_000, 0.5) == 3_400_000  # a decrease waits 1 s after the last change
    assert estimate(2_000_000, 0.5) == 1_700_000
    assert estimate(20_000_000, 2.0) == 1_700_000  # an increase waits 3 s
    assert estimate(20_000_000, 1.0) == 8_000_000  # capped at bitrate_max
    assert estimate(100_000, 1.0) == 1_000_000  # and held at bitrate_min
    assert encoder.retargets == 3 and encoder.keyframes == 4  # the first open and one per change


def test_heavy_reported_loss_lowers_the_target_until_loss_falls(monkeypatch: pytest.MonkeyPatch) -> None:
    # A full drop-tail queue shows no growing delay, so REMB alone can stay above the link rate.
    now = [1000.0]
    monkeypatch.setattr(
        video_encoder, "time", SimpleNamespace(monotonic=lambda: now[0], perf_counter=time.perf_counter)
    )
    encoder = Vp8Encoder(EncoderSettings(bitrate_min=1_000_000, bitrate_max=8_000_000))
    frame = ProbeRenderer(640, 360).render(0, 0)

    def after(seconds: float) -> int:
        now[0] += seconds
        assert encoder.encode(frame, int(now[0] * 90_000), keyframe=False) is not None
        return encoder.target_bitrate

    assert after(0) == 8_000_000
    encoder.report_loss(0.05)  # random loss of a few %: no limit
    assert encoder.loss_limit is None and after(1) == 8_000_000
    encoder.report_loss(0.40)
    assert after(1) == 6_400_000  # target * (1 - loss / 2), even without any REMB
    encoder.set_bandwidth_estimate(9_000_000)  # REMB allows more, the loss limit does not
    encoder.report_loss(0.30)
    assert after(1) == 5_440_000
    for _ in range(3):
        encoder.report_loss(0.02)
    assert encoder.loss_limit == int(int(int(5_440_000 * 1.05) * 1.05) * 1.05)
    assert after(3) == encoder.loss_limit  # raised again, 3 s after the last change
    for _ in range(10):
        encoder.report_loss(0.0)
    assert encoder.loss_limit is None and after(3) == 7_650_000  # back to 0.85 * REMB


async def test_keyframe_requests_right_after_a_keyframe_are_held_off() -> None:
    slot, renderer = FrameSlot(), ProbeRenderer(640, 360)
    track = ModelVideoTrack("main_video", slot, EncoderSettings(keyframe_interval_s=100), paused=False)
    producer = asyncio.create_task(publish_frames(slot, renderer, 0, 300))
    assert is_keyframe(await track.recv())
    track.request_keyframe()  # PLI for a loss before the keyframe got there: it answers it already
    assert not is_keyframe(await track.recv())
    assert (track.keyframe_requests, track.keyframe_requests_held_off) == (1, 1)
    await asyncio.sleep(KEYFRAME_REQUEST_HOLDOFF_S)
    track.request_keyframe()
    assert is_keyframe(await track.recv())
    assert (track.keyframe_requests, track.keyframe_requests_held_off) == (2, 1)
    producer.cancel()
    track.stop()


async def test_remb_and_loss_reports_from_the_receiver_reach_our_encoder() -> None:
    handled: list[Any] = []

    class Sender:  # the parts of aiortc's RTCRtpSender that the forwarding uses
        _ssrc = 1234

        async def _handle_rtcp_packet(self, packet: Any) -> None:
            handled.append(packet)

    track = ModelVideoTrack("main_video", FrameSlot(), EncoderSettings(), paused=True)
    sender = Sender()
    forward_bandwidth_estimates(sender, track)  # type: ignore[arg-type]
    other = RtcpPsfbPacket(fmt=RTCP_PSFB_APP, ssrc=1, media_ssrc=0, fci=pack_remb_fci(500_000, [999]))
    remb = RtcpPsfbPacket(fmt=RTCP_PSFB_APP, ssrc=1, media_ssrc=0, fci=pack_remb_fci(2_500_000, [1234]))
    await sender._handle_rtcp_packet(other)
    assert track.encoder.bandwidth_estimate is None  # another stream's estimate
    await sender._handle_rtcp_packet(remb)
    assert track.encoder.bandwidth_estimate == 2_500_000
    reports = [
        RtcpReceiverInfo(
            ssrc=ssrc, fraction_lost=lost, packets_lost=9, highest_sequence=1, jitter=0, lsr=0, dlsr=0
        )
        for ssrc, lost in ((999, 255), (1234, 64))
    ]
    rr = RtcpRrPacket(ssrc=1, reports=reports)
    await sender._handle_rtcp_packet(rr)
    assert track.encoder.loss_limit == int(8_000_000 * (1 - 0.25 / 2))  # 64/256 lost, our stream only
    garbage = RtcpPsfbPacket(fmt=RTCP_PSFB_APP, ssrc=1, media_ssrc=0, fci=b"not a REMB")
    await sender._handle_rtcp_packet(garbage)  # must not raise: that would end aiortc's receive loop
    assert handled == [other, remb, rr, garbage]  # aiortc still sees every packet
    track.stop()
