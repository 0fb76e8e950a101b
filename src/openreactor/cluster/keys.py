"""API keys in Redis for a cluster: every coordinator sees a new or revoked key at once.

Same rules as the SQLite store (``auth.keys``): only SHA-256 digests are stored, the plain key
is printed once at creation. ``P key:<id>`` hash (name, digest, created_at, revoked_at),
``P keydigest:<digest>`` -> id, ``P keyids`` set.
"""

from __future__ import annotations

import hmac
import secrets
import time

import redis
import redis.asyncio as aioredis

from openreactor.auth.keys import KEY_PREFIX, ApiKeyRecord, key_digest


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class RedisKeyAdmin:
    """``openreactor keys --redis URL create|list|revoke`` (synchronous: a command-line tool)."""

    def __init__(self, url: str, prefix: str = "openreactor:") -> None:
        self.redis = redis.Redis.from_url(url, socket_connect_timeout=5)
        self.prefix = prefix

    def create(self, name: str = "") -> tuple[ApiKeyRecord, str]:
        key_id = "key_" + secrets.token_hex(6)
        plain = KEY_PREFIX + secrets.token_urlsafe(32)
        record = ApiKeyRecord(key_id, name, time.time(), None)
        digest = key_digest(plain)
        pipe = self.redis.pipeline(transaction=True)
        fields = ["name", name, "digest", digest, "created_at", str(record.created_at)]
        pipe.hset(f"{self.prefix}key:{key_id}", items=fields)
        pipe.set(f"{self.prefix}keydigest:{digest}", key_id)
        pipe.sadd(f"{self.prefix}keyids", key_id)
        pipe.execute()
        return record, plain

    def list(self) -> list[ApiKeyRecord]:
        records = []
        for raw_id in self.redis.smembers(f"{self.prefix}keyids"):
            key_id = _text(raw_id)
            raw = self.redis.hgetall(f"{self.prefix}key:{key_id}")
            fields = {_text(k): _text(v) for k, v in raw.items()}
            revoked = fields.get("revoked_at")
            created = float(fields.get("created_at", 0))
            records.append(
                ApiKeyRecord(key_id, fields.get("name", ""), created, float(revoked) if revoked else None)
            )
        return sorted(records, key=lambda r: r.created_at)

    def revoke(self, key_id: str) -> bool:
        key = f"{self.prefix}key:{key_id}"
        digest = self.redis.hget(key, "digest")
        if digest is None or self.redis.hexists(key, "revoked_at"):
            return False
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(key, "revoked_at", time.time())
        pipe.delete(f"{self.prefix}keydigest:{_text(digest)}")
        pipe.execute()
        return True


class RedisKeyLookup:
    """The request-time side: ``verify_key`` and ``key_active`` (``auth.access.KeyLookup``)."""

    def __init__(self, client: aioredis.Redis, prefix: str = "openreactor:") -> None:
        self.redis = client
        self.prefix = prefix

    async def verify_key(self, plain: str) -> str | None:
        if not plain.startswith(KEY_PREFIX):
            return None
        digest = key_digest(plain)
        key_id = await self.redis.get(f"{self.prefix}keydigest:{digest}")
        if key_id is None:
            return None
        stored = await self.redis.hget(f"{self.prefix}key:{_text(key_id)}", "digest")
        if stored is None or not hmac.compare_digest(_text(stored), digest):
            return None
        return _text(key_id)

    async def key_active(self, key_id: str) -> bool:
        key = f"{self.prefix}key:{key_id}"
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.exists(key)
            pipe.hexists(key, "revoked_at")
            exists, revoked = await pipe.execute()
        return bool(exists) and not revoked
