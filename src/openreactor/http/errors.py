"""HTTP error bodies in the protocol's shape: ``{"detail": "<text>"}`` with the right status.

Routes raise the domain's errors (``session_host``, ``sessions.uploads``, ``auth.tokens``,
``transport.peer``) and ``ApiError`` for refusals of their own; :func:`exception_handlers` is the one
table that turns each into its status, registered on the app (``http.app.create_app``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from openreactor.auth.tokens import TokenError
from openreactor.session_host import (
    ConnectionLimitError,
    SessionBusyError,
    SessionClosedError,
    UnknownConnectionError,
    UnknownModelError,
    WorkerUnavailableError,
)
from openreactor.sessions.uploads import (
    UnknownUploadError,
    UploadConflictError,
    UploadError,
    UploadStorageError,
    UploadTooLargeError,
)
from openreactor.transport.peer import OfferError

Handler = Callable[[Request, Exception], Awaitable[Response]]

RETRY_AFTER_BUSY_S = 5
"""``POST /sessions`` with no room: when to ask again."""
RETRY_SOON = {"Retry-After": "1"}


class ApiError(Exception):
    """Raised by a route to answer with a status, a detail text and optional headers."""

    def __init__(self, status: int, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = headers


def error_response(status: int, detail: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status, headers=dict(headers) if headers else None)


def is_bearer_path(path: str) -> bool:
    """The routes of ``/sessions`` and ``/uploads/…``: a bearer token (cloud sessions) or an
    unguessable id (the session's or the upload's) is their credential, never the page's origin.
    Every other route belongs to the local plane (or is the server's own: health, metrics)."""
    return path == "/sessions" or path.startswith(("/sessions/", "/uploads/"))


STATUS_OF: dict[type[Exception], tuple[int, Mapping[str, str] | None]] = {
    UnknownModelError: (404, None),
    UnknownConnectionError: (404, None),
    SessionClosedError: (404, None),
    # Its worker did not answer: a dead one is reaped within seconds (then 404), a slow or briefly
    # unreachable one answers the retry.
    WorkerUnavailableError: (503, RETRY_SOON),
    ConnectionLimitError: (503, RETRY_SOON),
    OfferError: (400, None),
    UploadError: (400, None),
    UnknownUploadError: (404, None),
    UploadConflictError: (409, None),
    UploadTooLargeError: (413, None),
    # 507, not 413: the file is not too large, the server is out of room. Clients read 5xx as
    # retryable (reactor-sdk: SERVER_ERROR); 413 would tell them never to send this file again.
    UploadStorageError: (507, None),
}
"""Domain errors whose status is the same wherever they are raised (the most derived class wins)."""


async def handle_api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.detail, exc.headers)


async def handle_domain_error(request: Request, exc: Exception) -> Response:
    status, headers = next(STATUS_OF[cls] for cls in type(exc).__mro__ if cls in STATUS_OF)
    return error_response(status, str(exc), headers)


async def handle_token_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, TokenError)
    return error_response(exc.status, exc.message)


async def handle_busy(request: Request, exc: Exception) -> Response:
    """No room for a session: 429 with ``Retry-After`` on the cloud plane, 409 on the local one."""
    if is_bearer_path(request.url.path):
        return error_response(429, f"no capacity: {exc}", {"Retry-After": str(RETRY_AFTER_BUSY_S)})
    return error_response(409, str(exc))


async def handle_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    detail = exc.detail
    if exc.status_code == 404:
        detail = f"no route {request.method} {request.url.path}"
    elif exc.status_code == 405:
        detail = f"method {request.method} not allowed on {request.url.path}"
    return error_response(exc.status_code, str(detail), dict(exc.headers) if exc.headers else None)


async def handle_unexpected(request: Request, exc: Exception) -> Response:
    return error_response(500, f"internal error: {type(exc).__name__}")


def exception_handlers(extra: Mapping[Any, Handler] | None = None) -> dict[Any, Handler]:
    """Every error a route may raise and the answer it gets; ``extra`` adds a deployment's own
    (the coordinator's Redis outage)."""
    return {
        ApiError: handle_api_error,
        HTTPException: handle_http_exception,
        TokenError: handle_token_error,
        SessionBusyError: handle_busy,
        **dict.fromkeys(STATUS_OF, handle_domain_error),
        **(extra or {}),
        Exception: handle_unexpected,
    }
