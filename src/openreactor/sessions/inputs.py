"""A session's input tracks: who holds each publisher slot, and the newest frame it sent.

A model declares its input tracks (``TrackSpec(..., "in")``). A client takes a track's publisher
slot with ``publish_track`` and frees it with ``unpublish_track`` or by leaving; one connection at
a time holds a slot. Frames are kept only from the slot's holder, one per track (the newest), and
converted to RGB when the model asks (``ctx.input_frame``), once per frame.
"""

from __future__ import annotations

from typing import Any, Protocol

from openreactor.models.api import Frame, Model
from reactor_protocol.errors import ErrorCode


class InputFrame(Protocol):
    """A received video frame as the transport stores it (an ``av.VideoFrame``)."""

    def to_ndarray(self, *, format: str) -> Any: ...


class InputPublishers:
    """Publisher slots and newest frames of the input tracks ``model`` declares."""

    def __init__(self, model: Model) -> None:
        self.model = model
        self.publishers: dict[str, int] = {}
        """Input track name -> connection id holding its publisher slot."""
        self.frames: dict[str, InputFrame] = {}
        """Input track name -> newest frame from its publisher (absent while nobody publishes)."""
        self._rgb: dict[str, tuple[InputFrame, Frame]] = {}
        """The model thread's cache of the last conversion, so asking twice converts once."""

    @property
    def declared(self) -> list[str]:
        """The names of the model's input tracks."""
        return [t.name for t in self.model.tracks if t.direction == "in"]

    # -- publisher slots ---------------------------------------------------------------------------

    def claim(self, track: str, connection_id: int) -> tuple[str, str] | None:
        """Give ``track``'s slot to ``connection_id``; ``(error code, message)`` if refused."""
        declared = self.declared
        if track not in declared:
            return ErrorCode.UNKNOWN_TRACK, f"the model declares no input track {track!r}; inputs: {declared}"
        holder = self.publishers.get(track)
        if holder is not None and holder != connection_id:
            return (
                ErrorCode.PUBLISH_REFUSED,
                f"input track {track!r} is already published by another connection",
            )
        self.publishers[track] = connection_id
        return None

    def unpublish(self, track: str, connection_id: int) -> None:
        """Free ``track``'s slot if ``connection_id`` holds it."""
        if self.publishers.get(track) == connection_id:
            self.release(track)

    def release(self, track: str) -> None:
        """Free a publisher slot; the model sees ``None`` on that input from now on."""
        self.publishers.pop(track, None)
        self.frames.pop(track, None)

    def release_all_of(self, connection_id: int) -> None:
        """The connection left the session: every slot it held is free."""
        for track, holder in list(self.publishers.items()):
            if holder == connection_id:
                self.release(track)

    def clear(self) -> None:
        self.frames.clear()
        self._rgb.clear()
        self.publishers.clear()

    # -- frames ------------------------------------------------------------------------------------

    def feed(self, connection_id: int, track: str, frame: InputFrame, *, may_claim: bool = False) -> None:
        """Newest frame of ``track`` from a connection; kept only from the slot's holder.

        ``may_claim``: the connection takes the slot if it is free (a client that cannot publish
        explicitly).
        """
        holder = self.publishers.get(track)
        if holder is None and may_claim:
            self.publishers[track] = holder = connection_id
        if holder == connection_id:
            self.frames[track] = frame

    def forget_frames_of(self, connection_id: int) -> None:
        """Drop the last frames of a connection whose transport went away (its claims stay)."""
        for track, holder in self.publishers.items():
            if holder == connection_id:
                self.frames.pop(track, None)

    def rgb(self, track: str) -> Frame | None:
        """The newest frame of ``track`` as RGB (converted on the caller's thread, once per frame)."""
        frame = self.frames.get(track)
        if frame is None:
            return None
        cached = self._rgb.get(track)
        if cached is not None and cached[0] is frame:
            return cached[1]
        rgb: Frame = frame.to_ndarray(format="rgb24")
        self._rgb[track] = (frame, rgb)
        return rgb
