"""ReactorError: fields, derived recoverability, string form, HTTP mapping (SDK-API §1.3)."""

from __future__ import annotations

import copy
import pickle
import time
from typing import Any

import pytest

import reactor_sdk
from reactor_sdk import (
    AbortedError,
    AuthError,
    BadRequestError,
    ConflictError,
    DecodeError,
    DisconnectedError,
    InvalidStateError,
    MessageTooLargeError,
    NetworkError,
    NotFoundError,
    RateLimitedError,
    ReactorError,
    RequestTimeoutError,
    ServerError,
    SessionTerminalError,
    TransportError,
    UnauthorizedError,
    VersionMismatchError,
)
from reactor_sdk.errors import error_for_code, error_for_http_status

RECOVERABLE = {
    NetworkError: "NETWORK_ERROR",
    ServerError: "SERVER_ERROR",
    RateLimitedError: "RATE_LIMITED",
    RequestTimeoutError: "REQUEST_TIMEOUT",
    TransportError: "TRANSPORT_ERROR",
    DisconnectedError: "DISCONNECTED",
}
NOT_RECOVERABLE = {
    UnauthorizedError: "UNAUTHORIZED",
    NotFoundError: "NOT_FOUND",
    ConflictError: "CONFLICT",
    BadRequestError: "BAD_REQUEST",
    VersionMismatchError: "VERSION_MISMATCH",
    DecodeError: "DECODE_FAILED",
    InvalidStateError: "INVALID_STATE",
    SessionTerminalError: "SESSION_TERMINAL",
    MessageTooLargeError: "MESSAGE_TOO_LARGE",
    AbortedError: "ABORTED",
    reactor_sdk.RecorderDisabledError: "RECORDER_DISABLED",
    reactor_sdk.GenerationModeMismatchError: "GENERATION_MODE_MISMATCH",
    reactor_sdk.DataChannelChunkingRequiredError: "DATA_CHANNEL_CHUNKING_REQUIRED",
    reactor_sdk.UnsupportedFrameEncodingError: "UNSUPPORTED_FRAME_ENCODING",
    reactor_sdk.StepRefusedError: "step_refused",
    reactor_sdk.StepNotReadyError: "step_not_ready",
    reactor_sdk.StepResultTooLargeError: "step_result_too_large",
    reactor_sdk.StepCommandFailedError: "step_command_failed",
    reactor_sdk.StepSessionEndedError: "step_session_ended",
}


@pytest.mark.parametrize(("cls", "code"), list(RECOVERABLE.items()))
def test_recoverable_classes(cls: Any, code: str) -> None:
    err = cls("boom")
    assert isinstance(err, ReactorError)
    assert err.code == code
    assert err.recoverable is True


@pytest.mark.parametrize(("cls", "code"), list(NOT_RECOVERABLE.items()))
def test_not_recoverable_classes(cls: Any, code: str) -> None:
    err = cls("boom")
    assert err.code == code
    assert err.recoverable is False


def test_recoverable_is_derived_from_code_and_unknown_codes_are_not() -> None:
    assert ReactorError("NETWORK_ERROR", "x").recoverable is True
    assert ReactorError("invalid_command", "x").recoverable is False
    assert ReactorError("something_new", "x").recoverable is False
    assert ReactorError("NETWORK_ERROR", "x", recoverable=False).recoverable is False


def test_fields_and_str() -> None:
    before = time.time()
    err = RateLimitedError("slow down", status=429, operation="connect", retry_after_ms=7000)
    assert str(err) == "[api:RATE_LIMITED] slow down"
    assert err.component == "api"
    assert err.message == "slow down"
    assert err.status == 429
    assert err.operation == "connect"
    assert err.retry_after_ms == 7000
    assert err.retry_after == 7.0
    assert before - 1 <= err.timestamp <= time.time() + 1
    assert err.timestamp_ms == int(err.timestamp * 1000)
    assert isinstance(err.timestamp_ms, int)
    assert err.entry is None and err.command_code is None
    assert "operation='connect'" in repr(err) and "status=429" in repr(err)
    d = err.to_dict()
    assert d["code"] == "RATE_LIMITED" and d["retry_after"] == 7.0 and d["recoverable"] is True
    assert set(d) >= {
        "code",
        "message",
        "recoverable",
        "component",
        "status",
        "operation",
        "retry_after_ms",
        "retry_after",
        "timestamp",
        "timestamp_ms",
        "entry",
        "command_code",
    }


def test_retry_after_none_without_hint_and_seconds_form() -> None:
    assert DisconnectedError("gone").retry_after is None
    assert ServerError("x", retry_after=2.5).retry_after_ms == 2500


def test_components() -> None:
    assert DisconnectedError("lost").component == "gpu"
    assert NetworkError("x").component == "api"
    assert ReactorError("invalid_command", "bad").component == "gpu"
    assert InvalidStateError("x", component="api").component == "api"


def test_label_names_the_side_truthfully() -> None:
    # The official component values stay; only the rendered label depends on the server.
    lost = DisconnectedError("lost")
    assert lost.server_device is None and lost.label == "model"
    assert str(lost) == "[model:DISCONNECTED] lost"
    lost.server_device = "cpu"
    assert str(lost) == "[model:DISCONNECTED] lost" and lost.component == "gpu"
    lost.server_device = "cuda"
    assert str(lost) == "[gpu:DISCONNECTED] lost" and lost.label == "gpu"
    api = NetworkError("refused")
    api.server_device = "cuda"
    assert str(api) == "[api:NETWORK_ERROR] refused"
    assert str(ReactorError("invalid_command", "bad")) == "[model:invalid_command] bad"
    assert str(InvalidStateError("x", component="api")) == "[api:INVALID_STATE] x"
    clone = pickle.loads(pickle.dumps(lost))
    assert clone.server_device == "cuda" and str(clone) == str(lost)


async def test_the_client_labels_errors_with_the_servers_device() -> None:
    from reactor_sdk import Reactor
    from reactor_sdk.session import SessionDescriptor

    r = Reactor("m", local=True)
    errors: list[ReactorError] = []
    r.on_error(errors.append)
    with pytest.raises(InvalidStateError) as before:
        await r.send_command("x")
    assert str(before.value).startswith("[model:INVALID_STATE]")  # nothing known about the server
    descriptor = SessionDescriptor.parse(
        {"session_id": "s", "server_info": {"server_version": "0.1.0", "device": "cuda"}}
    )
    r._note_server(descriptor.server_device)
    with pytest.raises(InvalidStateError) as after:
        await r.send_command("x")
    assert str(after.value).startswith("[gpu:INVALID_STATE]") and after.value.component == "gpu"
    r._emit_error(DisconnectedError("lost"))
    assert str(errors[0]) == "[gpu:DISCONNECTED] lost"
    await r.aclose()


def test_base_constructor_keywords() -> None:
    err = ReactorError("step_command_failed", "m", component="gpu", entry="commands[1]", command_code="oops")
    assert err.entry == "commands[1]" and err.command_code == "oops"


def test_auth_error_is_reactor_error_and_runtime_error() -> None:
    err = AuthError("refused", status=401)
    assert isinstance(err, ReactorError) and isinstance(err, RuntimeError)
    assert err.code == "UNAUTHORIZED" and err.operation == "fetch_jwt" and err.component == "api"
    assert AuthError("x", code="SERVER_ERROR", status=503).recoverable is True


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, BadRequestError),
        (422, BadRequestError),
        (418, BadRequestError),
        (401, UnauthorizedError),
        (403, UnauthorizedError),
        (404, NotFoundError),
        (409, ConflictError),
        (426, VersionMismatchError),
        (501, VersionMismatchError),
        (429, RateLimitedError),
        (500, ServerError),
        (503, ServerError),
    ],
)
def test_http_status_mapping(status: int, cls: type[ReactorError]) -> None:
    err = error_for_http_status(status, "msg", operation="connect", retry_after_ms=1000)
    assert type(err) is cls
    assert err.status == status and err.component == "api" and err.operation == "connect"
    assert err.retry_after == 1.0


def test_error_for_code_keeps_unknown_codes() -> None:
    err = error_for_code("publish_refused", "taken")
    assert type(err) is ReactorError and err.code == "publish_refused"
    assert type(error_for_code("NOT_FOUND", "x")) is NotFoundError


def test_errors_copy_and_pickle() -> None:
    err = NotFoundError("gone", status=404, operation="reconnect")
    for clone in (copy.copy(err), pickle.loads(pickle.dumps(err))):
        assert type(clone) is NotFoundError
        assert clone.to_dict() == err.to_dict()
