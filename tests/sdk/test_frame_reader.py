"""Frame delivery: one-slot newest-wins mailboxes, delivery threads, owned arrays (SDK-API §1.1.2)."""

from __future__ import annotations

import asyncio
import threading
import time

import av
import numpy as np
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from reactor_sdk.frame_reader import AsyncLatestSlot, FrameReader, FrameSinks, LatestSlot, to_rgb


def test_latest_slot_newest_wins_and_counts_drops() -> None:
    slot: LatestSlot[int] = LatestSlot()
    for i in range(5):
        slot.put(i)
    assert slot.take(timeout=0) == 4
    assert slot.dropped == 4
    assert slot.take(timeout=0.01) is None  # empty
    slot.put(9)
    assert slot.take(timeout=0) == 9
    assert slot.dropped == 4 and slot.taken == 2


def test_latest_slot_close_wakes_a_waiting_thread() -> None:
    slot: LatestSlot[int] = LatestSlot()
    got: list[int | None] = []
    thread = threading.Thread(target=lambda: got.append(slot.take()))
    thread.start()
    time.sleep(0.05)
    slot.close()
    thread.join(2)
    assert not thread.is_alive() and got == [None]
    slot.put(1)  # ignored after close
    assert slot.take(timeout=0) is None


async def test_async_slot_newest_wins() -> None:
    slot: AsyncLatestSlot[int] = AsyncLatestSlot()
    slot.put(1)
    slot.put(2)
    assert await slot.take() == 2
    assert slot.dropped == 1
    waiter = asyncio.ensure_future(slot.take())
    await asyncio.sleep(0)
    slot.put(3)
    assert await asyncio.wait_for(waiter, 1) == 3
    slot.close()
    assert await slot.take() is None


def test_to_rgb_gives_owned_contiguous_writable_arrays() -> None:
    for width in (640, 642):  # 642: rgb24 rows are padded, to_ndarray gives a strided view
        frame = av.VideoFrame.from_ndarray(np.full((36, width, 3), 200, np.uint8), format="rgb24")
        a, b = to_rgb(frame), to_rgb(frame)
        assert a.shape == (36, width, 3) and a.dtype == np.uint8
        assert a.flags.c_contiguous and a.flags.writeable
        assert not np.shares_memory(a, b)


class CountingTrack(MediaStreamTrack):
    """A video track that yields ``count`` frames as fast as asked; frame i is filled with i."""

    kind = "video"

    def __init__(self, count: int, interval: float = 0.0) -> None:
        super().__init__()
        self.count = count
        self.interval = interval
        self.sent = 0

    async def recv(self) -> av.VideoFrame:
        if self.sent >= self.count:
            self.stop()
            raise MediaStreamError
        if self.interval:
            await asyncio.sleep(self.interval)
        frame = av.VideoFrame.from_ndarray(np.full((16, 32, 3), self.sent % 256, np.uint8), format="rgb24")
        self.sent += 1
        return frame


async def test_reader_drains_and_slow_sync_handler_sees_newest() -> None:
    sinks = FrameSinks()
    sinks.primary = "main_video"
    seen: list[int] = []
    threads: set[str] = set()

    def slow(frame: np.ndarray) -> None:
        threads.add(threading.current_thread().name)
        seen.append(int(frame[0, 0, 0]))
        frame[:] = 0  # the handler owns its array
        time.sleep(0.05)

    sinks.add_handler(None, slow)
    track = CountingTrack(60, interval=0.005)
    reader = FrameReader("main_video", track, sinks)
    reader.start()
    await asyncio.sleep(0.6)
    last_sent = track.sent
    await asyncio.sleep(0.15)
    await reader.aclose()
    assert track.sent == 60  # drained although the handler is slow
    assert reader.received == 60
    assert 2 <= len(seen) < 30
    assert reader.dropped > 0
    assert seen == sorted(seen)
    assert seen[-1] >= last_sent - 5  # the newest frame, not a stale backlog
    assert threads == {"reactor_sdk-frames-main_video"}
    assert not any(t.name.startswith("reactor_sdk-frames") for t in threading.enumerate())


async def test_async_handlers_and_streams_get_their_own_arrays() -> None:
    sinks = FrameSinks()
    sinks.primary = "main_video"
    got: list[np.ndarray] = []

    async def handler(frame: np.ndarray) -> None:
        got.append(frame)

    sinks.add_handler("main_video", handler)
    from reactor_sdk.frame_reader import FrameStream

    stream = FrameStream(None, sinks.remove_stream)
    sinks.add_stream(stream)
    reader = FrameReader("main_video", CountingTrack(5, interval=0.02), sinks)
    reader.start()
    first = await asyncio.wait_for(stream.__anext__(), 2)
    await asyncio.sleep(0.2)
    await reader.aclose()
    await stream.aclose()
    assert first.shape == (16, 32, 3)
    assert got and all(not np.shares_memory(first, g) for g in got)
    assert [s for s in sinks.streams("main_video")] == []


async def test_handlers_only_for_their_track() -> None:
    sinks = FrameSinks()
    sinks.primary = "main_video"
    a, b = (lambda f: None), (lambda f: None)
    sinks.add_handler(None, a)
    sinks.add_handler("depth", b)
    assert sinks.handlers("main_video") == ([a], [])
    assert sinks.handlers("depth") == ([b], [])
    sinks.remove_handler(a)
    assert sinks.handlers("main_video") == ([], [])
