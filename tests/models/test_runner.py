"""The runner in real time, in process, no network: pacing, chunks, back-pressure, commands, crashes."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from openreactor import CommandError, Frame, Message, Model, ModelContext, command, state
from openreactor.models.frame_slot import FrameSlot
from openreactor.models.runner import ModelRunner


class Recorded:
    """Runner callbacks and a slot watcher that timestamps every published frame."""

    def __init__(self, model: Model) -> None:
        self.slot = FrameSlot()
        self.messages: list[Message] = []
        self.crashes: list[BaseException] = []
        self.runner = ModelRunner(
            model, self.slot, session_id="s", on_message=self.messages.append, on_crash=self.crashes.append
        )
        self.published: list[tuple[float, Frame]] = []
        original = self.slot.publish

        def publish(frame: Frame, at: float) -> None:
            self.published.append((time.perf_counter(), frame))
            original(frame, at)

        self.slot.publish = publish  # type: ignore[method-assign, assignment]


class Steady(Model):
    fps = 30.0

    def next_frame(self, ctx: ModelContext) -> Frame:
        return np.full((8, 8, 3), ctx.frame_index % 256, np.uint8)


@pytest.mark.timeout(60)
async def test_pacing_holds_the_declared_fps_over_ten_seconds() -> None:
    rec = Recorded(Steady())
    rec.runner.start()
    await asyncio.sleep(0.5)
    start_count, start = len(rec.published), time.perf_counter()
    await asyncio.sleep(10.0)
    count, elapsed = len(rec.published) - start_count, time.perf_counter() - start
    await rec.runner.stop()
    fps = count / elapsed
    assert abs(fps - 30.0) / 30.0 < 0.05, fps
    times = [t for t, _ in rec.published]
    intervals = np.diff(times) * 1000
    assert np.percentile(intervals, 50) == pytest.approx(33.3, abs=3), intervals
    # Frame indices are consecutive: nothing skipped, nothing repeated.
    values = [int(f[0, 0, 0]) for _, f in rec.published]
    assert values == [i % 256 for i in range(len(values))]


class Chunky(Model):
    """Yields chunks of 5 frames as fast as it is allowed to; counts its resumptions."""

    fps = 50.0
    CHUNK = 5

    def __init__(self) -> None:
        self.produced = 0
        self.resumed_at: list[tuple[float, int]] = []
        self.closed = False
        self.level = 0

    @command
    def set_level(self, level: int) -> None:
        self.level = level

    def generate(self, ctx: ModelContext) -> Iterator[Any]:
        try:
            while True:
                self.resumed_at.append((time.perf_counter(), self.produced))
                assert ctx.frame_index == self.produced
                chunk = np.zeros((self.CHUNK, 4, 4, 3), np.uint8)
                chunk[:, 0, 0, 0] = np.arange(self.produced, self.produced + self.CHUNK) % 256
                chunk[:, 0, 0, 1] = self.level  # one level per chunk: commands land between yields
                self.produced += self.CHUNK
                yield chunk
        finally:
            self.closed = True


@pytest.mark.timeout(30)
async def test_chunks_are_paced_frame_by_frame_and_back_pressured() -> None:
    model = Chunky()
    rec = Recorded(model)
    rec.runner.start()
    await asyncio.sleep(0.3)
    replies = [rec.runner.enqueue("set_level", {"level": float(i)}) for i in range(1, 4)]
    assert await asyncio.gather(*replies) == [None, None, None]
    await asyncio.sleep(2.0)
    # Back-pressure: at every resumption, the generator is at most two chunks (one buffered,
    # one just yielded) ahead of what was published.
    for at, produced in model.resumed_at:
        shown = sum(1 for t, _ in rec.published if t <= at)
        assert produced - shown <= 2 * Chunky.CHUNK, (produced, shown)
    await rec.runner.stop()
    assert model.closed, "stop() closes the generator"
    times = [t for t, _ in rec.published]
    counters = [int(f[0, 0, 0]) for _, f in rec.published]
    assert counters == [i % 256 for i in range(len(counters))]
    intervals = np.diff(times[5:]) * 1000
    assert np.percentile(intervals, 50) == pytest.approx(20.0, abs=3)
    assert np.percentile(intervals, 5) > 10, "frames of a chunk are paced, not burst"
    fps = (len(times) - 6) / (times[-1] - times[5])
    assert abs(fps - 50.0) / 50.0 < 0.05, fps
    # Commands applied between yields: a chunk never mixes two levels.
    levels = [int(f[0, 0, 1]) for _, f in rec.published]
    for i in range(0, len(levels) - Chunky.CHUNK + 1, Chunky.CHUNK):
        assert len(set(levels[i : i + Chunky.CHUNK])) == 1, levels
    assert levels[-1] == 3


class Slow(Model):
    """Burns 25 ms of pure-Python CPU per frame, holding the GIL."""

    fps = 30.0
    value: int = state(0)

    def next_frame(self, ctx: ModelContext) -> Frame:
        end = time.perf_counter() + 0.025
        while time.perf_counter() < end:
            pass
        return np.full((4, 4, 3), self.value % 256, np.uint8)


@pytest.mark.timeout(30)
async def test_a_cpu_bound_model_keeps_its_pace_and_commands_stay_fast() -> None:
    rec = Recorded(Slow())
    rec.runner.start()
    await asyncio.sleep(0.5)
    first = len(rec.published)
    acks = []
    for v in range(1, 11):
        sent = time.perf_counter()
        await rec.runner.enqueue("set_value", {"value": v})
        acks.append(time.perf_counter() - sent)
        await asyncio.sleep(0.1)
    await rec.runner.stop()
    times = [t for t, _ in rec.published[first:]]
    intervals = np.diff(times) * 1000
    assert np.percentile(intervals, 99) < 50, sorted(intervals)[-5:]
    assert max(acks) < 0.06, acks  # at most one step (25 ms) plus scheduling


class Idle(Model):
    """Idles until told to draw; its generator returns now and then (and is restarted)."""

    fps = 100.0

    def __init__(self) -> None:
        self.draw = False
        self.starts = 0

    @command
    def start_drawing(self) -> None:
        self.draw = True

    def generate(self, ctx: ModelContext) -> Iterator[Any]:
        self.starts += 1
        for _ in range(3):
            yield np.zeros((2, 2, 3), np.uint8) if self.draw else None


async def test_idle_ticks_publish_nothing_and_a_returning_loop_restarts() -> None:
    model = Idle()
    rec = Recorded(model)
    rec.runner.start()
    await asyncio.sleep(0.2)
    assert rec.published == []
    await rec.runner.enqueue("start_drawing", {})
    await asyncio.sleep(0.3)
    await rec.runner.stop()
    assert len(rec.published) > 5
    assert model.starts > 3


class Crashy(Model):
    fps = 50.0

    def __init__(self) -> None:
        self.armed = threading.Event()
        self.ended = False

    @command
    def arm(self) -> None:
        self.armed.set()

    def generate(self, ctx: ModelContext) -> Iterator[Any]:
        while True:
            if self.armed.is_set():
                raise RuntimeError("boom in generate")
            yield np.zeros((2, 2, 3), np.uint8)

    def on_session_end(self, ctx: ModelContext) -> None:
        self.ended = True


async def test_a_crash_in_generate_reports_and_fails_pending_commands() -> None:
    model = Crashy()
    rec = Recorded(model)
    rec.runner.start()
    await asyncio.sleep(0.1)
    await rec.runner.enqueue("arm", {})
    for _ in range(100):
        if rec.crashes:
            break
        await asyncio.sleep(0.01)
    assert [str(e) for e in rec.crashes] == ["boom in generate"]
    late = rec.runner.enqueue("arm", {})
    await rec.runner.stop()
    with pytest.raises(CommandError) as info:
        await late
    assert info.value.code == "session_ended"
    assert model.ended
