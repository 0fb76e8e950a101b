"""Client side of ``bench_streaming.py``: one client measuring one probe stream; prints JSON.

Runs under either interpreter: ours (``.venv``, our ``reactor_sdk``) or the official client's
venv (``reactor-sdk`` 1.13.0). It therefore imports only the standard library, numpy,
``reactor_sdk`` and the probe pattern module, loaded by file path. Started by
``tests/interop/netns_launcher.py`` inside ``netns-run``, with the base URL appended::

    python streaming_driver.py --sdk official|ours --width W --height H [...] URL

Phases, in order, on one connection: connect (time to first callback and to the first decodable
probe frame), a steady window (delivered fps, frame intervals, counter gaps, client CPU; the
launcher samples server CPU and the namespace's loopback byte counter at its edges), command
latency (``set_value`` with unique values, until the first frame showing the value), then a
PSNR window (every received frame is kept and compared afterwards with the bit-exact render of
its decoded counter and value). Extra connect trials (connect → first frame → disconnect) follow.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import inspect
import json
import random
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

PROBE_PATH = (
    Path(__file__).resolve().parents[1] / "src" / "openreactor" / "models" / "builtin" / "probe_pattern.py"
)
_spec = importlib.util.spec_from_file_location("_probe_pattern", PROBE_PATH)
assert _spec is not None and _spec.loader is not None
probe = importlib.util.module_from_spec(_spec)
sys.modules["_probe_pattern"] = probe
_spec.loader.exec_module(probe)

import reactor_sdk  # noqa: E402
from reactor_sdk import Reactor  # noqa: E402

# BT.601 luma weights (full range); applied identically to both frames of a PSNR pair.
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float64)


def action(text: str) -> None:
    print(f"@@ACTION {text}", flush=True)


def percentile(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 2) if values else None


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10.0 * float(np.log10(255.0**2 / mse))


def luma(rgb: np.ndarray) -> np.ndarray:
    return rgb.astype(np.float64) @ _LUMA


class Client:
    """One connected client plus everything its frame callback records (any thread)."""

    def __init__(self, sdk: str, url: str, ice_host: str | None) -> None:
        self.loop = asyncio.get_running_loop()
        kwargs: dict[str, Any] = {"local": True, "api_url": url}
        if sdk == "ours" and ice_host:
            kwargs["ice_host_addresses"] = [ice_host]
        self.reactor = Reactor("probe", **kwargs)
        if sdk == "ours":
            self.reactor.on_frame(self.on_frame)
        else:
            self.reactor.track("main_video").on_frame(self.on_frame)
        self.lock = threading.Lock()
        self.times: list[float] = []
        self.codes: list[tuple[int, int] | None] = []
        self.first_callback: float | None = None
        self.first_decoded: float | None = None
        self.shape: list[int] | None = None
        self.capture: list[np.ndarray] | None = None
        self.want_value: int | None = None
        self.value_event: asyncio.Event | None = None
        self.value_time: float | None = None

    def on_frame(self, frame: Any) -> None:
        now = time.monotonic()
        code = probe.decode_probe(frame)
        with self.lock:
            if self.first_callback is None:
                self.first_callback = now
                self.shape = list(frame.shape)
            if code is not None and self.first_decoded is None:
                self.first_decoded = now
            self.times.append(now)
            self.codes.append((code.counter, code.value) if code else None)
            if self.capture is not None:
                self.capture.append(np.array(frame, copy=True))
            if code is not None and self.want_value is not None and code.value == self.want_value:
                self.want_value = None
                self.value_time = now
                if self.value_event is not None:
                    self.loop.call_soon_threadsafe(self.value_event.set)

    async def stats_snapshot(self) -> dict[str, int] | None:
        """Counters from the client's own ``get_stats()`` (the official client has it), else None."""
        get_stats = getattr(self.reactor, "get_stats", None)
        if get_stats is None:
            return None
        try:
            stats = get_stats()
            if inspect.isawaitable(stats):
                stats = await stats
        except Exception:  # noqa: BLE001 - stats are optional
            return None
        out: dict[str, int] = {}
        if isinstance(getattr(stats, "bytes_received", None), int):
            out["bytes_received"] = stats.bytes_received
        for stream in getattr(stats, "inbound", None) or []:
            if getattr(stream, "kind", None) == "video":
                for key in ("frames_decoded", "frames_dropped", "packets_lost", "nack_count"):
                    value = getattr(stream, key, None)
                    if isinstance(value, int):
                        out[key] = out.get(key, 0) + value
        return out


async def wait_until(predicate: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.005)
    return True


async def connect_trial(args: argparse.Namespace) -> tuple[Client, dict[str, Any]]:
    client = Client(args.sdk, args.url, args.ice_host)
    t0 = time.monotonic()
    await asyncio.wait_for(client.reactor.connect(), 30)
    t_ready = time.monotonic()
    await wait_until(lambda: client.first_decoded is not None, 10)

    def ms(t: float | None) -> float | None:
        return None if t is None else round((t - t0) * 1000, 1)

    return client, {
        "connect_ms": ms(t_ready),
        "first_callback_ms": ms(client.first_callback),
        "first_probe_frame_ms": ms(client.first_decoded),
    }


def gaps(codes: list[tuple[int, int] | None]) -> dict[str, Any]:
    counters = [c[0] for c in codes if c is not None]
    steps = [b - a for a, b in zip(counters, counters[1:], strict=False)]
    return {
        "decoded": len(counters),
        "undecodable": sum(1 for c in codes if c is None),
        "dropped": sum(s - 1 for s in steps if s > 1),
        "non_increasing": sum(1 for s in steps if s <= 0),
        "max_gap": max(steps, default=0),
    }


async def steady_window(client: Client, seconds: float, fps: float) -> dict[str, Any]:
    with client.lock:
        start = len(client.times)
    stats0 = await client.stats_snapshot()
    action("cpu window_start")
    cpu0, t0 = time.process_time(), time.monotonic()
    await asyncio.sleep(seconds)
    cpu1, t1 = time.process_time(), time.monotonic()
    action("cpu window_end")
    stats1 = await client.stats_snapshot()
    with client.lock:
        times = client.times[start:]
        codes = client.codes[start:]
    elapsed = t1 - t0
    intervals = [(b - a) * 1000 for a, b in zip(times, times[1:], strict=False)]
    counters = [c[0] for c in codes if c is not None]
    out: dict[str, Any] = {
        "seconds": round(elapsed, 3),
        "frames": len(times),
        "delivered_fps": round(len(times) / elapsed, 2),
        "expected_frames": round(elapsed * fps),
        "counter_span": (counters[-1] - counters[0] + 1) if counters else 0,
        "interval_ms": {
            "p50": percentile(intervals, 50),
            "p95": percentile(intervals, 95),
            "p99": percentile(intervals, 99),
            "max": round(max(intervals), 2) if intervals else None,
        },
        "counters": gaps(codes),
        "client_cpu_s_per_s": round((cpu1 - cpu0) / elapsed, 3),
    }
    if stats0 and stats1:
        delta = {key: stats1[key] - stats0[key] for key in stats1 if key in stats0}
        if "bytes_received" in delta:
            out["client_stats_mbit_s"] = round(delta.pop("bytes_received") * 8 / elapsed / 1e6, 3)
        out["client_stats"] = delta
    return out


async def command_latency(client: Client, samples: int, fps: float) -> dict[str, Any]:
    latencies: list[float] = []
    acks: list[float] = []
    timeouts = 0
    errors: list[str] = []
    rng = random.Random(1234)
    for i in range(samples):
        value = 1000 + i  # unique, never the initial 0
        # A random phase against the frame clock, so samples are not locked to frame arrival.
        await asyncio.sleep(rng.uniform(0, 1.0 / fps))
        event = asyncio.Event()
        with client.lock:
            client.value_event = event
            client.value_time = None
            client.want_value = value
        t0 = time.monotonic()
        try:
            await client.reactor.send_command("set_value", {"value": value})
        except Exception as exc:  # noqa: BLE001 - counted and reported
            errors.append(f"{type(exc).__name__}: {exc}")
            continue
        acks.append((time.monotonic() - t0) * 1000)
        try:
            await asyncio.wait_for(event.wait(), 2.0)
        except TimeoutError:
            timeouts += 1
            continue
        assert client.value_time is not None
        latencies.append((client.value_time - t0) * 1000)
    with client.lock:
        client.want_value = None
        client.value_event = None
    return {
        "samples": len(latencies),
        "timeouts": timeouts,
        "errors": errors[:5],
        "p50_ms": percentile(latencies, 50),
        "p95_ms": percentile(latencies, 95),
        "p99_ms": percentile(latencies, 99),
        "max_ms": round(max(latencies), 2) if latencies else None,
        "mean_ms": round(float(np.mean(latencies)), 2) if latencies else None,
        "ack_p50_ms": percentile(acks, 50),
        "ack_p95_ms": percentile(acks, 95),
    }


async def psnr_window(client: Client, seconds: float, width: int, height: int) -> dict[str, Any]:
    with client.lock:
        client.capture = []
    await asyncio.sleep(seconds)
    with client.lock:
        frames, client.capture = client.capture, None
    renderer = probe.ProbeRenderer(width, height)
    rgb: list[float] = []
    y: list[float] = []
    undecodable = 0
    for frame in frames:
        code = probe.decode_probe(frame)
        if code is None:
            undecodable += 1
            continue
        reference = renderer.render(code.counter, code.value)
        rgb.append(psnr(frame, reference))
        y.append(psnr(luma(frame), luma(reference)))

    def summary(values: list[float]) -> dict[str, Any]:
        if not values:
            return {}
        return {
            "mean": round(float(np.mean(values)), 2),
            "min": round(min(values), 2),
            "p5": percentile(values, 5),
            "p50": percentile(values, 50),
        }

    return {
        "frames": len(frames),
        "compared": len(rgb),
        "undecodable": undecodable,
        "rgb_db": summary(rgb),
        "y_db": summary(y),
    }


async def main(args: argparse.Namespace) -> dict[str, Any]:
    result: dict[str, Any] = {
        "sdk": args.sdk,
        "sdk_version": getattr(reactor_sdk, "__version__", None),
        "width": args.width,
        "height": args.height,
        "fps": args.fps,
    }
    client, first = await connect_trial(args)
    trials = [first]
    result["shape"] = client.shape
    await asyncio.sleep(args.warmup)
    result["steady"] = await steady_window(client, args.duration, args.fps)
    result["command_to_frame"] = await command_latency(client, args.latency_samples, args.fps)
    result["psnr"] = await psnr_window(client, args.psnr_seconds, args.width, args.height)
    await asyncio.wait_for(client.reactor.disconnect(), 15)
    for _ in range(args.connect_trials - 1):
        await asyncio.sleep(0.3)
        extra, trial = await connect_trial(args)
        trials.append(trial)
        await asyncio.wait_for(extra.reactor.disconnect(), 15)
    result["connect_trials"] = trials
    for key in ("connect_ms", "first_callback_ms", "first_probe_frame_ms"):
        values = [t[key] for t in trials if t[key] is not None]
        result.setdefault("first_frame", {})[key] = {
            "median": round(float(np.median(values)), 1) if values else None,
            "max": max(values) if values else None,
        }
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--sdk", choices=["ours", "official"], required=True)
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=720)
    parser.add_argument("--fps", type=float, default=30.0)
    parser.add_argument("--ice-host", default=None, help="ours only: pin ICE host candidates")
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--latency-samples", type=int, default=100)
    parser.add_argument("--psnr-seconds", type=float, default=3.0)
    parser.add_argument("--connect-trials", type=int, default=3)
    parser.add_argument("url")
    out = asyncio.run(main(parser.parse_args()))
    print("@@RESULT " + json.dumps(out), flush=True)
