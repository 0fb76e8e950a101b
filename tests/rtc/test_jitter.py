"""The SDK's bounded wait on a missing video packet (reactor_rtc.patches.receiver)."""

from __future__ import annotations

from aiortc import RTCPeerConnection
from aiortc.jitterbuffer import JitterBuffer, JitterFrame
from aiortc.rtp import RtpPacket

from reactor_rtc.patches.receiver import _RECEIVER_ATTR, BoundedWaitJitterBuffer, bound_jitter_wait

PACKETS_PER_FRAME = 3


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def packet(seq: int) -> RtpPacket:
    """Packet ``seq`` of frame ``seq // PACKETS_PER_FRAME`` (timestamp 3000 per frame)."""
    p = RtpPacket(payload_type=96, sequence_number=seq % 65536, timestamp=(seq // PACKETS_PER_FRAME) * 3000)
    p._data = bytes([seq % 256])  # type: ignore[attr-defined]  # what aiortc's depayloader sets
    return p


def frame_numbers(frames: list[JitterFrame | None]) -> list[int]:
    return [f.timestamp // 3000 for f in frames if f is not None]


def feed(
    buffer: JitterBuffer, seqs: list[int], clock: Clock | None = None, step: float = 0.01
) -> list[tuple[bool, JitterFrame | None]]:
    out = []
    for seq in seqs:
        if clock is not None:
            clock.now += step
        out.append(buffer.add(packet(seq)))
    return out


def test_without_loss_it_hands_out_what_aiortc_does() -> None:
    seqs = list(range(65530, 65536 + 40))  # across the sequence-number wrap
    ours = feed(BoundedWaitJitterBuffer(clock=Clock()), seqs, Clock())
    theirs = feed(JitterBuffer(capacity=512, is_video=True), seqs)
    assert [(p, f and (f.timestamp, f.data)) for p, f in ours] == [
        (p, f and (f.timestamp, f.data)) for p, f in theirs
    ]
    assert not any(p for p, _ in ours)


def test_a_packet_repaired_in_time_is_waited_for() -> None:
    clock = Clock()
    buffer = BoundedWaitJitterBuffer(max_wait_s=0.4, clock=clock)
    out = feed(buffer, [0, 1, 2, 3, 5, 6, 7, 8], clock, step=0.03)  # 4 (frame 1) lost
    assert frame_numbers([f for _, f in out]) == [0]
    clock.now += 0.2  # the retransmission comes one round trip later
    out += feed(buffer, [4, 9], clock)
    assert frame_numbers([f for _, f in out]) == [0, 1, 2]
    assert buffer.gaps_skipped == 0 and not any(p for p, _ in out)
    frame_1 = next(f for _, f in out if f is not None and f.timestamp == 3000)
    assert frame_1.data == bytes([3, 4, 5])


def test_a_packet_that_never_comes_blocks_for_max_wait_only() -> None:
    clock = Clock()
    buffer = BoundedWaitJitterBuffer(max_wait_s=0.4, clock=clock)
    out = feed(buffer, [0, 1, 2, 3, 5, 6, 7, 8, 9], clock, step=0.033)  # 4 (frame 1) never comes
    assert frame_numbers([f for _, f in out]) == [0]  # frames 2 and 3 wait behind the gap
    assert buffer.gaps_skipped == 0
    clock.now += 0.4
    pli, frame = buffer.add(packet(10))
    assert pli, "giving up on a gap asks for a keyframe"
    assert frame is not None and frame.timestamp == 2 * 3000  # frame 1 is dropped, frame 2 flows
    assert buffer.gaps_skipped == 1
    out = feed(buffer, [11, 12, 13], clock)
    assert frame_numbers([f for _, f in out]) == [3]
    assert not any(p for p, _ in out)


def test_a_gap_the_nack_window_still_covers_is_waited_for_up_to_max_wait() -> None:
    # aiortc re-sends its NACK list at every new gap: a lost retransmission can come 0.3-0.6 s late.
    clock = Clock()
    buffer = BoundedWaitJitterBuffer(clock=clock)  # max_wait_s 1.0
    feed(buffer, [0, 1, 2, 3, *range(5, 60)], clock, step=0.01)  # 4 missing for 0.55 s
    out = feed(buffer, [4, 60], clock)
    assert buffer.gaps_skipped == 0 and not any(p for p, _ in out)
    assert frame_numbers([f for _, f in out]) == [1, 2]  # the backlog: one frame per packet


def test_a_gap_beyond_the_nack_window_is_given_up_on_quickly() -> None:
    clock = Clock()
    buffer = BoundedWaitJitterBuffer(clock=clock)  # unrepairable_wait_s 0.2, max_wait_s 1.0
    feed(buffer, [0, 1, 2, 3], clock)
    # 4..143 lost in a burst: 4 is more than NACK_WINDOW (128) behind, so nothing will repair it.
    out = feed(buffer, [144, 145, 146, 147], clock, step=0.03)
    assert buffer.gaps_skipped == 0 and not any(f for _, f in out)
    clock.now += 0.15
    pli, frame = buffer.add(packet(148))
    assert pli and frame is None and buffer.gaps_skipped == 1  # frames 1 and 48 dropped
    out = feed(buffer, [149, 150], clock)
    assert frame_numbers([f for _, f in out]) == [49]


def test_frames_next_to_a_gap_are_dropped_when_it_is_given_up_on() -> None:
    # Without the missing packet it is unknown which frame it belonged to: like aiortc's own
    # overflow handling, only frames that start after a received packet of another frame flow.
    clock = Clock()
    buffer = BoundedWaitJitterBuffer(max_wait_s=0.4, clock=clock)
    out = feed(buffer, [0, 1, 2, 4, 5, 6, 7], clock)  # 3 never comes: frame 0 is not known complete
    assert frame_numbers([f for _, f in out]) == []
    clock.now += 0.5
    pli, frame = buffer.add(packet(8))
    assert pli and frame is None and buffer.gaps_skipped == 1  # frames 0 and 1 dropped
    _, frame = buffer.add(packet(9))
    assert frame is not None and frame.timestamp == 2 * 3000 and frame.data == bytes([6, 7, 8])


def test_the_gaps_of_one_outage_are_given_up_on_together() -> None:
    clock = Clock()
    buffer = BoundedWaitJitterBuffer(max_wait_s=0.4, clock=clock)
    feed(buffer, [0, 1, 2, 3], clock)
    clock.now += 1.0  # outage: 4..29 lost; the first packets after it reveal every gap at once
    feed(buffer, [30, 31, 32], clock)
    feed(buffer, [14, 15, 16, 17], clock)  # some retransmissions come: two gaps are left
    clock.now += 0.4
    pli, frame = buffer.add(packet(33))
    assert pli and buffer.gaps_skipped == 2, "both gaps are 0.4 s old: no second wait"
    out = [frame, *(f for _, f in feed(buffer, [34, 35, 36], clock))]
    assert frame_numbers(out) == [11]


async def test_installed_on_video_receivers_only() -> None:
    pc = RTCPeerConnection()
    try:
        video = pc.addTransceiver("video", direction="recvonly").receiver
        audio = pc.addTransceiver("audio", direction="recvonly").receiver
        assert bound_jitter_wait(video, max_wait_s=0.25)
        installed = getattr(video, _RECEIVER_ATTR)
        assert isinstance(installed, BoundedWaitJitterBuffer)
        assert installed.max_wait_s == 0.25 and installed.capacity == 512
        assert bound_jitter_wait(video)  # idempotent
        assert getattr(video, _RECEIVER_ATTR) is installed
        assert not bound_jitter_wait(audio)
        assert type(getattr(audio, _RECEIVER_ATTR)) is JitterBuffer
        assert not bound_jitter_wait(object())
    finally:
        await pc.close()
