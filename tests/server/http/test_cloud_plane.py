"""The cloud plane on the embedded server: API keys, JWTs, sessions, and auth on every route."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import jwt
import pytest

from support.paths import REPO
from support.servers import ServerFactory, ServerProcess
from support.waiting import eventually

V = {"Reactor-API-Version": "1", "Reactor-API-Accept-Version": "1"}
SESSION_BODY = {
    "model": {"name": "probe"},
    "client_info": {"sdk_version": "test", "sdk_type": "python"},
    "supported_transports": [{"protocol": "webrtc", "version": "1.0"}],
}


@pytest.fixture
def cloud(server_factory: ServerFactory) -> Iterator[ServerProcess]:
    with server_factory() as server:
        yield server


def mint(server: ServerProcess, key: str, body: object = None) -> str:
    r = httpx.post(f"{server.url}/tokens", headers={"Reactor-API-Key": key}, json=body)
    assert r.status_code == 200, r.text
    assert r.json()["expires_at"] > time.time()
    return str(r.json()["jwt"])


def bearer(token: str) -> dict[str, str]:
    return {**V, "Authorization": f"Bearer {token}"}


def test_key_to_token_to_session_and_back(cloud: ServerProcess) -> None:
    _, key = cloud.create_key()
    token = mint(
        cloud,
        key,
        {"authorization_details": [{"type": "session", "resources": {"models": {"match": ["probe"]}}}]},
    )
    r = httpx.post(f"{cloud.url}/sessions", headers=bearer(token), json=SESSION_BODY)
    assert r.status_code == 201, r.text
    sid = r.json()["session_id"]
    assert r.json()["state"] == "WAITING"
    assert r.json()["capabilities"]["tracks"][0]["name"] == "main_video"
    got = httpx.get(f"{cloud.url}/sessions/{sid}", headers=bearer(token))
    assert got.status_code == 200 and got.json()["selected_transport"]["protocol"] == "webrtc"
    # Signalling of a cloud session needs the token too.
    ice = f"{cloud.url}/sessions/{sid}/transport/webrtc/ice_servers"
    assert httpx.get(ice, headers={**V, "Reactor-WebRTC-Version": "1.0"}).status_code == 401
    assert httpx.get(ice, headers={**bearer(token), "Reactor-WebRTC-Version": "1.0"}).status_code == 200
    # Over capacity (one session on the embedded server): 429 with a retry hint.
    busy = httpx.post(f"{cloud.url}/sessions", headers=bearer(token), json=SESSION_BODY)
    assert busy.status_code == 429 and int(busy.headers["retry-after"]) > 0
    assert httpx.delete(f"{cloud.url}/sessions/{sid}", headers=bearer(token)).status_code == 204
    ended = httpx.get(f"{cloud.url}/sessions/{sid}", headers=bearer(token))
    assert ended.status_code == 200 and ended.json()["state"] == "CLOSED"


def test_tokens_body_may_be_null_and_get_works(cloud: ServerProcess) -> None:
    _, key = cloud.create_key()
    r = httpx.post(
        f"{cloud.url}/tokens",
        headers={"Reactor-API-Key": key, "Content-Type": "application/json"},
        content=b"null",
    )
    assert r.status_code == 200 and r.json()["jwt"]
    assert httpx.get(f"{cloud.url}/tokens", headers={"X-API-Key": key}).status_code == 200


def test_refusals(cloud: ServerProcess) -> None:
    key_id, key = cloud.create_key()
    assert httpx.post(f"{cloud.url}/tokens", json=None).status_code == 401
    assert (
        httpx.post(f"{cloud.url}/tokens", headers={"Reactor-API-Key": "rk_wrong"}, json=None).status_code
        == 401
    )
    token = mint(cloud, key)
    url = f"{cloud.url}/sessions"
    assert httpx.post(url, headers=V, json=SESSION_BODY).status_code == 401  # no token
    assert httpx.post(url, headers=bearer("not.a.jwt"), json=SESSION_BODY).status_code == 401  # malformed
    forged = jwt.encode(
        {"sub": key_id, "exp": time.time() + 60}, "not-the-secret-but-32-bytes-long!!", algorithm="HS256"
    )
    assert httpx.post(url, headers=bearer(forged), json=SESSION_BODY).status_code == 401
    other_model = mint(
        cloud,
        key,
        {"authorization_details": [{"type": "session", "resources": {"models": {"match": ["painter"]}}}]},
    )
    assert httpx.post(url, headers=bearer(other_model), json=SESSION_BODY).status_code == 403
    unknown = httpx.post(url, headers=bearer(token), json={"model": {"name": "nope"}})
    assert unknown.status_code == 404
    sid = httpx.post(url, headers=bearer(token), json=SESSION_BODY).json()["session_id"]
    # A token bound to another session, and a token of another key, may not act on it.
    bound = mint(
        cloud,
        key,
        {
            "authorization_details": [
                {
                    "type": "session",
                    "resources": {"models": {"all": True}, "sessions": {"bind": ["sess_other"]}},
                }
            ]
        },
    )
    assert httpx.get(f"{url}/{sid}", headers=bearer(bound)).status_code == 403
    _, key2 = cloud.create_key("other")
    assert httpx.get(f"{url}/{sid}", headers=bearer(mint(cloud, key2))).status_code == 403
    # Revoking the key invalidates its tokens.
    subprocess.run(
        [sys.executable, "-m", "openreactor", "keys", "--state-dir", str(cloud.state_dir), "revoke", key_id],
        check=True,
        cwd=REPO,
        capture_output=True,
    )
    assert httpx.get(f"{url}/{sid}", headers=bearer(token)).status_code == 401
    assert httpx.post(f"{cloud.url}/tokens", headers={"Reactor-API-Key": key}, json=None).status_code == 401


def test_expired_token_is_refused(cloud: ServerProcess) -> None:
    _, key = cloud.create_key()
    token = mint(cloud, key, {"expires_after": 1})
    time.sleep(2.1)  # past the TTL this test asked for
    r = httpx.post(f"{cloud.url}/sessions", headers=bearer(token), json=SESSION_BODY)
    assert r.status_code == 401 and "expired" in r.json()["detail"]


def test_secret_and_keys_are_owner_only_and_hashed(cloud: ServerProcess) -> None:
    _, key = cloud.create_key()
    for name in ("jwt.secret", "keys.sqlite3"):
        assert (cloud.state_dir / name).stat().st_mode & 0o077 == 0
    assert key.encode() not in (cloud.state_dir / "keys.sqlite3").read_bytes()


async def test_our_sdk_with_an_api_key(cloud: ServerProcess) -> None:
    from openreactor.models.builtin.probe_pattern import decode_probe
    from reactor_sdk import Reactor

    _, key = cloud.create_key()
    codes = []
    async with Reactor("probe", api_key=key, api_url=cloud.url, ice_host_addresses=["127.0.0.1"]) as reactor:
        reactor.on_frame(lambda frame: codes.append(decode_probe(frame)))
        await reactor.send_command("set_value", {"value": 777})
        sid = reactor.session_id
        await eventually(
            lambda: any(c is not None and c.value == 777 for c in codes), what="value 777 in a frame"
        )
    token = mint(cloud, key)
    assert httpx.get(f"{cloud.url}/sessions/{sid}", headers=bearer(token)).json()["state"] == "CLOSED"
