"""Server pieces the browser needs: CORS by plane (``Settings.cors_origins``), TLS, and the playground at ``/``."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from support.paths import REPO
from support.servers import free_port

OTHER = "http://evil.example"
APP = "https://app.example"
BROWSER_HEADERS = (
    "authorization, content-type, reactor-api-version, reactor-api-accept-version, reactor-webrtc-version"
)
LOCAL_PLANE = (("POST", "/start_session"), ("GET", "/session"), ("POST", "/stop_session"), ("GET", "/schema"))
BEARER_ROUTES = (
    ("POST", "/sessions"),
    ("POST", "/sessions/s/transport/webrtc/connections"),
    ("PUT", "/sessions/s/transport/webrtc/connections/1/sdp_params"),
    ("GET", "/sessions/s/transport/webrtc/sdp_params"),
    ("DELETE", "/sessions/s"),
    ("POST", "/sessions/s/uploads"),
    ("PUT", "/uploads/abc"),
)


def loopback_origin() -> str:
    """A page of an app's dev server on this machine, on a port nobody configured."""
    return f"http://127.0.0.1:{free_port('127.0.0.1')}"


@pytest.fixture
def default_server(server_factory: object) -> Iterator[str]:
    """``openreactor serve`` with no ``--cors-origin``."""
    with server_factory(model="echo", width=None, height=None, fps=None) as server:  # type: ignore[operator]
        yield server.url


@pytest.fixture
def narrowed_server(server_factory: object) -> Iterator[str]:
    with server_factory(
        model="echo", width=None, height=None, fps=None, extra=["--cors-origin", APP]
    ) as server:  # type: ignore[operator]
        yield server.url


def preflight(url: str, method: str, origin: str) -> httpx.Response:
    return httpx.options(
        url,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": BROWSER_HEADERS,
        },
    )


def assert_allowed(r: httpx.Response, origin: str, method: str, what: object) -> None:
    assert r.status_code == 200, (what, r.text)
    assert r.headers["access-control-allow-origin"] in (origin, "*"), (what, r.headers)
    assert method in r.headers["access-control-allow-methods"], what
    allowed = r.headers["access-control-allow-headers"].lower()
    for header in BROWSER_HEADERS.split(", "):
        assert header in allowed, (what, header)
    assert "reactor-api-key" not in allowed, what
    assert "access-control-allow-credentials" not in r.headers, what


def assert_refused(r: httpx.Response, what: object) -> None:
    assert r.status_code == 400, (what, r.text)
    assert "access-control-allow-origin" not in r.headers, (what, r.headers)


def test_default_loopback_origins_on_any_port_may_call_every_route(default_server: str) -> None:
    for origin in (loopback_origin(), f"http://localhost:{free_port('127.0.0.1')}", "http://[::1]:3000"):
        for method, path in LOCAL_PLANE + BEARER_ROUTES:
            assert_allowed(preflight(default_server + path, method, origin), origin, method, (origin, path))
        # A simple (non-preflighted) answer is readable by that page.
        r = httpx.get(default_server + "/health", headers={"Origin": origin})
        assert r.status_code == 200 and r.headers["access-control-allow-origin"] == origin, r.headers
        assert "access-control-allow-credentials" not in r.headers


def test_default_other_origins_are_refused_on_the_local_plane_only(default_server: str) -> None:
    for origin in (OTHER, "http://192.0.2.2:5173", "http://localhost.evil.example", "null"):
        for method, path in LOCAL_PLANE:
            assert_refused(preflight(default_server + path, method, origin), (origin, path))
        r = httpx.get(default_server + "/health", headers={"Origin": origin})
        assert "access-control-allow-origin" not in r.headers, (origin, r.headers)
        # The bearer routes (a token or an unguessable id is the credential) answer any page.
        for method, path in BEARER_ROUTES:
            assert_allowed(preflight(default_server + path, method, origin), origin, method, (origin, path))
        r = httpx.get(default_server + "/sessions/nope", headers={"Origin": origin})  # no token: 401
        assert r.status_code == 401 and r.headers["access-control-allow-origin"] == "*", r.headers
        assert "retry-after" in r.headers["access-control-expose-headers"].lower()


def test_the_api_key_header_is_never_allowed(default_server: str) -> None:
    for path in ("/tokens", "/sessions"):
        r = httpx.options(
            default_server + path,
            headers={
                "Origin": loopback_origin(),
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type, reactor-api-key",
            },
        )
        # A failed preflight (any non-2xx) stops the browser before it sends the key.
        assert r.status_code == 400 and "headers" in r.text, (path, r.text)


def test_cors_origin_narrows_the_local_plane(narrowed_server: str) -> None:
    for method, path in LOCAL_PLANE:
        assert_allowed(preflight(narrowed_server + path, method, APP), APP, method, path)
        assert_refused(preflight(narrowed_server + path, method, loopback_origin()), path)
        assert_refused(preflight(narrowed_server + path, method, OTHER), path)
    assert httpx.get(narrowed_server + "/health", headers={"Origin": APP}).headers["access-control-allow-origin"] == APP
    assert "access-control-allow-origin" not in httpx.get(
        narrowed_server + "/health", headers={"Origin": loopback_origin()}
    ).headers
    for method, path in BEARER_ROUTES:
        assert_allowed(preflight(narrowed_server + path, method, OTHER), OTHER, method, path)


def test_playground_is_served_at_the_root(probe_server: str) -> None:
    page = httpx.get(probe_server + "/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "/playground/assets/playground.js" in page.text
    script = httpx.get(probe_server + "/playground/assets/playground.js")
    assert script.status_code == 200
    assert "javascript" in script.headers["content-type"]
    assert httpx.get(probe_server + "/playground/assets/nope.js").status_code == 404


def test_no_playground_flag(server_factory: object) -> None:
    with server_factory(extra=["--no-playground"]) as server:  # type: ignore[operator]
        assert httpx.get(server.url + "/").status_code == 404


@contextlib.contextmanager
def tls_server(tmp_path: Path) -> Iterator[str]:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "openreactor", "serve", "--model", "echo", "--port", str(port),
         "--state-dir", str(tmp_path / "state"), "--tls-cert", str(cert), "--tls-key", str(key),
         "--log-level", "warning"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"https://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, process.stdout.read() if process.stdout else ""
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(url + "/health", verify=False, timeout=1).status_code == 200:
                    break
            assert time.monotonic() < deadline, "TLS server not healthy in 30 s"
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=15)


def test_tls(tmp_path: Path) -> None:
    with tls_server(tmp_path) as url:
        r = httpx.post(url + "/start_session", json={}, verify=False)
        assert r.status_code == 200
        assert httpx.post(url + "/stop_session", verify=False).status_code == 200
        with pytest.raises(httpx.HTTPError):
            httpx.get(url.replace("https://", "http://") + "/health", timeout=2)


def test_tls_needs_both_files(tmp_path: Path) -> None:
    r = subprocess.run(
        [sys.executable, "-m", "openreactor", "serve", "--tls-cert", str(tmp_path / "c.pem")],
        cwd=REPO, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert r.returncode == 2
    assert "--tls-cert and --tls-key go together" in r.stderr
