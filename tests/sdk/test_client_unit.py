"""Reactor without a server: construction, preconditions, events, and the HTTP flows up to
the point where a real peer would be needed (httpx.MockTransport below the SDK's HTTP seam)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from typing import Any

import httpx
import pytest

from reactor_sdk import (
    DEFAULT_API_URL,
    LOCAL_API_URL,
    AbortedError,
    AuthError,
    DecodeError,
    InvalidStateError,
    NetworkError,
    NotFoundError,
    Reactor,
    ReactorError,
    ReactorStatus,
    ServerError,
    SessionTerminalError,
)
from reactor_sdk.commands import command_body
from reactor_sdk.file_ref import FileRef

# ------------------------------------------------------------------------------------------------
# construction


def test_needs_credentials_unless_local() -> None:
    with pytest.raises(ValueError, match="api_key"):
        Reactor("m")
    with pytest.raises(ValueError):
        Reactor(model_name="m", api_key=None, local=False)
    Reactor("m", local=True)
    Reactor("m", "rk_key")
    Reactor(model_name="m", api_key="rk_key")
    Reactor("m", jwt="token")
    Reactor("m", jwt=lambda: "token")


def test_positional_order_and_defaults() -> None:
    r = Reactor("acme/m", "rk_x", "http://example.org:9000/", False)
    assert r.api_url == "http://example.org:9000"
    assert r.status is ReactorStatus.DISCONNECTED and r.get_status() == "disconnected"
    assert r.session_id is None and r.get_session_id() is None
    assert r.generation == "streamed"
    assert Reactor("m", local=True).api_url == DEFAULT_API_URL.rstrip("/")
    assert LOCAL_API_URL == "http://localhost:8080"


def test_invalid_arguments() -> None:
    with pytest.raises(ValueError):
        Reactor("", local=True)
    with pytest.raises(ValueError):
        Reactor("m", local=True, step_timeout=5.0)
    with pytest.raises(ValueError):
        Reactor("m", local=True, max_session_duration_seconds=0)
    with pytest.raises(ValueError):
        Reactor("m", local=True, api_url="localhost:8080")
    with pytest.raises(ValueError):
        Reactor("m", local=True, ice_host_addresses=["not-an-ip"])


@pytest.mark.parametrize(("env", "expected"), [(None, "http://localhost:8080"), ("http://h:1", "http://h:1")])
def test_default_api_url_from_environment(env: str | None, expected: str) -> None:
    environ = {k: v for k, v in os.environ.items() if k != "REACTOR_API_URL"}
    if env is not None:
        environ["REACTOR_API_URL"] = env
    out = subprocess.run(
        [sys.executable, "-c", "import reactor_sdk; print(reactor_sdk.DEFAULT_API_URL)"],
        env=environ,
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == expected


def test_loop_before_connect_is_an_invalid_state() -> None:
    with pytest.raises(InvalidStateError):
        _ = Reactor("m", local=True).loop


# ------------------------------------------------------------------------------------------------
# send_command preconditions


async def test_send_command_requires_ready() -> None:
    r = Reactor("m", local=True)
    with pytest.raises(InvalidStateError) as info:
        await r.send_command("set_prompt", {"prompt": "x"})
    assert info.value.code == "INVALID_STATE" and not info.value.recoverable
    assert info.value.operation == "send_command"
    assert "ready" in info.value.message


@pytest.mark.parametrize("data", ["text", [1, 2], 3, b"{}"])
async def test_send_command_data_must_be_a_mapping(data: Any) -> None:
    r = Reactor("m", local=True)
    with pytest.raises(DecodeError, match="command data must be a JSON object"):
        await r.send_command("cmd", data)


async def test_send_command_data_must_be_json() -> None:
    r = Reactor("m", local=True)
    with pytest.raises(DecodeError):
        await r.send_command("cmd", {"x": object()})
    with pytest.raises(DecodeError):
        await r.send_command("cmd", {"x": float("nan")})


def test_file_refs_top_level_to_uploads_nested_inline() -> None:
    a = FileRef("u1", "a.png", "image/png", 10)
    b = FileRef("u2", "b.png", "image/png", 20)
    body, uploads = command_body({"first": a, "list": [b], "nested": {"f": b}, "t": 0.5}, "send_command")
    assert body == {"list": [b.to_wire()], "nested": {"f": b.to_wire()}, "t": 0.5}
    assert list(uploads) == ["first"] and uploads["first"].upload_id == "u1"


# ------------------------------------------------------------------------------------------------
# events


def test_decorators_return_the_function() -> None:
    r = Reactor("m", local=True)

    def f(x: Any) -> None: ...

    assert r.on_status(f) is f
    assert r.on_status(ReactorStatus.READY)(f) is f
    assert r.on_status([ReactorStatus.CONNECTING, ReactorStatus.WAITING])(f) is f
    assert r.on_error(f) is f
    assert r.on_message(f) is f
    assert r.on_frame(f) is f
    assert r.on_frame("depth")(f) is f
    unsubscribe = r.on("message", f)
    unsubscribe()
    r.off("frame", f)
    with pytest.raises(ValueError, match="unknown event"):
        r.on("nope", f)  # type: ignore[arg-type]


async def test_status_filters_and_replay() -> None:
    r = Reactor("m", local=True)
    every: list[ReactorStatus] = []
    ready: list[ReactorStatus] = []
    early: list[ReactorStatus] = []
    r.on_status(every.append)
    r.on_status(ReactorStatus.READY)(ready.append)
    r.on_status([ReactorStatus.CONNECTING, ReactorStatus.WAITING])(early.append)
    await asyncio.sleep(0)
    assert every == []  # a fresh client's DISCONNECTED is not replayed

    r._started = True  # what connect() does; the transitions below are its statuses
    for status in (ReactorStatus.CONNECTING, ReactorStatus.WAITING, ReactorStatus.READY, ReactorStatus.READY):
        r._set_status(status)
    assert every == ["connecting", "waiting", "ready"]  # changes only
    assert ready == ["ready"] and early == ["connecting", "waiting"]

    late_ready: list[ReactorStatus] = []
    late_other: list[ReactorStatus] = []
    late_async: list[ReactorStatus] = []

    async def on_ready(status: ReactorStatus) -> None:
        late_async.append(status)

    r.on_status(ReactorStatus.READY)(late_ready.append)
    r.on_status(ReactorStatus.CONNECTING)(late_other.append)
    r.on_status(ReactorStatus.READY)(on_ready)
    assert late_ready == []  # scheduled, not inline
    await asyncio.sleep(0.01)
    assert late_ready == ["ready"] and late_other == [] and late_async == ["ready"]
    r._set_status(ReactorStatus.DISCONNECTED)
    r._set_status(ReactorStatus.READY)
    assert late_ready == ["ready", "ready"]
    r.close()


async def test_handler_exceptions_are_isolated(caplog: pytest.LogCaptureFixture) -> None:
    r = Reactor("m", local=True)
    calls: list[str] = []

    def bad(_: Any) -> None:
        raise RuntimeError("handler bug")

    async def bad_async(_: Any) -> None:
        raise RuntimeError("async handler bug")

    r.on_message(bad)
    r.on_message(bad_async)
    r.on_message(lambda m: calls.append(m["type"]))
    r._events.emit("message", {"type": "t", "data": None})
    await asyncio.sleep(0.01)
    assert calls == ["t"]
    assert "handler bug" in caplog.text and "async handler bug" in caplog.text
    r.close()


async def test_close_cancels_pending_handler_tasks() -> None:
    r = Reactor("m", local=True)
    started = asyncio.Event()
    cancelled = asyncio.Event()

    @r.on_error
    async def sleeper(_: ReactorError) -> None:
        started.set()
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    r._emit_error(NetworkError("x"))
    await asyncio.wait_for(started.wait(), 1)
    await r.aclose()
    assert cancelled.is_set()
    with pytest.raises(InvalidStateError, match="closed"):
        await r.reconnect()
    with pytest.raises(InvalidStateError):
        await r.connect()


async def test_reconnect_without_a_session() -> None:
    r = Reactor("m", local=True)
    with pytest.raises(InvalidStateError):
        await r.reconnect()
    await r.disconnect()  # safe in any status
    await r.disconnect(recoverable=True)
    assert r.status is ReactorStatus.DISCONNECTED
    await r.aclose()


# ------------------------------------------------------------------------------------------------
# connect failures


async def test_connect_to_nothing_raises_and_emits_network_error() -> None:
    r = Reactor("m", local=True, api_url="http://127.0.0.1:9")
    statuses: list[ReactorStatus] = []
    errors: list[ReactorError] = []
    r.on_status(statuses.append)
    r.on_error(errors.append)
    with pytest.raises(NetworkError) as info:
        async with r:
            pytest.fail("body must not run")
    assert info.value.recoverable and info.value.operation == "connect" and info.value.component == "api"
    assert info.value.message == (
        "cannot reach the openreactor server at http://127.0.0.1:9 (connection refused) to start "
        "session: is it running? start it with: openreactor serve"
    )
    assert str(info.value).startswith("[api:NETWORK_ERROR] cannot reach the openreactor server at")
    assert errors == [info.value]
    assert statuses == ["connecting", "disconnected"]
    assert r.session_id is None


async def test_unreachable_token_endpoint_names_the_url() -> None:
    r = Reactor("m", "rk_key", "http://127.0.0.1:9")
    with pytest.raises(AuthError) as info:
        await r.connect()
    assert info.value.code == "NETWORK_ERROR"
    assert (
        "cannot reach the openreactor server at http://127.0.0.1:9 (connection refused)" in info.value.message
    )
    await r.aclose()


def test_connect_failure_reasons() -> None:
    import socket

    from reactor_sdk.http_api import connect_failure_reason

    def chained(cause: BaseException) -> httpx.ConnectError:
        err = httpx.ConnectError("All connection attempts failed")
        err.__cause__ = OSError("All connection attempts failed")
        err.__cause__.__cause__ = cause
        return err

    assert connect_failure_reason(chained(ConnectionRefusedError(111, "refused"))) == "connection refused"
    assert connect_failure_reason(chained(socket.gaierror(-2, "unknown"))) == "host name not resolved"
    assert connect_failure_reason(httpx.ConnectTimeout("slow")) == "connection timed out"
    assert connect_failure_reason(httpx.ConnectError("odd")) == "odd"


class FakeApi:
    """Records requests; answers from a route table (method, path) -> response factory."""

    def __init__(self, routes: dict[tuple[str, str], Any]) -> None:
        self.routes = routes
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        handler = self.routes.get((request.method, request.url.path))
        if handler is None:
            return httpx.Response(404, json={"detail": "no route"})
        response: httpx.Response = handler(request) if callable(handler) else handler
        return response

    def paths(self) -> list[str]:
        return [f"{r.method} {r.url.path}" for r in self.requests]


DESCRIPTOR = {
    "session_id": "sess_1",
    "state": "ACTIVE",
    "selected_transport": {"protocol": "webrtc", "version": "1.0"},
    "capabilities": {"tracks": [{"name": "main_video", "kind": "video", "direction": "recvonly"}]},
}


async def test_cloud_connect_failure_deletes_the_created_session() -> None:
    api = FakeApi(
        {
            ("POST", "/tokens"): httpx.Response(200, json={"jwt": "jwt-1", "expires_at": 4e9}),
            ("POST", "/sessions"): httpx.Response(201, json={"session_id": "sess_1", "state": "CREATED"}),
            ("GET", "/sessions/sess_1"): httpx.Response(200, json=DESCRIPTOR),
            ("GET", "/sessions/sess_1/transport/webrtc/ice_servers"): httpx.Response(
                200, json={"ice_servers": []}
            ),
            ("POST", "/sessions/sess_1/transport/webrtc/connections"): httpx.Response(
                503, headers={"Retry-After": "7"}, text="busy"
            ),
            ("DELETE", "/sessions/sess_1"): httpx.Response(204),
        }
    )
    r = Reactor("acme/m", "rk_secret", "http://api.test", max_session_duration_seconds=900)
    r._http_transport = httpx.MockTransport(api)
    statuses: list[ReactorStatus] = []
    ids: list[str | None] = []
    r.on_status(statuses.append)
    r.on("session_id_changed", ids.append)
    with pytest.raises(ServerError) as info:
        await r.connect()
    err = info.value
    assert err.status == 503 and err.retry_after == 7.0 and err.recoverable and err.operation == "connect"
    assert api.paths() == [
        "POST /tokens",
        "POST /sessions",
        "GET /sessions/sess_1",
        "GET /sessions/sess_1/transport/webrtc/ice_servers",
        "POST /sessions/sess_1/transport/webrtc/connections",
        "DELETE /sessions/sess_1",
    ]
    token_request = api.requests[0]
    assert token_request.headers["reactor-api-key"] == "rk_secret"
    assert json.loads(token_request.content) == {
        "authorization_details": [
            {
                "type": "session",
                "resources": {"models": {"match": ["acme/m"]}},
                "constraints": {"max_session_duration_seconds": 900},
            }
        ]
    }
    for request in api.requests[1:]:
        assert "reactor-api-key" not in request.headers  # the key goes to /tokens only
        assert request.headers["authorization"] == "Bearer jwt-1"
        assert request.headers["reactor-api-version"] == "1"
        assert request.headers["reactor-api-accept-version"] == "1"
    assert api.requests[3].headers["reactor-webrtc-version"] == "1.0"
    assert json.loads(api.requests[1].content)["model"] == {"name": "acme/m"}
    assert statuses == ["connecting", "waiting", "disconnected"]
    assert ids == ["sess_1", None]
    assert r.session_id is None
    await r.aclose()


async def test_cloud_terminal_session_and_refused_key() -> None:
    api = FakeApi(
        {
            ("POST", "/sessions"): httpx.Response(201, json={"session_id": "s", "state": "PENDING"}),
            ("GET", "/sessions/s"): httpx.Response(200, json={"session_id": "s", "state": "CLOSED"}),
            ("DELETE", "/sessions/s"): httpx.Response(404),
        }
    )
    r = Reactor("m", jwt=lambda: "caller-jwt", api_url="http://api.test")
    r._http_transport = httpx.MockTransport(api)
    with pytest.raises(SessionTerminalError):
        await r.connect()
    assert "POST /tokens" not in api.paths() and api.paths()[-1] == "DELETE /sessions/s"
    assert api.requests[0].headers["authorization"] == "Bearer caller-jwt"

    refused = FakeApi({("POST", "/tokens"): httpx.Response(401, text="bad key")})
    r2 = Reactor("m", "rk_bad", "http://api.test")
    r2._http_transport = httpx.MockTransport(refused)
    with pytest.raises(AuthError) as info:
        await r2.connect()
    assert isinstance(info.value, RuntimeError)
    assert info.value.code == "UNAUTHORIZED" and info.value.status == 401 and not info.value.recoverable
    assert info.value.operation == "fetch_jwt"
    await r.aclose()
    await r2.aclose()


async def test_local_start_refused_with_conflict() -> None:
    """409 and no running session to join (it ended in between, twice): the conflict is raised."""
    api = FakeApi({("POST", "/start_session"): httpx.Response(409, json={"detail": "cannot start session"})})
    r = Reactor("m", local=True, api_url="http://local.test")
    r._http_transport = httpx.MockTransport(api)
    with pytest.raises(ReactorError) as info:
        await r.connect()
    assert info.value.code == "CONFLICT" and info.value.status == 409
    assert api.paths() == ["POST /start_session", "GET /session", "POST /start_session", "GET /session"]
    request = api.requests[0]
    assert "authorization" not in request.headers
    assert request.headers["reactor-api-version"] == "1" and request.content == b"{}"
    await r.aclose()


async def test_local_conflict_joins_the_running_session_and_never_stops_it() -> None:
    api = FakeApi(
        {
            ("POST", "/start_session"): httpx.Response(
                409, json={"detail": "cannot start session while active"}
            ),
            ("GET", "/session"): httpx.Response(200, json={**DESCRIPTOR, "model": {"name": "m"}}),
            ("GET", "/sessions/sess_1/transport/webrtc/ice_servers"): httpx.Response(500, text="oops"),
        }
    )
    r = Reactor("m", local=True, api_url="http://local.test")
    r._http_transport = httpx.MockTransport(api)
    with pytest.raises(ServerError):
        await r.connect()
    # Joined, not started: a failed connect leaves the other client's session alone.
    assert api.paths() == [
        "POST /start_session",
        "GET /session",
        "GET /sessions/sess_1/transport/webrtc/ice_servers",
    ]
    await r.aclose()


@pytest.mark.parametrize("asked", ["probe", "acme/probe"])
async def test_local_wrong_model_stops_the_started_session(asked: str) -> None:
    api = FakeApi(
        {
            ("POST", "/start_session"): httpx.Response(200, json={**DESCRIPTOR, "model": {"name": "world"}}),
            ("POST", "/stop_session"): httpx.Response(200, json={}),
        }
    )
    r = Reactor(asked, local=True, api_url="http://local.test:8080")
    r._http_transport = httpx.MockTransport(api)
    with pytest.raises(NotFoundError) as info:
        await r.connect()
    assert f"model {asked!r} is not served at http://local.test:8080" in info.value.message
    assert "'world'" in info.value.message
    assert api.paths() == ["POST /start_session", "POST /stop_session"]
    assert r.session_id is None
    await r.aclose()


async def test_local_model_names_match_with_or_without_owner() -> None:
    api = FakeApi(
        {
            ("POST", "/start_session"): httpx.Response(200, json={**DESCRIPTOR, "model": {"name": "probe"}}),
            ("GET", "/sessions/sess_1/transport/webrtc/ice_servers"): httpx.Response(500, text="oops"),
            ("POST", "/stop_session"): httpx.Response(200, json={}),
        }
    )
    r = Reactor("acme/probe", local=True, api_url="http://local.test")
    r._http_transport = httpx.MockTransport(api)
    with pytest.raises(ServerError):  # got past the model check
        await r.connect()
    await r.aclose()


async def test_disconnect_aborts_a_connect_in_flight() -> None:
    gate = asyncio.Event()

    async def slow_start(request: httpx.Request) -> httpx.Response:
        await gate.wait()
        return httpx.Response(200, json=DESCRIPTOR)

    class SlowTransport(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            if request.url.path == "/start_session":
                return await slow_start(request)
            return httpx.Response(200)

    r = Reactor("m", local=True, api_url="http://local.test")
    r._http_transport = SlowTransport()
    errors: list[ReactorError] = []
    r.on_error(errors.append)
    first = asyncio.ensure_future(r.connect())
    await asyncio.sleep(0.05)
    second = asyncio.ensure_future(r.connect())  # joins the same attempt
    await asyncio.sleep(0.01)
    await r.disconnect()
    for call in (first, second):
        with pytest.raises(AbortedError):
            await call
    assert errors == []  # ABORTED is raised, never emitted
    assert r.status is ReactorStatus.DISCONNECTED
    await r.aclose()


async def test_adopting_a_session_binds_the_token_and_never_deletes_it() -> None:
    api = FakeApi(
        {
            ("POST", "/tokens"): httpx.Response(200, json={"jwt": "bound"}),
            ("GET", "/sessions/sess_9"): httpx.Response(200, json={**DESCRIPTOR, "session_id": "sess_9"}),
            ("GET", "/sessions/sess_9/transport/webrtc/ice_servers"): httpx.Response(500, text="oops"),
        }
    )
    r = Reactor("acme/m", "rk_secret", "http://api.test")
    r._http_transport = httpx.MockTransport(api)
    with pytest.raises(ServerError):
        await r.connect(session_id="sess_9")
    assert api.paths() == [
        "POST /tokens",
        "GET /sessions/sess_9",
        "GET /sessions/sess_9/transport/webrtc/ice_servers",
    ]  # no DELETE: the session belongs to someone else
    assert json.loads(api.requests[0].content)["authorization_details"][0]["resources"] == {
        "models": {"all": True},
        "sessions": {"bind": ["sess_9"]},
    }
    await r.aclose()


async def test_local_adoption_checks_the_session_id() -> None:
    api = FakeApi({("GET", "/session"): httpx.Response(200, json={**DESCRIPTOR, "session_id": "other"})})
    r = Reactor("m", local=True, api_url="http://local.test")
    r._http_transport = httpx.MockTransport(api)
    with pytest.raises(InvalidStateError):
        await r.connect(session_id="mine")
    assert api.paths() == ["GET /session"]
    await r.aclose()


async def test_one_http_client_for_the_clients_life(monkeypatch: pytest.MonkeyPatch) -> None:
    """Connects, token minting and the session's end share one httpx client; disconnect() and
    close() close every client the Reactor made."""
    made: list[httpx.AsyncClient] = []
    closed: list[httpx.AsyncClient] = []
    init, aclose = httpx.AsyncClient.__init__, httpx.AsyncClient.aclose

    def counting_init(self: httpx.AsyncClient, *args: Any, **kwargs: Any) -> None:
        made.append(self)
        init(self, *args, **kwargs)

    async def counting_aclose(self: httpx.AsyncClient) -> None:
        closed.append(self)
        await aclose(self)

    monkeypatch.setattr(httpx.AsyncClient, "__init__", counting_init)
    monkeypatch.setattr(httpx.AsyncClient, "aclose", counting_aclose)
    api = FakeApi(
        {
            ("POST", "/tokens"): httpx.Response(200, json={"jwt": "jwt-1", "expires_at": 4e9}),
            ("POST", "/sessions"): httpx.Response(201, json={"session_id": "sess_1", "state": "CREATED"}),
            ("GET", "/sessions/sess_1"): httpx.Response(200, json=DESCRIPTOR),
            ("GET", "/sessions/sess_1/transport/webrtc/ice_servers"): httpx.Response(500, text="oops"),
            ("DELETE", "/sessions/sess_1"): httpx.Response(204),
        }
    )
    r = Reactor("acme/m", "rk_secret", "http://api.test")
    r._http_transport = httpx.MockTransport(api)
    for _ in range(3):
        with pytest.raises(ServerError):
            await r.connect()
    assert api.paths().count("POST /sessions") == 3
    assert len(made) == 1 and closed == []
    await r.disconnect()
    assert closed == made
    with pytest.raises(ServerError):
        await r.connect()  # a new client after a disconnect for good
    assert len(made) == 2
    r.close()  # sync: the close runs on the loop
    await r.aclose()
    assert closed == made
