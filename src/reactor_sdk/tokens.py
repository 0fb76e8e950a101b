"""Bearer tokens for the cloud API (SDK-API §1.2.10, PROTOCOL.md §2.6).

The caller's JWT (a string, or a callable returning one, sync or async) is used as given. With an
API key instead, a short-lived JWT is minted (``POST /tokens``) and cached until
``TOKEN_REFRESH_MARGIN_S`` before it expires: a model-scoped token to create a session, one bound to
the session to adopt it. The key goes to ``/tokens`` and nowhere else.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeAlias

from reactor_sdk.errors import InvalidStateError

JwtSource: TypeAlias = str | Callable[[], str | Awaitable[str]]

Mint: TypeAlias = Callable[[str, Any], Awaitable[tuple[str, float | None]]]
"""``(api_key, body) -> (jwt, expires_at)``: the ``POST /tokens`` exchange."""

TOKEN_REFRESH_MARGIN_S = 60.0
"""A minted token is replaced this long before it expires."""


class BearerTokens:
    """Resolves the bearer token of the next request."""

    def __init__(
        self,
        *,
        model_name: str,
        api_key: str | None,
        jwt: JwtSource | None,
        max_session_duration_seconds: int | None,
    ) -> None:
        self._model_name = model_name
        self._api_key = api_key
        self._jwt = jwt
        self._max_duration = max_session_duration_seconds
        self._minted: tuple[str, str, float | None] | None = None  # (scope, jwt, expires_at)

    async def bearer(self, bound_session: str | None, mint: Mint) -> str:
        """The caller's JWT, or one minted from the key with ``mint``: bound to ``bound_session``
        (a session this client adopts), else scoped to the model."""
        jwt = self._jwt
        if isinstance(jwt, str):
            return jwt
        if jwt is not None:
            value = jwt()
            if inspect.isawaitable(value):
                value = await value
            if not isinstance(value, str) or not value:
                raise InvalidStateError("the jwt callable returned no token", component="api")
            return value
        assert self._api_key is not None
        scope = f"session:{bound_session}" if bound_session else "model"
        minted = self._minted
        if minted is not None and minted[0] == scope:
            expires_at = minted[2]
            if expires_at is None or time.time() < expires_at - TOKEN_REFRESH_MARGIN_S:
                return minted[1]
        token, expires_at = await mint(self._api_key, self.token_body(scope))
        self._minted = (scope, token, expires_at)
        return token

    def token_body(self, scope: str) -> dict[str, Any]:
        """The ``POST /tokens`` body for ``scope`` (``"model"`` or ``"session:<id>"``)."""
        if scope.startswith("session:"):
            detail: dict[str, Any] = {
                "type": "session",
                "resources": {"models": {"all": True}, "sessions": {"bind": [scope.split(":", 1)[1]]}},
            }
        else:
            detail = {"type": "session", "resources": {"models": {"match": [self._model_name]}}}
            if self._max_duration is not None:
                detail["constraints"] = {"max_session_duration_seconds": self._max_duration}
        return {"authorization_details": [detail]}
