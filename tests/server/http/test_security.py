"""Hardening of the embedded server: the ``/tokens`` rate limit, the warning when local mode is
exposed beyond loopback, and CORS by plane (``Settings.cors_origins``)."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from openreactor.auth.ratelimit import RateLimiter
from openreactor.config import resolve_settings
from openreactor.http.app import CORS_HEADERS, is_loopback
from openreactor.serve import create_serve_app
from openreactor.settings import Settings
from support.servers import ServerProcess

with warnings.catch_warnings():  # starlette's "use httpx2" notice; httpx is what the suite has
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient


def app_with(tmp_path: Path, **overrides: Any) -> Any:
    return create_serve_app(Settings(model="echo", state_dir=tmp_path / "state", **overrides))


@pytest.fixture
def limited(tmp_path: Path) -> Iterator[tuple[Any, TestClient]]:
    app = app_with(tmp_path, token_rate_per_minute=3)
    with TestClient(app, client=("10.0.0.1", 40000)) as client:
        yield app, client


# -- rate limit on /tokens ------------------------------------------------------------------------


def test_rate_limiter_slides_and_says_when_to_retry() -> None:
    now = [1000.0]
    limiter = RateLimiter(2, 60.0, clock=lambda: now[0])
    for _ in range(2):
        assert limiter.retry_after("a") is None
        limiter.hit("a")
    assert limiter.retry_after("a") == 60
    assert limiter.retry_after("b") is None  # keys count apart
    now[0] += 59.5
    assert limiter.retry_after("a") == 1
    now[0] += 0.5  # the first event leaves the window
    assert limiter.retry_after("a") is None
    assert RateLimiter(0).retry_after("a") is None  # 0 disables


def test_the_limit_is_a_setting() -> None:
    assert Settings().token_rate_per_minute == 30
    env = {"OPENREACTOR_TOKEN_RATE_PER_MINUTE": "5"}
    assert resolve_settings(environ=env).token_rate_per_minute == 5


def test_tokens_over_the_limit_get_429_with_retry_after(limited: tuple[Any, TestClient]) -> None:
    app, client = limited
    _, key = app.state.auth.keys.create("k")
    for _ in range(3):
        assert client.post("/tokens", headers={"Reactor-API-Key": key}, json=None).status_code == 200
    for method in ("POST", "GET"):
        r = client.request(method, "/tokens", headers={"Reactor-API-Key": key})
        assert r.status_code == 429, r.text
        assert set(r.json()) == {"detail"} and "jwt" not in r.text
        assert 1 <= int(r.headers["retry-after"]) <= 60


def test_failed_attempts_count_against_the_address(limited: tuple[Any, TestClient]) -> None:
    app, client = limited
    _, key = app.state.auth.keys.create("k")
    for i in range(3):
        assert client.post("/tokens", headers={"Reactor-API-Key": f"rk_guess{i}"}).status_code == 401
    # Key guessing is throttled: even the right key is turned away from this address now...
    r = client.post("/tokens", headers={"Reactor-API-Key": key}, json=None)
    assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
    # ...but not from another one.
    other = TestClient(app, client=("10.0.0.2", 40000))
    assert other.post("/tokens", headers={"Reactor-API-Key": key}, json=None).status_code == 200


def test_a_key_is_limited_across_addresses(limited: tuple[Any, TestClient]) -> None:
    app, _ = limited
    _, key = app.state.auth.keys.create("k")
    _, other_key = app.state.auth.keys.create("other")
    clients = [TestClient(app, client=(f"10.0.1.{i}", 40000)) for i in range(4)]
    for c in clients[:3]:
        assert c.post("/tokens", headers={"Reactor-API-Key": key}, json=None).status_code == 200
    r = clients[3].post("/tokens", headers={"Reactor-API-Key": key}, json=None)
    assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
    # Another key from the same (fresh) address is not affected.
    assert clients[3].post("/tokens", headers={"Reactor-API-Key": other_key}, json=None).status_code == 200


def test_other_routes_are_not_rate_limited(limited: tuple[Any, TestClient]) -> None:
    _, client = limited
    for _ in range(10):
        assert client.get("/health").status_code == 200


# -- local mode on a non-loopback address ---------------------------------------------------------


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost"])
def test_loopback_binds_do_not_warn(tmp_path: Path, host: str, caplog: pytest.LogCaptureFixture) -> None:
    assert is_loopback(host)
    with caplog.at_level(logging.WARNING), TestClient(app_with(tmp_path, host=host)):
        pass
    assert "SECURITY" not in caplog.text


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.10", "example.org"])
def test_non_loopback_binds_warn_loudly(tmp_path: Path, host: str, caplog: pytest.LogCaptureFixture) -> None:
    assert not is_loopback(host)
    with caplog.at_level(logging.WARNING), TestClient(app_with(tmp_path, host=host)):
        pass
    warned = [r for r in caplog.records if r.levelno == logging.WARNING and "SECURITY" in r.getMessage()]
    assert len(warned) == 1
    text = warned[0].getMessage()
    assert host in text and "/start_session" in text and "NO credentials" in text


def test_serve_on_all_interfaces_logs_the_warning(server_factory: Any) -> None:
    with server_factory(host="0.0.0.0") as server:
        server_process: ServerProcess = server
        assert httpx.get(f"{server_process.url}/health").status_code == 200
        log = server_process.log()
    assert "WARNING" in log and "SECURITY: listening on 0.0.0.0" in log, log


def test_serve_on_loopback_does_not(server_factory: Any) -> None:
    with server_factory() as server:
        server_process: ServerProcess = server
        log = server_process.log()
    assert "SECURITY" not in log, log


# -- CORS -----------------------------------------------------------------------------------------

ALLOWED = "https://app.example"


def preflight(client: TestClient, path: str, origin: str, method: str = "POST") -> httpx.Response:
    return client.options(
        path,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": "authorization,content-type,reactor-api-version",
        },
    )


def test_cors_origin_narrows_the_local_plane_to_the_configured_origins(tmp_path: Path) -> None:
    with TestClient(app_with(tmp_path, cors_origins=(ALLOWED,))) as client:
        for path, method in (("/start_session", "POST"), ("/session", "GET"), ("/tokens", "POST")):
            ok = preflight(client, path, ALLOWED, method)
            assert ok.status_code == 200, (path, ok.text)
            assert ok.headers["access-control-allow-origin"] == ALLOWED
            assert method in ok.headers["access-control-allow-methods"]
            allowed_headers = ok.headers["access-control-allow-headers"].lower()
            for header in CORS_HEADERS:
                assert header.lower() in allowed_headers
            assert "reactor-api-key" not in allowed_headers
            assert "access-control-allow-credentials" not in ok.headers
            for other in ("https://evil.example", "http://127.0.0.1:5173"):  # loopback too: replaced
                bad = preflight(client, path, other, method)
                assert bad.status_code == 400
                assert "access-control-allow-origin" not in bad.headers
        # Simple requests: the allowed origin may read the answer, another may not.
        assert (
            client.get("/health", headers={"Origin": ALLOWED}).headers["access-control-allow-origin"]
            == ALLOWED
        )
        evil = client.get("/health", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in evil.headers
        # Retry-After is readable cross-origin (429/503 hints).
        assert (
            "retry-after"
            in client.get("/health", headers={"Origin": ALLOWED})
            .headers.get("access-control-expose-headers", "")
            .lower()
        )
        # The bearer routes answer every origin, whatever the local plane allows.
        for path, method in (("/sessions", "POST"), ("/sessions/abc", "DELETE"), ("/uploads/abc", "PUT")):
            r = preflight(client, path, "https://evil.example", method)
            assert r.status_code == 200 and r.headers["access-control-allow-origin"] == "*", (path, r.text)
            assert "access-control-allow-credentials" not in r.headers


def test_by_default_loopback_pages_on_any_port_may_call_the_local_plane(tmp_path: Path) -> None:
    with TestClient(app_with(tmp_path)) as client:
        for origin in (
            "http://127.0.0.1:5173",
            "http://localhost:41234",
            "https://127.8.9.10",
            "http://[::1]:3000",
        ):
            r = preflight(client, "/start_session", origin)
            assert r.status_code == 200 and r.headers["access-control-allow-origin"] == origin, (
                origin,
                r.text,
            )
            assert (
                client.get("/health", headers={"Origin": origin}).headers["access-control-allow-origin"]
                == origin
            )
        for origin in (ALLOWED, "http://localhost.evil.example", "http://192.0.2.2:8080", "null"):
            r = preflight(client, "/start_session", origin)
            assert r.status_code == 400 and "access-control-allow-origin" not in r.headers, origin
            assert (
                "access-control-allow-origin" not in client.get("/health", headers={"Origin": origin}).headers
            )
            r = preflight(client, "/sessions", origin)
            assert r.status_code == 200 and r.headers["access-control-allow-origin"] == "*", origin


def test_cors_wildcard_allows_any_origin_without_credentials(tmp_path: Path) -> None:
    with TestClient(app_with(tmp_path, cors_origins=("*",))) as client:
        r = preflight(client, "/sessions", "https://anywhere.example")
        assert r.status_code == 200 and r.headers["access-control-allow-origin"] == "*"
        assert "access-control-allow-credentials" not in r.headers
