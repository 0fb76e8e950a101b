"""The runner's deadline on calls into the model, in process (the server-level tests are in
``tests/server/workers/test_faults.py``)."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from openreactor import CommandError, Frame, Model, ModelContext, command
from openreactor.models.frame_slot import FrameSlot
from openreactor.models.runner import ModelRunner, ModelTimeoutError
from support.waiting import eventually

pytestmark = pytest.mark.timeout(30)

LIMIT_S = 0.5


class Faulty(Model):
    """Hangs (in a Python loop) or sleeps where told to; counts its end hooks."""

    fps = 20.0

    def __init__(self, *, hang_in_start: bool = False) -> None:
        self.hang_in_start = hang_in_start
        self.ended = 0
        self.raise_timeout = False
        self.napping = threading.Event()
        self.release = threading.Event()

    def on_session_start(self, ctx: ModelContext) -> None:
        if self.hang_in_start:
            spin()

    def on_session_end(self, ctx: ModelContext) -> None:
        self.ended += 1

    @command
    def hang(self) -> None:
        spin()

    @command
    def nap(self) -> None:
        """Slow, but within the deadline: returns once the test releases it."""
        self.napping.set()
        self.release.wait(60)

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


def runner_for(model: Model, limit_s: float = LIMIT_S) -> tuple[ModelRunner, list[BaseException]]:
    crashes: list[BaseException] = []
    runner = ModelRunner(
        model,
        FrameSlot(),
        session_id="s",
        on_message=lambda m: None,
        on_crash=crashes.append,
        step_timeout_s=limit_s,
    )
    return runner, crashes


async def test_a_hanging_command_times_out_and_its_thread_is_interrupted() -> None:
    model = Faulty()
    runner, crashes = runner_for(model)
    runner.start()
    await eventually(lambda: runner.frames_generated, what="a first frame")
    started = time.monotonic()
    with pytest.raises(CommandError) as info:
        await runner.enqueue("hang", {})
    assert info.value.code == "model_timeout" and "command hang" in info.value.message
    assert time.monotonic() - started >= LIMIT_S, "the deadline did not pass early"
    await eventually(lambda: crashes, what="the timeout reported as a crash")
    assert isinstance(crashes[0], ModelTimeoutError) and runner.stuck
    await runner.stop()
    assert model.ended == 0, "on_session_end is not called while the model is busy elsewhere"
    # A Python loop takes the asynchronous exception and its thread ends.
    await eventually(lambda: not model_threads(), what="the abandoned thread to end")


async def test_a_hang_in_on_session_start_times_out() -> None:
    runner, crashes = runner_for(Faulty(hang_in_start=True))
    runner.start()
    await eventually(lambda: crashes, what="the hang in on_session_start reported")
    assert "on_session_start" in str(crashes[0])
    await runner.stop()


async def test_the_models_own_timeout_error_is_a_crash_not_a_deadline() -> None:
    runner, crashes = runner_for(Faulty())
    runner.start()
    await runner.enqueue("time_out", {})
    await eventually(lambda: crashes, what="the model's own TimeoutError reported")
    assert type(crashes[0]) is TimeoutError and not runner.stuck
    await runner.stop()


async def test_stop_waits_for_a_slow_call_within_the_deadline_then_ends_normally() -> None:
    model = Faulty()
    runner, crashes = runner_for(model, limit_s=60)
    runner.start()
    await eventually(lambda: runner.frames_generated, what="a first frame")
    nap = runner.enqueue("nap", {})
    await eventually(lambda: model.napping.is_set(), what="the nap to begin")
    nap.add_done_callback(lambda _: model.release.set())  # the session ended under it: let it return
    await runner.stop()
    assert model.ended == 1 and not runner.stuck and not crashes
    with pytest.raises(CommandError):
        await nap  # the session ended under it
    await eventually(lambda: not model_threads(), what="the model thread to end")
