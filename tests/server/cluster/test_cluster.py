"""Scale-out on a real Redis: coordinators and worker nodes as separate processes on loopback.

Module cluster: worker nodes A and B (probe, one worker process each) and E (echo), one
coordinator. Destructive scenarios (a killed worker, SIGTERM drain, Redis restarted, the placement
race) each build a cluster of their own.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from reactor_sdk import Reactor
from support.cluster import API, HOST, SESSION_BODY, Cluster, bearer, token
from support.waiting import eventually, wait_until

pytestmark = pytest.mark.timeout(300)

DRAIN_S = 8


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    c = Cluster(tmp_path_factory.mktemp("cluster"))
    c.start_redis()
    try:
        c.start_worker("A")
        c.start_worker("B")
        c.start_worker("E", model="echo")
        c.start_coordinator()
        c.wait_workers("A", "B", "E")
        yield c
    finally:
        c.stop()


@pytest.fixture(scope="module")
def key(cluster: Cluster) -> tuple[str, str]:
    return cluster.create_key("module")


def create(url: str, jwt: str, body: dict[str, Any] | None = None) -> httpx.Response:
    return httpx.post(f"{url}/sessions", headers=bearer(jwt), json=body or SESSION_BODY, timeout=30)


def state(url: str, jwt: str, session_id: str) -> dict[str, Any]:
    r = httpx.get(f"{url}/sessions/{session_id}", headers=bearer(jwt), timeout=10)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def delete(url: str, jwt: str, session_id: str) -> None:
    r = httpx.delete(f"{url}/sessions/{session_id}", headers=bearer(jwt), timeout=30)
    assert r.status_code in (204, 404), r.text


def sessions_on(cluster: Cluster) -> dict[str, int]:
    return {w["worker_id"]: w["sessions"] for w in cluster.health()["workers"]}


async def stream_probe(url: str, api_key: str, frames: int) -> tuple[Reactor, list[int]]:
    """Connect our SDK through the coordinator; wait for ``frames`` probe frames (their counters
    keep coming into the list)."""
    from openreactor.models.builtin.probe_pattern import decode_probe

    reactor = Reactor("probe", api_key=api_key, api_url=url, ice_host_addresses=[HOST])
    counters: list[int] = []

    def on_frame(frame: Any) -> None:
        decoded = decode_probe(frame)
        if decoded is not None:
            counters.append(decoded.counter)

    reactor.on_frame(on_frame)
    await reactor.connect()
    await eventually(lambda: len(counters) >= frames, what=f"{frames} probe frames through the coordinator")
    return reactor, counters


# -- the module cluster -----------------------------------------------------------------------------


def test_sessions_spread_over_workers_then_429(cluster: Cluster, key: tuple[str, str]) -> None:
    url = cluster.coordinators[0].url
    jwt = token(url, key[1])
    first, second = create(url, jwt), create(url, jwt)
    assert first.status_code == 201 and second.status_code == 201, (first.text, second.text)
    placed = {first.json()["cluster"], second.json()["cluster"]}
    assert placed == {"A", "B"}, placed  # the emptiest worker is chosen: one each
    assert sessions_on(cluster) == {"A": 1, "B": 1, "E": 0}
    full = create(url, jwt)
    assert full.status_code == 429 and int(full.headers["Retry-After"]) > 0, full.text
    assert "detail" in full.json()
    for r in (first, second):
        delete(url, jwt, r.json()["session_id"])
        assert state(url, jwt, r.json()["session_id"])["state"] == "CLOSED"
    assert sessions_on(cluster) == {"A": 0, "B": 0, "E": 0}


def test_our_sdk_streams_through_the_coordinator(cluster: Cluster, key: tuple[str, str]) -> None:
    url = cluster.coordinators[0].url

    async def run() -> tuple[str | None, list[int]]:
        reactor, counters = await stream_probe(url, key[1], 15)
        sid = reactor.session_id
        await reactor.disconnect()
        return sid, counters

    sid, counters = asyncio.run(run())
    assert len(counters) >= 15 and counters == sorted(counters), counters[:20]
    assert sid is not None
    jwt = token(url, key[1])
    closed = state(url, jwt, sid)
    assert closed["state"] == "CLOSED" and closed["cluster"] in ("A", "B")
    node = cluster.workers[closed["cluster"]]
    exposition = httpx.get(f"{node.url}/metrics", timeout=10).text  # the node's processes, one scrape
    started = [
        line
        for line in exposition.splitlines()
        if line.startswith('openreactor_sessions_started_total{worker="0"}')
    ]
    assert started and float(started[0].rsplit(" ", 1)[1]) >= 1, exposition
    coordinator_log = cluster.coordinators[0].log()
    assert f"session {sid} placed on worker" in coordinator_log
    # Media went client <-> worker: the coordinator relayed signalling only (no RTP stack there).
    assert "/transport/webrtc/connections/" in coordinator_log


def test_placement_matches_model_and_version(cluster: Cluster, key: tuple[str, str]) -> None:
    url = cluster.coordinators[0].url
    jwt = token(url, key[1])
    echo = create(url, jwt, {"model": {"name": "echo"}})
    assert echo.status_code == 201 and echo.json()["cluster"] == "E", echo.text
    versioned = create(url, jwt, {"model": {"name": "probe", "version": "1"}})
    assert versioned.status_code == 201 and versioned.json()["cluster"] in ("A", "B"), versioned.text
    for body in ({"model": {"name": "probe", "version": "9"}}, {"model": {"name": "nope"}}):
        r = create(url, jwt, body)
        assert r.status_code == 404 and "no worker serves" in r.json()["detail"], r.text
    for r in (echo, versioned):
        delete(url, jwt, r.json()["session_id"])


def test_bad_tokens_are_refused(cluster: Cluster) -> None:
    url = cluster.coordinators[0].url
    key_id, plain = cluster.create_key("refused")
    expired = token(url, plain, {"expires_after": 1})
    echo_only = token(
        url,
        plain,
        {"authorization_details": [{"type": "session", "resources": {"models": {"match": ["echo"]}}}]},
    )
    good = token(url, plain)
    created = create(url, good)
    assert created.status_code == 201, created.text
    sid = created.json()["session_id"]
    other_bound = token(
        url,
        plain,
        {
            "authorization_details": [
                {"type": "session", "resources": {"models": {"all": True}, "sessions": {"bind": ["other"]}}}
            ]
        },
    )
    time.sleep(1.5)  # past the TTL this test asked for
    r = create(url, expired)
    assert r.status_code == 401 and "expired" in r.json()["detail"], r.text
    assert create(url, echo_only).status_code == 403
    assert httpx.get(f"{url}/sessions/{sid}", headers=bearer(other_bound), timeout=10).status_code == 403
    assert httpx.get(f"{url}/sessions/{sid}", headers=API, timeout=10).status_code == 401
    signalling = f"{url}/sessions/{sid}/transport/webrtc/connections"
    assert (
        httpx.post(
            signalling, headers={**bearer(echo_only), "Reactor-WebRTC-Version": "1.0"}, json={}
        ).status_code
        == 403
    )
    cluster.revoke_key(key_id)
    assert httpx.get(f"{url}/sessions/{sid}", headers=bearer(good), timeout=10).status_code == 401
    assert create(url, good).status_code == 401
    r = httpx.post(f"{url}/tokens", headers={"Reactor-API-Key": plain}, json=None, timeout=10)
    assert r.status_code == 401
    # Nothing was placed by a refused request: only the one good session exists.
    assert sum(sessions_on(cluster).values()) == 1
    # The revoked key's session can no longer be ended through the coordinator: end it on its
    # worker, which shows that worker's internal API wants the cluster secret.
    r = redis.Redis.from_url(cluster.redis_url)
    worker = r.hget(f"openreactor:s:{sid}", "url")
    assert worker is not None
    internal = httpx.post(
        f"{worker.decode()}/sessions/{sid}/stop", json={"reason": "client_ended"}, timeout=10
    )
    assert internal.status_code == 401  # the worker's internal API needs the cluster secret
    secret = r.get("openreactor:secret:cluster")
    assert secret is not None
    stopped = httpx.post(
        f"{worker.decode()}/sessions/{sid}/stop",
        json={"reason": "client_ended"},
        headers={"Authorization": f"Bearer {secret.decode()}"},
        timeout=10,
    )
    assert stopped.status_code == 200
    wait_until(lambda: sum(sessions_on(cluster).values()) == 0, what="the session released")


def test_uploads_go_through_the_coordinator(cluster: Cluster, key: tuple[str, str]) -> None:
    url = cluster.coordinators[0].url
    jwt = token(url, key[1])
    created = create(url, jwt)
    sid = created.json()["session_id"]
    r = httpx.post(
        f"{url}/sessions/{sid}/uploads",
        headers=bearer(jwt),
        json={"name": "a.bin", "size": 5, "mime_type": "application/octet-stream"},
        timeout=10,
    )
    assert r.status_code == 201, r.text
    target = r.json()["presigned_url"]
    assert target.startswith(url)  # the client only ever talks to the coordinator
    assert httpx.put(target, content=b"12", timeout=10).status_code == 400  # size mismatch
    assert httpx.put(target, content=b"12345", timeout=10).status_code == 200
    assert httpx.put(target, content=b"12345", timeout=10).status_code == 409  # already uploaded
    assert httpx.put(f"{url}/uploads/unknown", content=b"1", timeout=10).status_code == 404
    delete(url, jwt, sid)


# -- clusters of their own ---------------------------------------------------------------------------


@pytest.fixture
def fresh(tmp_path: Path) -> Iterator[Cluster]:
    c = Cluster(tmp_path)
    c.start_redis()
    try:
        yield c
    finally:
        c.stop()


def test_a_killed_worker_ends_its_sessions_and_new_ones_go_to_the_survivor(fresh: Cluster) -> None:
    fresh.start_worker("A")
    fresh.start_worker("B")
    url = fresh.start_coordinator().url
    fresh.wait_workers("A", "B")
    _, plain = fresh.create_key()

    async def run() -> None:
        reactor, counters = await stream_probe(url, plain, 5)
        errors: list[Any] = []
        reactor.on("error", errors.append)
        sid = reactor.session_id
        assert sid is not None and counters
        jwt = token(url, plain)
        victim = state(url, jwt, sid)["cluster"]
        survivor = "B" if victim == "A" else "A"
        fresh.workers[victim].kill_machine()
        t0 = time.monotonic()
        await eventually(
            lambda: asyncio.to_thread(lambda: state(url, jwt, sid)["state"] == "CLOSED"),
            interval=0.1,
            what="the session of the killed worker to be reaped",
        )
        reaped_after = time.monotonic() - t0  # printed; bench/bench_faults.py measures it
        assert state(url, jwt, sid)["end_reason"] == "worker_lost"
        replacement = create(url, jwt)
        assert replacement.status_code == 201 and replacement.json()["cluster"] == survivor
        assert [w["worker_id"] for w in fresh.health()["workers"]] == [survivor]
        # The client learns it lost the connection with a recoverable error.
        # (aiortc notices through consent expiry, about 30 s after the kill)
        await eventually(lambda: errors, timeout=90, interval=0.5, what="the SDK's error")
        print(f"reaped after {reaped_after:.2f} s; SDK error after {time.monotonic() - t0:.2f} s")
        assert errors[0].recoverable, errors
        await reactor.disconnect()
        delete(url, jwt, replacement.json()["session_id"])

    asyncio.run(run())


def test_sigterm_drains_a_worker(fresh: Cluster) -> None:
    # A drain window long enough for the checks below to run inside it, on a busy machine too.
    fresh.start_worker("A", extra=["--drain-timeout", str(DRAIN_S)])
    fresh.start_worker("B")
    url = fresh.start_coordinator().url
    fresh.wait_workers("A", "B")
    _, plain = fresh.create_key()
    jwt = token(url, plain)
    made = [create(url, jwt).json() for _ in range(2)]
    on_a = next(d for d in made if d["cluster"] == "A")
    delete(url, jwt, next(d for d in made if d["cluster"] == "B")["session_id"])
    node = fresh.workers["A"]
    t0 = time.monotonic()
    node.process.send_signal(signal.SIGTERM)
    wait_until(lambda: any(w["draining"] for w in fresh.health()["workers"]), what="A draining")
    assert state(url, jwt, on_a["session_id"])["state"] != "CLOSED"  # still serving its client
    moved = create(url, jwt)
    assert moved.status_code == 201 and moved.json()["cluster"] == "B", moved.text
    assert create(url, jwt).status_code == 429  # A takes no new session while draining
    wait_until(lambda: state(url, jwt, on_a["session_id"])["state"] == "CLOSED", what="the drained session")
    assert time.monotonic() - t0 >= DRAIN_S - 0.5, (
        f"the session was not given its drain timeout ({DRAIN_S} s)"
    )
    print(f"drained session closed {time.monotonic() - t0:.2f} s after SIGTERM")
    # Once seen closed it stays closed, with its reason (the coordinator's record may lag the worker).
    final = state(url, jwt, on_a["session_id"])
    assert (final["state"], final.get("end_reason")) == ("CLOSED", "server_shutdown"), final
    assert node.process.wait(20) == 0
    assert [w["worker_id"] for w in fresh.health()["workers"]] == ["B"]
    delete(url, jwt, moved.json()["session_id"])


def test_redis_restart_loses_no_live_session(tmp_path: Path) -> None:
    """Redis killed under a streaming session and restarted (append-only file, as a cluster's Redis
    should run). While it is down the coordinator refuses with 503 + Retry-After and media flows on.
    Then the writes a Redis can lose (the registry and the session records) are deleted by hand: the
    worker's heartbeat must put them back, and the session must stay usable through the coordinator."""
    fresh = Cluster(tmp_path)
    fresh.start_redis(persistent=True)
    try:
        fresh.start_worker("A")
        url = fresh.start_coordinator().url
        fresh.wait_workers("A")
        _, plain = fresh.create_key()
        asyncio.run(_restart_redis_while_streaming(fresh, url, plain))
    finally:
        fresh.stop()


async def _restart_redis_while_streaming(fresh: Cluster, url: str, plain: str) -> None:
    reactor, counters = await stream_probe(url, plain, 5)
    sid = reactor.session_id
    assert sid is not None and counters
    jwt = token(url, plain)
    assert fresh.redis is not None
    fresh.redis.stop(signal.SIGKILL)
    down = await asyncio.to_thread(
        httpx.post, f"{url}/sessions", headers=bearer(jwt), json=SESSION_BODY, timeout=15
    )
    assert down.status_code == 503 and down.headers["Retry-After"] == "1", down.text
    assert "detail" in down.json()
    n = len(counters)
    await eventually(lambda: len(counters) > n + 5, what="frames while Redis is down")
    fresh.start_redis(persistent=True)  # same port, same data directory
    r = redis.Redis.from_url(fresh.redis_url)
    r.delete(f"openreactor:s:{sid}", "openreactor:w:A", "openreactor:w:A:s", "openreactor:workers")
    await asyncio.to_thread(fresh.wait_workers, "A")
    record = await asyncio.to_thread(
        wait_until, lambda: fresh_record(fresh, sid), what="the re-announced session"
    )
    assert record["state"] == "live" and record["worker"] == "A", record
    described = await asyncio.to_thread(state, url, token(url, plain), sid)
    assert described["state"] in ("WAITING", "ACTIVE") and described["cluster"] == "A", described
    assert sessions_on(fresh) == {"A": 1}  # the room it takes is counted again: no over-placement
    n = len(counters)
    await eventually(lambda: len(counters) > n + 5, what="frames after Redis came back")
    await reactor.disconnect()
    closed = await asyncio.to_thread(state, url, jwt, sid)
    assert closed["state"] == "CLOSED"


def fresh_record(cluster: Cluster, session_id: str) -> dict[str, str] | None:
    raw = redis.Redis.from_url(cluster.redis_url).hgetall(f"openreactor:s:{session_id}")
    return {k.decode(): v.decode() for k, v in raw.items()} or None  # type: ignore[union-attr]


def test_placement_race_two_coordinators(fresh: Cluster) -> None:
    fresh.start_worker("A", workers=5)
    fresh.start_worker("B", workers=5)
    urls = [fresh.start_coordinator(["--max-sessions-per-key", "4"]).url for _ in range(2)]
    fresh.wait_workers("A", "B", timeout=150)
    keys = [fresh.create_key(f"k{i}")[1] for i in range(3)]
    jwts = [token(urls[0], k) for k in keys]

    async def burst() -> list[tuple[int, int, httpx.Response]]:
        limits = httpx.Limits(max_connections=200)
        async with httpx.AsyncClient(timeout=60, limits=limits) as client:

            async def one(i: int) -> tuple[int, int, httpx.Response]:
                k = i % 3
                r = await client.post(f"{urls[i % 2]}/sessions", headers=bearer(jwts[k]), json=SESSION_BODY)
                return i, k, r

            return await asyncio.gather(*(one(i) for i in range(200)))

    results = asyncio.run(burst())
    codes = [r.status_code for _, _, r in results]
    placed = [(k, r.json()) for _, k, r in results if r.status_code == 201]
    odd = [r.text for _, _, r in results if r.status_code not in (201, 429)]
    assert len(placed) == 10 and codes.count(429) == 190, (sorted(set(codes)), odd[:3], fresh.logs())
    per_key = [sum(1 for k, _ in placed if k == i) for i in range(3)]
    assert max(per_key) <= 4 and sum(per_key) == 10, per_key
    assert sorted({d["session_id"] for _, d in placed}) == sorted(d["session_id"] for _, d in placed)
    on = sessions_on(fresh)
    assert on == {"A": 5, "B": 5}, on
    assert all(r.headers.get("Retry-After") for _, _, r in results if r.status_code == 429)
    for k, d in placed:
        delete(urls[1], jwts[k], d["session_id"])
    assert sessions_on(fresh) == {"A": 0, "B": 0}
