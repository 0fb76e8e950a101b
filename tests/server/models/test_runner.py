"""The runner in process, no network: pacing, chunks, back-pressure, commands, crashes.

Pacing is checked against the runner's own clock, not the wall clock: those tests run on
:class:`VirtualClock`, an event loop whose time moves only when it would otherwise wait, with the
model called inline instead of on its thread. There every frame must land exactly on its tick, however
busy the machine is. How well the pacing holds in real time (fps, interval percentiles, command
latency next to a CPU-bound model) is measured by ``bench/bench_runner.py`` and, end to end,
``bench/bench_model_pacing.py``.
"""

from __future__ import annotations

import asyncio
import selectors
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import Executor, Future
from typing import Any

import numpy as np
import pytest

from openreactor import CommandError, Frame, Message, Model, ModelContext, command, state
from openreactor.models import runner as runner_module
from openreactor.models.frame_slot import FrameSlot
from openreactor.models.runner import ModelRunner
from support.waiting import eventually

# -- the runner's own clock --------------------------------------------------------------------


class _ClockSelector:
    """The loop's selector, except that a wait with a deadline moves the virtual clock instead."""

    def __init__(self, inner: selectors.BaseSelector, loop: VirtualClock) -> None:
        self._inner = inner
        self._loop = loop

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        ready = self._inner.select(0)
        if ready or timeout == 0:
            return ready
        if timeout is None:  # no timer at all: only real I/O can wake the loop
            return self._inner.select(None)
        self._loop.now += timeout
        return []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class VirtualClock(asyncio.SelectorEventLoop):
    """``loop.time()`` starts at 0 and jumps to the next timer whenever nothing is ready to run."""

    def __init__(self) -> None:
        self.now = 0.0
        super().__init__(_ClockSelector(selectors.DefaultSelector(), self))  # type: ignore[arg-type]

    def time(self) -> float:
        return self.now


class InlineModelThread(Executor):
    """Stands in for :class:`ModelThread`: each call runs at once on the loop's thread, so the
    model's compute time is no time at all on the virtual clock."""

    def __init__(self, name: str) -> None:
        self.abandoned = False

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:
            future.set_exception(exc)
        return future

    def abandon(self) -> bool:
        return False


def on_the_runners_clock(
    monkeypatch: pytest.MonkeyPatch, scenario: Callable[[], Coroutine[Any, Any, None]]
) -> None:
    monkeypatch.setattr(runner_module, "ModelThread", InlineModelThread)
    with asyncio.Runner(loop_factory=VirtualClock) as runner:
        runner.run(scenario())


# -- recording ---------------------------------------------------------------------------------


class Recorded:
    """Runner callbacks and a slot watcher that keeps every published frame with its loop time."""

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
            self.published.append((at, frame))
            original(frame, at)

        self.slot.publish = publish  # type: ignore[method-assign, assignment]

    @property
    def times(self) -> list[float]:
        return [at for at, _ in self.published]


class Steady(Model):
    fps = 30.0

    def next_frame(self, ctx: ModelContext) -> Frame:
        return np.full((8, 8, 3), ctx.frame_index % 256, np.uint8)


def test_pacing_puts_every_frame_on_its_tick_for_ten_seconds(monkeypatch: pytest.MonkeyPatch) -> None:
    async def scenario() -> None:
        rec = Recorded(Steady())
        rec.runner.start()
        await asyncio.sleep(10.0 + 0.5 / Steady.fps)  # ten seconds of the runner's clock
        await rec.runner.stop()
        times = rec.times
        assert len(times) == 301, len(times)  # the first frame at 0 s, then one every 1/30 s
        assert times[0] == 0.0
        assert np.allclose(np.diff(times), 1 / Steady.fps, rtol=0, atol=1e-9), np.diff(times)
        # Frame indices are consecutive: nothing skipped, nothing repeated.
        values = [int(f[0, 0, 0]) for _, f in rec.published]
        assert values == [i % 256 for i in range(len(values))]

    on_the_runners_clock(monkeypatch, scenario)


class Chunky(Model):
    """Yields chunks of 5 frames as fast as it is allowed to; notes when it was resumed."""

    fps = 50.0
    CHUNK = 5

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
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
                self.resumed_at.append((self.clock(), self.produced))
                assert ctx.frame_index == self.produced
                chunk = np.zeros((self.CHUNK, 4, 4, 3), np.uint8)
                chunk[:, 0, 0, 0] = np.arange(self.produced, self.produced + self.CHUNK) % 256
                chunk[:, 0, 0, 1] = self.level  # one level per chunk: commands land between yields
                self.produced += self.CHUNK
                yield chunk
        finally:
            self.closed = True


def test_chunks_are_paced_frame_by_frame_and_back_pressured(monkeypatch: pytest.MonkeyPatch) -> None:
    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        model = Chunky(loop.time)
        rec = Recorded(model)
        rec.runner.start()
        await asyncio.sleep(0.3)
        replies = [rec.runner.enqueue("set_level", {"level": float(i)}) for i in range(1, 4)]
        assert await asyncio.gather(*replies) == [None, None, None]
        await asyncio.sleep(2.0)
        # Back-pressure: at every resumption, the generator is at most two chunks (one buffered,
        # one just yielded) ahead of what was published.
        assert len(model.resumed_at) > 20
        for at, produced in model.resumed_at:
            shown = sum(1 for t in rec.times if t <= at)
            assert produced - shown <= 2 * Chunky.CHUNK, (produced, shown)
        stopped_at = loop.time()
        await rec.runner.stop()
        assert model.closed, "stop() closes the generator"
        times = rec.times
        counters = [int(f[0, 0, 0]) for _, f in rec.published]
        assert counters == [i % 256 for i in range(len(counters))]
        # One frame per tick of 20 ms, within chunks and across them: paced, never burst.
        assert np.allclose(np.diff(times), 1 / Chunky.fps, rtol=0, atol=1e-9), np.diff(times)
        assert len(times) == pytest.approx(stopped_at * Chunky.fps + 1, abs=1)
        # Commands applied between yields: a chunk never mixes two levels.
        levels = [int(f[0, 0, 1]) for _, f in rec.published]
        for i in range(0, len(levels) - Chunky.CHUNK + 1, Chunky.CHUNK):
            assert len(set(levels[i : i + Chunky.CHUNK])) == 1, levels
        assert levels[-1] == 3

    on_the_runners_clock(monkeypatch, scenario)


class Slow(Model):
    """Burns 25 ms of pure-Python CPU per frame, holding the GIL."""

    fps = 30.0
    value: int = state(0)

    def next_frame(self, ctx: ModelContext) -> Frame:
        end = time.perf_counter() + 0.025
        while time.perf_counter() < end:
            pass
        return np.full((4, 4, 3), self.value % 256, np.uint8)


def shows(rec: Recorded, value: int, since: int) -> Callable[[], bool]:
    return lambda: any(int(f[0, 0, 0]) == value for _, f in rec.published[max(0, since) :])


async def test_a_cpu_bound_model_streams_on_and_shows_every_command_in_order() -> None:
    """On its real thread, next to the loop. How fast it stays is bench/bench_runner.py's question."""
    rec = Recorded(Slow())
    rec.runner.start()
    await eventually(lambda: len(rec.published) >= 3, what="the first frames")
    for v in range(1, 11):
        assert await rec.runner.enqueue("set_value", {"value": v}) is None
        await eventually(shows(rec, v, since=len(rec.published) - 1), what=f"a frame showing {v}")
    await rec.runner.stop()
    shown = [int(f[0, 0, 0]) for _, f in rec.published]
    assert shown == sorted(shown) and shown[-1] == 10, shown  # applied in order, never undone
    assert not rec.crashes


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


def test_idle_ticks_publish_nothing_and_a_returning_loop_restarts(monkeypatch: pytest.MonkeyPatch) -> None:
    async def scenario() -> None:
        model = Idle()
        rec = Recorded(model)
        rec.runner.start()
        await asyncio.sleep(0.2)  # 20 ticks of the runner's clock
        assert rec.published == []
        assert model.starts >= 5  # every fourth tick restarts the returned loop
        await rec.runner.enqueue("start_drawing", {})
        await asyncio.sleep(0.3)
        await rec.runner.stop()
        # 30 more ticks: three frames, then the idle tick of the restart.
        assert 20 <= len(rec.published) <= 24, len(rec.published)
        ticks = np.diff(rec.times) * Idle.fps
        assert np.allclose(ticks, np.round(ticks), rtol=0, atol=1e-6), "frames only on ticks"

    on_the_runners_clock(monkeypatch, scenario)


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
    await eventually(lambda: rec.published, what="a first frame")
    await rec.runner.enqueue("arm", {})
    await eventually(lambda: rec.crashes, what="the crash reported")
    assert [str(e) for e in rec.crashes] == ["boom in generate"]
    late = rec.runner.enqueue("arm", {})
    await rec.runner.stop()
    with pytest.raises(CommandError) as info:
        await late
    assert info.value.code == "session_ended"
    assert model.ended
