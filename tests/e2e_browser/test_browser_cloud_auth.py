"""Browser auth end to end: the API key stays in the app server, the browser streams on a JWT.

``openreactor serve --model probe`` with a key store, ``examples/app_server/app.py`` holding a key
on another loopback port, and Chromium (``js/e2e/cloud_auth.mjs``, playwright-core) opening the
playground that the app server serves in cloud mode. Needs ``npm ci`` in ``js/`` and
``/usr/bin/chromium``: skipped on a developer machine without them, failed in CI.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from support.paths import REPO
from support.servers import ServerProcess, free_port, run_server, skip_unless_ci

JS = REPO / "js"
APP_SERVER = REPO / "examples" / "app_server" / "app.py"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
TOKEN_LIFETIME_S = 600


@dataclass
class Stack:
    api: ServerProcess
    app_url: str
    key_id: str
    key: str


@contextlib.contextmanager
def app_server(port: int, api_url: str, key: str, tmp_path: Path) -> Iterator[str]:
    """``examples/app_server/app.py`` on ``port``, holding ``key`` (from its environment)."""
    url = f"http://127.0.0.1:{port}"
    log_path = tmp_path / f"app-server-{port}.log"
    args = [sys.executable, str(APP_SERVER), "--api-url", api_url, "--model", "probe", "--port", str(port)]
    args += ["--expires-after", str(TOKEN_LIFETIME_S), "--log-level", "warning"]
    env = {**os.environ, "REACTOR_API_KEY": key}  # not an argument: ps would show it
    with open(log_path, "wb") as log:
        process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, cwd=REPO, env=env)
    try:
        deadline = time.monotonic() + 20
        while True:
            if process.poll() is not None:
                raise AssertionError(f"app server exited:\n{log_path.read_text()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(url + "/", timeout=1).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise AssertionError(f"app server not up in 20 s:\n{log_path.read_text()}")
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    # No --cors-origin: the bearer-token routes the page calls accept any origin (docs/browser-auth.md).
    app_port = free_port()
    extra = ["--keepalive", "60"]
    with run_server(tmp_path, model="probe", extra=extra) as api:
        key_id, key = api.create_key("browser-app")
        with app_server(app_port, api.url, key, tmp_path) as app_url:
            yield Stack(api, app_url, key_id, key)


@pytest.fixture
def browser() -> None:
    """Checked before any server starts: skipped on a developer machine, failed in CI."""
    if not (JS / "node_modules" / "playwright-core").is_dir() or shutil.which("node") is None:
        skip_unless_ci("js/node_modules (npm ci in js/) or node is missing")
    if not Path(CHROMIUM).exists():
        skip_unless_ci(f"{CHROMIUM} is missing (apt-get install -y chromium)")


def _browser(stack: Stack, phase: str) -> dict[str, Any]:
    env = {
        **os.environ,
        "E2E_APP_URL": stack.app_url,
        "E2E_API_URL": stack.api.url,
        "E2E_API_KEY": stack.key,
        "CHROMIUM": CHROMIUM,
    }
    proc = subprocess.run(
        ["node", "e2e/cloud_auth.mjs", phase], cwd=JS, env=env, capture_output=True, text=True, timeout=150
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("FACTS ")]
    assert proc.returncode == 0 and lines, (
        f"cloud_auth.mjs {phase} failed ({proc.returncode}):\n{proc.stdout[-6000:]}\n{proc.stderr[-4000:]}\n"
        f"--- server ---\n{stack.api.log()[-4000:]}"
    )
    facts: dict[str, Any] = json.loads(lines[-1].removeprefix("FACTS "))
    return facts


def _claims(jwt: str) -> dict[str, Any]:
    payload = jwt.split(".")[1]
    claims: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return claims


def _session(api_url: str, session_id: str, token: str | None) -> httpx.Response:
    headers = {"Reactor-API-Version": "1", "Reactor-API-Accept-Version": "1"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return httpx.get(f"{api_url}/sessions/{session_id}", headers=headers)


@pytest.mark.timeout(240)
def test_playground_streams_on_a_jwt_and_never_sees_the_key(browser: None, stack: Stack) -> None:
    f = _browser(stack, "stream")
    context = json.dumps({k: f.get(k) for k in ("errorPanel", "console", "requests")})[-6000:]
    assert f["ready"] and f["mode"] == "cloud", context
    session_id = f["sessionId"]
    assert session_id, context

    # Frames arrive and a command from the page changes what is drawn.
    counters = f["counters"]
    assert len(counters) >= 5 and all(b > a for a, b in zip(counters, counters[1:], strict=False)), counters
    assert f["afterCommand"]["ok"], f["afterCommand"]

    # The page asked the app server once (cached JWT) and used that JWT as its bearer token.
    token_calls = [e for e in f["exchanges"] if e["url"] == f"{stack.app_url}/api/reactor-token"]
    assert [(e["method"], e["status"]) for e in token_calls] == [("POST", 200)], token_calls
    issued = json.loads(token_calls[0]["body"])
    assert f["bearers"] == [f"Bearer {issued['jwt']}"], f["bearers"]
    claims = _claims(issued["jwt"])
    assert claims["authorization_details"][0]["resources"]["models"]["match"] == ["probe"], claims
    assert claims["exp"] - claims["iat"] == TOKEN_LIFETIME_S and issued["expires_at"] == claims["exp"]
    assert not any("/tokens" in r and r.startswith(("POST", "GET")) and stack.api.url in r for r in f["requests"])

    # The API key appears nowhere the browser could see; the same scans do find what it did get.
    assert f["keyInTraffic"] == [] and f["pageState"] == [], (f["keyInTraffic"], f["pageState"])
    assert f["jwtInTraffic"] > 0 and f["pageStateFindsSessionId"]

    # The session is the key's: visible with the page's token, not without one.
    assert f["liveWithToken"] == {"status": 200, "state": "ACTIVE"}, f["liveWithToken"]
    assert f["liveWithoutToken"]["status"] == 401, f["liveWithoutToken"]
    other = httpx.post(
        f"{stack.api.url}/tokens", headers={"Reactor-API-Key": stack.api.create_key("other")[1]}, json=None
    ).json()["jwt"]
    assert _session(stack.api.url, session_id, other).status_code == 403

    # Leaving the page deleted the session (long before the 60 s keep-alive would have).
    assert f["afterLeaving"]["state"] == "CLOSED", f["afterLeaving"]
    assert f["afterLeaving"]["ms"] < 10_000
    # The page's keepalive DELETE outlives the page, so the server's log (not the page) shows it.
    log = stack.api.log()
    assert f'"DELETE /sessions/{session_id} HTTP/1.1" 204' in log and "ending: client_ended" in log
    final = _session(stack.api.url, session_id, issued["jwt"])
    assert final.status_code == 200 and final.json()["state"] == "CLOSED"


def _revoke(stack: Stack) -> None:
    subprocess.run(
        [sys.executable, "-m", "openreactor", "keys", "--state-dir", str(stack.api.state_dir), "revoke", stack.key_id],
        check=True,
        capture_output=True,
        cwd=REPO,
    )


def test_a_revoked_key_makes_the_token_route_answer_502_with_the_reason(stack: Stack) -> None:
    assert httpx.post(f"{stack.app_url}/api/reactor-token").status_code == 200
    _revoke(stack)
    r = httpx.post(f"{stack.app_url}/api/reactor-token")
    assert r.status_code == 502
    assert r.json() == {
        "error": "token exchange failed",
        "detail": "POST /tokens answered 401: unknown or revoked API key",
    }
    assert stack.key not in r.text


@pytest.mark.timeout(240)
def test_a_revoked_key_shows_a_clear_error_in_the_page_and_creates_no_session(browser: None, stack: Stack) -> None:
    _revoke(stack)
    f = _browser(stack, "refused")
    token_calls = [e for e in f["exchanges"] if e["url"] == f"{stack.app_url}/api/reactor-token"]
    assert token_calls and all(e["status"] == 502 for e in token_calls), token_calls
    panel = f["errorPanel"] or ""
    assert "token endpoint /api/reactor-token answered 502" in panel, panel
    assert "unknown or revoked API key" in panel, panel
    assert f["status"] == "disconnected" and f["sessionId"] is None
    assert not any(r.startswith("POST") and r.endswith("/sessions") for r in f["requests"]), f["requests"]
    assert f["keyInTraffic"] == [] and f["pageState"] == []
