"""Tracks and uploads without a server: the pieces under ``publish_track`` and ``upload_file``."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from reactor_sdk import InvalidStateError, Reactor, Track, TrackDirection, TrackKind, TrackList
from reactor_sdk.connection import TrackSpec
from reactor_sdk.tracks import (
    Completed,
    FrameAdapter,
    InputFeed,
    PushedVideoTrack,
    handler_arity,
    video_frame_from,
)
from reactor_sdk.uploads import read_upload, upload_mime_type, upload_target


def make_client(**kw: Any) -> Reactor:
    return Reactor("m", local=True, api_url="http://127.0.0.1:9", **kw)


def declare(reactor: Reactor) -> None:
    reactor._sync_tracks(
        [
            TrackSpec("webcam", "video", "sendonly"),
            TrackSpec("main_video", "video", "recvonly"),
            TrackSpec("main_audio", "audio", "recvonly"),
        ]
    )


# ------------------------------------------------------------------------------------------------
# tracks


def test_track_objects_before_and_after_declaration() -> None:
    reactor = make_client()
    assert reactor.tracks == [] and reactor.paused_tracks == frozenset()
    early = reactor.track("main_video")
    assert reactor.track("main_video") is early
    declare(reactor)
    assert reactor.track("main_video") is early
    assert reactor.tracks.names() == ["webcam", "main_video", "main_audio"]
    with pytest.raises(ValueError, match="main_audio"):
        reactor.track("depth")
    webcam = reactor.track("webcam")
    assert (webcam.kind, webcam.direction) == (TrackKind.VIDEO, TrackDirection.SENDONLY)
    assert reactor.tracks.with_direction("sendonly").one() is webcam
    assert reactor.tracks.with_kind(TrackKind.AUDIO).one().name == "main_audio"
    with pytest.raises(ValueError, match="exactly one"):
        reactor.tracks.with_kind("video").one()
    assert isinstance(reactor.tracks.with_kind("video"), TrackList)
    assert set(reactor.get_remote_tracks()) == {"main_video", "main_audio"}
    assert TrackDirection.SENDONLY == "sendonly" and TrackKind.AUDIO == "audio"


def test_auto_resume_false_starts_outputs_paused() -> None:
    reactor = make_client(auto_resume_tracks=False)
    declare(reactor)
    assert reactor.paused_tracks == {"main_video", "main_audio"}


async def test_publish_and_pause_preconditions() -> None:
    reactor = make_client()
    with pytest.raises(InvalidStateError):
        await reactor.publish_track("webcam")
    declare(reactor)
    with pytest.raises(ValueError, match=r"declared input tracks: \['webcam'\]"):
        await reactor.publish_track("main_video")
    with pytest.raises(InvalidStateError):
        await reactor.publish_track("webcam")
    webcam = reactor.track("webcam")
    with pytest.raises(InvalidStateError, match="before publish"):
        webcam.push_frame(np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(ValueError):
        await webcam.pause()
    with pytest.raises(ValueError):
        reactor.track("main_video").push_frame(np.zeros((4, 4, 3), np.uint8))
    # Pausing while disconnected is recorded and applied on the next connection.
    await reactor.track("main_video").pause()
    assert reactor.paused_tracks == {"main_video"}


async def test_unpublish_is_immediate_and_never_raises() -> None:
    reactor = make_client()
    done = reactor.unpublish_track("webcam")
    assert isinstance(done, Completed)
    await done
    declare(reactor)
    await reactor.unpublish_track("main_video")
    await reactor.track("webcam").unpublish()


def test_on_track_forms_return_the_function() -> None:
    reactor = make_client()
    declare(reactor)
    seen: list[str] = []

    def every(track: Track) -> None:
        seen.append("every:" + track.name)

    def audio(track: Track) -> None:
        seen.append("audio:" + track.name)

    assert reactor.on_track(every) is every
    assert reactor.on_track("main_audio")(audio) is audio
    for name in ("main_video", "main_audio"):
        reactor._events.emit("track_received", reactor.track(name))
    assert seen == ["every:main_video", "every:main_audio", "audio:main_audio"]
    reactor.off("track_received", audio)
    reactor._events.emit("track_received", reactor.track("main_audio"))
    assert seen[-1] == "every:main_audio"


def test_handler_arity() -> None:
    def one(a: Any) -> None: ...
    def four(a: Any, b: Any, c: Any, d: Any) -> None: ...
    def many(*args: Any) -> None: ...
    def two_with_default(a: Any, b: Any = 1) -> None: ...

    assert [handler_arity(f, 4) for f in (one, four, many, two_with_default)] == [1, 4, 4, 2]
    assert handler_arity(print, 4) >= 1
    calls: list[tuple[Any, ...]] = []
    FrameAdapter(lambda f, i, t: calls.append((f, i, t)))("F")
    assert calls == [("F", 0, 0)]


def test_video_frame_from_accepts_rgb_bgra_and_bytes() -> None:
    rgb = np.zeros((4, 6, 3), np.uint8)
    rgb[:] = (10, 20, 30)
    frame = video_frame_from(rgb, None, None)
    assert (frame.width, frame.height, frame.format.name) == (6, 4, "rgb24")
    rgb[:] = 0  # copied: later edits do not reach the queued frame
    assert frame.to_ndarray()[0, 0].tolist() == [10, 20, 30]
    bgra = np.zeros((4, 6, 4), np.uint8)
    assert video_frame_from(bgra, None, None).format.name == "bgra"
    assert video_frame_from(bgra.tobytes(), 6, 4).width == 6
    with pytest.raises(ValueError, match="width"):
        video_frame_from(b"\0" * 96, None, None)
    with pytest.raises(ValueError):
        video_frame_from(b"\0" * 95, 6, 4)
    with pytest.raises(ValueError):
        video_frame_from(np.zeros((4, 6), np.uint8), None, None)
    with pytest.raises(ValueError):
        video_frame_from(np.zeros((4, 6, 3), np.float32), None, None)
    with pytest.raises(TypeError):
        video_frame_from([1, 2, 3], None, None)


async def test_pushed_track_gives_the_newest_frame_and_idles_without_a_feed() -> None:
    feed = InputFeed()
    track = PushedVideoTrack(None)
    waiting = asyncio.ensure_future(track.recv())
    await asyncio.sleep(0.05)
    assert not waiting.done()
    track.set_feed(feed)
    for level in (1, 2, 3):  # only the newest is sent
        feed.put(video_frame_from(np.full((4, 4, 3), level, np.uint8), None, None))
    first = await asyncio.wait_for(waiting, 2)
    assert first.to_ndarray(format="rgb24")[0, 0, 0] == 3
    feed.put(video_frame_from(np.full((4, 4, 3), 9, np.uint8), None, None))
    second = await asyncio.wait_for(track.recv(), 2)
    assert second.pts is not None and first.pts is not None and second.pts > first.pts
    track.stop()


# ------------------------------------------------------------------------------------------------
# uploads


async def test_read_upload_forms(tmp_path: Path) -> None:
    path = tmp_path / "photo.jpg"
    path.write_bytes(b"jpeg")
    assert await read_upload(str(path)) == (b"jpeg", "photo.jpg")
    assert await read_upload(path) == (b"jpeg", "photo.jpg")
    assert await read_upload(b"x") == (b"x", None)
    assert await read_upload(bytearray(b"y")) == (b"y", None)
    assert await read_upload(memoryview(b"z")) == (b"z", None)
    with open(path, "rb") as f:
        assert await read_upload(f) == (b"jpeg", "photo.jpg")
    assert await read_upload(io.BytesIO(b"io")) == (b"io", None)
    with open(path) as text, pytest.raises(TypeError, match="rb"):
        await read_upload(text)
    with pytest.raises(TypeError, match="rb"):
        await read_upload(io.StringIO("s"))
    with pytest.raises(TypeError):
        await read_upload(3.5)
    with pytest.raises(FileNotFoundError):
        await read_upload(tmp_path / "missing")


def test_mime_types() -> None:
    assert upload_mime_type("photo.jpg") == "image/jpeg"
    assert upload_mime_type("clip.mp4") == "video/mp4"
    assert upload_mime_type("upload") == "application/octet-stream"


def test_upload_url_rewriting() -> None:
    local = Reactor("m", local=True, api_url="http://127.0.0.1:8123")
    to_local = (local.api_url, local.local)
    assert upload_target("/uploads/abc", *to_local) == "http://127.0.0.1:8123/uploads/abc"
    assert upload_target("http://10.0.0.5:8080/uploads/abc", *to_local) == "http://127.0.0.1:8123/uploads/abc"
    cloud = Reactor("m", jwt="t", api_url="https://api.example.org")
    to_cloud = (cloud.api_url, cloud.local)
    assert upload_target("https://files.example.org/u/1", *to_cloud) == "https://files.example.org/u/1"


async def test_upload_requires_ready() -> None:
    reactor = make_client()
    with pytest.raises(InvalidStateError) as info:
        await reactor.upload_file(b"data")
    assert info.value.operation == "upload_file" and info.value.code == "INVALID_STATE"
