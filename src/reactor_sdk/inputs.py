"""Input tracks as the client sends them (SDK-API §1.1.5): claiming a track's publisher slot on
the live connection, pumping an app's media source into it, re-publishing after a reconnect, and
letting go (``unpublish_track``, a lost connection, the end of the session).

A track the app published stays ``wanted`` across connections; ``published`` says whether this
client holds its slot on the live one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import av
from aiortc.mediastreams import MediaStreamError

from reactor_protocol.limits import REQUEST_TIMEOUT_S
from reactor_protocol.messages import (
    Channel,
    ErrorMessage,
    PublishTrack,
    PublishTrackResponse,
    UnpublishTrack,
)
from reactor_sdk.connection import PeerLink
from reactor_sdk.errors import DecodeError, DisconnectedError, InvalidStateError, ReactorError
from reactor_sdk.tracks import Completed, Track, TrackDirection, TrackKind, TrackTable

logger = logging.getLogger("reactor_sdk")


class InputPublisher:
    """Publishes the model's input tracks of one client.

    ``current_link`` is the client's connection now (``None`` between connections), ``live``
    whether it is ready for media, and ``report`` emits an error the app did not call for (a
    refused re-publish).
    """

    def __init__(
        self,
        tracks: TrackTable,
        *,
        model_name: str,
        current_link: Callable[[], PeerLink | None],
        live: Callable[[], bool],
        report: Callable[[ReactorError], None],
    ) -> None:
        self._tracks = tracks
        self._model_name = model_name
        self._current_link = current_link
        self._live = live
        self._report = report

    def input_track(self, name: str, operation: str) -> Track:
        """The declared input track ``name``: ``InvalidStateError`` before the tracks are known,
        ``ValueError`` naming the declared inputs for another name."""
        declared = self._tracks.declared
        if declared is None:
            raise InvalidStateError(
                f"cannot {operation} before the model's tracks are known: connect first", operation=operation
            )
        inputs = [spec.name for spec in declared if spec.direction == "sendonly"]
        if name not in inputs:
            raise ValueError(
                f"{name!r} is not an input track of model {self._model_name!r}; "
                f"declared input tracks: {inputs}"
            )
        return self._tracks.by_name[name]

    def check_request(self, name: str, source: Any, operation: str) -> None:
        """What ``publish_track`` refuses before it needs a connection: a source without
        ``kind`` and ``recv()``, and (once the tracks are known) a name that is not an input."""
        if source is not None and not (hasattr(source, "recv") and hasattr(source, "kind")):
            raise TypeError("source must have 'kind' and an 'async recv()' (e.g. an aiortc MediaStreamTrack)")
        if self._tracks.declared is not None:
            self.input_track(name, operation)

    async def publish(self, link: PeerLink, name: str, source: Any, operation: str) -> Track:
        """Claim ``name`` on ``link`` (a ready connection) unless held, and pump ``source``."""
        track = self.input_track(name, operation)
        if track.kind is not TrackKind.VIDEO:
            raise NotImplementedError("audio input tracks are not supported by this SDK yet")
        if source is not None and getattr(source, "kind", None) != track.kind.value:
            raise ValueError(
                f"source kind {source.kind!r} does not match track {name!r} ({track.kind.value})"
            )
        if not track.published:
            await self._claim(link, track, operation)
        track.wanted = True
        track.ever_published = True
        if source is not None:
            self._stop_pump(track)
            track.source_task = asyncio.get_running_loop().create_task(
                self._pump(track, source), name=f"reactor_sdk:source:{name}"
            )
        return track

    async def _claim(self, link: PeerLink, track: Track, operation: str) -> None:
        reply = await link.request(
            Channel.CONTROL, PublishTrack(track.name), timeout=REQUEST_TIMEOUT_S, operation=operation
        )
        payload = reply.payload
        if isinstance(payload, ErrorMessage):
            raise ReactorError(
                payload.code,
                f"publish_track({track.name!r}) refused ({payload.code}): {payload.message}",
                component="gpu",
                operation=operation,
            )
        if payload is not None and not isinstance(payload, PublishTrackResponse):
            raise DecodeError(
                f"unexpected reply {type(payload).__name__} to publish_track",
                component="gpu",
                operation=operation,
            )
        if link is not self._current_link() or link.closing:
            raise DisconnectedError("the connection closed while publishing", operation=operation)
        link.attach_input(track.name, track.feed)
        track.published = True

    def any_wanted(self) -> bool:
        """Whether the app published an input (to be re-published on a new connection)."""
        return any(t.wanted for t in self._tracks.by_name.values())

    async def republish(self, link: PeerLink) -> None:
        """After a reconnect: claim every input the app had published; refusals are reported."""
        for track in list(self._tracks.by_name.values()):
            if not track.wanted or track.published or link is not self._current_link():
                continue
            try:
                await self._claim(link, track, "publish_track")
            except ReactorError as exc:
                if link is self._current_link() and track.wanted:
                    self._report(exc)

    async def _pump(self, track: Track, source: Any) -> None:
        """Copy frames from an app's media source into the track until stopped or ended."""
        try:
            while True:
                frame = await source.recv()
                if track.published and self._live() and isinstance(frame, av.VideoFrame):
                    track.feed.put(frame)
        except asyncio.CancelledError:
            raise
        except MediaStreamError:
            logger.info("the source of track %r ended", track.name)
        except Exception:
            logger.exception("reading the source of track %r failed; it is no longer sent", track.name)

    @staticmethod
    def _stop_pump(track: Track) -> None:
        task, track.source_task = track.source_task, None
        if task is not None and not task.done() and task is not asyncio.current_task():
            task.cancel()

    def unpublish(self, name: str) -> Completed:
        """Stop sending ``name`` and free its slot at once; never raises (failures are logged)."""
        try:
            track = self._tracks.by_name.get(name)
            if track is None or track.direction is not TrackDirection.SENDONLY:
                logger.warning("unpublish_track(%r): no such input track", name)
                return Completed()
            was_published = track.published
            track.wanted = False
            track.published = False
            self._stop_pump(track)
            link = self._current_link()
            if link is not None:
                link.detach_input(name)
                if was_published and link.ready and not link.closing:
                    link.notify(Channel.CONTROL, UnpublishTrack(name), operation="unpublish_track")
        except Exception as exc:
            logger.warning("unpublish_track(%r) failed: %s", name, exc)
        return Completed()

    def down(self) -> None:
        """The connection is going: published inputs wait for the next one (then re-published)."""
        for track in self._tracks.by_name.values():
            track.published = False

    def release(self) -> None:
        """The session is gone (or the client closed): forget every publication."""
        for track in self._tracks.by_name.values():
            track.published = False
            track.wanted = False
            self._stop_pump(track)
