"""Drives the official ``reactor-sdk`` 1.13.0 client against our server; prints one result line.

Runs in the official client's own venv (never ours: both packages are called ``reactor_sdk``),
so it imports only the standard library, numpy, ``reactor_sdk`` and the probe pattern module,
which is loaded by file path. Started by ``netns_launcher.py``::

    python official_client_driver.py SCENARIO BASE_URL

Scenarios:

``session``
    connect; >= 60 probe frames; ``set_value``; an unknown command; wrongly typed arguments;
    ``disconnect()``, after which the launcher checks ``GET /session``.
``sigterm``
    connect; stream; ask the launcher to SIGTERM the server; watch the status go to
    ``disconnected``.

Everything the tests assert on is in the JSON after ``@@RESULT``. Only the official client's
public API is used.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any

PROBE_PATH = (
    Path(__file__).resolve().parents[2] / "src" / "openreactor" / "models" / "builtin" / "probe_pattern.py"
)
_spec = importlib.util.spec_from_file_location("_probe_pattern", PROBE_PATH)
assert _spec is not None and _spec.loader is not None
probe = importlib.util.module_from_spec(_spec)
sys.modules["_probe_pattern"] = probe
_spec.loader.exec_module(probe)

from reactor_sdk import Reactor, ReactorError, ReactorStatus  # noqa: E402

MIN_FRAMES = 60
SET_VALUE = 4242


def action(text: str) -> None:
    print(f"@@ACTION {text}", flush=True)


class Recorder:
    """Collects decoded frames and status changes from the client's callbacks (any thread)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.lock = threading.Lock()
        self.frames: list[tuple[float, int | None, int | None]] = []  # (t, counter, value)
        self.shape: list[int] | None = None
        self.statuses: list[tuple[float, str]] = []
        self.errors: list[dict[str, Any]] = []
        self.messages: list[Any] = []
        self._waiters: list[tuple[Any, asyncio.Future[None]]] = []

    def on_frame(self, frame: Any) -> None:
        now = time.monotonic()
        code = probe.decode_probe(frame)
        with self.lock:
            if self.shape is None:
                self.shape = list(frame.shape)
            self.frames.append((now, code.counter if code else None, code.value if code else None))
        self.loop.call_soon_threadsafe(self._wake)

    def on_status(self, status: Any) -> None:
        self.statuses.append((time.monotonic(), getattr(status, "value", str(status))))
        self.loop.call_soon_threadsafe(self._wake)

    def on_error(self, error: Any) -> None:
        self.errors.append(
            {"type": type(error).__name__, "code": getattr(error, "code", None), "message": str(error)}
        )

    def _wake(self) -> None:
        for predicate, fut in list(self._waiters):
            if not fut.done() and predicate():
                fut.set_result(None)
                self._waiters.remove((predicate, fut))

    async def wait_for(self, predicate: Any, timeout: float) -> bool:
        if predicate():
            return True
        fut: asyncio.Future[None] = self.loop.create_future()
        self._waiters.append((predicate, fut))
        try:
            await asyncio.wait_for(fut, timeout)
            return True
        except TimeoutError:
            return False

    def decoded_since(self, index: int) -> list[tuple[float, int, int]]:
        with self.lock:
            return [(t, c, v) for t, c, v in self.frames[index:] if c is not None and v is not None]

    def count(self) -> int:
        with self.lock:
            return len(self.frames)


def counter_report(frames: list[tuple[float, int, int]]) -> dict[str, Any]:
    counters = [c for _, c, _ in frames]
    steps = [b - a for a, b in zip(counters, counters[1:], strict=False)]
    return {
        "decoded": len(counters),
        "first": counters[0] if counters else None,
        "last": counters[-1] if counters else None,
        "strictly_increasing": all(s > 0 for s in steps),
        "non_increasing_steps": sum(1 for s in steps if s <= 0),
        "dropped": sum(s - 1 for s in steps if s > 1),
        "max_gap": max(steps, default=0),
    }


async def command_outcome(reactor: Any, name: str, data: Any) -> dict[str, Any]:
    t0 = time.monotonic()
    try:
        reply = await asyncio.wait_for(reactor.send_command(name, data), 15)
    except ReactorError as exc:
        return {
            "raised": type(exc).__name__,
            "is_reactor_error": True,
            "code": exc.code,
            "message": str(exc),
            "seconds": round(time.monotonic() - t0, 3),
        }
    except Exception as exc:  # noqa: BLE001 - reported, the test decides
        return {
            "raised": type(exc).__name__,
            "is_reactor_error": False,
            "code": getattr(exc, "code", None),
            "message": str(exc),
            "seconds": round(time.monotonic() - t0, 3),
        }
    return {
        "raised": None,
        "returned": reply,
        "returned_none": reply is None,
        "seconds": round(time.monotonic() - t0, 3),
    }


async def connect(url: str, rec: Recorder, result: dict[str, Any]) -> Any:
    reactor = Reactor("probe", local=True, api_url=url)
    reactor.track("main_video").on_frame(rec.on_frame)
    reactor.on_status(rec.on_status)
    reactor.on_error(rec.on_error)
    reactor.on_message(rec.messages.append)
    t0 = time.monotonic()
    await asyncio.wait_for(reactor.connect(), 30)
    result["connect"] = {
        "ok": True,
        "seconds": round(time.monotonic() - t0, 3),
        "status": getattr(reactor.get_status(), "value", None),
    }
    return reactor


async def scenario_session(url: str, rec: Recorder, result: dict[str, Any]) -> None:
    reactor = await connect(url, rec, result)

    # 1. Streaming: at least MIN_FRAMES decoded probe frames with increasing counters.
    t0 = time.monotonic()
    got = await rec.wait_for(lambda: len(rec.decoded_since(0)) >= MIN_FRAMES, 15)
    frames = rec.decoded_since(0)
    result["stream"] = {
        "reached_min": got,
        "seconds": round(time.monotonic() - t0, 3),
        "received_callbacks": rec.count(),
        "shape": rec.shape,
        **counter_report(frames),
        "values": sorted({v for _, _, v in frames}),
    }

    # 2. set_value: acknowledged with None, then the value shows in the following frames.
    mark = rec.count()
    outcome = await command_outcome(reactor, "set_value", {"value": SET_VALUE})
    ack_at = time.monotonic()
    seen = await rec.wait_for(lambda: any(v == SET_VALUE for _, _, v in rec.decoded_since(mark)), 5)
    after = rec.decoded_since(mark)
    first = next((i for i, (_, _, v) in enumerate(after) if v == SET_VALUE), None)
    later = after[first:] if first is not None else []
    result["set_value"] = {
        **outcome,
        "value": SET_VALUE,
        "value_seen": seen,
        "frames_after_ack_to_value": None if first is None else round(after[first][0] - ack_at, 3),
        "frames_after_first_with_other_value": sum(1 for _, _, v in later if v != SET_VALUE),
    }

    # 3. Unknown command.
    result["unknown_command"] = await command_outcome(reactor, "no_such_command", {"x": 1})

    # 4. Wrongly typed arguments, then the session keeps streaming with the old value.
    bad: dict[str, Any] = {}
    for label, data in (("string", {"value": "abc"}), ("out_of_range", {"value": 70000}), ("missing", {})):
        bad[label] = await command_outcome(reactor, "set_value", data)
    result["bad_arguments"] = bad
    mark = rec.count()
    await rec.wait_for(lambda: len(rec.decoded_since(mark)) >= 15, 5)
    after = rec.decoded_since(mark)
    result["after_errors"] = {
        **counter_report(after),
        "values": sorted({v for _, _, v in after}),
        "counter_before": frames[-1][1] if frames else None,
    }
    all_frames = rec.decoded_since(0)
    result["all_frames"] = counter_report(all_frames)

    # 5. disconnect() ends the session: the launcher checks GET /session right after.
    t0 = time.monotonic()
    await asyncio.wait_for(reactor.disconnect(), 15)
    result["disconnect"] = {
        "seconds": round(time.monotonic() - t0, 3),
        "status": getattr(reactor.get_status(), "value", None),
    }
    action("session after_disconnect")
    # Frames must stop: count callbacks over the next 0.5 s.
    mark = rec.count()
    await asyncio.sleep(0.5)
    result["disconnect"]["frames_after"] = rec.count() - mark


async def scenario_sigterm(url: str, rec: Recorder, result: dict[str, Any]) -> None:
    reactor = await connect(url, rec, result)
    got = await rec.wait_for(lambda: len(rec.decoded_since(0)) >= 15, 10)
    result["stream"] = {"reached_min": got, **counter_report(rec.decoded_since(0))}
    t0 = time.monotonic()
    action("sigterm")
    gone = await rec.wait_for(
        lambda: bool(rec.statuses) and rec.statuses[-1][1] == ReactorStatus.DISCONNECTED.value, 15
    )
    result["after_sigterm"] = {
        "disconnected": gone,
        "seconds": round(time.monotonic() - t0, 3),
        "status": getattr(reactor.get_status(), "value", None),
        "errors": rec.errors,
        "messages": [repr(m)[:200] for m in rec.messages],
    }
    # Leave cleanly whatever happened (disconnect on a dead server must not hang).
    try:
        await asyncio.wait_for(reactor.disconnect(), 10)
        result["after_sigterm"]["disconnect_call"] = "ok"
    except Exception as exc:  # noqa: BLE001
        result["after_sigterm"]["disconnect_call"] = f"{type(exc).__name__}: {exc}"


SCENARIOS = {"session": scenario_session, "sigterm": scenario_sigterm}


async def main(scenario: str, url: str) -> dict[str, Any]:
    rec = Recorder(asyncio.get_running_loop())
    result: dict[str, Any] = {"scenario": scenario}
    try:
        await SCENARIOS[scenario](url, rec, result)
    except Exception as exc:  # noqa: BLE001 - the result carries it to the test
        result["exception"] = f"{type(exc).__name__}: {exc}"
        result["traceback"] = traceback.format_exc()
    result["statuses"] = [s for _, s in rec.statuses]
    result["errors"] = rec.errors
    return result


if __name__ == "__main__":
    out = asyncio.run(main(sys.argv[1], sys.argv[2]))
    print("@@RESULT " + json.dumps(out, default=repr), flush=True)
