"""Frame delivery: one-slot newest-wins mailboxes, delivery threads, owned arrays (SDK-API §1.1.2)."""

from __future__ import annotations

import asyncio
import logging
import threading
import time

import av
import numpy as np
import pytest
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


class GatedTrack(MediaStreamTrack):
    """Frame 0 at once; frames 1..count-1 back to back once ``gate`` is set; ``exhausted`` is set
    when the reader asks for a frame past the last (so it has taken every frame). Frame i is
    filled with i."""

    kind = "video"

    def __init__(self, count: int, gate: asyncio.Event) -> None:
        super().__init__()
        self.count = count
        self.gate = gate
        self.exhausted = asyncio.Event()
        self.sent = 0

    async def recv(self) -> av.VideoFrame:
        if self.sent >= self.count:
            self.exhausted.set()
            self.stop()
            raise MediaStreamError
        if self.sent == 1:
            await self.gate.wait()
        frame = av.VideoFrame.from_ndarray(np.full((16, 32, 3), self.sent % 256, np.uint8), format="rgb24")
        self.sent += 1
        return frame


async def within(event: asyncio.Event, what: str, timeout: float = 10.0) -> None:
    """Wait for ``event``; fail naming ``what`` if it does not come (a bound, not a measurement)."""
    try:
        await asyncio.wait_for(event.wait(), timeout)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None


def frame_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("reactor_sdk-frames")]


async def test_reader_drains_and_slow_sync_handler_sees_newest() -> None:
    """The handler is busy with frame 0 while every other frame arrives: the reader still drains
    the whole track, and the handler's next frame is the newest one, not a backlog."""
    loop = asyncio.get_running_loop()
    sinks = FrameSinks()
    sinks.primary = "main_video"
    seen: list[int] = []
    threads: set[str] = set()
    busy = asyncio.Event()  # the handler holds frame 0
    release = threading.Event()
    got_last = asyncio.Event()

    def slow(frame: np.ndarray) -> None:
        threads.add(threading.current_thread().name)
        value = int(frame[0, 0, 0])
        seen.append(value)
        frame[:] = 0  # the handler owns its array
        if value == 59:
            loop.call_soon_threadsafe(got_last.set)
        if len(seen) == 1:
            loop.call_soon_threadsafe(busy.set)
            assert release.wait(10), "the test never released the handler"

    sinks.add_handler(None, slow)
    track = GatedTrack(60, gate=busy)
    reader = FrameReader("main_video", track, sinks)
    reader.start()
    try:
        await within(track.exhausted, "the reader to take all 60 frames while the handler is busy")
        assert track.sent == 60 and reader.received == 60  # drained although the handler is slow
        release.set()
        await within(got_last, "the handler to get the newest frame")
    finally:
        release.set()
        assert await reader.aclose()
    assert seen == [0, 59]  # frame 0, then the newest: frames 1..58 were overwritten
    assert reader.dropped == 58
    assert threads == {"reactor_sdk-frames-main_video"}
    assert frame_threads() == []


async def test_close_waits_for_the_running_handler_and_nothing_runs_after() -> None:
    loop = asyncio.get_running_loop()
    sinks = FrameSinks()
    sinks.primary = "main_video"
    events: list[str] = []
    busy = asyncio.Event()
    release = threading.Event()

    def handler(frame: np.ndarray) -> None:
        events.append("start")
        loop.call_soon_threadsafe(busy.set)
        release.wait(10)
        events.append("end")

    sinks.add_handler(None, handler)
    reader = FrameReader("main_video", CountingTrack(10_000, interval=0.01), sinks)
    reader.start()
    await within(busy, "the handler to be called")
    closing = asyncio.ensure_future(reader.aclose())
    for _ in range(20):
        await asyncio.sleep(0)
    assert not closing.done()  # the thread is alive (blocked in the handler): close must wait
    release.set()
    assert await asyncio.wait_for(closing, 10)
    events.append("closed")
    assert events == ["start", "end", "closed"]
    assert frame_threads() == []
    assert reader.stuck is None and sinks.stuck == []


async def test_a_stuck_handler_is_reported_not_waited_on(caplog: pytest.LogCaptureFixture) -> None:
    loop = asyncio.get_running_loop()
    sinks = FrameSinks()
    sinks.primary = "depth"
    busy = asyncio.Event()
    release = threading.Event()

    def stuck_handler(frame: np.ndarray) -> None:
        loop.call_soon_threadsafe(busy.set)
        release.wait(30)

    sinks.add_handler(None, stuck_handler)
    reader = FrameReader("depth", CountingTrack(10_000, interval=0.01), sinks)
    reader.start()
    await within(busy, "the handler to be called")
    try:
        with caplog.at_level(logging.WARNING, logger="reactor_sdk"):
            assert await reader.aclose(timeout=0.2) is False
    finally:
        release.set()
    stuck = reader.stuck
    assert stuck is not None and sinks.stuck == [stuck]
    assert stuck.track == "depth" and stuck.thread == "reactor_sdk-frames-depth"
    assert stuck.handler.endswith("test_a_stuck_handler_is_reported_not_waited_on.<locals>.stuck_handler")
    text = caplog.text
    assert "'depth'" in text and "stuck_handler" in text and "reactor_sdk-frames-depth" in text
    # Released, the abandoned thread ends on its own and delivers nothing more.
    assert reader.close_now(timeout=10) and frame_threads() == []


def test_close_now_joins_and_reports_too(caplog: pytest.LogCaptureFixture) -> None:
    async def scenario() -> FrameReader:
        busy = asyncio.Event()
        loop = asyncio.get_running_loop()
        sinks = FrameSinks()
        sinks.primary = "main_video"
        sinks.add_handler(None, lambda frame: (loop.call_soon_threadsafe(busy.set), release.wait(30)))
        reader = FrameReader("main_video", CountingTrack(10_000, interval=0.01), sinks)
        reader.start()
        await within(busy, "the handler to be called")
        with caplog.at_level(logging.WARNING, logger="reactor_sdk"):
            assert reader.close_now(timeout=0.2) is False
        return reader

    release = threading.Event()
    try:
        reader = asyncio.run(scenario())
    finally:
        release.set()
    assert reader.stuck is not None and "reactor_sdk-frames-main_video" in caplog.text
    assert reader.close_now(timeout=10) and frame_threads() == []


def test_thread_of_a_reader_never_closed_ends_with_its_loop() -> None:
    """A client dropped without close(): the delivery thread must not wait forever."""
    holder: list[FrameReader] = []

    async def scenario() -> None:
        sinks = FrameSinks()
        sinks.primary = "main_video"
        sinks.add_handler(None, lambda frame: None)
        reader = FrameReader("main_video", CountingTrack(0), sinks)
        reader.start()
        holder.append(reader)

    asyncio.run(scenario())
    thread = holder[0]._thread
    assert thread is not None
    thread.join(30)
    assert not thread.is_alive(), "the delivery thread outlived its closed event loop"


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
