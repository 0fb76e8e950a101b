"""Checking the bearer token of a cloud-plane request."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from openreactor.auth.keys import KeyStore
from openreactor.auth.ratelimit import RateLimiter
from openreactor.auth.tokens import TokenError, TokenIssuer, TokenScope, load_or_create_secret


class KeyLookup(Protocol):
    """What request handling asks of a key store (SQLite on one machine, Redis for a cluster)."""

    async def verify_key(self, plain: str) -> str | None: ...

    async def key_active(self, key_id: str) -> bool: ...


@dataclass(slots=True)
class CloudAuth:
    keys: KeyLookup
    tokens: TokenIssuer
    token_rate: RateLimiter = field(default_factory=lambda: RateLimiter(0))
    """``POST /tokens`` per client address and per API key (keys ``addr:…`` / ``key:…``)."""

    @classmethod
    def open(cls, state_dir: Path, token_rate_per_minute: int = 0) -> CloudAuth:
        """Key store and signing secret under ``state_dir`` (created owner-only on first run)."""
        state_dir.mkdir(parents=True, exist_ok=True)
        state_dir.chmod(0o700)
        return cls(
            KeyStore(state_dir / "keys.sqlite3"),
            TokenIssuer(load_or_create_secret(state_dir / "jwt.secret")),
            RateLimiter(token_rate_per_minute),
        )

    async def scope_of(self, authorization: str | None) -> TokenScope:
        """The scope of ``Authorization: Bearer <jwt>``; raises :class:`TokenError` (401)."""
        if not authorization:
            raise TokenError(401, "missing Authorization: Bearer <token>")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise TokenError(401, "the Authorization header must be 'Bearer <token>'")
        scope = self.tokens.verify(token.strip())
        if not await self.keys.key_active(scope.key_id):
            raise TokenError(401, "the API key behind this token was revoked")
        return scope
