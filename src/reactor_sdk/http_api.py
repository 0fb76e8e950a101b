"""The HTTP control plane and signalling, as the client speaks them (PROTOCOL.md §2, §3).

This is the SDK's only HTTP seam: httpx exceptions and error statuses are translated here, and
nowhere else, into :class:`~reactor_sdk.errors.ReactorError` subclasses. A ``Reactor`` holds one
:class:`SharedApiClient`: one :class:`ApiClient` (one ``httpx.AsyncClient``) made on first use and
shared by every operation (connect, uploads, disconnect, token minting) until the client
disconnects for good or closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import logging
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Literal, TypeAlias

import httpx

from reactor_protocol.limits import ANSWER_POLL_DELAYS_S
from reactor_sdk.defaults import HTTP_TIMEOUT_S, client_info
from reactor_sdk.errors import (
    AuthError,
    DecodeError,
    NetworkError,
    ReactorError,
    RequestTimeoutError,
    code_for_http_status,
    error_for_http_status,
)

logger = logging.getLogger("reactor_sdk")

TokenSource: TypeAlias = Callable[["ApiClient"], Awaitable[str]]
"""Resolves the bearer token before each request (cloud mode); it gets the client making the
request, to mint a token through it."""

HeaderSet: TypeAlias = Literal["session", "signalling", "plain"]

API_VERSION = "1"
WEBRTC_VERSION = "1.0"  # exactly two parts: Reactor's service refused "1.0.0"

_MAX_ERROR_BODY = 500

KEEPALIVE_EXPIRY_S = 4.0
"""An idle pooled connection is dropped after this long, before a server's own keep-alive
timeout (uvicorn's and Node's: 5 s) can close it under a request."""


@dataclass(frozen=True, slots=True)
class SdpAnswer:
    sdp: str
    connection_id: int | None


class ApiClient:
    """Calls on one API server: local runtime routes, cloud session routes, signalling.

    ``token`` resolves the bearer token per request in cloud mode; with ``None`` (local mode)
    no ``Authorization`` header is sent.
    """

    def __init__(
        self,
        base_url: str,
        *,
        token: TokenSource | None,
        verify_tls: bool = True,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._base_url = base_url.rstrip("/")
        self._token = token
        self._http = httpx.AsyncClient(
            base_url=self._base_url,
            timeout=HTTP_TIMEOUT_S,
            verify=verify_tls,
            headers={"accept": "*/*"},
            transport=transport,
            limits=httpx.Limits(keepalive_expiry=KEEPALIVE_EXPIRY_S),
        )

    @property
    def base_url(self) -> str:
        return self._base_url

    async def __aenter__(self) -> ApiClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    def failure_text(self, exc: httpx.HTTPError, what: str, url: str | None = None) -> str:
        """The message of a call that failed below HTTP; names the server's URL (or ``url``)."""
        target = url or self._base_url
        if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
            if url is not None:
                return f"{what}: cannot reach {target} ({connect_failure_reason(exc)})"
            return (
                f"cannot reach the openreactor server at {target} ({connect_failure_reason(exc)}) "
                f"to {what}: is it running? start it with: openreactor serve"
            )
        if isinstance(exc, httpx.TimeoutException):
            return f"{what}: the request to {target} timed out ({type(exc).__name__})"
        return f"{what}: the request to {target} failed: {exc!r}"

    # ------------------------------------------------------------------------------------------
    # the one seam

    async def request(
        self,
        method: str,
        path: str,
        *,
        what: str,
        operation: str,
        headers: HeaderSet = "session",
        json_body: Any = None,
        send_body: bool = False,
        ok_404: bool = False,
    ) -> httpx.Response:
        """Send one request; raise the matching ``ReactorError`` for a transport failure or a
        non-2xx status (404 counts as success with ``ok_404``)."""
        hdrs: dict[str, str] = {}
        if headers != "plain":
            hdrs["reactor-api-version"] = API_VERSION
            hdrs["reactor-api-accept-version"] = API_VERSION
        if headers == "signalling":
            hdrs["reactor-webrtc-version"] = WEBRTC_VERSION
        if self._token is not None and headers != "plain":
            hdrs["authorization"] = f"Bearer {await self._token(self)}"
        content: bytes | None = None
        if send_body:
            hdrs["content-type"] = "application/json"
            content = json.dumps(json_body).encode()
        try:
            response = await self._http.request(method, path, headers=hdrs, content=content)
        except httpx.HTTPError as exc:
            raise NetworkError(self.failure_text(exc, what), operation=operation) from exc
        if response.is_success or (ok_404 and response.status_code == 404):
            return response
        raise _status_error(response, what=what, operation=operation)

    async def request_json(self, method: str, path: str, *, what: str, operation: str, **kw: Any) -> Any:
        response = await self.request(method, path, what=what, operation=operation, **kw)
        return _json_of(response, what=what, operation=operation)

    # ------------------------------------------------------------------------------------------
    # tokens (cloud)

    async def mint_token(self, api_key: str, body: Any) -> tuple[str, float | None]:
        """``POST /tokens``: exchange the API key for a JWT. Raises :class:`AuthError`."""
        try:
            response = await self._http.post(
                "/tokens",
                headers={"reactor-api-key": api_key, "content-type": "application/json"},
                content=json.dumps(body).encode(),
            )
        except httpx.HTTPError as exc:
            raise AuthError(
                "could not exchange the API key for a token: " + self.failure_text(exc, "POST /tokens"),
                code="NETWORK_ERROR",
            ) from exc
        if not response.is_success:
            raise AuthError(
                "could not exchange the API key for a token: "
                f"{response.status_code} {response.reason_phrase} — {_body_text(response)}",
                code=code_for_http_status(response.status_code),
                status=response.status_code,
                retry_after_ms=_retry_after_ms(response),
            )
        try:
            data = response.json()
        except ValueError as exc:
            raise AuthError("token response is not JSON", code="DECODE_FAILED") from exc
        jwt = data.get("jwt") if isinstance(data, dict) else None
        if not isinstance(jwt, str) or not jwt:
            raise AuthError("token response carries no jwt", code="DECODE_FAILED")
        expires_at = data.get("expires_at")
        return jwt, float(expires_at) if isinstance(expires_at, int | float) else None

    # ------------------------------------------------------------------------------------------
    # sessions

    async def start_local_session(self, body: Mapping[str, Any], *, operation: str) -> dict[str, Any]:
        """``POST /start_session`` on a local runtime: a ready descriptor."""
        return _object(
            await self.request_json(
                "POST",
                "/start_session",
                what="start session",
                operation=operation,
                json_body=dict(body),
                send_body=True,
            ),
            what="start session",
            operation=operation,
        )

    async def get_local_session(self, *, operation: str) -> dict[str, Any]:
        return _object(
            await self.request_json("GET", "/session", what="get session", operation=operation),
            what="get session",
            operation=operation,
        )

    async def stop_local_session(self, *, operation: str) -> None:
        await self.request("POST", "/stop_session", what="stop session", operation=operation, ok_404=True)

    async def create_session(self, body: Mapping[str, Any], *, operation: str) -> dict[str, Any]:
        return _object(
            await self.request_json(
                "POST",
                "/sessions",
                what="create session",
                operation=operation,
                json_body=dict(body),
                send_body=True,
            ),
            what="create session",
            operation=operation,
        )

    async def get_session(self, session_id: str, *, operation: str) -> dict[str, Any]:
        return _object(
            await self.request_json(
                "GET", f"/sessions/{session_id}", what="get session", operation=operation
            ),
            what="get session",
            operation=operation,
        )

    async def delete_session(self, session_id: str, *, operation: str) -> None:
        await self.request(
            "DELETE", f"/sessions/{session_id}", what="delete session", operation=operation, ok_404=True
        )

    # ------------------------------------------------------------------------------------------
    # uploads (PROTOCOL.md §7)

    async def create_upload(
        self, session_id: str, body: Mapping[str, Any], *, operation: str
    ) -> tuple[str, str]:
        """``POST /sessions/{id}/uploads``: an upload slot, ``(presigned_id, presigned_url)``."""
        data = _object(
            await self.request_json(
                "POST",
                f"/sessions/{session_id}/uploads",
                what="create upload",
                operation=operation,
                json_body=dict(body),
                send_body=True,
            ),
            what="create upload",
            operation=operation,
        )
        upload_id, url = data.get("presigned_id"), data.get("presigned_url")
        if not isinstance(upload_id, str) or not upload_id or not isinstance(url, str) or not url:
            raise DecodeError(
                "upload response lacks presigned_id or presigned_url", component="api", operation=operation
            )
        return upload_id, url

    async def put_upload(self, url: str, data: bytes, mime_type: str, *, operation: str) -> None:
        """``PUT`` the raw bytes to the presigned URL: ``Content-Type`` only, no ``Authorization``,
        no version headers."""
        try:
            response = await self._http.request("PUT", url, content=data, headers={"content-type": mime_type})
        except httpx.HTTPError as exc:
            target = str(httpx.URL(url).copy_with(query=None))  # no presigned credentials in texts
            raise NetworkError(self.failure_text(exc, "upload", target), operation=operation) from exc
        if not response.is_success:
            raise _status_error(response, what="upload", operation=operation)

    # ------------------------------------------------------------------------------------------
    # signalling (per-connection routes, PROTOCOL.md §3.1)

    @staticmethod
    def _webrtc(session_id: str) -> str:
        return f"/sessions/{session_id}/transport/webrtc"

    async def ice_servers(self, session_id: str, *, operation: str) -> list[dict[str, Any]]:
        data = _object(
            await self.request_json(
                "GET",
                f"{self._webrtc(session_id)}/ice_servers",
                what="get ICE servers",
                operation=operation,
                headers="signalling",
            ),
            what="get ICE servers",
            operation=operation,
        )
        servers = data.get("ice_servers") or []
        if not isinstance(servers, list):
            raise DecodeError("ice_servers is not a list", component="api", operation=operation)
        return [s for s in servers if isinstance(s, dict)]

    async def create_connection(self, session_id: str, *, operation: str) -> int:
        data = _object(
            await self.request_json(
                "POST",
                f"{self._webrtc(session_id)}/connections",
                what="create connection",
                operation=operation,
                headers="signalling",
                json_body={},
                send_body=True,
            ),
            what="create connection",
            operation=operation,
        )
        return _connection_id(data.get("connection_id"), operation=operation)

    async def send_offer(
        self, session_id: str, connection_id: int, body: Mapping[str, Any], *, reoffer: bool, operation: str
    ) -> None:
        """``POST`` (first offer) or ``PUT`` (re-offer on reconnect) of ``…/sdp_params``."""
        await self.request(
            "PUT" if reoffer else "POST",
            f"{self._webrtc(session_id)}/connections/{connection_id}/sdp_params",
            what="send SDP offer",
            operation=operation,
            headers="signalling",
            json_body=dict(body),
            send_body=True,
        )

    async def send_candidates(
        self,
        session_id: str,
        connection_id: int,
        candidates: list[dict[str, Any]],
        *,
        final: bool,
        operation: str,
    ) -> None:
        await self.request(
            "POST",
            f"{self._webrtc(session_id)}/connections/{connection_id}/ice_candidates",
            what="send ICE candidates",
            operation=operation,
            headers="signalling",
            json_body={"candidates": candidates, "is_final": final, "client_info": client_info()},
            send_body=True,
        )

    async def wait_answer(self, session_id: str, connection_id: int, *, operation: str) -> SdpAnswer:
        """Poll ``GET …/sdp_params`` (202 pending, 200 answer) on the official schedule."""
        path = f"{self._webrtc(session_id)}/connections/{connection_id}/sdp_params"
        for delay in ANSWER_POLL_DELAYS_S:
            if delay:
                await asyncio.sleep(delay)
            response = await self.request(
                "GET", path, what="get SDP answer", operation=operation, headers="signalling"
            )
            if response.status_code != 200:
                continue
            data = _object(
                _json_of(response, what="get SDP answer", operation=operation),
                what="get SDP answer",
                operation=operation,
            )
            sdp = data.get("sdp_answer")
            if not isinstance(sdp, str) or not sdp:
                raise DecodeError(
                    "SDP answer response carries no sdp_answer", component="api", operation=operation
                )
            cid = data.get("connection_id")
            return SdpAnswer(sdp, _connection_id(cid, operation=operation) if cid is not None else None)
        raise RequestTimeoutError(
            f"no SDP answer after {len(ANSWER_POLL_DELAYS_S)} polls", component="api", operation=operation
        )


class SharedApiClient:
    """The one :class:`ApiClient` of a client: made by ``factory`` on first use, on the running
    loop, and shared by every operation until let go of.

    :meth:`release` lets go of it (a later operation makes a new one); :meth:`shut` /
    :meth:`aclose` for good (a later operation gets a client of its own, closed when it ends).
    A client let go of while an operation uses it is closed when that operation leaves :meth:`use`.
    """

    def __init__(self, factory: Callable[[], ApiClient]) -> None:
        self._factory = factory
        self._current: ApiClient | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._users: dict[ApiClient, int] = {}
        self._shut = False

    @property
    def current(self) -> ApiClient | None:
        """The shared client now, if one was made and not let go of since."""
        return self._current

    @contextlib.asynccontextmanager
    async def use(self) -> AsyncIterator[ApiClient]:
        """``async with shared.use() as api:`` — the shared client, for one operation."""
        loop = asyncio.get_running_loop()
        api = self._current
        if api is None or self._loop is not loop:
            # First use, or the caller moved to a new loop (the old one is closed, and with it
            # the old client's connections): make one here.
            api = self._factory()
            if not self._shut:
                self._current, self._loop = api, loop
        self._users[api] = self._users.get(api, 0) + 1
        try:
            yield api
        finally:
            left = self._users.pop(api) - 1
            if left:
                self._users[api] = left
            elif api is not self._current:
                await api.aclose()  # let go of while this operation used it

    def _let_go(self) -> ApiClient | None:
        api, self._current = self._current, None
        if api is None or api in self._users or self._loop is None or self._loop.is_closed():
            return None  # none; closed by its last operation; or its connections went with its loop
        return api

    async def release(self) -> None:
        """Let go of the shared client and close it (now, or when its last operation ends)."""
        api = self._let_go()
        if api is not None:
            await api.aclose()

    def shut(self) -> ApiClient | None:
        """Let go of the shared client for good. Returns it when the caller must close it (no
        operation uses it), else ``None``."""
        self._shut = True
        return self._let_go()

    async def aclose(self) -> None:
        """:meth:`shut`, then close the client it returns."""
        api = self.shut()
        if api is not None:
            await api.aclose()


# ----------------------------------------------------------------------------------------------
# helpers


def connect_failure_reason(exc: BaseException) -> str:
    """Why a connection could not be made, in a few words ("connection refused", …)."""
    seen: BaseException | None = exc
    for _ in range(10):  # httpx → httpcore → anyio → the socket error
        if seen is None:
            break
        if isinstance(seen, ConnectionRefusedError):
            return "connection refused"
        if isinstance(seen, socket.gaierror):
            return "host name not resolved"
        if isinstance(seen, httpx.ConnectTimeout | TimeoutError):
            return "connection timed out"
        if isinstance(seen, OSError) and seen.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH):
            return "network unreachable" if seen.errno == errno.ENETUNREACH else "host unreachable"
        seen = seen.__cause__ or seen.__context__
    return str(exc) or type(exc).__name__


def _body_text(response: httpx.Response) -> str:
    try:
        text = response.text
    except Exception:  # undecodable body: the status says enough
        return ""
    return text[:_MAX_ERROR_BODY]


def _retry_after_ms(response: httpx.Response) -> float | None:
    """``Retry-After`` in delta-seconds form only; the HTTP-date form is ignored."""
    raw = response.headers.get("retry-after")
    if raw is None:
        return None
    try:
        seconds = float(raw.strip())
    except ValueError:
        return None
    return seconds * 1000.0 if seconds >= 0 else None


def _status_error(response: httpx.Response, *, what: str, operation: str) -> ReactorError:
    status = response.status_code
    if status == 413:
        message = (
            f"{what}: the file is larger than the server accepts (HTTP 413, its upload size limit): "
            f"{_body_text(response)}"
        )
    elif status == 426:
        message = f"client API version too old ({what}): {_body_text(response)}"
    elif status == 501:
        message = f"server does not support client API version ({what}): {_body_text(response)}"
    else:
        message = f"unexpected HTTP status {status} from {what}: {_body_text(response)}"
    return error_for_http_status(
        status, message, operation=operation, retry_after_ms=_retry_after_ms(response)
    )


def _json_of(response: httpx.Response, *, what: str, operation: str) -> Any:
    try:
        return response.json()
    except ValueError as exc:
        raise DecodeError(f"{what}: response is not JSON", component="api", operation=operation) from exc


def _object(data: Any, *, what: str, operation: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise DecodeError(f"{what}: response is not a JSON object", component="api", operation=operation)
    return data


def _connection_id(value: Any, *, operation: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 0xFFFFFFFF:
        raise DecodeError(f"invalid connection_id {value!r}", component="api", operation=operation)
    return value
