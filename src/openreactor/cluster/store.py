"""``ClusterStore``: every piece of state the coordinators and worker nodes share, in one Redis.

Coordinators keep nothing of their own: a session's placement, owner and state, the workers and
their room, API keys (hashed), the JWT signing secret and the coordinator-to-worker secret all
live here, so any coordinator can answer any request and a restarted coordinator loses nothing.
The writes that must not race (placing a session, releasing it, a heartbeat, reaping a dead
worker) are Lua scripts (``cluster.scripts``), each atomic inside Redis.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from openreactor.cluster import scripts

MAX_CONNECTIONS = 32
POOL_WAIT_S = 10.0
RETRIES = 3
CLOSED_RECORD_TTL_S = 3600
"""Ended sessions stay readable (``CLOSED``) this long, so late pollers learn how it ended."""
UPLOAD_RECORD_TTL_S = 15 * 60
PLACEMENT_GRACE_S = 30.0
"""A placement the chosen worker never started is dropped after this long (its coordinator died)."""


@dataclass(frozen=True, slots=True)
class Placement:
    outcome: str
    """``ok``, ``no_model``, ``busy`` or ``key_limit``."""
    worker_id: str = ""
    url: str = ""


@dataclass(frozen=True, slots=True)
class SessionRecord:
    session_id: str
    worker_id: str
    url: str
    owner: str
    model: str
    state: str
    """``placed`` (a worker was chosen), ``live`` or ``closed``."""
    end_reason: str | None
    descriptor: dict[str, Any]


@dataclass(frozen=True, slots=True)
class LiveSession:
    """What a worker node announces of each session it hosts."""

    session_id: str
    owner: str
    model: str
    descriptor: dict[str, Any]


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def models_field(models: list[tuple[str, str]]) -> str:
    """``[(name, version)]`` as the worker hash stores it: ``|name@version|name@version|``."""
    return "|" + "|".join(f"{name}@{version}" for name, version in models) + "|"


class ClusterStore:
    def __init__(self, url: str, prefix: str = "openreactor:") -> None:
        self.url = url
        self.prefix = prefix
        # A bounded pool (a burst of requests waits for a connection rather than opening hundreds)
        # and a few retries on connection errors and timeouts: every script here is idempotent.
        pool = aioredis.BlockingConnectionPool.from_url(
            url,
            max_connections=MAX_CONNECTIONS,
            timeout=POOL_WAIT_S,
            socket_connect_timeout=5,
            socket_timeout=10,
            health_check_interval=5,
            retry=Retry(ExponentialBackoff(cap=1.0, base=0.05), RETRIES),
            retry_on_error=[RedisConnectionError, RedisTimeoutError],
        )
        self.redis: aioredis.Redis = aioredis.Redis(connection_pool=pool)
        self._place = self.redis.register_script(scripts.PLACE)
        self._release = self.redis.register_script(scripts.RELEASE)
        self._announce = self.redis.register_script(scripts.ANNOUNCE)
        self._reap = self.redis.register_script(scripts.REAP)
        self._leave = self.redis.register_script(scripts.LEAVE)

    async def aclose(self) -> None:
        await self.redis.aclose()

    async def ping(self) -> bool:
        return bool(await self.redis.ping())

    # -- shared secrets ---------------------------------------------------------------------------

    async def shared_secret(self, name: str) -> bytes:
        """A random secret every process of the cluster agrees on: made once (``SET NX``), then read."""
        key = f"{self.prefix}secret:{name}"
        await self.redis.set(key, secrets.token_hex(32), nx=True)
        value = await self.redis.get(key)
        if value is None:  # deleted between the two calls: make it again
            return await self.shared_secret(name)
        return _text(value).encode()

    # -- placement ---------------------------------------------------------------------------------

    async def place(
        self, session_id: str, model: str, version: str | None, owner: str | None, key_limit: int | None
    ) -> Placement:
        args: list[str | float] = [
            self.prefix,
            session_id,
            model,
            version or "",
            owner or "",
            key_limit or 0,
            time.time(),
        ]
        result = [_text(v) for v in await self._place(args=args)]
        return Placement(result[0], *result[1:3]) if result[0] == "ok" else Placement(result[0])

    async def mark_live(self, session_id: str, descriptor: dict[str, Any]) -> None:
        key = f"{self.prefix}s:{session_id}"
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping={"state": "live", "descriptor": json.dumps(descriptor)})
            await pipe.execute()

    async def release(
        self,
        session_id: str,
        reason: str,
        *,
        worker_id: str = "",
        url: str = "",
        owner: str = "",
        model: str = "",
        descriptor: dict[str, Any] | None = None,
    ) -> None:
        args: list[str | float] = [
            self.prefix,
            session_id,
            reason,
            CLOSED_RECORD_TTL_S,
            worker_id,
            url,
            owner,
            model,
            json.dumps(descriptor or {}),
        ]
        await self._release(args=args)

    async def session(self, session_id: str) -> SessionRecord | None:
        raw = await self.redis.hgetall(f"{self.prefix}s:{session_id}")
        if not raw:
            return None
        fields = {_text(k): _text(v) for k, v in raw.items()}
        try:
            descriptor = json.loads(fields.get("descriptor") or "{}")
        except ValueError:
            descriptor = {}
        return SessionRecord(
            session_id=session_id,
            worker_id=fields.get("worker", ""),
            url=fields.get("url", ""),
            owner=fields.get("owner", ""),
            model=fields.get("model", ""),
            state=fields.get("state", "closed"),
            end_reason=fields.get("end_reason") or None,
            descriptor=descriptor if isinstance(descriptor, dict) else {},
        )

    async def worker_alive(self, worker_id: str) -> bool:
        return bool(await self.redis.exists(f"{self.prefix}w:{worker_id}:alive"))

    async def reap(self) -> int:
        """End the sessions of workers whose heartbeat expired; how many ended."""
        return int(await self._reap(args=[self.prefix, CLOSED_RECORD_TTL_S]))

    async def remember_upload(self, upload_id: str, session_id: str) -> None:
        await self.redis.set(f"{self.prefix}u:{upload_id}", session_id, ex=UPLOAD_RECORD_TTL_S)

    async def session_of_upload(self, upload_id: str) -> str | None:
        value = await self.redis.get(f"{self.prefix}u:{upload_id}")
        return None if value is None else _text(value)

    # -- workers ---------------------------------------------------------------------------------

    async def announce(
        self,
        worker_id: str,
        url: str,
        models: list[tuple[str, str]],
        capacity: int,
        *,
        draining: bool,
        ttl_s: float,
        sessions: list[LiveSession],
    ) -> int:
        """One heartbeat: the worker's whole truth; returns how many stale placements were dropped."""
        args: list[str | float] = [
            self.prefix,
            worker_id,
            url,
            models_field(models),
            capacity,
            "1" if draining else "0",
            int(ttl_s * 1000),
            time.time(),
            PLACEMENT_GRACE_S,
        ]
        for s in sessions:
            args += [s.session_id, s.owner, s.model, json.dumps(s.descriptor)]
        return int(await self._announce(args=args))

    async def leave(self, worker_id: str) -> None:
        await self._leave(args=[self.prefix, worker_id])

    async def workers(self) -> list[dict[str, Any]]:
        """Every registered worker with its fields, session count and liveness (for ``/health``)."""
        out = []
        for raw_id in sorted(await self.redis.smembers(f"{self.prefix}workers")):
            wid = _text(raw_id)
            key = f"{self.prefix}w:{wid}"
            fields = {_text(k): _text(v) for k, v in (await self.redis.hgetall(key)).items()}
            out.append(
                {
                    "worker_id": wid,
                    "url": fields.get("url"),
                    "models": [m for m in fields.get("models", "").split("|") if m],
                    "capacity": int(fields.get("capacity", "0")),
                    "sessions": int(await self.redis.scard(f"{key}:s")),
                    "draining": fields.get("draining") == "1",
                    "alive": bool(await self.redis.exists(f"{key}:alive")),
                }
            )
        return out
