"""reactor_sdk against the real ``openreactor serve`` on loopback (probe and echo models).

The probe model draws a frame counter and the last commanded value into every frame
(PROBE.md); ``decode_probe`` reads them back from the received, lossy video.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from typing import Any

import httpx
import numpy as np
import pytest

from openreactor.models.builtin.probe_pattern import ProbeCode, decode_probe
from reactor_sdk import (
    DisconnectedError,
    MessageTooLargeError,
    Reactor,
    ReactorError,
    ReactorStatus,
    SessionTerminalError,
    frame_reader,
)
from support.waiting import eventually

pytestmark = pytest.mark.timeout(60)


def client(url: str, **kw: Any) -> Reactor:
    return Reactor("probe", api_url=url, local=True, ice_host_addresses=["127.0.0.1"], **kw)


class Codes:
    """Collects decoded probe codes from a sync frame handler (runs on the delivery thread)."""

    def __init__(self) -> None:
        self.codes: list[ProbeCode] = []
        self.frames = 0
        self.threads: set[str] = set()
        self.bad_arrays = 0
        self.lock = threading.Lock()

    def __call__(self, frame: np.ndarray) -> None:
        ok = (
            isinstance(frame, np.ndarray)
            and frame.shape == (360, 640, 3)
            and frame.dtype == np.uint8
            and frame.flags.c_contiguous
            and frame.flags.writeable
        )
        code = decode_probe(frame)
        frame[:] = 0  # the handler owns the array
        with self.lock:
            self.frames += 1
            self.bad_arrays += not ok
            self.threads.add(threading.current_thread().name)
            if code is not None:
                self.codes.append(code)

    def snapshot(self) -> list[ProbeCode]:
        with self.lock:
            return list(self.codes)


def sdk_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("reactor_sdk")]


async def test_frames_arrive_and_the_counter_advances(probe_server: str) -> None:
    codes = Codes()
    statuses: list[ReactorStatus] = []
    reactor = client(probe_server)
    reactor.on_status(statuses.append)
    reactor.on_frame(codes)
    async with reactor as r:
        assert r is reactor and r.status is ReactorStatus.READY
        assert r.loop is asyncio.get_running_loop()
        assert r.session_id
        await eventually(lambda: len(codes.snapshot()) >= 20, what="20 decodable frames")
    got = codes.snapshot()
    counters = [c.counter for c in got]
    assert counters == sorted(counters) and counters[-1] > counters[0]
    assert codes.bad_arrays == 0
    assert codes.threads == {"reactor_sdk-frames-main_video"}
    assert statuses == ["connecting", "waiting", "ready", "disconnected"]
    assert sdk_threads() == []


async def test_commands_reach_the_model(probe_server: str) -> None:
    codes = Codes()
    reactor = client(probe_server)
    reactor.on_frame(codes)
    replies: list[Any] = []

    # P4, registered before the context: fires on READY.
    @reactor.on_status(ReactorStatus.READY)
    async def on_ready(status: ReactorStatus) -> None:
        replies.append(await reactor.send_command("set_value", {"value": 77}))

    async with reactor:
        await eventually(lambda: any(c.value == 77 for c in codes.snapshot()), what="value 77 in frames")
        assert replies == [None]  # a bare acknowledgement

        # Registered inside the body: the current READY is replayed once.
        @reactor.on_status(ReactorStatus.READY)
        async def again(status: ReactorStatus) -> None:
            replies.append(await reactor.send_command("set_value", {"value": 4321}))

        await eventually(lambda: any(c.value == 4321 for c in codes.snapshot()), what="value 4321 in frames")
        assert await reactor.send_command("set_value", {"value": 65535}) is None
        await eventually(lambda: codes.snapshot()[-1].value == 65535, what="value 65535 in frames")
    assert replies == [None, None]


async def test_unknown_command_is_refused_and_streaming_goes_on(probe_server: str) -> None:
    codes = Codes()
    errors: list[ReactorError] = []
    reactor = client(probe_server)
    reactor.on_frame(codes)
    reactor.on_error(errors.append)
    async with reactor:
        await eventually(lambda: len(codes.snapshot()) >= 3, what="frames")
        with pytest.raises(ReactorError) as info:
            await reactor.send_command("no_such_command", {"x": 1})
        err = info.value
        assert err.code == "invalid_command" and err.recoverable is False
        assert err.component == "gpu" and err.operation == "send_command"
        assert reactor.status is ReactorStatus.READY
        seen = len(codes.snapshot())
        last = codes.snapshot()[-1].counter
        await eventually(lambda: len(codes.snapshot()) >= seen + 10, what="more frames")
        assert codes.snapshot()[-1].counter > last
        with pytest.raises(MessageTooLargeError):
            await reactor.send_command("set_value", {"value": 1, "pad": "x" * 300_000})
        assert await reactor.send_command("set_value", {"value": 5}) is None
    assert errors == []  # request-style failures are raised, not emitted


async def test_disconnect_ends_the_session(probe_server: str) -> None:
    reactor = client(probe_server)
    ids: list[str | None] = []
    reactor.on("session_id_changed", ids.append)
    await reactor.connect()
    await reactor.connect()  # idempotent
    sid = reactor.session_id
    async with httpx.AsyncClient() as http:
        assert (await http.get(f"{probe_server}/session")).status_code == 200
        await reactor.disconnect()
        assert reactor.status is ReactorStatus.DISCONNECTED and reactor.session_id is None
        response = await http.get(f"{probe_server}/session")
        assert response.status_code == 404 or response.json().get("state", "").lower() == "closed"
    await reactor.disconnect()  # repeatable
    assert ids == [sid, None]
    await reactor.aclose()
    assert sdk_threads() == []
    others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    assert not [t for t in others if t.get_name().startswith("reactor_sdk")]


async def test_concurrent_connects_share_one_attempt(probe_server: str) -> None:
    reactor = client(probe_server)
    await asyncio.gather(reactor.connect(), reactor.connect(), reactor.connect())
    assert reactor.status is ReactorStatus.READY
    await reactor.aclose()  # close() without disconnect() also tears the connection down
    assert reactor.get_status() is ReactorStatus.DISCONNECTED
    assert sdk_threads() == []


async def test_frames_iterator_and_async_handler(probe_server: str) -> None:
    got: list[np.ndarray] = []

    reactor = client(probe_server)

    @reactor.on_frame
    async def on_frame(frame: np.ndarray) -> None:
        got.append(frame)

    async with reactor:
        stream = reactor.frames()
        counters = []
        async for frame in stream:
            assert frame.shape == (360, 640, 3) and frame.flags.writeable
            code = decode_probe(frame)
            if code is not None:
                counters.append(code.counter)
            if len(counters) >= 5:
                break
        await stream.aclose()
        assert counters == sorted(counters)
        await eventually(lambda: len(got) >= 5, what="async handler frames")
        assert all(not np.shares_memory(got[0], g) for g in got[1:])


async def test_recoverable_disconnect_then_reconnect(probe_server: str) -> None:
    codes = Codes()
    ready_count = 0
    reactor = client(probe_server)
    reactor.on_frame(codes)

    @reactor.on_status(ReactorStatus.READY)
    def count_ready(status: ReactorStatus) -> None:
        nonlocal ready_count
        ready_count += 1

    async with reactor:
        await reactor.send_command("set_value", {"value": 999})
        await eventually(lambda: any(c.value == 999 for c in codes.snapshot()), what="value 999")
        sid = reactor.session_id
        await reactor.disconnect(recoverable=True)
        assert reactor.status is ReactorStatus.DISCONNECTED and reactor.session_id == sid
        assert sdk_threads() == []  # a recoverable disconnect joins the delivery thread too
        async with httpx.AsyncClient() as http:
            assert (await http.get(f"{probe_server}/session")).status_code == 200
        before = len(codes.snapshot())
        last_counter = codes.snapshot()[-1].counter
        await reactor.reconnect()
        assert reactor.get_status() is ReactorStatus.READY and reactor.session_id == sid
        await reactor.reconnect()  # no-op when ready
        await eventually(lambda: len(codes.snapshot()) >= before + 10, what="frames after reconnect")
        after = codes.snapshot()[-1]
        assert after.value == 999  # the model kept its state
        assert after.counter > last_counter
        assert await reactor.send_command("set_value", {"value": 1000}) is None
        await reactor.reconnect(force=True)
        assert reactor.get_status() is ReactorStatus.READY and reactor.session_id == sid
        # The replaced connection's thread ended before the new one started.
        assert [t.name for t in sdk_threads()] == ["reactor_sdk-frames-main_video"]
    assert ready_count == 3
    assert sdk_threads() == []


async def test_server_ending_the_session_is_reported(probe_server: str) -> None:
    errors: list[ReactorError] = []
    notices: list[dict[str, Any]] = []
    statuses: list[ReactorStatus] = []
    reactor = client(probe_server)
    reactor.on_error(errors.append)
    reactor.on_runtime_message(notices.append)
    reactor.on_status(statuses.append)
    async with reactor:
        async with httpx.AsyncClient() as http:
            assert (
                await http.post(f"{probe_server}/stop_session", json={"reason": "operator"})
            ).status_code == 200
        await eventually(lambda: bool(errors), what="an error event")
        assert reactor.status is ReactorStatus.DISCONNECTED and reactor.session_id is None
        err = errors[0]
        assert isinstance(err, SessionTerminalError) and err.recoverable is False
        assert "operator" in err.message and err.component == "gpu"
        assert notices == [{"type": "sessionEnded", "data": {"reason": "operator"}}]
        await asyncio.sleep(0.3)
        assert len(errors) == 1  # the peer closing afterwards is not a second error
        await reactor.disconnect()  # waits for the ended connection's background close
        assert sdk_threads() == []
    assert statuses == ["connecting", "waiting", "ready", "disconnected"]


async def test_unexpected_loss_and_the_auto_reconnect_recipe(probe_server: str) -> None:
    codes = Codes()
    errors: list[ReactorError] = []
    reactor = client(probe_server)
    reactor.on_frame(codes)

    # P8, with a short sleep.
    @reactor.on_error
    async def on_error(error: ReactorError) -> None:
        errors.append(error)
        if error.recoverable:
            await asyncio.sleep(error.retry_after or 0.1)
            await reactor.reconnect()

    async with reactor:
        sid = reactor.session_id
        await eventually(lambda: len(codes.snapshot()) >= 3, what="frames")
        pending = asyncio.ensure_future(reactor.send_command("set_value", {"value": 3}, timeout=5))
        await asyncio.sleep(0)
        link = reactor._link
        assert link is not None
        await link.pc.close()  # the transport dies under the client (not a disconnect() call)
        try:
            assert await pending is None  # the ack may beat the close…
        except DisconnectedError:  # …or the request is cut off by the drop
            pass
        await eventually(lambda: bool(errors), what="the loss event")
        lost = errors[0]
        assert isinstance(lost, DisconnectedError) and lost.recoverable and lost.component == "gpu"
        assert lost.retry_after is None
        await eventually(lambda: reactor.status is ReactorStatus.READY, what="reconnected")
        assert reactor.session_id == sid
        before = len(codes.snapshot())
        await eventually(lambda: len(codes.snapshot()) >= before + 5, what="frames after reconnect")
        assert len(errors) == 1
        assert [t.name for t in sdk_threads()] == ["reactor_sdk-frames-main_video"]
    assert sdk_threads() == []


async def test_disconnect_returns_after_the_running_frame_handler(
    probe_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sync handler busy at disconnect(): disconnect() waits for it, and nothing runs after."""
    monkeypatch.setattr(frame_reader, "JOIN_TIMEOUT_S", 120.0)  # only the handler decides here
    loop = asyncio.get_running_loop()
    events: list[str] = []
    busy = asyncio.Event()
    release = threading.Event()
    reactor = client(probe_server)

    @reactor.on_frame
    def handler(frame: np.ndarray) -> None:
        events.append("start")
        if len(events) == 1:
            loop.call_soon_threadsafe(busy.set)
            release.wait(30)
        events.append("end")

    try:
        await reactor.connect()
        await asyncio.wait_for(busy.wait(), 10)
        disconnecting = asyncio.ensure_future(reactor.disconnect())
        await eventually(lambda: reactor._link is None, what="disconnect() to let go of the connection")
        assert not disconnecting.done()  # the handler still runs: disconnect() must wait for it
    finally:
        release.set()
    await asyncio.wait_for(disconnecting, 30)
    events.append("disconnected")
    assert events[:2] == ["start", "end"] and events[-2:] == ["end", "disconnected"]
    assert sdk_threads() == []
    await reactor.aclose()


async def test_a_stuck_frame_handler_is_reported_not_waited_on(
    probe_server: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(frame_reader, "JOIN_TIMEOUT_S", 0.3)
    loop = asyncio.get_running_loop()
    calls = 0
    busy = asyncio.Event()
    release = threading.Event()
    reactor = client(probe_server)

    @reactor.on_frame
    def stuck_in_user_code(frame: np.ndarray) -> None:
        nonlocal calls
        calls += 1
        loop.call_soon_threadsafe(busy.set)
        release.wait(60)

    try:
        async with reactor:
            await asyncio.wait_for(busy.wait(), 10)
            with caplog.at_level(logging.WARNING, logger="reactor_sdk"):
                await reactor.disconnect()
            [stuck] = reactor.stuck_frame_handlers
            assert stuck.track == "main_video" and stuck.thread == "reactor_sdk-frames-main_video"
            assert stuck.handler.endswith("stuck_in_user_code")
            warning = "\n".join(r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
            assert "stuck_in_user_code" in warning and "'main_video'" in warning
            assert "reactor_sdk-frames-main_video" in warning
    finally:
        release.set()
    # Released, the abandoned thread ends without another call.
    for thread in sdk_threads():
        await asyncio.to_thread(thread.join, 30)
    assert sdk_threads() == [] and calls == 1


async def test_echo_replies_go_to_the_caller_and_on_message(echo_server: str) -> None:
    messages: list[dict[str, Any]] = []
    async with Reactor("echo", api_url=echo_server, local=True, ice_host_addresses=["127.0.0.1"]) as reactor:
        reactor.on_message(messages.append)
        reply = await reactor.send_command("hello", {"n": 3, "s": "x", "nested": {"l": [1, True, None]}})
        assert reply == {
            "type": "echo",
            "data": {"command": "hello", "data": {"n": 3, "s": "x", "nested": {"l": [1, True, None]}}},
        }
        assert type(reply["data"]["data"]["n"]) is int
        assert messages == [reply]
        assert await reactor.send_command("empty") == {
            "type": "echo",
            "data": {"command": "empty", "data": {}},
        }


async def test_integers_round_trip_as_ints(echo_server: str) -> None:
    """Command data and replies keep JSON's types through the v1 wire: 42 stays 42, not 42.0."""
    sent = {"value": 42, "rgb": [0, 128, 0], "gain": 0.25, "big": 2**40, "neg": -3, "nested": {"k": [7]}}
    async with Reactor("echo", api_url=echo_server, local=True, ice_host_addresses=["127.0.0.1"]) as reactor:
        reply = await reactor.send_command("paint", sent)
    assert reply is not None and reply["data"]["command"] == "paint"
    echoed = reply["data"]["data"]
    assert echoed == sent
    assert json.dumps(echoed, sort_keys=True) == json.dumps(sent, sort_keys=True)  # same types too


async def test_the_server_validates_integers_as_integers(probe_server: str) -> None:
    async with client(probe_server) as reactor:
        assert await reactor.send_command("set_value", {"value": 42}) is None
        with pytest.raises(ReactorError) as info:
            await reactor.send_command("set_value", {"value": 70000})
    assert info.value.code == "invalid_command"
    assert "70000 is greater than the maximum of 65535" in info.value.message
    assert "70000.0" not in info.value.message
