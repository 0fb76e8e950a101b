"""Short-lived JWTs (HS256) carrying the request's ``authorization_details`` (PROTOCOL.md §2.2).

The signing secret is generated on first run and kept in a file readable by its owner only;
it is never a constant in code.
"""

from __future__ import annotations

import os
import secrets
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt

MAX_LIFETIME_S = 6 * 3600
ALGORITHM = "HS256"


class TokenError(Exception):
    """A missing, malformed, expired or out-of-scope token; ``status`` is 401 or 403."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def load_or_create_secret(path: Path) -> bytes:
    """The signing secret at ``path``; created (0600) on first use."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32))
    path.chmod(0o600)
    return path.read_text().strip().encode()


@dataclass(frozen=True, slots=True)
class TokenScope:
    """What a token allows, decoded from its ``authorization_details``."""

    key_id: str
    models: frozenset[str] | None
    """Model names sessions may be created for; ``None`` = any."""
    sessions: frozenset[str] | None
    """Session ids the token is bound to; ``None`` = not session-bound."""
    max_session_duration_s: float | None

    def allows_model(self, name: str) -> bool:
        return self.models is None or name in self.models

    def allows_session(self, session_id: str, owner: str | None, model: str | None = None) -> bool:
        """Session-bound: exactly the bound sessions. Otherwise the key's own sessions, and with a
        model scope only those of its models (``model``: the session's model name)."""
        if self.sessions is not None:
            return session_id in self.sessions
        if model is not None and not self.allows_model(model):
            return False
        return owner == self.key_id


def _scope(key_id: str, details: Any) -> TokenScope:
    models: set[str] | None = None
    sessions: set[str] | None = None
    duration: float | None = None
    if isinstance(details, list):
        for entry in details:
            if not isinstance(entry, dict):
                continue
            resources = entry.get("resources") or {}
            model_res = resources.get("models") or {}
            if isinstance(model_res.get("match"), list) and not model_res.get("all"):
                models = (models or set()) | {str(m) for m in model_res["match"]}
            bind = (resources.get("sessions") or {}).get("bind")
            if isinstance(bind, list):
                sessions = (sessions or set()) | {str(s) for s in bind}
            limit = (entry.get("constraints") or {}).get("max_session_duration_seconds")
            if isinstance(limit, int | float) and 1 <= limit <= 86400:
                duration = float(limit)
    return TokenScope(
        key_id,
        frozenset(models) if models is not None else None,
        frozenset(sessions) if sessions is not None else None,
        duration,
    )


class TokenIssuer:
    def __init__(self, secret: bytes, max_lifetime_s: float = MAX_LIFETIME_S) -> None:
        self._secret = secret
        self.max_lifetime_s = max_lifetime_s

    def mint(
        self, key_id: str, *, expires_after: Any = None, authorization_details: Any = None
    ) -> tuple[str, int]:
        """A JWT for ``key_id`` from a ``POST /tokens`` body's fields; returns it and its expiry (unix s)."""
        now = int(time.time())
        lifetime = self.max_lifetime_s
        if isinstance(expires_after, int | float) and expires_after > 0:
            lifetime = min(float(expires_after), self.max_lifetime_s)
        claims: dict[str, Any] = {
            "sub": key_id,
            "iat": now,
            "exp": now + int(lifetime),
            "jti": uuid.uuid4().hex,
        }
        if authorization_details is not None:
            claims["authorization_details"] = authorization_details
        return jwt.encode(claims, self._secret, algorithm=ALGORITHM), claims["exp"]

    def verify(self, token: str) -> TokenScope:
        try:
            claims = jwt.decode(
                token, self._secret, algorithms=[ALGORITHM], options={"require": ["exp", "sub"]}
            )
        except jwt.ExpiredSignatureError as exc:
            raise TokenError(401, "the token has expired") from exc
        except jwt.PyJWTError as exc:
            raise TokenError(401, f"invalid token: {exc}") from exc
        return _scope(str(claims["sub"]), claims.get("authorization_details"))
