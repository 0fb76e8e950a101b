"""The runner's deadline on calls into the model, in process (the server-level tests are in
``tests/server/test_faults.py``)."""

from __future__ import annotations

import asyncio
import threading
import time

import numpy as np
import pytest

from openreactor import CommandError, Frame, Model, ModelContext, command
from openreactor.models.frame_slot import FrameSlot
from openreactor.models.runner import ModelRunner, ModelTimeoutError

pytestmark = pytest.mark.timeout(30)

LIMIT_S = 0.5


class Faulty(Model):
    """Hangs (in a Python loop) or sleeps where told to; counts its end hooks."""

    fps = 20.0

    def __init__(self, *, hang_in_start: bool = False) -> None:
        self.hang_in_start = hang_in_start
        self.ended = 0
        self.raise_timeout = False

    def on_session_start(self, ctx: ModelContext) -> None:
        if self.hang_in_start:
            spin()

    def on_session_end(self, ctx: ModelContext) -> None:
        self.ended += 1

    @command
    def hang(self) -> None:
        spin()

    @command
    def nap(self, seconds: float) -> None:
        time.sleep(seconds)

    @command
    def time_out(self) -> None:
        self.raise_timeout = True

    def next_frame(self, ctx: ModelContext) -> Frame:
        if self.raise_timeout:
            raise TimeoutError("the model's own")
        return np.zeros((4, 4, 3), np.uint8)


def spin() -> None:
    n = 0
    while n >= 0:
        n += 1


def model_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("model-")]


def runner_for(model: Model) -> tuple[ModelRunner, list[BaseException]]:
    crashes: list[BaseException] = []
    runner = ModelRunner(
        model,
        FrameSlot(),
        session_id="s",
        on_message=lambda m: None,
        on_crash=crashes.append,
        step_timeout_s=LIMIT_S,
    )
    return runner, crashes


async def eventually(predicate, timeout: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def test_a_hanging_command_times_out_and_its_thread_is_interrupted() -> None:
    model = Faulty()
    runner, crashes = runner_for(model)
    runner.start()
    await asyncio.sleep(0.2)
    started = time.monotonic()
    with pytest.raises(CommandError) as info:
        await runner.enqueue("hang", {})
    assert info.value.code == "model_timeout" and "command hang" in info.value.message
    assert LIMIT_S <= time.monotonic() - started < LIMIT_S + 1
    await eventually(lambda: bool(crashes))
    assert isinstance(crashes[0], ModelTimeoutError) and runner.stuck
    await runner.stop()
    assert model.ended == 0, "on_session_end is not called while the model is busy elsewhere"
    await eventually(lambda: not model_threads())  # a Python loop takes the async exception


async def test_a_hang_in_on_session_start_times_out() -> None:
    runner, crashes = runner_for(Faulty(hang_in_start=True))
    runner.start()
    await eventually(lambda: bool(crashes))
    assert "on_session_start" in str(crashes[0])
    await runner.stop()


async def test_the_models_own_timeout_error_is_a_crash_not_a_deadline() -> None:
    runner, crashes = runner_for(Faulty())
    runner.start()
    await runner.enqueue("time_out", {})
    await eventually(lambda: bool(crashes))
    assert type(crashes[0]) is TimeoutError and not runner.stuck
    await runner.stop()


async def test_stop_waits_for_a_slow_call_within_the_deadline_then_ends_normally() -> None:
    model = Faulty()
    runner, crashes = runner_for(model)
    runner.start()
    await asyncio.sleep(0.2)
    nap = runner.enqueue("nap", {"seconds": LIMIT_S / 2})
    await asyncio.sleep(0.05)
    await runner.stop()
    assert model.ended == 1 and not runner.stuck and not crashes
    with pytest.raises(CommandError):
        await nap  # the session ended under it
    await eventually(lambda: not model_threads())
