"""Remote video track → numpy frames for handlers, newest frame wins (SDK-API §1.1.2).

::

    aiortc remote track ──recv()──► FrameReader._drain (one task per track, never stops reading)
          │ newest av.VideoFrame only                         │
          ▼                                                   ▼
    LatestSlot (thread-safe, 1 slot)                AsyncLatestSlot (loop, 1 slot)
          ▼                                                   ▼
    delivery thread: to_ndarray("rgb24"),           delivery task: to_ndarray in the default
    sync handlers one after another                 executor, async handlers and frames() streams

aiortc buffers decoded frames without a limit, so the reader drains the track continuously and
does the dropping in our one-slot mailboxes. Only frames that are actually delivered are converted
to numpy. Every delivered array is new, C-contiguous and writable, and belongs to its handler.

Closing a reader (:meth:`FrameReader.aclose`, :meth:`FrameReader.close_now`) stops deliveries at
once and waits, bounded, for the delivery thread to end, so no handler runs after it returns. A sync
handler still running after the bound is reported (a warning naming the track, the handler and the
thread, and a :class:`StuckFrameHandler` in :attr:`FrameSinks.stuck`) and abandoned, never waited
on forever; its daemon thread ends when the handler returns.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeAlias, TypeVar

import numpy as np
import numpy.typing as npt
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

logger = logging.getLogger("reactor_sdk")

Frame: TypeAlias = npt.NDArray[np.uint8]
"""An RGB frame: shape ``(H, W, 3)``, dtype ``uint8``."""

FrameHandler: TypeAlias = Callable[[Frame], Any]

T = TypeVar("T")

JOIN_TIMEOUT_S = 5.0
"""How long closing a reader waits for a sync frame handler to return."""

_LOOP_CHECK_S = 1.0
"""How often an idle delivery thread checks that its event loop still exists."""


@dataclass(frozen=True, slots=True)
class StuckFrameHandler:
    """A sync frame handler that was still running when its track's reader was closed."""

    track: str
    handler: str
    """The handler's qualified name (``module.function``)."""
    thread: str
    """The delivery thread it runs on (left running, a daemon, until the handler returns)."""
    waited_s: float


def describe_handler(fn: Callable[..., Any]) -> str:
    """``module.qualname`` of a handler (its ``repr`` for objects without one)."""
    qualname = getattr(fn, "__qualname__", None) or getattr(type(fn), "__qualname__", None)
    module = getattr(fn, "__module__", None)
    if not qualname:
        return repr(fn)
    return f"{module}.{qualname}" if module else str(qualname)


def to_rgb(frame: Any) -> Frame:
    """Convert one decoded ``av.VideoFrame`` to a fresh, C-contiguous, writable RGB array."""
    array: Frame = frame.to_ndarray(format="rgb24")
    # Decoded frames are YUV, so the conversion allocates a new picture. A frame that already
    # is rgb24 hands out a view of its own memory, which the next consumer would share.
    if frame.format.name == "rgb24" or not (array.flags.c_contiguous and array.flags.writeable):
        array = np.array(array, dtype=np.uint8, order="C", copy=True)
    return array


def is_async_handler(fn: Callable[..., Any]) -> bool:
    """Whether ``fn`` is an ``async def`` function (or an object with an ``async def __call__``)."""
    return inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(type(fn).__call__)


class LatestSlot(Generic[T]):
    """A thread-safe one-slot mailbox. Latest wins; an item overwritten before it was taken
    counts as dropped."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._item: T | None = None
        self._full = False
        self._closed = False
        self.dropped = 0
        self.taken = 0

    def put(self, item: T) -> None:
        with self._cond:
            if self._closed:
                return
            if self._full:
                self.dropped += 1
            self._item = item
            self._full = True
            self._cond.notify()

    def take(self, timeout: float | None = None) -> T | None:
        """Block until an item arrives (returned) or the slot is closed or times out (``None``)."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._full or self._closed, timeout):
                return None
            if not self._full:
                return None
            item, self._item, self._full = self._item, None, False
            self.taken += 1
            return item

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._item = None
            self._full = False
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed


class AsyncLatestSlot(Generic[T]):
    """The loop-side one-slot mailbox (use from the event loop only). Latest wins; drops counted."""

    def __init__(self) -> None:
        self._event = asyncio.Event()
        self._item: T | None = None
        self._full = False
        self._closed = False
        self.dropped = 0
        self.taken = 0

    def put(self, item: T) -> None:
        if self._closed:
            return
        if self._full:
            self.dropped += 1
        self._item = item
        self._full = True
        self._event.set()

    async def take(self) -> T | None:
        """Wait for the newest item; ``None`` once the slot is closed."""
        while not self._full:
            if self._closed:
                return None
            self._event.clear()
            await self._event.wait()
        item, self._item, self._full = self._item, None, False
        self.taken += 1
        return item

    def close(self) -> None:
        self._closed = True
        self._item = None
        self._full = False
        self._event.set()

    @property
    def closed(self) -> bool:
        return self._closed


class FrameStream:
    """``async for frame in reactor.frames():`` — newest-wins frames of one track.

    Iteration ends after ``aclose()``, ``reactor.disconnect()`` or ``reactor.close()``. Frames
    that arrive while the consumer is busy overwrite each other (``dropped`` counts them).
    """

    def __init__(self, track: str | None, on_close: Callable[[FrameStream], None]) -> None:
        self.track = track
        self._slot: AsyncLatestSlot[Frame] = AsyncLatestSlot()
        self._on_close = on_close

    def __aiter__(self) -> FrameStream:
        return self

    async def __anext__(self) -> Frame:
        frame = await self._slot.take()
        if frame is None:
            raise StopAsyncIteration
        return frame

    @property
    def dropped(self) -> int:
        return self._slot.dropped

    def push(self, frame: Frame) -> None:
        self._slot.put(frame)

    def end(self) -> None:
        """End the iteration; a frame not yet taken is dropped."""
        self._slot.close()

    async def aclose(self) -> None:
        self.end()
        self._on_close(self)


class FrameSinks:
    """Who wants the frames of which track; consulted by the readers on every frame.

    Handlers registered under ``None`` get the primary video track (``main_video``, or the first
    declared recvonly video track). Safe to use from the delivery threads.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._handlers: dict[str | None, list[FrameHandler]] = {}
        self._streams: list[FrameStream] = []
        self.primary: str | None = None
        self.stuck: list[StuckFrameHandler] = []
        """Handlers abandoned when their reader closed (kept for the client's lifetime)."""

    def report_stuck(self, stuck: StuckFrameHandler) -> None:
        with self._lock:
            self.stuck.append(stuck)

    def add_handler(self, track: str | None, fn: FrameHandler) -> None:
        with self._lock:
            handlers = self._handlers.setdefault(track, [])
            if not any(h is fn for h in handlers):
                handlers.append(fn)

    def remove_handler(self, fn: FrameHandler) -> None:
        with self._lock:
            for track, handlers in list(self._handlers.items()):
                self._handlers[track] = [h for h in handlers if h is not fn]

    def add_stream(self, stream: FrameStream) -> None:
        with self._lock:
            self._streams.append(stream)

    def remove_stream(self, stream: FrameStream) -> None:
        with self._lock:
            self._streams = [s for s in self._streams if s is not stream]

    def end_streams(self) -> None:
        with self._lock:
            streams, self._streams = self._streams, []
        for stream in streams:
            stream.end()

    def clear(self) -> None:
        with self._lock:
            self._handlers.clear()
        self.end_streams()

    def _matches(self, key: str | None, track: str) -> bool:
        return key == track or (key is None and track == self.primary)

    def handlers(self, track: str) -> tuple[list[FrameHandler], list[FrameHandler]]:
        """``(sync_handlers, async_handlers)`` for ``track``, in registration order."""
        with self._lock:
            found = [h for key, hs in self._handlers.items() if self._matches(key, track) for h in hs]
        sync = [h for h in found if not is_async_handler(h)]
        return sync, [h for h in found if is_async_handler(h)]

    def streams(self, track: str) -> list[FrameStream]:
        with self._lock:
            return [s for s in self._streams if self._matches(s.track, track)]


class FrameReader:
    """Drains one remote video track and delivers the newest frame to the track's consumers."""

    def __init__(self, name: str, track: MediaStreamTrack, sinks: FrameSinks) -> None:
        self.name = name
        self.track = track
        self._sinks = sinks
        self._sync_slot: LatestSlot[Any] = LatestSlot()
        self._async_slot: AsyncLatestSlot[Any] = AsyncLatestSlot()
        self._tasks: list[asyncio.Task[None]] = []
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._running: FrameHandler | None = None  # the sync handler on the thread right now
        self.received = 0
        self.first_frame_at: float | None = None
        self.stuck: StuckFrameHandler | None = None
        """Set when a close gave up waiting for a sync handler (see :class:`StuckFrameHandler`)."""

    @property
    def dropped(self) -> int:
        """Frames overwritten in a mailbox before a handler could take them."""
        return self._sync_slot.dropped + self._async_slot.dropped

    @property
    def thread_name(self) -> str:
        return f"reactor_sdk-frames-{self.name}"

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._loop = loop
        self._tasks = [
            loop.create_task(self._drain(), name=f"reactor_sdk:read:{self.name}"),
            loop.create_task(self._deliver_async(), name=f"reactor_sdk:deliver:{self.name}"),
        ]
        self._thread = threading.Thread(target=self._deliver_sync, name=self.thread_name, daemon=True)
        self._thread.start()

    async def _drain(self) -> None:
        while True:
            try:
                frame = await self.track.recv()
            except MediaStreamError:
                return
            self.received += 1
            if self.first_frame_at is None:
                self.first_frame_at = time.monotonic()
            sync, async_ = self._sinks.handlers(self.name)
            if sync:
                self._sync_slot.put(frame)
            if async_ or self._sinks.streams(self.name):
                self._async_slot.put(frame)

    def _loop_gone(self) -> bool:
        loop = self._loop
        return loop is not None and loop.is_closed()

    def _deliver_sync(self) -> None:
        while True:
            frame = self._sync_slot.take(_LOOP_CHECK_S)
            if frame is None:
                # Closed, or idle: a client that was never closed must not leave this thread
                # waiting forever once its event loop is gone.
                if self._sync_slot.closed or self._loop_gone():
                    return
                continue
            handlers, _ = self._sinks.handlers(self.name)
            if not handlers:
                continue
            try:
                array = to_rgb(frame)
            except Exception:
                logger.exception("could not convert a frame of track %r", self.name)
                continue
            for i, handler in enumerate(handlers):
                if self._sync_slot.closed:
                    return
                self._running = handler
                try:
                    handler(array if i == 0 else array.copy())
                except Exception:
                    logger.exception("frame handler %r for track %r raised", handler, self.name)
                finally:
                    self._running = None

    async def _deliver_async(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            frame = await self._async_slot.take()
            if frame is None:
                return
            _, handlers = self._sinks.handlers(self.name)
            streams = self._sinks.streams(self.name)
            if not handlers and not streams:
                continue
            try:
                # Colour conversion stays off the loop.
                array = await loop.run_in_executor(None, to_rgb, frame)
            except Exception:
                logger.exception("could not convert a frame of track %r", self.name)
                continue
            consumers = len(handlers) + len(streams)
            for i, stream in enumerate(streams):
                stream.push(array if i == consumers - 1 else array.copy())
            for i, handler in enumerate(handlers):
                try:
                    await handler(array if len(streams) + i == consumers - 1 else array.copy())
                except asyncio.CancelledError:
                    raise
                except Exception:
                    logger.exception("async frame handler %r for track %r raised", handler, self.name)

    def stop(self) -> None:
        """Stop delivering at once: beyond a sync handler call already under way, no handler is
        called after this. Does not wait (:meth:`aclose` and :meth:`close_now` do)."""
        self._sync_slot.close()
        self._async_slot.close()
        for task in self._tasks:
            task.cancel()

    async def aclose(self, timeout: float | None = None) -> bool:
        """Stop reading and delivering, and wait (without blocking the loop) up to ``timeout``
        (default :data:`JOIN_TIMEOUT_S`) for the delivery thread to end. Returns whether it
        ended; if not, the handler still running is reported (see :meth:`_report_stuck`)."""
        timeout = JOIN_TIMEOUT_S if timeout is None else timeout
        self.stop()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        thread = self._thread
        if thread is None or thread is threading.current_thread():
            return True
        deadline = time.monotonic() + timeout
        delay = 0.001
        while thread.is_alive():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self._report_stuck(thread, timeout)
                return False
            await asyncio.sleep(min(delay, remaining))
            delay = min(delay * 2, 0.02)
        return True

    def close_now(self, timeout: float | None = None) -> bool:
        """Synchronous variant of :meth:`aclose` (for ``Reactor.close()``): joins the thread."""
        timeout = JOIN_TIMEOUT_S if timeout is None else timeout
        self.stop()
        thread = self._thread
        if thread is None or thread is threading.current_thread():
            return True
        thread.join(timeout)
        if thread.is_alive():
            self._report_stuck(thread, timeout)
            return False
        return True

    def _report_stuck(self, thread: threading.Thread, waited: float) -> None:
        if self.stuck is not None:
            return
        handler = self._running
        described = describe_handler(handler) if handler is not None else "(none: converting a frame)"
        self.stuck = StuckFrameHandler(self.name, described, thread.name, waited)
        self._sinks.report_stuck(self.stuck)
        logger.warning(
            "frame handler %s of track %r is still running %g s after the track was closed; "
            "thread %r is abandoned (it ends when the handler returns) and delivers no more frames",
            described,
            self.name,
            waited,
            thread.name,
        )


class TrackDrainer:
    """Keeps an undelivered remote track (audio, for now) from buffering frames without limit."""

    def __init__(self, name: str, track: MediaStreamTrack) -> None:
        self.name = name
        self.track = track
        self._task: asyncio.Task[None] | None = None
        self.received = 0

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(
            self._drain(), name=f"reactor_sdk:drain:{self.name}"
        )

    async def _drain(self) -> None:
        while True:
            try:
                await self.track.recv()
            except MediaStreamError:
                return
            self.received += 1

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    def close_now(self) -> None:
        if self._task is not None:
            self._task.cancel()
