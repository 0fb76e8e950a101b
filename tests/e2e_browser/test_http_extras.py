"""Server pieces the browser needs: CORS for configured origins, TLS, and the playground at ``/``."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from conftest import REPO, free_port

APP = "http://127.0.0.1:5173"
OTHER = "http://evil.example"
BROWSER_HEADERS = (
    "authorization, content-type, reactor-api-version, reactor-api-accept-version, reactor-webrtc-version"
)


@pytest.fixture
def cors_server(server_factory: object) -> Iterator[str]:
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


def test_cors_preflight_allows_the_sdk_routes_and_the_upload_put(cors_server: str) -> None:
    for method, path in (
        ("POST", "/start_session"),
        ("POST", "/sessions/s/transport/webrtc/connections"),
        ("PUT", "/sessions/s/transport/webrtc/connections/1/sdp_params"),
        ("GET", "/sessions/s/transport/webrtc/sdp_params"),
        ("DELETE", "/sessions/s"),
        ("PUT", "/uploads/abc"),
    ):
        r = preflight(cors_server + path, method, APP)
        assert r.status_code == 200, (path, r.text)
        assert r.headers["access-control-allow-origin"] == APP
        assert method in r.headers["access-control-allow-methods"]
        allowed = r.headers["access-control-allow-headers"].lower()
        for header in BROWSER_HEADERS.split(", "):
            assert header in allowed, (path, header)


def test_cors_answers_carry_the_origin_and_other_origins_are_refused(cors_server: str) -> None:
    r = httpx.get(cors_server + "/health", headers={"Origin": APP})
    assert r.headers["access-control-allow-origin"] == APP
    assert preflight(cors_server + "/start_session", "POST", OTHER).status_code == 400
    assert (
        "access-control-allow-origin"
        not in httpx.get(cors_server + "/health", headers={"Origin": OTHER}).headers
    )


def test_no_cors_unless_configured(probe_server: str) -> None:
    r = httpx.get(probe_server + "/health", headers={"Origin": APP})
    assert "access-control-allow-origin" not in r.headers


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
