"""Tracks of a session, named from the client's side (SDK-API §1.1.5, §1.2.4).

::

    reactor.track("main_video")      recvonly (model output): on_frame, pause(), resume()
    reactor.track("webcam")          sendonly (model input):  publish(), push_frame(), unpublish()

Output tracks are fed by the connection's frame readers (``frame_reader``). Input tracks keep
the newest pushed frame in an :class:`InputFeed`; each connection reads it through its own
:class:`PushedVideoTrack`, which aiortc's RTP sender encodes (newest frame wins).

A :class:`Track` asks its client for what it cannot do alone through :class:`TrackHost`; the
client keeps its tracks in a :class:`TrackTable`.
"""

from __future__ import annotations

import asyncio
import enum
import fractions
import inspect
import logging
import threading
import time
from collections.abc import Callable, Generator, Iterable, Sequence
from typing import Any, Protocol, TypeVar

import av
import numpy as np
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from reactor_sdk.errors import InvalidStateError
from reactor_sdk.frame_reader import is_async_handler

logger = logging.getLogger("reactor_sdk")

F = TypeVar("F", bound=Callable[..., Any])

VIDEO_CLOCK_RATE = 90_000
_REPEAT_AFTER_S = 1.0
"""An input with no new frame re-sends its last one this often, so the stream stays decodable."""


class TrackKind(enum.StrEnum):
    VIDEO = "video"
    AUDIO = "audio"


class TrackDirection(enum.StrEnum):
    """Named from the client's side: ``SENDONLY`` is an input of the model, ``RECVONLY`` an output."""

    SENDONLY = "sendonly"
    RECVONLY = "recvonly"


class Completed:
    """An awaitable that is already done: ``await x`` and a bare ``x`` both work."""

    __slots__ = ()

    def __await__(self) -> Generator[Any, None, None]:
        return
        yield  # pragma: no cover - makes this a generator

    def __repr__(self) -> str:
        return "<completed>"


def handler_arity(fn: Callable[..., Any], most: int) -> int:
    """How many positional arguments ``fn`` accepts, capped at ``most`` (``*args``: ``most``)."""
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return most
    count = 0
    for param in sig.parameters.values():
        if param.kind is inspect.Parameter.VAR_POSITIONAL:
            return most
        if param.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD):
            count += 1
    return max(1, min(count, most))


class FrameAdapter:
    """Calls a ``@track.on_frame`` handler with as many of ``(frame, frame_id, timestamp_us,
    user_data)`` as it accepts. Our peers send no per-frame metadata: ``0, 0, b""``."""

    def __init__(self, fn: Callable[..., Any]) -> None:
        self.fn = fn
        self.arity = handler_arity(fn, 4)

    def args(self, frame: Any) -> tuple[Any, ...]:
        return (frame, 0, 0, b"")[: self.arity]

    def __call__(self, frame: Any) -> Any:
        return self.fn(*self.args(frame))


class AsyncFrameAdapter(FrameAdapter):
    async def __call__(self, frame: Any) -> Any:
        return await self.fn(*self.args(frame))


# ---------------------------------------------------------------------------------------------
# input media


def video_frame_from(data: Any, width: int | None, height: int | None) -> av.VideoFrame:
    """RGB ``(H, W, 3)`` uint8, BGRA ``(H, W, 4)`` uint8, or BGRA bytes with ``width``/``height``
    → a new ``av.VideoFrame`` (the pixels are copied)."""
    if isinstance(data, bytes | bytearray | memoryview):
        if width is None or height is None:
            raise ValueError("push_frame(bytes) needs width= and height= (BGRA, 4 bytes per pixel)")
        raw = bytes(data)
        if len(raw) != width * height * 4:
            raise ValueError(
                f"push_frame: {len(raw)} bytes is not {width}x{height} BGRA ({width * height * 4} bytes)"
            )
        array = np.frombuffer(raw, dtype=np.uint8).reshape(height, width, 4)
        return av.VideoFrame.from_ndarray(np.ascontiguousarray(array), format="bgra")
    if not isinstance(data, np.ndarray):
        raise TypeError(f"push_frame takes a numpy array or BGRA bytes, not {type(data).__name__}")
    if data.dtype != np.uint8 or data.ndim != 3 or data.shape[2] not in (3, 4):
        raise ValueError(
            f"push_frame takes RGB (H, W, 3) or BGRA (H, W, 4) uint8, not {data.shape} {data.dtype}"
        )
    if data.shape[0] < 2 or data.shape[1] < 2:
        raise ValueError(f"push_frame: frame {data.shape[1]}x{data.shape[0]} is too small")
    fmt = "rgb24" if data.shape[2] == 3 else "bgra"
    return av.VideoFrame.from_ndarray(np.ascontiguousarray(data), format=fmt)


class InputFeed:
    """The newest frame of one input track (thread-safe), and the connection track reading it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._frame: av.VideoFrame | None = None
        self.seq = 0
        self.pushed = 0
        self._wake: Callable[[], None] | None = None

    def put(self, frame: av.VideoFrame) -> None:
        with self._lock:
            self._frame = frame
            self.seq += 1
            self.pushed += 1
            wake = self._wake
        if wake is not None:
            wake()

    def latest(self) -> tuple[int, av.VideoFrame | None]:
        with self._lock:
            return self.seq, self._frame

    def set_waker(self, wake: Callable[[], None] | None) -> None:
        with self._lock:
            self._wake = wake


class PushedVideoTrack(MediaStreamTrack):
    """The local video track of one input on one connection. Each ``recv()`` returns the newest
    frame of its :class:`InputFeed` not yet sent, repeating the last one after a second without
    news. Without a feed (unpublished) it idles: aiortc's sender stops for good once a track
    raises, so the track stays attached and simply waits until it is stopped with the link."""

    kind = "video"

    def __init__(self, feed: InputFeed | None) -> None:
        super().__init__()
        self._home = asyncio.get_running_loop()
        self._event = asyncio.Event()
        self._feed: InputFeed | None = None
        self._seen = 0
        self._start: float | None = None
        self._last_pts = -1
        self.sent = 0
        self.set_feed(feed)

    def set_feed(self, feed: InputFeed | None) -> None:
        old, self._feed = self._feed, feed
        if old is not None and old is not feed:
            old.set_waker(None)
        if feed is not None:
            self._seen = 0
            feed.set_waker(self._wake)
        self._wake()

    def _wake(self) -> None:
        try:
            self._home.call_soon_threadsafe(self._event.set)
        except RuntimeError:  # the loop is closed
            pass

    async def recv(self) -> av.VideoFrame:
        while True:
            if self.readyState != "live":
                raise MediaStreamError
            feed = self._feed
            seq, frame = feed.latest() if feed is not None else (0, None)
            if frame is not None and seq != self._seen:
                break
            self._event.clear()
            try:
                await asyncio.wait_for(self._event.wait(), _REPEAT_AFTER_S)
            except TimeoutError:
                feed = self._feed
                seq, frame = feed.latest() if feed is not None else (0, None)
                if frame is not None and self.readyState == "live":
                    break
        self._seen = seq
        self.sent += 1
        now = time.monotonic()
        if self._start is None:
            self._start = now
        pts = max(int((now - self._start) * VIDEO_CLOCK_RATE), self._last_pts + 1)
        self._last_pts = pts
        # The feed's frame is only ever read by this sender (one encode at a time), so stamping
        # it in place is safe; a new push replaces the reference, it never mutates the frame.
        frame.pts = pts
        frame.time_base = fractions.Fraction(1, VIDEO_CLOCK_RATE)
        return frame

    def stop(self) -> None:
        super().stop()
        self.set_feed(None)


# ---------------------------------------------------------------------------------------------
# Track, TrackList, TrackTable


class DeclaredTrack(Protocol):
    """A track as a session declares it (``connection.TrackSpec``)."""

    @property
    def name(self) -> str: ...

    @property
    def kind(self) -> str: ...

    @property
    def direction(self) -> str: ...


class TrackHost(Protocol):
    """What a :class:`Track` asks of its client."""

    @property
    def auto_resume_tracks(self) -> bool:
        """Whether output tracks start resumed (a new output track starts paused otherwise)."""
        ...

    def add_frame_handler(self, track: str, fn: Callable[..., Any]) -> None:
        """Deliver the frames of output ``track`` to ``fn``."""
        ...

    def remove_frame_handler(self, fn: Callable[..., Any]) -> None: ...

    async def set_paused(self, track: Track, paused: bool) -> None:
        """Pause or resume output ``track`` for this client's connection."""
        ...

    def input_live(self) -> bool:
        """Whether a pushed input frame can be sent now (the connection is ready)."""
        ...

    async def publish_track(self, name: str, source: Any = None) -> Track: ...

    def unpublish_track(self, name: str) -> Completed: ...


class Track:
    """One declared track of the model. ``reactor.track(name)`` returns the same object each time.

    Output tracks (``direction == "recvonly"``): ``@track.on_frame``, ``off_frame``,
    ``await pause()`` / ``await resume()``. Input tracks (``"sendonly"``): ``await publish()``,
    ``push_frame()``, ``unpublish()``.
    """

    def __init__(self, host: TrackHost, name: str, kind: TrackKind, direction: TrackDirection) -> None:
        self._host = host
        self.name = name
        self.kind = kind
        self.direction = direction
        self.mid: str | None = None
        """The m-section id, known once an output track has arrived on a connection."""
        self.paused = not host.auto_resume_tracks if direction is TrackDirection.RECVONLY else False
        """Output tracks: whether the server is asked not to send it to this connection."""
        self.published = False
        """Input tracks: whether this client holds the publisher slot on the live connection."""
        self.wanted = False
        """Input tracks: published by the app (re-published after a reconnect)."""
        self.ever_published = False
        self.feed = InputFeed()
        self.source_task: asyncio.Task[None] | None = None
        self._adapters: dict[int, FrameAdapter] = {}

    def __repr__(self) -> str:
        return (
            f"Track(name={self.name!r}, kind={self.kind.value!r}, direction={self.direction.value!r}, "
            f"mid={self.mid!r})"
        )

    # -- outputs -------------------------------------------------------------------------------

    def on_frame(self, fn: F) -> F:
        """Register a frame handler for this output video track. It receives up to
        ``(frame, frame_id, timestamp_us, user_data)``: as many as it accepts. Returns ``fn``."""
        if self.direction is not TrackDirection.RECVONLY:
            raise ValueError(f"track {self.name!r} is an input; on_frame applies to output tracks")
        adapter = AsyncFrameAdapter(fn) if is_async_handler(fn) else FrameAdapter(fn)
        self._adapters[id(fn)] = adapter
        self._host.add_frame_handler(self.name, adapter)
        return fn

    def off_frame(self, fn: Callable[..., Any]) -> None:
        adapter = self._adapters.pop(id(fn), None)
        if adapter is not None:
            self._host.remove_frame_handler(adapter)
        self._host.remove_frame_handler(fn)

    async def pause(self) -> None:
        """Ask the server to stop sending this output to this connection (others unaffected)."""
        await self._host.set_paused(self, True)

    async def resume(self) -> None:
        """Ask the server to send this output to this connection again."""
        await self._host.set_paused(self, False)

    # -- inputs --------------------------------------------------------------------------------

    async def publish(self, source: Any = None) -> Track:
        """``reactor.publish_track(self.name, source)``."""
        return await self._host.publish_track(self.name, source)

    def unpublish(self) -> Completed:
        """``reactor.unpublish_track(self.name)``: immediate, never raises."""
        return self._host.unpublish_track(self.name)

    def push_frame(
        self,
        data: Any,
        *,
        width: int | None = None,
        height: int | None = None,
        user_data: bytes | None = None,
        capture_time_us: int | None = None,
    ) -> bool:
        """Queue one video frame (thread-safe; the newest frame wins).

        ``data``: RGB ``(H, W, 3)`` uint8, BGRA ``(H, W, 4)`` uint8, or BGRA bytes with
        ``width``/``height``. Returns ``True`` when queued, ``False`` (frame dropped) while the
        connection is down or after ``unpublish()``. Raises ``InvalidStateError`` on a track that
        was never published. ``user_data`` and ``capture_time_us`` are accepted and not sent
        (this SDK negotiates no per-frame metadata).
        """
        if self.direction is not TrackDirection.SENDONLY:
            raise ValueError(f"track {self.name!r} is an output; push_frame applies to input tracks")
        if self.kind is not TrackKind.VIDEO:
            raise NotImplementedError("audio input tracks are not supported by this SDK yet")
        if not self.ever_published:
            raise InvalidStateError(
                f"push_frame on track {self.name!r} before publish_track({self.name!r})",
                operation="push_frame",
            )
        frame = video_frame_from(data, width, height)
        if not (self.published and self._host.input_live()):
            return False
        self.feed.put(frame)
        return True


class TrackList(list[Track]):
    """The declared tracks in declared order, with filters."""

    def with_kind(self, kind: TrackKind | str) -> TrackList:
        value = TrackKind(kind)
        return TrackList(t for t in self if t.kind is value)

    def with_direction(self, direction: TrackDirection | str) -> TrackList:
        value = TrackDirection(direction)
        return TrackList(t for t in self if t.direction is value)

    def one(self) -> Track:
        """The only track left; ``ValueError`` unless exactly one remains."""
        if len(self) != 1:
            raise ValueError(f"expected exactly one track, found {len(self)}: {[t.name for t in self]}")
        return self[0]

    def names(self) -> list[str]:
        return [t.name for t in self]


class TrackTable:
    """A client's :class:`Track` objects by name (one object per name for the client's life),
    and the model's declared tracks once a session made them known."""

    def __init__(self, host: TrackHost) -> None:
        self._host = host
        self.by_name: dict[str, Track] = {}
        self.declared: tuple[DeclaredTrack, ...] | None = None
        """The declared tracks in declared order; ``None`` until a session declared them."""

    def get(self, name: str) -> Track:
        """The track ``name``: any name before the tracks are known (an output video until
        declared otherwise), a declared one after (``ValueError`` otherwise)."""
        track = self.by_name.get(name)
        declared = self.declared
        if declared is not None and all(spec.name != name for spec in declared):
            raise ValueError(
                f"the model declares no track {name!r}; declared tracks: {[s.name for s in declared]}"
            )
        if track is None:
            if not isinstance(name, str) or not name:
                raise ValueError("a track name must be a non-empty string")
            track = Track(self._host, name, TrackKind.VIDEO, TrackDirection.RECVONLY)
            self.by_name[name] = track
        return track

    def listed(self) -> TrackList:
        """The declared tracks in declared order (empty until they are known)."""
        return TrackList(self.by_name[spec.name] for spec in self.declared or ())

    def sync(self, specs: Sequence[DeclaredTrack]) -> None:
        """Take the declared tracks of a session: new names get a track, known ones their kind
        and direction."""
        self.declared = tuple(specs)
        for spec in specs:
            track = self.by_name.get(spec.name)
            if track is None:
                track = Track(self._host, spec.name, TrackKind(spec.kind), TrackDirection(spec.direction))
                self.by_name[spec.name] = track
            else:
                track.kind = TrackKind(spec.kind)
                track.direction = TrackDirection(spec.direction)


def track_names(tracks: Iterable[Track]) -> list[str]:
    return [t.name for t in tracks]
