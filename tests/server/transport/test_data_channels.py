"""What the server does with data-channel traffic, good and bad, over real WebRTC on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import numpy as np
import pytest

from openreactor.models.builtin.probe_pattern import decode_probe
from reactor_protocol.errors import ErrorCode
from reactor_protocol.limits import MAX_MESSAGE_BYTES
from reactor_protocol.messages import (
    Channel,
    Command,
    Envelope,
    ErrorMessage,
    Kind,
    ModelMessage,
    ModelSchema,
    Ping,
    RequestSchema,
    ResumeTrack,
)
from support.rtc_client import HEADERS, RawClient, raw_client
from support.servers import run_server
from support.waiting import wait_until


@pytest.fixture(scope="module")
def one_probe_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One probe server for the module's tests (a server start per test is most of their time)."""
    with run_server(tmp_path_factory.mktemp("data-channels"), model="probe") as server:
        yield server.url


@pytest.fixture
def probe_server(one_probe_server: str) -> Iterator[str]:
    """The module's server; the session a test started is ended after it, so that the next test
    starts from a fresh one (local mode hosts one session at a time)."""
    yield one_probe_server
    r = httpx.post(f"{one_probe_server}/stop_session", headers=HEADERS, json={}, timeout=30)
    assert r.status_code in (200, 409), r.text  # 409: no session was left running
    wait_until(
        lambda: httpx.get(f"{one_probe_server}/health", timeout=30).json().get("state") == "available",
        what="the server to be available again",
    )


def request(channel: Channel, payload: object, rid: str) -> Envelope:
    return Envelope(channel, Kind.REQUEST, payload, rid)  # type: ignore[arg-type]


async def next_probe(client: RawClient, timeout: float = 30.0) -> tuple[int, int]:
    assert client.video is not None
    while True:
        frame = await asyncio.wait_for(client.video.recv(), timeout)
        code = decode_probe(frame.to_ndarray(format="rgb24"))
        if code is not None:
            return code.counter, code.value


async def test_garbage_gets_a_coded_error_and_the_session_stays_up(probe_server: str) -> None:
    async with raw_client(probe_server) as c:
        c.send(Envelope.notification(Channel.CONTROL, Ping()))  # latch v1
        c.send_raw("data", b"\xff\xfe\x00garbage")
        err = await c.receive()
        assert isinstance(err.payload, ErrorMessage)
        assert err.payload.code == "malformed_message"
        c.send_raw("control", b"\x0a")  # truncated protobuf
        err = await c.receive()
        assert isinstance(err.payload, ErrorMessage) and err.payload.code == "malformed_message"
        c.send(request(Channel.DATA, Command("set_value", {"value": 7.0}), "data_1"))
        ack = await c.receive()
        assert (ack.kind, ack.request_id, ack.payload) == (Kind.RESPONSE, "data_1", None)


async def test_every_request_gets_its_correlated_response(probe_server: str) -> None:
    async with raw_client(probe_server) as c:
        c.send(request(Channel.CONTROL, RequestSchema(), "ctrl_1"))
        c.send(request(Channel.DATA, Command("set_value", {"value": "abc"}), "data_1"))
        c.send(request(Channel.DATA, Command("set_value", {"value": 70000.0}), "data_2"))
        c.send(request(Channel.DATA, Command("no_such_command", {}), "data_3"))
        c.send(request(Channel.DATA, Command("set_value", {"value": 3.0}), "data_4"))
        got = {}
        for _ in range(5):
            env = await c.receive()
            got[env.request_id] = env
        assert isinstance(got["ctrl_1"].payload, ModelSchema)
        assert "/events/set_value" in got["ctrl_1"].payload.openapi["paths"]
        for rid, needle in (("data_1", "value"), ("data_2", "65535"), ("data_3", "no_such_command")):
            payload = got[rid].payload
            assert isinstance(payload, ErrorMessage), rid
            assert payload.code == "invalid_command"
            assert needle in payload.message
        assert got["data_4"].payload is None and got["data_4"].kind is Kind.RESPONSE


async def test_outputs_start_paused_and_follow_resume(probe_server: str) -> None:
    async with raw_client(probe_server) as c:
        assert c.video is not None
        c.send(Envelope.notification(Channel.CONTROL, Ping()))
        # Paused: nothing arrives.
        try:
            await asyncio.wait_for(c.video.recv(), 1.0)
            raise AssertionError("a paused output delivered a frame")
        except TimeoutError:
            pass
        c.send(Envelope.notification(Channel.CONTROL, ResumeTrack("main_video")))
        first, _ = await next_probe(c)
        later, _ = await next_probe(c)
        assert later > first
        c.send(request(Channel.DATA, Command("set_value", {"value": 4242.0}), "data_1"))
        assert (await c.receive()).request_id == "data_1"
        for _ in range(30):
            _, value = await next_probe(c)
            if value == 4242:
                break
        else:
            raise AssertionError("set_value never showed up in the frames")


async def test_v0_json_client_on_legacy_routes_streams_without_resume(echo_server: str) -> None:
    async with raw_client(echo_server, channels=("data",), legacy=True) as c:
        assert c.video is not None
        frame = await asyncio.wait_for(c.video.recv(), 30)  # flows with no resume
        assert np.asarray(frame.to_ndarray(format="rgb24")).shape == (360, 640, 3)
        c.send_raw("data", '{"scope": "application", "data": {"type": "hello", "data": {"n": 1}}}')
        reply = await c.receive(wire="v0")
        assert reply.payload == ModelMessage("echo", {"command": "hello", "data": {"n": 1}})
        c.send_raw("data", "not json at all")
        err = await c.receive(wire="v0")
        assert isinstance(err.payload, ErrorMessage) and err.payload.code == "malformed_message"


async def test_oversize_message_gets_message_too_large_and_the_session_stays_up(probe_server: str) -> None:
    """Inbound messages over ``MAX_MESSAGE_BYTES`` (256 KiB) are refused with MESSAGE_TOO_LARGE.

    The server advertises ``a=max-message-size:262144``, so aiortc refuses to *send* more; the test
    lifts the client's own copy of that limit to put 256 KiB + 1 byte on the wire (the server's SCTP
    stack reassembles it; its channel pump does the refusing)."""
    async with raw_client(probe_server) as c:
        c.send(Envelope.notification(Channel.CONTROL, Ping()))  # latch v1
        sctp = c.pc.sctp
        assert sctp._remote_max_message_size == MAX_MESSAGE_BYTES
        sctp._remote_max_message_size = 4 * MAX_MESSAGE_BYTES

        c.send_raw("data", b"\xff" * MAX_MESSAGE_BYTES)  # at the limit: decoded (and refused as garbage)
        err = await c.receive(timeout=10)
        assert isinstance(err.payload, ErrorMessage) and err.payload.code == "malformed_message"

        for channel in ("data", "control"):
            c.send_raw(channel, b"\x08\x01" + b"\x00" * (MAX_MESSAGE_BYTES - 1))  # one byte over
            err = await c.receive(timeout=10)
            assert isinstance(err.payload, ErrorMessage), err
            assert err.payload.code == ErrorCode.MESSAGE_TOO_LARGE
            assert str(MAX_MESSAGE_BYTES + 1) in err.payload.message

        ack = await c.request(Channel.DATA, Command("set_value", {"value": 5.0}), "data_1")
        assert (ack.kind, ack.payload) == (Kind.RESPONSE, None)
