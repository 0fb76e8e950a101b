"""Pacing under a CPU-bound model: does a model that burns the GIL hurt the stream or commands?

Serves ``BurnModel`` (the probe pattern plus ``--burn-ms`` of pure-Python busy loop per frame,
which holds the GIL like real Python-side model code) with ``openreactor serve`` in a
subprocess, connects our SDK (``reactor_sdk.Reactor(..., local=True)``, a top-level
``@reactor.on_frame``) and measures, over a steady window:

* delivered fps and frame-interval percentiles at the client (arrival times of decoded frames);
* counter gaps (frames the model made that the client never saw);
* command round trip: ``send_command("set_value")`` → its acknowledgement, and → the first
  frame that shows the value; one command every 200 ms during the window.

Prints one JSON document on stdout (progress on stderr)::

    .venv/bin/python bench/bench_model_pacing.py [--burn-ms 0,25] [--seconds 10] [--fps 30]

The server's model module is this file (``bench_model_pacing:BurnModel``, with ``bench/`` on
its ``PYTHONPATH``); the burn time reaches it through ``OPENREACTOR_BENCH_BURN_MS``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from openreactor.models.api import Frame, ModelContext
from openreactor.models.builtin.probe import ProbeModel

REPO = Path(__file__).resolve().parents[1]


class BurnModel(ProbeModel):
    """The probe pattern, plus a GIL-holding busy loop of ``OPENREACTOR_BENCH_BURN_MS`` per frame."""

    name = "burn"

    def __init__(self, width: int = 640, height: int = 360, fps: float = 30.0) -> None:
        super().__init__(width, height, fps)
        self.burn_s = float(os.environ.get("OPENREACTOR_BENCH_BURN_MS", "25")) / 1000.0

    def next_frame(self, ctx: ModelContext) -> Frame:
        end = time.perf_counter() + self.burn_s
        spins = 0
        while time.perf_counter() < end:  # pure Python: holds the GIL except at switch intervals
            spins += 1
        return super().next_frame(ctx)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def serve(burn_ms: float, fps: float, width: int, height: int, extra: list[str]) -> Any:
    port = _free_port()
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO / "bench"), env.get("PYTHONPATH")) if p)
    env["OPENREACTOR_BENCH_BURN_MS"] = str(burn_ms)
    args = [sys.executable, "-m", "openreactor", "serve", "--model", "bench_model_pacing:BurnModel"]
    args += ["--port", str(port), "--width", str(width), "--height", str(height), "--fps", str(fps)]
    args += ["--ice-host", "127.0.0.1", "--log-level", "warning", *extra]
    errors = tempfile.TemporaryFile()
    proc = subprocess.Popen(args, env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=errors)
    url = f"http://127.0.0.1:{port}"
    try:
        import httpx

        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                errors.seek(0)
                raise RuntimeError(f"server exited: {errors.read().decode(errors='replace')}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError("server not healthy in 30 s")
            time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        errors.close()


def pct(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 2) if values else None


async def measure(url: str, seconds: float, warmup: float) -> dict[str, Any]:
    from openreactor.models.builtin.probe_pattern import decode_probe
    from reactor_sdk import Reactor

    arrivals: list[tuple[float, int, int]] = []  # (time, counter, value)
    lock = threading.Lock()
    reactor = Reactor("burn", local=True, api_url=url, ice_host_addresses=["127.0.0.1"])

    @reactor.on_frame
    def on_frame(frame: np.ndarray) -> None:
        code = decode_probe(frame)
        if code is not None:
            with lock:
                arrivals.append((time.perf_counter(), code.counter, code.value))

    acks: list[float] = []
    to_frame: list[float] = []
    async with reactor:
        await asyncio.sleep(warmup)
        with lock:
            arrivals.clear()
        start = time.perf_counter()
        value = 1000
        while time.perf_counter() - start < seconds:
            value += 1
            sent = time.perf_counter()
            await reactor.send_command("set_value", {"value": value})
            acks.append((time.perf_counter() - sent) * 1000)
            deadline = time.perf_counter() + 2.0
            while time.perf_counter() < deadline:
                with lock:
                    seen = next((t for t, _, v in reversed(arrivals) if v == value and t >= sent), None)
                if seen is not None:
                    to_frame.append((seen - sent) * 1000)
                    break
                await asyncio.sleep(0.005)
            await asyncio.sleep(max(0.0, 0.2 - (time.perf_counter() - sent)))
        elapsed = time.perf_counter() - start
    with lock:
        window = [a for a in arrivals if a[0] - start <= elapsed]
    times = [t for t, _, _ in window]
    intervals = [(b - a) * 1000 for a, b in zip(times, times[1:], strict=False)]
    counters = [c for _, c, _ in window]
    gaps = sum(max(0, (b - a) % 65536 - 1) for a, b in zip(counters, counters[1:], strict=False))
    return {
        "window_s": round(elapsed, 2),
        "frames": len(window),
        "delivered_fps": round(len(window) / elapsed, 2) if elapsed else None,
        "interval_ms": {
            "p50": pct(intervals, 50),
            "p90": pct(intervals, 90),
            "p99": pct(intervals, 99),
            "max": round(max(intervals), 2) if intervals else None,
        },
        "skipped_frames": gaps,
        "commands": len(acks),
        "command_ack_ms": {
            "p50": pct(acks, 50),
            "p99": pct(acks, 99),
            "max": round(max(acks), 2) if acks else None,
        },
        "command_to_frame_ms": {"p50": pct(to_frame, 50), "p99": pct(to_frame, 99), "seen": len(to_frame)},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--burn-ms", default="0,25", help="comma-separated burn times per frame")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--fps", type=float, default=30.0)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=360)
    parser.add_argument("--server-arg", action="append", default=[], help="extra `serve` argument")
    opts = parser.parse_args()
    runs = []
    for burn in [float(b) for b in opts.burn_ms.split(",")]:
        print(f"burn {burn} ms/frame at {opts.fps} fps ...", file=sys.stderr, flush=True)
        with serve(burn, opts.fps, opts.width, opts.height, opts.server_arg) as url:
            result = asyncio.run(measure(url, opts.seconds, opts.warmup))
        runs.append({"burn_ms": burn, "fps": opts.fps, "size": f"{opts.width}x{opts.height}", **result})
    report = {
        "bench": "model_pacing",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "target": {"interval_p99_ms_max": 50, "fps": opts.fps},
        "runs": runs,
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
