"""The model runner's pacing in real time, in process (no network, no encoder); prints JSON.

``tests/server/models/test_runner.py`` checks the pacing on the runner's own clock (a virtual one, where
every frame must land exactly on its tick). This measures how well that holds on the wall clock,
on this machine, with the model on its real thread:

* ``steady``: one cheap frame per call at 30 fps;
* ``chunks``: a generator yielding chunks of 5 frames at 50 fps, as fast as it is allowed to
  (the runner must pace them frame by frame and hold the generator back);
* ``cpu_bound``: 25 ms of pure-Python busy loop per frame at 30 fps (it holds the GIL next to the
  event loop), with a ``set_value`` command every 100 ms.

For each: delivered fps over the window, frame-interval percentiles (ms), frames skipped or
repeated (each frame carries its index), and for ``cpu_bound`` the command acknowledgement
latency (ms). The targets are what the runner promises; ``verdict`` says whether this run met
them::

    .venv/bin/python bench/bench_runner.py [--seconds 10] [--warmup 0.5]

End to end (server, WebRTC, a client) the same question is ``bench/bench_model_pacing.py``'s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import time
from collections.abc import Iterator
from typing import Any

import numpy as np

from openreactor import Frame, Model, ModelContext, state
from openreactor.models.frame_slot import FrameSlot
from openreactor.models.runner import ModelRunner

FPS_ERROR_MAX = 0.05
STEADY_INTERVAL_P50_MS = (33.3, 3.0)  # (value, tolerance)
CHUNKS_INTERVAL_P50_MS = (20.0, 3.0)
CHUNKS_INTERVAL_P5_MS_MIN = 10.0
CPU_BOUND_INTERVAL_P99_MS_MAX = 50.0
CPU_BOUND_COMMAND_ACK_MS_MAX = 60.0
TARGETS = {
    "fps_error_max": FPS_ERROR_MAX,
    "steady_interval_p50_ms": STEADY_INTERVAL_P50_MS,
    "chunks_interval_p50_ms": CHUNKS_INTERVAL_P50_MS,
    "chunks_interval_p5_ms_min": CHUNKS_INTERVAL_P5_MS_MIN,
    "cpu_bound_interval_p99_ms_max": CPU_BOUND_INTERVAL_P99_MS_MAX,
    "cpu_bound_command_ack_ms_max": CPU_BOUND_COMMAND_ACK_MS_MAX,
}


class Steady(Model):
    fps = 30.0

    def next_frame(self, ctx: ModelContext) -> Frame:
        return np.full((8, 8, 3), ctx.frame_index % 256, np.uint8)


class Chunks(Model):
    fps = 50.0
    CHUNK = 5

    def generate(self, ctx: ModelContext) -> Iterator[Any]:
        produced = 0
        while True:
            chunk = np.zeros((self.CHUNK, 4, 4, 3), np.uint8)
            chunk[:, 0, 0, 0] = np.arange(produced, produced + self.CHUNK) % 256
            produced += self.CHUNK
            yield chunk


class CpuBound(Model):
    fps = 30.0
    value: int = state(0)

    def next_frame(self, ctx: ModelContext) -> Frame:
        end = time.perf_counter() + 0.025
        while time.perf_counter() < end:
            pass
        frame = np.zeros((4, 4, 3), np.uint8)
        frame[0, 0, 0] = ctx.frame_index % 256
        frame[0, 0, 1] = self.value % 256
        return frame


def pct(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 2) if values else None


async def measure(
    model: Model, seconds: float, warmup: float, commands_every: float | None
) -> dict[str, Any]:
    slot = FrameSlot()
    published: list[tuple[float, int]] = []
    original = slot.publish

    def publish(frame: Frame, at: float) -> None:
        published.append((time.perf_counter(), int(frame[0, 0, 0])))
        original(frame, at)

    slot.publish = publish  # type: ignore[method-assign, assignment]
    crashes: list[BaseException] = []
    runner = ModelRunner(model, slot, session_id="bench", on_message=lambda m: None, on_crash=crashes.append)
    runner.start()
    await asyncio.sleep(warmup)
    first, start = len(published), time.perf_counter()
    acks: list[float] = []
    value = 0
    while time.perf_counter() - start < seconds:
        if commands_every is None:
            await asyncio.sleep(0.1)
            continue
        value += 1
        sent = time.perf_counter()
        await runner.enqueue("set_value", {"value": value})
        acks.append((time.perf_counter() - sent) * 1000)
        await asyncio.sleep(commands_every)
    elapsed = time.perf_counter() - start
    window = published[first:]
    await runner.stop()
    times = [t for t, _ in window]
    intervals = [(b - a) * 1000 for a, b in zip(times, times[1:], strict=False)]
    steps = [(b - a) % 256 for (_, a), (_, b) in zip(window, window[1:], strict=False)]
    out: dict[str, Any] = {
        "fps_declared": model.fps,
        "window_s": round(elapsed, 2),
        "frames": len(window),
        "fps": round(len(window) / elapsed, 2),
        "interval_ms": {q: pct(intervals, n) for q, n in (("p5", 5), ("p50", 50), ("p99", 99))},
        "interval_ms_max": round(max(intervals), 2) if intervals else None,
        "skipped_frames": sum(s - 1 for s in steps if s > 1),
        "repeated_frames": sum(1 for s in steps if s == 0),
        "crashes": [repr(c) for c in crashes],
    }
    if acks:
        out["commands"] = len(acks)
        out["command_ack_ms"] = {"p50": pct(acks, 50), "p99": pct(acks, 99), "max": round(max(acks), 2)}
    return out


def verdict(runs: dict[str, dict[str, Any]]) -> dict[str, bool]:
    steady, chunks, cpu = runs["steady"], runs["chunks"], runs["cpu_bound"]

    def near(value: float | None, target: tuple[float, float]) -> bool:
        return value is not None and abs(value - target[0]) <= target[1]

    return {
        "steady fps within 5 %": abs(steady["fps"] / 30.0 - 1) <= FPS_ERROR_MAX,
        "steady interval p50 33.3 +- 3 ms": near(steady["interval_ms"]["p50"], STEADY_INTERVAL_P50_MS),
        "chunks fps within 5 %": abs(chunks["fps"] / 50.0 - 1) <= FPS_ERROR_MAX,
        "chunks interval p50 20 +- 3 ms": near(chunks["interval_ms"]["p50"], CHUNKS_INTERVAL_P50_MS),
        "chunks interval p5 > 10 ms (paced, not burst)": (chunks["interval_ms"]["p5"] or 0)
        > CHUNKS_INTERVAL_P5_MS_MIN,
        "cpu_bound interval p99 < 50 ms": (cpu["interval_ms"]["p99"] or 1e9) < CPU_BOUND_INTERVAL_P99_MS_MAX,
        "cpu_bound command ack max < 60 ms": cpu["command_ack_ms"]["max"] < CPU_BOUND_COMMAND_ACK_MS_MAX,
        "no frame skipped or repeated": all(
            r["skipped_frames"] == 0 and r["repeated_frames"] == 0 for r in runs.values()
        ),
    }


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    runs = {
        "steady": await measure(Steady(), args.seconds, args.warmup, None),
        "chunks": await measure(Chunks(), args.seconds, args.warmup, None),
        "cpu_bound": await measure(CpuBound(), args.seconds, args.warmup, 0.1),
    }
    return {
        "bench": "runner",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "load": os.getloadavg()},
        "targets": TARGETS,
        "runs": runs,
        "verdict": verdict(runs),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=10.0, help="measured window per model")
    parser.add_argument("--warmup", type=float, default=0.5)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(main_async(args)), indent=2))


if __name__ == "__main__":
    main()
