"""API keys in SQLite, stored only as SHA-256 hashes; the plain key is shown once, at creation."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

KEY_PREFIX = "rk_"


@dataclass(frozen=True, slots=True)
class ApiKeyRecord:
    key_id: str
    name: str
    created_at: float
    revoked_at: float | None


def key_digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class KeyStore:
    """``create`` / ``list`` / ``revoke`` / ``verify`` over one SQLite file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.execute(
                "CREATE TABLE IF NOT EXISTS api_keys (key_id TEXT PRIMARY KEY, name TEXT NOT NULL,"
                " digest TEXT NOT NULL UNIQUE, created_at REAL NOT NULL, revoked_at REAL)"
            )
        path.chmod(0o600)

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=5)

    def create(self, name: str = "") -> tuple[ApiKeyRecord, str]:
        """A new key: its record and the plain key (not stored anywhere)."""
        key_id = "key_" + secrets.token_hex(6)
        plain = KEY_PREFIX + secrets.token_urlsafe(32)
        record = ApiKeyRecord(key_id, name, time.time(), None)
        with self._connect() as db:
            db.execute(
                "INSERT INTO api_keys VALUES (?, ?, ?, ?, NULL)",
                (key_id, name, key_digest(plain), record.created_at),
            )
        return record, plain

    def list(self) -> list[ApiKeyRecord]:
        with self._connect() as db:
            rows = db.execute("SELECT key_id, name, created_at, revoked_at FROM api_keys ORDER BY created_at")
            return [ApiKeyRecord(*row) for row in rows]

    def revoke(self, key_id: str) -> bool:
        with self._connect() as db:
            cur = db.execute(
                "UPDATE api_keys SET revoked_at = ? WHERE key_id = ? AND revoked_at IS NULL",
                (time.time(), key_id),
            )
            return cur.rowcount == 1

    def verify(self, plain: str) -> str | None:
        """The key id of a valid, unrevoked key, else ``None``."""
        if not plain.startswith(KEY_PREFIX):
            return None
        digest = key_digest(plain)
        with self._connect() as db:
            row = db.execute(
                "SELECT key_id, digest FROM api_keys WHERE digest = ? AND revoked_at IS NULL", (digest,)
            )
            found = row.fetchone()
        if found is None or not hmac.compare_digest(found[1], digest):
            return None
        return str(found[0])

    async def verify_key(self, plain: str) -> str | None:
        return self.verify(plain)  # one indexed read of a local file: not worth a thread

    async def key_active(self, key_id: str) -> bool:
        return self.is_active(key_id)

    def is_active(self, key_id: str) -> bool:
        with self._connect() as db:
            row = db.execute("SELECT 1 FROM api_keys WHERE key_id = ? AND revoked_at IS NULL", (key_id,))
            return row.fetchone() is not None
