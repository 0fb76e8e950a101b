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
``upload`` (model ``echo``)
    ``upload_file`` from bytes, a path and a file object; commands carrying the ``FileRef`` at
    the top level and nested in a list and a dict; the echo replies describe the stored files.
``webcam`` (model ``webcam``)
    the idle pattern; ``publish_track("webcam")`` and push a two-colour picture at ~30 fps; the
    transformed (mirrored, posterised, red-reduced) colours come back on ``main_video``;
    ``unpublish_track`` brings the idle pattern back.
``pause``
    ``track("main_video").pause()`` stops the frames; ``resume()`` brings later counters.
``reconnect``
    ``set_value``, ``reconnect()`` (same session, same connection id), frames carry on with the
    value kept and counters that did not restart.
``cloud``
    the cloud plane with an API key (``$OPENREACTOR_INTEROP_API_KEY``, made by the launcher's
    ``--create-key``): ``Reactor("probe", api_key=KEY, api_url=URL)`` mints a token, creates the
    session and polls it; >= 30 probe frames; ``set_value``; ``disconnect()``, after which the
    launcher reads ``GET /sessions/{id}`` with a fresh token (``cloud_session``).
``multi`` (model ``echo``)
    client A creates, client B ``connect(session_id=...)``; both stream; replies go only to the
    sender; B leaving keeps the session, A leaving ends it.

Everything the tests assert on is in the JSON after ``@@RESULT``. Only the official client's
public API is used. Waits are on the client's callbacks (``Recorder.wait_for``, woken by every
frame, status and message), bounded by ``WAIT_S`` only to report a failure; the seconds the
result carries are for the reader (``bench/bench_official_reactions.py`` measures them), never
asserted. This runs in the official client's interpreter, so it does not import
``tests/support/waiting.py``: its ``wait_for`` reports ``False`` into the result instead of raising, and
the test decides.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib.util
import inspect
import json
import os
import sys
import tempfile
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

import numpy as np  # noqa: E402

from reactor_sdk import Reactor, ReactorError, ReactorStatus  # noqa: E402

MIN_FRAMES = 60
SET_VALUE = 4242
WAIT_S = 20.0
"""How long a wait may take before the driver reports that it did not happen."""


def action(text: str) -> None:
    print(f"@@ACTION {text}", flush=True)


class Recorder:
    """Collects decoded frames and status changes from the client's callbacks (any thread)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, measure: Any = None) -> None:
        self.loop = loop
        self.measure = measure
        """Optional ``frame -> dict``; its results go to ``samples`` as ``(t, result)``."""
        self.samples: list[tuple[float, dict[str, Any]]] = []
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
        sample = self.measure(frame) if self.measure is not None else None
        with self.lock:
            if self.shape is None:
                self.shape = list(frame.shape)
            self.frames.append((now, code.counter if code else None, code.value if code else None))
            if sample is not None:
                self.samples.append((now, sample))
        self.loop.call_soon_threadsafe(self._wake)

    def on_status(self, status: Any) -> None:
        self.statuses.append((time.monotonic(), getattr(status, "value", str(status))))
        self.loop.call_soon_threadsafe(self._wake)

    def on_error(self, error: Any) -> None:
        self.errors.append(
            {"type": type(error).__name__, "code": getattr(error, "code", None), "message": str(error)}
        )

    def on_message(self, message: Any) -> None:
        self.messages.append(message)
        self.loop.call_soon_threadsafe(self._wake)

    def _wake(self) -> None:
        for predicate, fut in list(self._waiters):
            if not fut.done() and predicate():
                fut.set_result(None)
                self._waiters.remove((predicate, fut))

    async def wait_for(self, predicate: Any, timeout: float = WAIT_S) -> bool:
        """Until ``predicate()`` holds (checked on every callback); ``False`` after ``timeout``."""
        if predicate():
            return True
        fut: asyncio.Future[None] = self.loop.create_future()
        self._waiters.append((predicate, fut))
        try:
            await asyncio.wait_for(fut, timeout)
            return True
        except TimeoutError:
            return False

    async def quiet_for(self, seconds: float, timeout: float = WAIT_S) -> bool:
        """Until no frame has arrived for ``seconds`` (the frames stopped); ``False`` after ``timeout``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                last = self.frames[-1][0] if self.frames else float("-inf")
            silent = time.monotonic() - last
            if silent >= seconds:
                return True
            await asyncio.sleep(seconds - silent)
        return False

    def decoded_since(self, index: int) -> list[tuple[float, int, int]]:
        with self.lock:
            return [(t, c, v) for t, c, v in self.frames[index:] if c is not None and v is not None]

    def count(self) -> int:
        with self.lock:
            return len(self.frames)

    def times_since(self, index: int) -> list[float]:
        with self.lock:
            return [t for t, _, _ in self.frames[index:]]

    def samples_since(self, t0: float) -> list[dict[str, Any]]:
        with self.lock:
            return [s for t, s in self.samples if t >= t0]


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


async def connect(
    url: str,
    rec: Recorder,
    result: dict[str, Any],
    *,
    model: str = "probe",
    session_id: str | None = None,
    key: str = "connect",
    api_key: str | None = None,
) -> Any:
    if api_key is None:
        reactor = Reactor(model, local=True, api_url=url)
    else:
        reactor = Reactor(model, api_key=api_key, api_url=url)
    reactor.track("main_video").on_frame(rec.on_frame)
    reactor.on_status(rec.on_status)
    reactor.on_error(rec.on_error)
    reactor.on_message(rec.on_message)
    t0 = time.monotonic()
    await asyncio.wait_for(reactor.connect(session_id=session_id), 30)
    result[key] = {
        "ok": True,
        "seconds": round(time.monotonic() - t0, 3),
        "status": getattr(reactor.get_status(), "value", None),
        "session_id": reactor.get_session_id(),
    }
    return reactor


async def leave(reactor: Any) -> dict[str, Any]:
    """``disconnect()`` with a bound; the status it leaves behind."""
    t0 = time.monotonic()
    await asyncio.wait_for(reactor.disconnect(), 15)
    return {
        "seconds": round(time.monotonic() - t0, 3),
        "status": getattr(reactor.get_status(), "value", None),
    }


async def scenario_session(url: str, rec: Recorder, result: dict[str, Any]) -> None:
    reactor = await connect(url, rec, result)

    # 1. Streaming: at least MIN_FRAMES decoded probe frames with increasing counters.
    t0 = time.monotonic()
    got = await rec.wait_for(lambda: len(rec.decoded_since(0)) >= MIN_FRAMES)
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
    seen = await rec.wait_for(lambda: any(v == SET_VALUE for _, _, v in rec.decoded_since(mark)))
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
    await rec.wait_for(lambda: len(rec.decoded_since(mark)) >= 15)
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
    # Frames must stop: count callbacks over the next 0.5 s (a window to watch for what must not come).
    mark = rec.count()
    await asyncio.sleep(0.5)
    result["disconnect"]["frames_after"] = rec.count() - mark


async def scenario_sigterm(url: str, rec: Recorder, result: dict[str, Any]) -> None:
    reactor = await connect(url, rec, result)
    got = await rec.wait_for(lambda: len(rec.decoded_since(0)) >= 15)
    result["stream"] = {"reached_min": got, **counter_report(rec.decoded_since(0))}
    t0 = time.monotonic()
    action("sigterm")
    gone = await rec.wait_for(
        lambda: bool(rec.statuses) and rec.statuses[-1][1] == ReactorStatus.DISCONNECTED.value, 30
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


# -- the cloud plane: API key -> token -> session --------------------------------------------------

CLOUD_MIN_FRAMES = 30
CLOUD_VALUE = 3131


async def scenario_cloud(url: str, rec: Recorder, result: dict[str, Any]) -> None:
    reactor = await connect(url, rec, result, api_key=os.environ["OPENREACTOR_INTEROP_API_KEY"])
    sid = reactor.get_session_id()
    action(f"cloud_session connected {sid}")
    got = await rec.wait_for(lambda: len(rec.decoded_since(0)) >= CLOUD_MIN_FRAMES)
    result["stream"] = {"reached_min": got, "shape": rec.shape, **counter_report(rec.decoded_since(0))}
    mark = rec.count()
    outcome = await command_outcome(reactor, "set_value", {"value": CLOUD_VALUE})
    seen = await rec.wait_for(lambda: any(v == CLOUD_VALUE for _, _, v in rec.decoded_since(mark)))
    result["set_value"] = {**outcome, "value": CLOUD_VALUE, "value_seen": seen}
    result["disconnect"] = await leave(reactor)
    action(f"cloud_session after_disconnect {sid}")
    action("session after_disconnect")


# -- upload: FileRefs through the official client -----------------------------------------------


def ref_fields(ref: Any) -> dict[str, Any]:
    return {k: getattr(ref, k, None) for k in ("upload_id", "name", "mime_type", "size")}


def payload(seed: int, size: int) -> bytes:
    """Deterministic incompressible-looking bytes, PNG signature first."""
    body = np.random.default_rng(seed).integers(0, 256, size, dtype=np.uint8).tobytes()
    return b"\x89PNG\r\n\x1a\n" + body[8:]


async def scenario_upload(url: str, rec: Recorder, result: dict[str, Any]) -> None:
    reactor = await connect(url, rec, result, model="echo")
    photo = payload(1, 150_000)
    second = payload(2, 3_000)
    third = payload(3, 777)
    sent = {
        "photo": {"size": len(photo), "sha256": hashlib.sha256(photo).hexdigest()},
        "second": {"size": len(second), "sha256": hashlib.sha256(second).hexdigest()},
        "third": {"size": len(third), "sha256": hashlib.sha256(third).hexdigest()},
    }
    result["sent"] = sent

    # Bytes with an explicit name (the seed's bytes form).
    t0 = time.monotonic()
    ref = await asyncio.wait_for(reactor.upload_file(photo, name="photo.png"), 15)
    result["upload_bytes"] = {"ref": ref_fields(ref), "seconds": round(time.monotonic() - t0, 3)}
    # A path (name and MIME type inferred) and a binary file object.
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "second.jpg")
        with open(path, "wb") as f:
            f.write(second)
        ref2 = await asyncio.wait_for(reactor.upload_file(path), 15)
        path3 = os.path.join(tmp, "third.bin")
        with open(path3, "wb") as f:
            f.write(third)
        with open(path3, "rb") as f:
            ref3 = await asyncio.wait_for(reactor.upload_file(f), 15)
    result["upload_path"] = {"ref": ref_fields(ref2)}
    result["upload_fileobj"] = {"ref": ref_fields(ref3)}

    # A FileRef directly in the command data, mixed with a scalar.
    result["describe"] = await command_outcome(reactor, "describe", {"photo": ref, "transition": 0.5})
    # FileRefs nested in a list and in a dict (inline wire form).
    result["nested"] = await command_outcome(
        reactor, "describe_many", {"frames": [ref, ref2], "meta": {"cover": ref3, "label": "x"}}
    )
    await rec.wait_for(lambda: len(rec.messages) >= 2)  # the replies also reach on_message
    result["messages"] = list(rec.messages)
    result["disconnect"] = await leave(reactor)


# -- webcam: publish an input track, see it transformed -----------------------------------------

PUSH_SIZE = (360, 640)
LEFT_RGB = (224, 32, 160)  # middles of the model's four posterise levels, so codecs keep them
RIGHT_RGB = (32, 224, 96)
# What the webcam model makes of them: mirrored (so the right half shows on the left), four levels
# per channel (these already are), red times 3/4.
EXPECTED_LEFT = (24, 224, 96)
EXPECTED_RIGHT = (168, 32, 160)
COLOUR_TOLERANCE = 20


def patch(frame: Any, rows: slice, cols: slice) -> tuple[list[float], float]:
    """Mean RGB of a patch and its largest per-channel standard deviation (stripes: ~24)."""
    pixels = frame[rows, cols].reshape(-1, 3).astype(np.float32)
    return [round(float(x), 1) for x in pixels.mean(axis=0)], round(float(pixels.std(axis=0).max()), 1)


def measure_webcam(frame: Any) -> dict[str, Any]:
    """Colour and flatness of a patch in the output's left and right halves; a border pixel."""
    h, w = frame.shape[:2]
    rows = slice(h * 2 // 5, h * 3 // 5)
    left, left_std = patch(frame, rows, slice(w // 8, w * 3 // 8))
    right, right_std = patch(frame, rows, slice(w * 5 // 8, w * 7 // 8))
    return {
        "left": left,
        "right": right,
        "std": max(left_std, right_std),
        "border": [int(x) for x in frame[2, w // 2]],
    }


def webcam_input() -> Any:
    h, w = PUSH_SIZE
    picture = np.empty((h, w, 3), dtype=np.uint8)
    picture[:, : w // 2] = LEFT_RGB
    picture[:, w // 2 :] = RIGHT_RGB
    return picture


async def pump_frames(track: Any, picture: Any, stop: asyncio.Event, stats: dict[str, Any]) -> None:
    """Push ``picture`` at ~30 fps until ``stop``."""
    stats.update(pushed=0, push_errors=[])
    while not stop.is_set():
        try:
            track.push_frame(picture)
            stats["pushed"] += 1
        except Exception as exc:  # noqa: BLE001 - reported
            if len(stats["push_errors"]) < 5:
                stats["push_errors"].append(f"{type(exc).__name__}: {exc}")
        try:
            await asyncio.wait_for(stop.wait(), 1 / 30)
        except TimeoutError:
            pass


async def maybe_await(value: Any) -> None:
    if inspect.isawaitable(value):
        await value


def is_idle(sample: dict[str, Any]) -> bool:
    """The waiting pattern: grey stripes (flat colours have a standard deviation near 0)."""
    return sample["std"] > 12


async def scenario_webcam(url: str, rec: Recorder, result: dict[str, Any]) -> None:
    rec.measure = measure_webcam
    reactor = await connect(url, rec, result, model="webcam")

    t0 = time.monotonic()
    await rec.wait_for(lambda: len(rec.samples_since(t0)) >= 10)
    idle = rec.samples_since(t0)
    result["idle_before"] = {"frames": len(idle), "last": idle[-1] if idle else None}

    t0 = time.monotonic()
    track = await asyncio.wait_for(reactor.publish_track("webcam"), 10)
    result["publish"] = {
        "seconds": round(time.monotonic() - t0, 3),
        "name": getattr(track, "name", None),
        "published": getattr(track, "published", None),
    }
    stop = asyncio.Event()
    push_stats: dict[str, Any] = {}
    pusher = asyncio.create_task(pump_frames(track, webcam_input(), stop, push_stats))

    def close(got: list[float], want: tuple[int, int, int]) -> bool:
        return all(abs(g - w) <= COLOUR_TOLERANCE for g, w in zip(got, want, strict=True))

    def transformed(sample: dict[str, Any]) -> bool:
        return (
            not is_idle(sample)
            and close(sample["left"], EXPECTED_LEFT)
            and close(sample["right"], EXPECTED_RIGHT)
        )

    t_pub = time.monotonic()
    seen = await rec.wait_for(lambda: any(transformed(s) for s in rec.samples_since(t_pub)))
    first_at = next((t for t, s in list(rec.samples) if t >= t_pub and transformed(s)), None)
    # Once through, collect a few more frames and report the last one.
    t_seen = time.monotonic()
    await rec.wait_for(lambda: len(rec.samples_since(t_seen)) >= 10)
    live = rec.samples_since(t_seen)
    result["published"] = {
        "transformed_seen": seen,
        "seconds_to_first": None if first_at is None else round(first_at - t_pub, 3),
        "frames_after": len(live),
        "samples": live[-3:],
        "all_transformed": bool(live) and all(transformed(s) for s in live),
    }

    # Unpublish: the model loses its input and shows the idle stripes again.
    stop.set()
    await pusher
    result["push"] = push_stats
    t_unpub = time.monotonic()
    await maybe_await(reactor.unpublish_track("webcam"))
    back = await rec.wait_for(lambda: any(is_idle(s) for s in rec.samples_since(t_unpub)))
    first_idle = next((t for t, s in list(rec.samples) if t >= t_unpub and is_idle(s)), None)
    after = [s for t, s in list(rec.samples) if first_idle is not None and t >= first_idle]
    result["unpublished"] = {
        "idle_seen": back,
        "seconds_to_idle": None if first_idle is None else round(first_idle - t_unpub, 3),
        "samples": after[:2],
        "track_published": getattr(track, "published", None),
    }
    result["disconnect"] = await leave(reactor)


# -- pause / resume -----------------------------------------------------------------------------


async def scenario_pause(url: str, rec: Recorder, result: dict[str, Any]) -> None:
    reactor = await connect(url, rec, result)
    video = reactor.track("main_video")
    await rec.wait_for(lambda: len(rec.decoded_since(0)) >= 15)
    before = rec.decoded_since(0)
    result["before"] = counter_report(before)

    t0 = time.monotonic()
    mark = rec.count()
    await asyncio.wait_for(video.pause(), WAIT_S)
    paused_at = time.monotonic()
    result["pause_call_seconds"] = round(paused_at - t0, 3)
    result["paused_tracks_after_pause"] = sorted(getattr(reactor, "paused_tracks", []) or [])
    # The frames stop: frames already on their way may still land, then a full second passes
    # without any (however late the last one came).
    stopped = await rec.quiet_for(1.0)
    times = rec.times_since(mark)
    last_counter_paused = (rec.decoded_since(0) or [(0, None, None)])[-1][1]
    result["paused"] = {
        "stopped": stopped,
        "frames_after_pause": len(times),
        "last_frame_after_pause_s": round(max(times) - paused_at, 3) if times else None,
        "last_counter": last_counter_paused,
    }

    mark = rec.count()
    t0 = time.monotonic()
    await asyncio.wait_for(video.resume(), WAIT_S)
    result["paused_tracks_after_resume"] = sorted(getattr(reactor, "paused_tracks", []) or [])
    got = await rec.wait_for(lambda: len(rec.decoded_since(mark)) >= 15)
    after = rec.decoded_since(mark)
    result["resumed"] = {
        "reached": got,
        "seconds_to_first": round(after[0][0] - t0, 3) if after else None,
        **counter_report(after),
        "counter_jump": (after[0][1] - last_counter_paused) if after and last_counter_paused else None,
    }
    result["disconnect"] = await leave(reactor)


# -- reconnect keeps the session's state ---------------------------------------------------------

RECONNECT_VALUE = 777


async def scenario_reconnect(url: str, rec: Recorder, result: dict[str, Any]) -> None:
    reactor = await connect(url, rec, result)
    await rec.wait_for(lambda: len(rec.decoded_since(0)) >= 15)
    result["set_value"] = await command_outcome(reactor, "set_value", {"value": RECONNECT_VALUE})
    mark = rec.count()
    await rec.wait_for(lambda: sum(1 for _, _, v in rec.decoded_since(mark) if v == RECONNECT_VALUE) >= 5)
    before = rec.decoded_since(0)
    session_before = reactor.get_session_id()
    result["before"] = {
        **counter_report(before),
        "last_value": before[-1][2] if before else None,
        "session_id": session_before,
    }

    status_mark = len(rec.statuses)
    mark = rec.count()
    t0 = time.monotonic()
    await asyncio.wait_for(reactor.reconnect(), 30)
    reconnected_at = time.monotonic()
    action("session after_reconnect")
    got = await rec.wait_for(
        lambda: len([f for f in rec.decoded_since(mark) if f[0] >= reconnected_at]) >= 30
    )
    after = [f for f in rec.decoded_since(mark) if f[0] >= reconnected_at]
    result["reconnect"] = {
        "seconds": round(reconnected_at - t0, 3),
        "status": getattr(reactor.get_status(), "value", None),
        "statuses": [s for _, s in rec.statuses[status_mark:]],
        "session_id": reactor.get_session_id(),
    }
    result["after"] = {
        "reached": got,
        **counter_report(after),
        "values": sorted({v for _, _, v in after}),
        "counter_before": before[-1][1] if before else None,
    }
    result["disconnect"] = await leave(reactor)
    action("session after_disconnect")


# -- two official clients on one session ---------------------------------------------------------


def is_barrier(message: Any) -> bool:
    """The echo model's reply to the ``barrier`` command of :func:`scenario_multi`."""
    return isinstance(message, dict) and (message.get("data") or {}).get("command") == "barrier"


async def scenario_multi(url: str, rec: Recorder, result: dict[str, Any]) -> None:
    rec_b = Recorder(rec.loop)
    a = await connect(url, rec, result, model="echo", key="connect_a")
    sid = a.get_session_id()
    b = await connect(url, rec_b, result, model="echo", session_id=sid, key="connect_b")
    action("session both_connected")

    t0 = time.monotonic()
    got_a = await rec.wait_for(lambda: len(rec.times_since(0)) >= 20)
    got_b = await rec_b.wait_for(lambda: len(rec_b.times_since(0)) >= 20)
    result["both_stream"] = {
        "a_frames": rec.count(),
        "b_frames": rec_b.count(),
        "a_reached": got_a,
        "b_reached": got_b,
        "seconds": round(time.monotonic() - t0, 3),
        "b_shape": rec_b.shape,
    }

    # Replies go to the sender only; the model's output goes to everyone.
    result["b_command"] = await command_outcome(b, "set_value", {"value": 7})
    result["a_command"] = await command_outcome(a, "from_a", {"n": 1})
    # A barrier on each connection: the server sends in order on a channel, so once a client has
    # the reply to its "barrier", any reply of the other client that leaked to it has arrived too.
    for client in (a, b):
        await command_outcome(client, "barrier", {})
    await rec.wait_for(lambda: any(is_barrier(m) for m in rec.messages))
    await rec_b.wait_for(lambda: any(is_barrier(m) for m in rec_b.messages))
    result["a_messages"] = [m for m in rec.messages if not is_barrier(m)]
    result["b_messages"] = [m for m in rec_b.messages if not is_barrier(m)]

    # B leaves: the session and A's stream go on.
    result["b_disconnect"] = await leave(b)
    action("session after_b_disconnect")
    mark_a, mark_b = rec.count(), rec_b.count()
    t0 = time.monotonic()
    got = await rec.wait_for(lambda: rec.count() - mark_a >= 20)
    result["after_b_left"] = {
        "a_frames": rec.count() - mark_a,
        "a_reached": got,
        "b_frames": rec_b.count() - mark_b,
        "seconds": round(time.monotonic() - t0, 3),
        "a_status": getattr(a.get_status(), "value", None),
    }
    result["a_command_after_b_left"] = await command_outcome(a, "still_there", {})

    # A (the creator) leaves: the session ends.
    result["a_disconnect"] = await leave(a)
    action("session after_a_disconnect")
    result["statuses_b"] = [s for _, s in rec_b.statuses]
    result["errors_b"] = rec_b.errors


SCENARIOS = {
    "session": scenario_session,
    "sigterm": scenario_sigterm,
    "upload": scenario_upload,
    "webcam": scenario_webcam,
    "pause": scenario_pause,
    "reconnect": scenario_reconnect,
    "multi": scenario_multi,
    "cloud": scenario_cloud,
}


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
