"""Errors of the Python SDK: one base class, one subclass per code.

Every failing call raises a :class:`ReactorError`, and ``on_error`` handlers receive one. The
``recoverable`` flag is derived from the code (``reactor_protocol.errors.RECOVERABLE_CODES``);
unknown codes, such as a model's own, are not recoverable.

::

    ReactorError(Exception)
    ├── NetworkError                 NETWORK_ERROR          recoverable   api
    ├── ServerError                  SERVER_ERROR           recoverable   api
    ├── RateLimitedError             RATE_LIMITED           recoverable   api
    ├── RequestTimeoutError          REQUEST_TIMEOUT        recoverable   api | gpu
    ├── TransportError               TRANSPORT_ERROR        recoverable   gpu
    ├── DisconnectedError            DISCONNECTED           recoverable   gpu
    ├── UnauthorizedError            UNAUTHORIZED                         api
    ├── NotFoundError                NOT_FOUND                            api
    ├── ConflictError                CONFLICT                             api
    ├── BadRequestError              BAD_REQUEST                          api
    ├── VersionMismatchError         VERSION_MISMATCH                     api
    ├── DecodeError                  DECODE_FAILED                        api | gpu
    ├── InvalidStateError            INVALID_STATE                        per operation
    ├── SessionTerminalError         SESSION_TERMINAL                     api | gpu
    ├── MessageTooLargeError         MESSAGE_TOO_LARGE                    gpu
    ├── AbortedError                 ABORTED                              per operation
    ├── RecorderDisabledError        RECORDER_DISABLED                    gpu
    ├── GenerationModeMismatchError  GENERATION_MODE_MISMATCH             api
    ├── DataChannelChunkingRequiredError  DATA_CHANNEL_CHUNKING_REQUIRED  gpu
    ├── UnsupportedFrameEncodingError     UNSUPPORTED_FRAME_ENCODING      gpu
    ├── StepRefusedError, StepNotReadyError, StepResultTooLargeError,
    │   StepCommandFailedError, StepSessionEndedError   step_*            gpu
    └── AuthError (also a RuntimeError)  code from the HTTP status        api

A model's or runtime's own code (``invalid_command``, ``publish_refused``, …) is raised as the
base class with the code kept exactly as the server sent it.

``component`` keeps the official SDK's two values (``"api"`` for the HTTP control plane, ``"gpu"``
for the model's side), since apps branch on it. ``str(err)`` names the side truthfully instead:
``[api:CODE]``, or ``[gpu:CODE]`` only when the server said it computes on a GPU
(``server_info.device == "cuda"`` in the session descriptor, kept in ``server_device``), else
``[model:CODE]``.
"""

from __future__ import annotations

import time
from typing import Any, ClassVar, Literal, TypeAlias

from reactor_protocol.errors import RECOVERABLE_CODES, ErrorCode

Component: TypeAlias = Literal["api", "gpu"]
Label: TypeAlias = Literal["api", "gpu", "model"]

__all__ = [
    "AbortedError",
    "AuthError",
    "BadRequestError",
    "Component",
    "ConflictError",
    "DataChannelChunkingRequiredError",
    "DecodeError",
    "DisconnectedError",
    "GenerationModeMismatchError",
    "InvalidStateError",
    "Label",
    "MessageTooLargeError",
    "NetworkError",
    "NotFoundError",
    "RateLimitedError",
    "ReactorError",
    "RecorderDisabledError",
    "RequestTimeoutError",
    "ServerError",
    "SessionTerminalError",
    "StepCommandFailedError",
    "StepNotReadyError",
    "StepRefusedError",
    "StepResultTooLargeError",
    "StepSessionEndedError",
    "TransportError",
    "UnauthorizedError",
    "UnsupportedFrameEncodingError",
    "VersionMismatchError",
    "error_for_code",
    "error_for_http_status",
    "is_recoverable",
]

# Codes of the SDK that the protocol package does not list (stepped mode, clips).
RECORDER_DISABLED = "RECORDER_DISABLED"
GENERATION_MODE_MISMATCH = "GENERATION_MODE_MISMATCH"
DATA_CHANNEL_CHUNKING_REQUIRED = "DATA_CHANNEL_CHUNKING_REQUIRED"
UNSUPPORTED_FRAME_ENCODING = "UNSUPPORTED_FRAME_ENCODING"


def is_recoverable(code: str) -> bool:
    """Whether an error with ``code`` may be retried. Unknown codes are not recoverable."""
    return code in RECOVERABLE_CODES


class ReactorError(Exception):
    """The error every failing SDK call raises and every ``on_error`` handler receives.

    ``str(err)`` is ``"[label:code] message"`` (see :attr:`label`). ``recoverable`` is derived
    from ``code`` unless given explicitly.
    """

    default_component: ClassVar[Component] = "gpu"

    emitted: bool = False
    """Set once the SDK has delivered this error to ``on_error`` handlers."""

    server_device: str | None = None
    """What the server reported it computes on (``server_info.device``: ``"cpu"``, ``"cuda"``),
    set by the client that raised or emitted the error; ``None`` when unknown."""

    code: str
    message: str
    recoverable: bool
    component: Component
    status: int | None
    operation: str | None
    retry_after_ms: float | None
    entry: str | None
    command_code: str | None
    timestamp_ms: int

    def __init__(
        self,
        code: str,
        message: str,
        *,
        recoverable: bool | None = None,
        component: Component | None = None,
        status: int | None = None,
        operation: str | None = None,
        retry_after_ms: float | None = None,
        retry_after: float | None = None,
        entry: str | None = None,
        command_code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.code = str(code)
        self.message = message
        self.recoverable = is_recoverable(self.code) if recoverable is None else recoverable
        self.component = component or self.default_component
        self.status = status
        self.operation = operation
        if retry_after_ms is None and retry_after is not None:
            retry_after_ms = retry_after * 1000.0
        self.retry_after_ms = retry_after_ms
        self.entry = entry
        self.command_code = command_code
        self.timestamp_ms = int(time.time() * 1000)

    @property
    def retry_after(self) -> float | None:
        """The server's retry hint in seconds, or ``None`` when it sent none."""
        return None if self.retry_after_ms is None else self.retry_after_ms / 1000.0

    @property
    def timestamp(self) -> float:
        """When the error was created, in Unix seconds."""
        return self.timestamp_ms / 1000.0

    @property
    def label(self) -> Label:
        """The side ``str(err)`` names: ``"api"`` for an API error; for the model's side
        (``component == "gpu"``) ``"gpu"`` only when the server runs on a GPU, else ``"model"``."""
        if self.component == "api":
            return "api"
        return "gpu" if self.server_device == "cuda" else "model"

    def __str__(self) -> str:
        return f"[{self.label}:{self.code}] {self.message}"

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(code={self.code!r}, message={self.message!r}, "
            f"component={self.component!r}, recoverable={self.recoverable!r}, "
            f"operation={self.operation!r}, status={self.status!r})"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        # Keeps errors picklable (copy, multiprocessing) despite the keyword-only constructor.
        return (_rebuild, (type(self), self.to_dict()))

    def to_dict(self) -> dict[str, Any]:
        """Every field as a plain dict."""
        return {
            "code": self.code,
            "message": self.message,
            "recoverable": self.recoverable,
            "component": self.component,
            "status": self.status,
            "operation": self.operation,
            "retry_after_ms": self.retry_after_ms,
            "retry_after": self.retry_after,
            "timestamp": self.timestamp,
            "timestamp_ms": self.timestamp_ms,
            "entry": self.entry,
            "command_code": self.command_code,
            "server_device": self.server_device,
        }


def _rebuild(cls: type[ReactorError], fields: dict[str, Any]) -> ReactorError:
    err = ReactorError.__new__(cls)
    Exception.__init__(err, fields["message"])
    for key in ("code", "message", "recoverable", "component", "status", "operation"):
        setattr(err, key, fields[key])
    err.retry_after_ms = fields["retry_after_ms"]
    err.entry = fields["entry"]
    err.command_code = fields["command_code"]
    err.timestamp_ms = fields["timestamp_ms"]
    err.server_device = fields.get("server_device")
    return err


class _CodedError(ReactorError):
    """A subclass whose code is fixed: ``NetworkError(message, **fields)``."""

    fixed_code: ClassVar[str] = ErrorCode.INTERNAL_ERROR

    def __init__(
        self,
        message: str,
        *,
        recoverable: bool | None = None,
        component: Component | None = None,
        status: int | None = None,
        operation: str | None = None,
        retry_after_ms: float | None = None,
        retry_after: float | None = None,
        entry: str | None = None,
        command_code: str | None = None,
    ) -> None:
        super().__init__(
            self.fixed_code,
            message,
            recoverable=recoverable,
            component=component,
            status=status,
            operation=operation,
            retry_after_ms=retry_after_ms,
            retry_after=retry_after,
            entry=entry,
            command_code=command_code,
        )


class NetworkError(_CodedError):
    """An HTTP call failed below HTTP: refused, DNS, TLS, reset."""

    fixed_code = ErrorCode.NETWORK_ERROR
    default_component = "api"


class ServerError(_CodedError):
    """HTTP 5xx other than 501."""

    fixed_code = ErrorCode.SERVER_ERROR
    default_component = "api"


class RateLimitedError(_CodedError):
    """HTTP 429; ``retry_after`` carries the server's hint."""

    fixed_code = ErrorCode.RATE_LIMITED
    default_component = "api"


class RequestTimeoutError(_CodedError):
    """No reply in time, or a polling budget ran out."""

    fixed_code = ErrorCode.REQUEST_TIMEOUT
    default_component = "gpu"


class TransportError(_CodedError):
    """WebRTC negotiation or ICE failed."""

    fixed_code = ErrorCode.TRANSPORT_ERROR
    default_component = "gpu"


class DisconnectedError(_CodedError):
    """The live connection was lost; requests in flight are cut off."""

    fixed_code = ErrorCode.DISCONNECTED
    default_component = "gpu"


class UnauthorizedError(_CodedError):
    """HTTP 401 or 403."""

    fixed_code = ErrorCode.UNAUTHORIZED
    default_component = "api"


class NotFoundError(_CodedError):
    """HTTP 404: an unknown model, or a session that is gone."""

    fixed_code = ErrorCode.NOT_FOUND
    default_component = "api"


class ConflictError(_CodedError):
    """HTTP 409: for example the local runtime already runs a session."""

    fixed_code = ErrorCode.CONFLICT
    default_component = "api"


class BadRequestError(_CodedError):
    """HTTP 400, 422 or another 4xx."""

    fixed_code = ErrorCode.BAD_REQUEST
    default_component = "api"


class VersionMismatchError(_CodedError):
    """HTTP 426 (client too old) or 501 (server too old)."""

    fixed_code = ErrorCode.VERSION_MISMATCH
    default_component = "api"


class DecodeError(_CodedError):
    """An unparseable response or message, or command data that is not a JSON object."""

    fixed_code = ErrorCode.DECODE_FAILED
    default_component = "api"


class InvalidStateError(_CodedError):
    """A precondition is not met: not ``READY``, no session to reconnect, client closed, …"""

    fixed_code = ErrorCode.INVALID_STATE
    default_component = "gpu"


class SessionTerminalError(_CodedError):
    """The session ended or is closed; ``message`` carries the server's reason."""

    fixed_code = ErrorCode.SESSION_TERMINAL
    default_component = "gpu"


class MessageTooLargeError(_CodedError):
    """A payload is over the data-channel limit; checked before sending."""

    fixed_code = ErrorCode.MESSAGE_TOO_LARGE
    default_component = "gpu"


class AbortedError(_CodedError):
    """Cancelled by ``disconnect()`` or ``close()``. Raised only, never emitted."""

    fixed_code = ErrorCode.ABORTED
    default_component = "gpu"


class RecorderDisabledError(_CodedError):
    """A clip or recording was requested while recording is off."""

    fixed_code = RECORDER_DISABLED
    default_component = "gpu"


class GenerationModeMismatchError(_CodedError):
    """A stepped session was asked for, the server started a streamed one."""

    fixed_code = GENERATION_MODE_MISMATCH
    default_component = "api"


class DataChannelChunkingRequiredError(_CodedError):
    """Stepped mode needs data-channel chunking, which the server did not negotiate."""

    fixed_code = DATA_CHANNEL_CHUNKING_REQUIRED
    default_component = "gpu"


class UnsupportedFrameEncodingError(_CodedError):
    """A stepped frame's encoding is not supported."""

    fixed_code = UNSUPPORTED_FRAME_ENCODING
    default_component = "gpu"


class StepRefusedError(_CodedError):
    fixed_code = "step_refused"


class StepNotReadyError(_CodedError):
    fixed_code = "step_not_ready"


class StepResultTooLargeError(_CodedError):
    fixed_code = "step_result_too_large"


class StepCommandFailedError(_CodedError):
    fixed_code = "step_command_failed"


class StepSessionEndedError(_CodedError):
    fixed_code = "step_session_ended"


class AuthError(ReactorError, RuntimeError):
    """Exchanging the API key for a token failed (``operation="fetch_jwt"``).

    The code is mapped from the HTTP status (``UNAUTHORIZED`` for 401/403, …). It is also a
    ``RuntimeError`` so that older ``except RuntimeError`` code keeps catching it.
    """

    default_component = "api"

    def __init__(
        self,
        message: str,
        *,
        code: str = ErrorCode.UNAUTHORIZED,
        recoverable: bool | None = None,
        component: Component | None = None,
        status: int | None = None,
        operation: str | None = "fetch_jwt",
        retry_after_ms: float | None = None,
        retry_after: float | None = None,
        entry: str | None = None,
        command_code: str | None = None,
    ) -> None:
        super().__init__(
            code,
            message,
            recoverable=recoverable,
            component=component,
            status=status,
            operation=operation,
            retry_after_ms=retry_after_ms,
            retry_after=retry_after,
            entry=entry,
            command_code=command_code,
        )


_CLASS_FOR_CODE: dict[str, type[_CodedError]] = {
    cls.fixed_code: cls
    for cls in (
        NetworkError,
        ServerError,
        RateLimitedError,
        RequestTimeoutError,
        TransportError,
        DisconnectedError,
        UnauthorizedError,
        NotFoundError,
        ConflictError,
        BadRequestError,
        VersionMismatchError,
        DecodeError,
        InvalidStateError,
        SessionTerminalError,
        MessageTooLargeError,
        AbortedError,
        RecorderDisabledError,
        GenerationModeMismatchError,
        DataChannelChunkingRequiredError,
        UnsupportedFrameEncodingError,
        StepRefusedError,
        StepNotReadyError,
        StepResultTooLargeError,
        StepCommandFailedError,
        StepSessionEndedError,
    )
}


def error_for_code(
    code: str,
    message: str,
    *,
    component: Component | None = None,
    status: int | None = None,
    operation: str | None = None,
    retry_after_ms: float | None = None,
) -> ReactorError:
    """The most specific error for ``code``; the base class for codes the SDK does not know."""
    cls = _CLASS_FOR_CODE.get(code)
    if cls is None:
        return ReactorError(
            code,
            message,
            component=component,
            status=status,
            operation=operation,
            retry_after_ms=retry_after_ms,
        )
    return cls(
        message,
        component=component,
        status=status,
        operation=operation,
        retry_after_ms=retry_after_ms,
    )


def code_for_http_status(status: int) -> str:
    """The SDK code for an HTTP error status (SDK-API §1.3.3)."""
    if status in (401, 403):
        return ErrorCode.UNAUTHORIZED
    if status == 404:
        return ErrorCode.NOT_FOUND
    if status == 409:
        return ErrorCode.CONFLICT
    if status in (426, 501):
        return ErrorCode.VERSION_MISMATCH
    if status == 429:
        return ErrorCode.RATE_LIMITED
    if status >= 500:
        return ErrorCode.SERVER_ERROR
    return ErrorCode.BAD_REQUEST


def error_for_http_status(
    status: int,
    message: str,
    *,
    operation: str | None = None,
    retry_after_ms: float | None = None,
) -> ReactorError:
    """Map an HTTP error status to its error class: 400/422 → ``BadRequestError``, 401/403 →
    ``UnauthorizedError``, 404 → ``NotFoundError``, 409 → ``ConflictError``, 426/501 →
    ``VersionMismatchError``, 429 → ``RateLimitedError``, other 5xx → ``ServerError``."""
    return error_for_code(
        code_for_http_status(status),
        message,
        component="api",
        status=status,
        operation=operation,
        retry_after_ms=retry_after_ms,
    )
