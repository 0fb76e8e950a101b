"""reactor_sdk against the real server: uploads (echo), input tracks (webcam), the Track API,
several clients on one session, and the end of the keep-alive window."""

from __future__ import annotations

import asyncio
import hashlib
import threading
import time
from pathlib import Path
from typing import Any

import av
import httpx
import numpy as np
import pytest
from aiortc.mediastreams import MediaStreamError

from reactor_sdk import (
    BadRequestError,
    FileRef,
    InvalidStateError,
    NotFoundError,
    Reactor,
    ReactorError,
    ReactorStatus,
    SessionTerminalError,
    Track,
    TrackDirection,
    TrackKind,
)
from support.servers import ServerFactory
from support.waiting import eventually

pytestmark = pytest.mark.timeout(90)



def client(url: str, model: str = "probe", **kw: Any) -> Reactor:
    return Reactor(model, api_url=url, local=True, ice_host_addresses=["127.0.0.1"], **kw)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# ------------------------------------------------------------------------------------------------
# uploads


async def test_upload_three_forms_and_several_refs_in_one_command(echo_server: str, tmp_path: Path) -> None:
    photo = tmp_path / "photo.jpg"
    photo_bytes = bytes(range(256)) * 40
    photo.write_bytes(photo_bytes)
    image_bytes = b"\x89PNG fake image" * 100
    async with client(echo_server, "echo") as reactor:
        by_path = await reactor.upload_file(str(photo))
        by_bytes = await reactor.upload_file(image_bytes, name="photo.png")
        with open(photo, "rb") as f:
            by_file = await reactor.upload_file(f)
        by_pathlike = await reactor.upload_file(photo, name="other.bin", mime_type="application/x-mine")
        anonymous = await reactor.upload_file(bytearray(b"abc"))

        assert isinstance(by_path, FileRef)
        assert (by_path.name, by_path.mime_type, by_path.size) == (
            "photo.jpg",
            "image/jpeg",
            len(photo_bytes),
        )
        assert (by_bytes.name, by_bytes.mime_type, by_bytes.size) == (
            "photo.png",
            "image/png",
            len(image_bytes),
        )
        assert (by_file.name, by_file.mime_type) == ("photo.jpg", "image/jpeg")
        assert (by_pathlike.name, by_pathlike.mime_type) == ("other.bin", "application/x-mine")
        assert (anonymous.name, anonymous.mime_type, anonymous.size) == (
            "upload",
            "application/octet-stream",
            3,
        )
        assert len({by_path.upload_id, by_bytes.upload_id, by_file.upload_id}) == 3

        reply = await reactor.send_command(
            "set_keyframes", {"first": by_path, "last": by_bytes, "transition": 0.5, "more": [by_file]}
        )
        assert reply is not None and reply["type"] == "echo"
        args = reply["data"]["data"]
        assert args["transition"] == 0.5
        assert args["first"]["sha256"] == sha(photo_bytes) and args["first"]["name"] == "photo.jpg"
        assert args["last"]["sha256"] == sha(image_bytes) and args["last"]["mime_type"] == "image/png"
        assert args["more"][0]["sha256"] == sha(photo_bytes)
        assert args["more"][0]["upload_id"] == by_file.upload_id
        # The next command is not handled before the one carrying files.
        assert (await reactor.send_command("after"))["data"]["command"] == "after"  # type: ignore[index]


async def test_upload_preconditions(echo_server: str, tmp_path: Path) -> None:
    reactor = client(echo_server, "echo")
    with pytest.raises(InvalidStateError) as info:
        await reactor.upload_file(b"data", name="x.bin")
    assert info.value.operation == "upload_file"
    text = tmp_path / "t.txt"
    text.write_text("hello")
    async with reactor:
        with open(text) as f, pytest.raises(TypeError, match="rb"):
            await reactor.upload_file(f)
        with pytest.raises(InvalidStateError, match="empty"):
            await reactor.upload_file(b"", name="empty.bin")
        empty = tmp_path / "empty.bin"
        empty.write_bytes(b"")
        with pytest.raises(InvalidStateError):
            await reactor.upload_file(empty)
        with pytest.raises(TypeError):
            await reactor.upload_file(12345)


async def test_upload_over_the_server_limit_is_a_413_bad_request(server_factory: ServerFactory) -> None:
    with server_factory(
        model="echo", width=None, height=None, fps=None, extra=["--max-upload-mb", "0.001"]
    ) as server:
        async with client(server.url, "echo") as reactor:
            errors: list[ReactorError] = []
            reactor.on_error(errors.append)
            with pytest.raises(BadRequestError) as info:
                await reactor.upload_file(b"x" * 5000, name="big.bin")
            assert info.value.status == 413
            assert info.value.code == "BAD_REQUEST" and not info.value.recoverable
            assert "limit" in info.value.message and info.value.operation == "upload_file"
            assert errors == []  # request-style failures are raised, never emitted
            assert reactor.status is ReactorStatus.READY
            assert (await reactor.upload_file(b"small", name="s.bin")).size == 5


# ------------------------------------------------------------------------------------------------
# input tracks (webcam model)


def expected_webcam_colour(rgb: tuple[int, int, int]) -> np.ndarray:
    out = np.array([(c & 0xC0) | 0x20 for c in rgb], dtype=np.int32)
    out[0] = out[0] // 4 * 3
    return out


class Centre:
    """Latest centre pixel of the output, from a sync frame handler (delivery thread)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.pixel: np.ndarray | None = None
        self.frames = 0

    def __call__(self, frame: np.ndarray) -> None:
        h, w = frame.shape[:2]
        patch = frame[h // 2 - 8 : h // 2 + 8, w // 2 - 8 : w // 2 + 8].reshape(-1, 3).mean(axis=0)
        with self.lock:
            self.pixel = patch
            self.frames += 1

    def near(self, colour: np.ndarray, tol: float = 24.0) -> bool:
        with self.lock:
            pixel = self.pixel
        return pixel is not None and bool(np.all(np.abs(pixel - colour) <= tol))


async def push_until(
    track: Track,
    rgb: tuple[int, int, int],
    centre: Centre,
    timeout: float = 15.0,
    shape: tuple[int, int] = (240, 320),
) -> None:
    want = expected_webcam_colour(rgb)
    frame = np.full((*shape, 3), rgb, dtype=np.uint8)
    deadline = time.monotonic() + timeout
    while not centre.near(want):
        if time.monotonic() > deadline:
            raise AssertionError(f"output never showed {want.tolist()} for input {rgb}; last {centre.pixel}")
        assert track.push_frame(frame)
        await asyncio.sleep(1 / 30)


async def test_publish_push_and_see_the_transformed_colour(server_factory: ServerFactory) -> None:
    with server_factory(model="webcam") as server:
        reactor = client(server.url, "webcam")
        with pytest.raises(InvalidStateError):
            await reactor.publish_track("webcam")
        async with reactor:
            centre = Centre()
            reactor.on_frame(centre)
            with pytest.raises(ValueError, match="webcam"):
                await reactor.publish_track("camera")
            with pytest.raises(ValueError, match="webcam"):
                await reactor.publish_track("main_video")
            webcam = reactor.track("webcam")
            with pytest.raises(InvalidStateError):
                webcam.push_frame(np.zeros((16, 16, 3), np.uint8))

            track = await reactor.publish_track("webcam")
            assert track is webcam and track.published and track.mid is not None
            await push_until(track, (224, 32, 160), centre)
            # BGRA arrays and BGRA bytes work too.
            bgra = np.zeros((240, 320, 4), np.uint8)
            bgra[:] = (96, 224, 32, 255)  # B, G, R, A → RGB (32, 224, 96)
            want = expected_webcam_colour((32, 224, 96))
            deadline = time.monotonic() + 15
            while not centre.near(want):
                assert time.monotonic() < deadline, f"BGRA frame not seen; last {centre.pixel}"
                assert track.push_frame(bgra.tobytes(), width=320, height=240)
                await asyncio.sleep(1 / 30)

            done = reactor.unpublish_track("webcam")
            await done  # already completed
            assert not track.published
            assert track.push_frame(np.zeros((240, 320, 3), np.uint8)) is False
            reactor.unpublish_track("webcam")  # twice, not awaited: fine
            reactor.unpublish_track("nope")  # unknown: logged, never raised
            # Publish again on the same connection.
            await track.publish()
            await push_until(track, (160, 160, 32), centre)


class ColourSource:
    """A media source the SDK pumps: ``kind`` and ``async recv()`` (aiortc style)."""

    kind = "video"

    def __init__(self, rgb: tuple[int, int, int], frames: int) -> None:
        self.rgb = rgb
        self.left = frames

    async def recv(self) -> av.VideoFrame:
        if self.left <= 0:
            raise MediaStreamError
        self.left -= 1
        await asyncio.sleep(1 / 30)
        return av.VideoFrame.from_ndarray(np.full((240, 320, 3), self.rgb, np.uint8), format="rgb24")


async def test_publish_with_a_source_and_republish_after_reconnect(server_factory: ServerFactory) -> None:
    with server_factory(model="webcam") as server:
        async with client(server.url, "webcam") as reactor:
            centre = Centre()
            reactor.on_frame(centre)
            with pytest.raises(TypeError):
                await reactor.publish_track("webcam", object())
            source = ColourSource((32, 96, 224), frames=100_000)
            track = await reactor.publish_track("webcam", source)
            await eventually(lambda: centre.near(expected_webcam_colour(source.rgb)), what="pumped colour")

            await reactor.disconnect(recoverable=True)
            assert not track.published
            assert track.push_frame(np.zeros((240, 320, 3), np.uint8)) is False  # dropped, no raise
            await reactor.reconnect()
            await eventually(lambda: track.published, what="re-publish after reconnect")
            source.rgb = (224, 224, 32)
            await eventually(
                lambda: centre.near(expected_webcam_colour(source.rgb)), what="colour after reconnect"
            )


async def test_second_client_is_refused_the_slot_and_an_adopter_never_ends_the_session(
    server_factory: ServerFactory,
) -> None:
    with server_factory(model="webcam") as server:
        async with client(server.url, "webcam") as owner:
            await owner.publish_track("webcam")
            assert owner.session_id is not None
            adopter = client(server.url, "webcam")
            ids: list[str | None] = []
            adopter.on("session_id_changed", ids.append)
            await adopter.connect(session_id=owner.session_id)
            try:
                assert adopter.session_id == owner.session_id
                with pytest.raises(ReactorError) as info:
                    await adopter.publish_track("webcam")
                assert info.value.code == "publish_refused" and info.value.operation == "publish_track"
                assert not adopter.track("webcam").published
            finally:
                await adopter.disconnect()
                await adopter.aclose()
            assert ids == [owner.session_id, None]
            # The owner's session lives on.
            assert owner.status is ReactorStatus.READY
            centre = Centre()
            owner.on_frame(centre)
            await push_until(owner.track("webcam"), (224, 224, 224), centre)

        wrong = client(server.url, "webcam")
        async with client(server.url, "webcam") as again:
            assert again.session_id is not None
            with pytest.raises(InvalidStateError):
                await wrong.connect(session_id="not-" + again.session_id)
        await wrong.aclose()


# ------------------------------------------------------------------------------------------------
# the Track API on outputs


async def test_tracks_on_track_per_track_frames_and_pause(probe_server: str) -> None:
    reactor = client(probe_server)
    early = reactor.track("main_video")  # any name before the tracks are known
    arrived: list[Track] = []
    named: list[Track] = []
    reactor.on_track(arrived.append)

    @reactor.on_track("main_video")
    def on_main(track: Track) -> None:
        named.append(track)

    caps: list[dict[str, Any]] = []
    reactor.on("capabilities_received", caps.append)
    four: list[tuple[Any, ...]] = []
    one: list[int] = []

    @early.on_frame
    def full(frame: np.ndarray, frame_id: int, timestamp_us: int, user_data: bytes) -> None:
        if len(four) < 3:
            four.append((frame.shape, frame_id, timestamp_us, user_data))

    def only_frame(frame: np.ndarray) -> None:
        one.append(frame.shape[0])

    early.on_frame(only_frame)

    async with reactor:
        assert caps and [t["name"] for t in caps[0]["tracks"]] == ["main_video"]
        video = reactor.tracks.with_kind("video").with_direction("recvonly").one()
        assert video is early is reactor.track("main_video")
        assert (video.kind, video.direction) == (TrackKind.VIDEO, TrackDirection.RECVONLY)
        with pytest.raises(ValueError, match="main_video"):
            reactor.track("depth_map")
        with pytest.raises(ValueError):
            reactor.tracks.with_kind(TrackKind.AUDIO).one()
        assert arrived == [video] and named == [video] and video.mid is not None
        await eventually(lambda: len(four) >= 1 and len(one) >= 1, what="per-track frames")
        assert four[0] == ((360, 640, 3), 0, 0, b"")

        assert reactor.paused_tracks == frozenset()
        await video.pause()
        assert video.paused and reactor.paused_tracks == {"main_video"}
        await asyncio.sleep(1.0)  # frames in flight drain
        before = len(one)
        await asyncio.sleep(1.5)
        assert len(one) - before <= 3, "frames kept coming while paused"
        await video.resume()
        assert reactor.paused_tracks == frozenset()
        await eventually(lambda: len(one) > before + 5, what="frames after resume")

        video.off_frame(only_frame)
        await asyncio.sleep(0.5)
        stopped = len(one)
        await asyncio.sleep(0.5)
        assert len(one) == stopped

        # Again after a reconnect: on_track fires once more.
        await reactor.disconnect(recoverable=True)
        await reactor.reconnect()
        await eventually(lambda: len(arrived) == 2, what="track_received after reconnect")


# ------------------------------------------------------------------------------------------------
# the keep-alive window


async def test_reconnect_after_the_keepalive_window_fails_for_good(server_factory: ServerFactory) -> None:
    with server_factory(model="probe", extra=["--keepalive", "1"]) as server:
        reactor = client(server.url)
        errors: list[ReactorError] = []
        ids: list[str | None] = []

        @reactor.on_error
        async def on_error(error: ReactorError) -> None:  # the seed's auto-reconnect recipe
            errors.append(error)
            if error.recoverable:
                await asyncio.sleep(error.retry_after or 0.1)
                await reactor.reconnect()

        async with reactor:
            reactor.on("session_id_changed", ids.append)
            await reactor.disconnect(recoverable=True)
            # The keep-alive window (1 s) passes with no client: the server ends the session.
            await eventually(
                lambda: httpx.get(f"{server.url}/session", timeout=5).status_code == 404,
                interval=0.2,
                what="the session to end after the keep-alive window",
            )
            with pytest.raises((NotFoundError, SessionTerminalError)) as info:
                await reactor.reconnect()
            assert not info.value.recoverable and info.value.operation == "reconnect"
            assert reactor.session_id is None and ids == [None]
            await asyncio.sleep(0.3)
            assert errors == [info.value]  # emitted once; the recipe stopped
            with pytest.raises(InvalidStateError):
                await reactor.reconnect()
