"""examples/app_server/app.py against a fake API: the token route's contract and its failures.

The same app runs against a real server and Chromium in tests/e2e_browser/test_browser_cloud_auth.py.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from support.paths import REPO

APP_PATH = REPO / "examples" / "app_server" / "app.py"
KEY = "rk_test_0123456789abcdef"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("example_app_server", APP_PATH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve their annotations through sys.modules
    spec.loader.exec_module(module)
    return module


app_server = _load()

Handler = Callable[[httpx.Request], httpx.Response]


@pytest.fixture
def playground(tmp_path: Path) -> Path:
    (tmp_path / "index.html").write_text("<html><head><title>p</title></head><body></body></html>")
    return tmp_path


@pytest.fixture
def make_client(playground: Path) -> Iterator[Callable[..., TestClient]]:
    """``make_client(upstream, **config)``: the app (lifespan running) with ``upstream`` as the API."""
    stack = contextlib.ExitStack()

    def make(handler: Handler, **config: Any) -> TestClient:
        settings: dict[str, Any] = {
            "api_url": "http://api.test:8080",
            "model": "probe",
            "api_key": KEY,
            "playground_dir": playground,
            **config,
        }
        app = app_server.create_app(app_server.AppConfig(**settings), transport=httpx.MockTransport(handler))
        return stack.enter_context(TestClient(app))

    with stack:
        yield make


def test_the_route_exchanges_the_key_for_a_model_scoped_short_token(make_client: Callable[..., TestClient]) -> None:
    seen: list[httpx.Request] = []

    def upstream(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"jwt": "eyJ.jwt.sig", "expires_at": 1_900_000_000})

    client = make_client(upstream, max_sessions=2)
    r = client.post("/api/reactor-token")
    assert r.status_code == 200, r.text
    assert r.json() == {"jwt": "eyJ.jwt.sig", "expires_at": 1_900_000_000}
    assert r.headers["cache-control"] == "no-store"
    assert KEY not in r.text and KEY not in str(r.headers)
    (request,) = seen
    assert request.method == "POST" and str(request.url) == "http://api.test:8080/tokens"
    assert request.headers["reactor-api-key"] == KEY
    assert json.loads(request.content) == {
        "expires_after": 600,
        "authorization_details": [
            {
                "type": "session",
                "resources": {"models": {"match": ["probe"]}},
                "constraints": {"max_sessions": 2},
            }
        ],
    }


def test_a_refused_key_becomes_502_with_the_apis_reason_and_never_the_key(make_client: Callable[..., TestClient]) -> None:
    def upstream(request: httpx.Request) -> httpx.Response:
        # An API that (unwisely) echoes the key must not get it into the browser either.
        return httpx.Response(401, json={"detail": f"unknown or revoked API key {KEY}"})

    r = make_client(upstream).post("/api/reactor-token")
    assert r.status_code == 502
    assert r.json() == {
        "error": "token exchange failed",
        "detail": "POST /tokens answered 401: unknown or revoked API key [redacted]",
    }
    assert KEY not in r.text


def test_rate_limits_pass_through_with_retry_after(make_client: Callable[..., TestClient]) -> None:
    def upstream(request: httpx.Request) -> httpx.Response:
        return httpx.Response(429, json={"detail": "too many token requests"}, headers={"Retry-After": "12"})

    r = make_client(upstream).post("/api/reactor-token")
    assert r.status_code == 429
    assert r.headers["retry-after"] == "12"
    assert r.json()["error"] == "token exchange rate-limited"


@pytest.mark.parametrize(
    ("answer", "detail"),
    [
        (httpx.ConnectError("refused"), "the Reactor API is unreachable (ConnectError)"),
        (httpx.Response(200, text="<html>"), "POST /tokens answered without jwt and expires_at"),
        (httpx.Response(200, json={"jwt": "x"}), "POST /tokens answered without jwt and expires_at"),
        (httpx.Response(503, text="maintenance"), "POST /tokens answered 503: maintenance"),
    ],
)
def test_other_upstream_failures_are_502(make_client: Callable[..., TestClient], answer: httpx.Response | Exception, detail: str) -> None:
    def upstream(request: httpx.Request) -> httpx.Response:
        if isinstance(answer, Exception):
            raise answer
        return answer

    r = make_client(upstream).post("/api/reactor-token")
    assert (r.status_code, r.json()) == (502, {"error": "token exchange failed", "detail": detail})


def test_without_a_key_the_route_is_500_and_only_post_is_served(make_client: Callable[..., TestClient]) -> None:
    def upstream(request: httpx.Request) -> httpx.Response:
        raise AssertionError("no upstream call without a key")

    client = make_client(upstream, api_key=None)
    r = client.post("/api/reactor-token")
    assert r.status_code == 500 and "REACTOR_API_KEY" in r.json()["detail"]
    assert client.get("/api/reactor-token").status_code == 405


def test_the_page_carries_the_cloud_config_and_a_csp_but_not_the_key(make_client: Callable[..., TestClient]) -> None:
    def upstream(request: httpx.Request) -> httpx.Response:
        raise AssertionError("serving the page calls no API")

    client = make_client(upstream, model="</script><b>x", public_api_url="https://api.example.com/")
    r = client.get("/")
    assert r.status_code == 200
    assert KEY not in r.text
    m = re.search(r'<script type="application/json" id="openreactor-playground-config">(.*?)</script>', r.text)
    assert m is not None, r.text
    assert json.loads(m.group(1)) == {
        "mode": "cloud",
        "apiUrl": "https://api.example.com",
        "modelName": "</script><b>x",
        "tokenEndpoint": "/api/reactor-token",
    }
    assert "connect-src 'self' https://api.example.com;" in r.headers["content-security-policy"]


def test_the_command_line_refuses_to_start_without_a_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REACTOR_API_KEY", raising=False)
    with pytest.raises(SystemExit) as exc:
        app_server.main(["--model", "probe"])
    assert exc.value.code == 2
