"""Error codes of the wire protocol and the one exception the codecs raise.

``ErrorCode`` lists both the codes a server puts on the wire (lower case, PROTOCOL.md §9.3) and
the client-side codes of the SDKs (upper case, PROTOCOL.md §9.1). Codecs raise ``DecodeError``
for every input they cannot turn into a message; it carries a code so that a server can answer
the sender with an ``ErrorMessage`` instead of dying.
"""

from __future__ import annotations

import enum


class ErrorCode(enum.StrEnum):
    # -- emitted by servers on the data channels --
    INVALID_COMMAND = "invalid_command"
    """Unknown command, or arguments that violate the model's schema."""
    UNRESOLVED_UPLOAD = "unresolved_upload"
    INTERNAL_ERROR_SERVER = "internal_error"
    PUBLISH_REFUSED = "publish_refused"
    MALFORMED_MESSAGE = "malformed_message"
    """A data-channel message that is neither valid v0 JSON nor valid v1 protobuf."""
    UNKNOWN_TRACK = "unknown_track"
    UNSUPPORTED_REQUEST = "unsupported_request"
    MODEL_ERROR = "model_error"
    """The model crashed; the session ends."""
    MODEL_TIMEOUT = "model_timeout"
    """A call into the model did not return in time; the session ends."""
    MEMORY_LIMIT = "memory_limit"
    """The session's process outgrew its memory limit; the session ends."""

    # -- client-side codes (reactor-sdk 1.13.0 names) --
    DISCONNECTED = "DISCONNECTED"
    NETWORK_ERROR = "NETWORK_ERROR"
    REQUEST_TIMEOUT = "REQUEST_TIMEOUT"
    TRANSPORT_ERROR = "TRANSPORT_ERROR"
    RATE_LIMITED = "RATE_LIMITED"
    SERVER_ERROR = "SERVER_ERROR"
    INVALID_STATE = "INVALID_STATE"
    UNAUTHORIZED = "UNAUTHORIZED"
    NOT_FOUND = "NOT_FOUND"
    CONFLICT = "CONFLICT"
    BAD_REQUEST = "BAD_REQUEST"
    VERSION_MISMATCH = "VERSION_MISMATCH"
    DECODE_FAILED = "DECODE_FAILED"
    SESSION_TERMINAL = "SESSION_TERMINAL"
    MESSAGE_TOO_LARGE = "MESSAGE_TOO_LARGE"
    ABORTED = "ABORTED"
    INTERNAL_ERROR = "INTERNAL_ERROR"


RECOVERABLE_CODES: frozenset[str] = frozenset(
    {
        ErrorCode.DISCONNECTED,
        ErrorCode.NETWORK_ERROR,
        ErrorCode.REQUEST_TIMEOUT,
        ErrorCode.TRANSPORT_ERROR,
        ErrorCode.RATE_LIMITED,
        ErrorCode.SERVER_ERROR,
    }
)
"""Codes a client may retry; every other code (including unknown ones) is not recoverable."""


class DecodeError(ValueError):
    """Raised by ``decode`` for input that is not a valid message of the codec's wire version."""

    def __init__(self, message: str, code: str = ErrorCode.MALFORMED_MESSAGE) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
