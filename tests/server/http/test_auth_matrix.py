"""Auth matrix: every credential-guarded route × every bad credential is refused, and serves nothing.

The routes come from the app itself (``openapi.registered_operations(app.routes)``), classified
by the OpenAPI document: an operation is guarded when it documents an ``Authorization`` or
``Reactor-API-Key`` header. The only unguarded operations allowed are listed in ``PUBLIC`` with the
reason; a new route must either appear there or pass the matrix, so none can be missed.

Credentials tried on every bearer-guarded route of a cloud-owned session: none, a malformed
header, a non-JWT, a forged signature, an expired token, a token scoped to another model, a token
bound to another session, a token of another key, and (last, on the owner's own token) a revoked
key. Every refusal is 401/403 with exactly ``{"detail": "<text>"}``; afterwards the session is
untouched: no new session, no extra connection, no SDP answer, no upload slot, not stopped.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
import pytest

with warnings.catch_warnings():  # starlette's "use httpx2" notice; httpx is what the suite has
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from openreactor.auth.tokens import load_or_create_secret
from openreactor.http.openapi import openapi_document, registered_operations
from openreactor.serve import create_serve_app
from openreactor.settings import Settings

V = {"Reactor-API-Version": "1", "Reactor-API-Accept-Version": "1", "Reactor-WebRTC-Version": "1.0"}
SESSION_BODY = {
    "model": {"name": "probe"},
    "client_info": {"sdk_version": "test", "sdk_type": "python"},
    "supported_transports": [{"protocol": "webrtc", "version": "1.0"}],
}
SDP = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
BODIES: dict[str, Any] = {
    # Well-formed bodies per request schema, so that a refusal can only come from the credentials.
    "Offer": {"sdp_offer": SDP, "track_mapping": []},
    "Candidates": {
        "candidates": [{"candidate": "candidate:1 1 udp 2130706431 127.0.0.1 9 typ host", "sdp_mid": "0"}]
    },
    "CreateUpload": {"name": "x.png", "size": 3, "mime_type": "image/png"},
    "CreateSession": SESSION_BODY,
    "StopSession": {"reason": "matrix"},
    "TokenRequest": None,
}

PUBLIC: dict[tuple[str, str], str] = {
    ("/health", "get"): "liveness probe",
    ("/schema", "get"): "the model's command schema (no session data)",
    ("/openapi.json", "get"): "this API's description",
    ("/metrics", "get"): "Prometheus scrape target (disable with --no-metrics)",
    ("/debug/resources", "get"): "only with --debug-endpoints",
    ("/debug/workers", "get"): "only with --debug-endpoints and --workers",
    ("/", "get"): "the playground page",
    ("/playground/{path}", "get"): "the playground's static assets",
    ("/start_session", "post"): "local plane (PROTOCOL.md §2.5): never authenticated; busy -> 409",
    ("/uploads/{upload_id}", "put"): "presigned target: the unguessable upload id is the credential",
}
"""Operations served without credentials, and why. Everything else must refuse bad ones."""

KEY_ROUTES = {("/tokens", "get"), ("/tokens", "post")}


@dataclass
class Cloud:
    client: TestClient
    app: Any
    state_dir: Path
    owner_id: str
    owner_key: str
    token: str
    session_id: str
    connection_id: int

    def mint(self, key: str, body: object = None) -> str:
        r = self.client.post("/tokens", headers={"Reactor-API-Key": key}, json=body)
        assert r.status_code == 200, r.text
        return str(r.json()["jwt"])

    def bearer(self, token: str) -> dict[str, str]:
        return {**V, "Authorization": f"Bearer {token}"}


def _scope(models: list[str] | None = None, bind: list[str] | None = None) -> dict[str, Any]:
    resources: dict[str, Any] = {"models": {"match": models} if models else {"all": True}}
    if bind is not None:
        resources["sessions"] = {"bind": bind}
    return {"authorization_details": [{"type": "session", "resources": resources}]}


@pytest.fixture(params=[0, 1], ids=["in-process", "workers"])
def cloud(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Cloud]:
    settings = Settings(
        workers=request.param,
        model="probe", width=640, height=360, fps=10, state_dir=tmp_path / "state", token_rate_per_minute=0,
        debug_endpoints=True,
    )  # fmt: skip
    app = create_serve_app(settings)
    with TestClient(app) as client:
        keys = app.state.auth.keys
        owner, owner_key = keys.create("owner")
        cloud = Cloud(client, app, settings.state_dir, owner.key_id, owner_key, "", "", 0)
        cloud.token = cloud.mint(owner_key, _scope(["probe"]))
        r = client.post("/sessions", headers=cloud.bearer(cloud.token), json=SESSION_BODY)
        assert r.status_code == 201, r.text
        cloud.session_id = r.json()["session_id"]
        base = f"/sessions/{cloud.session_id}/transport/webrtc"
        r = client.post(f"{base}/connections", headers=cloud.bearer(cloud.token), json={})
        assert r.status_code == 201, r.text
        cloud.connection_id = r.json()["connection_id"]
        yield cloud


def operations(app: Any) -> dict[tuple[str, str], dict[str, Any]]:
    """Every (path, method) the app serves, with its OpenAPI operation."""
    doc = openapi_document(app.routes)
    registered = registered_operations(app.routes)
    out = {}
    for path, methods in registered.items():
        for method in methods:
            assert method in doc["paths"].get(path, {}), f"{method.upper()} {path} is not in the OpenAPI doc"
            out[(path, method)] = doc["paths"][path][method]
    return out


def header_names(op: dict[str, Any]) -> set[str]:
    return {p["name"].lower() for p in op.get("parameters", []) if p["in"] == "header"}


def body_of(op: dict[str, Any]) -> Any:
    schema = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema", {})
    ref = schema.get("$ref", "")
    return BODIES.get(ref.rsplit("/", 1)[-1], {}) if "requestBody" in op else None


def bearer_operations(cloud: Cloud) -> list[tuple[str, str, Any]]:
    """(method, concrete URL, body) of every bearer-guarded operation, on the cloud session."""
    out = []
    for (path, method), op in sorted(operations(cloud.app).items()):
        names = header_names(op)
        if (path, method) in PUBLIC or (path, method) in KEY_ROUTES:
            continue
        assert "authorization" in names, (
            f"{method.upper()} {path} documents no Authorization header and is not listed in PUBLIC: "
            "guard it, or add it to PUBLIC with the reason"
        )
        url = path.format(session_id=cloud.session_id, connection_id=cloud.connection_id)
        assert "{" not in url, f"no value for the path parameters of {path}"
        out.append((method, url, body_of(op)))
    return out


def test_every_route_is_classified(cloud: Cloud) -> None:
    ops = operations(cloud.app)
    for key in PUBLIC:
        optional = key[0].startswith("/debug/")
        assert optional or key in ops, f"PUBLIC lists {key}, which the app no longer serves"
    for key in KEY_ROUTES:
        assert "reactor-api-key" in header_names(ops[key])
    guarded = bearer_operations(cloud)
    # The brief's routes are all there (a refactor that drops one from the app fails here).
    sid = cloud.session_id
    must = {
        ("post", "/sessions"),
        ("get", f"/sessions/{sid}"),
        ("delete", f"/sessions/{sid}"),
        ("post", f"/sessions/{sid}/uploads"),
        ("get", "/session"),
        ("post", "/stop_session"),
        ("get", f"/sessions/{sid}/transport/webrtc/ice_servers"),
        ("post", f"/sessions/{sid}/transport/webrtc/connections"),
        ("post", f"/sessions/{sid}/transport/webrtc/sdp_params"),
        ("put", f"/sessions/{sid}/transport/webrtc/sdp_params"),
        ("get", f"/sessions/{sid}/transport/webrtc/sdp_params"),
        ("post", f"/sessions/{sid}/transport/webrtc/ice_candidates"),
    }
    cid = cloud.connection_id
    for method in ("post", "put", "get"):
        must.add((method, f"/sessions/{sid}/transport/webrtc/connections/{cid}/sdp_params"))
    must.add(("post", f"/sessions/{sid}/transport/webrtc/connections/{cid}/ice_candidates"))
    assert must <= {(m, u) for m, u, _ in guarded}


def _bad_credentials(cloud: Cloud) -> dict[str, dict[str, str]]:
    keys = cloud.app.state.auth.keys
    secret = load_or_create_secret(cloud.state_dir / "jwt.secret")
    now = int(time.time())
    expired = jwt.encode(
        {"sub": cloud.owner_id, "iat": now - 120, "exp": now - 60}, secret, algorithm="HS256"
    )
    forged = jwt.encode(
        {"sub": cloud.owner_id, "exp": now + 60}, b"not-the-secret-but-long-enough-32b", algorithm="HS256"
    )
    _, other_key = keys.create("other")
    return {
        "no token": dict(V),
        "not bearer": {**V, "Authorization": f"Basic {cloud.token}"},
        "empty bearer": {**V, "Authorization": "Bearer "},
        "malformed": cloud.bearer("not.a.jwt"),
        "forged": cloud.bearer(forged),
        "unsigned": cloud.bearer(
            jwt.encode({"sub": cloud.owner_id, "exp": now + 60}, None, algorithm="none")
        ),
        "expired": cloud.bearer(expired),
        "wrong model": cloud.bearer(cloud.mint(cloud.owner_key, _scope(["painter"]))),
        "wrong session": cloud.bearer(cloud.mint(cloud.owner_key, _scope(bind=["sess_other"]))),
        "other key": cloud.bearer(cloud.mint(other_key)),
    }


LOCAL_VIEW = {"/session", "/stop_session"}
"""Local-plane routes that act on "the running session": in process that is the cloud session
(so they need its token); with workers they see only a local-plane session (so: 404 / 409)."""


def _assert_not_found(r: Any, what: str) -> None:
    assert r.status_code in (404, 409), f"{what}: {r.status_code} {r.text}"
    assert set(r.json()) == {"detail"}, what


def _assert_refused(r: Any, what: str) -> None:
    assert r.status_code in (401, 403), f"{what}: {r.status_code} {r.text}"
    assert r.headers["content-type"].startswith("application/json"), what
    body = r.json()
    assert set(body) == {"detail"} and isinstance(body["detail"], str) and body["detail"], f"{what}: {body}"


def in_process(cloud: Cloud) -> bool:
    return cloud.app.state.settings.workers == 0


def live_session_ids(cloud: Cloud) -> list[str]:
    registry = cloud.app.state.registry
    if in_process(cloud):
        return [registry.running.session_id] if registry.running is not None else []
    return [host.session_id for host in registry.live_sessions()]


def _assert_untouched(cloud: Cloud) -> None:
    """No session made, stopped or changed; no connection, answer or upload slot."""
    c, sid, cid = cloud.client, cloud.session_id, cloud.connection_id
    auth = cloud.bearer(cloud.token)
    registry = cloud.app.state.registry
    assert live_session_ids(cloud) == [sid]
    assert registry.ended == {}
    got = c.get(f"/sessions/{sid}", headers=auth)
    assert got.status_code == 200 and got.json()["state"] not in ("CLOSED", "INACTIVE"), got.text
    base = f"/sessions/{sid}/transport/webrtc"
    # No answer was produced for the real connection, and no legacy v0 connection exists.
    assert c.get(f"{base}/connections/{cid}/sdp_params", headers=auth).status_code == 202
    assert c.get(f"{base}/sdp_params", headers=auth).status_code == 404
    if in_process(cloud):  # the session's own bookkeeping is visible only in this process
        assert registry.upload_file_count() == 0
        assert registry.running.peers.keys() == {cid}
        assert upload_slots(cloud) == 0


def upload_slots(cloud: Cloud) -> int:
    return len(cloud.app.state.registry.running.session.uploads._slots)


def test_the_checks_are_not_vacuous(cloud: Cloud) -> None:
    """With the right token the same requests do have the effects the matrix rules out."""
    auth = cloud.bearer(cloud.token)
    sid = cloud.session_id
    r = cloud.client.post(f"/sessions/{sid}/uploads", headers=auth, json=BODIES["CreateUpload"])
    assert r.status_code == 201
    assert cloud.client.put(r.json()["presigned_url"], content=b"abc").status_code == 200
    r = cloud.client.post(f"/sessions/{sid}/transport/webrtc/connections", headers=auth, json={})
    assert r.status_code == 201
    if in_process(cloud):
        registry = cloud.app.state.registry
        assert upload_slots(cloud) == 1 and registry.upload_file_count() == 1
        assert len(registry.running.peers) == 2
    assert cloud.client.delete(f"/sessions/{sid}", headers=auth).status_code == 204
    assert cloud.client.get(f"/sessions/{sid}", headers=auth).json()["state"] == "CLOSED"
    assert live_session_ids(cloud) == []


def test_every_bad_credential_is_refused_everywhere(cloud: Cloud) -> None:
    ops = bearer_operations(cloud)
    bad = _bad_credentials(cloud)
    for label, headers in bad.items():
        for method, url, body in ops:
            if label == "other key" and (method, url) == ("post", "/sessions"):
                continue  # any valid key may create sessions of its own (here: 429, no capacity)
            r = cloud.client.request(method.upper(), url, headers=headers, json=body)
            if url in LOCAL_VIEW and not in_process(cloud):
                _assert_not_found(r, f"{label}: {method.upper()} {url}")
                continue
            _assert_refused(r, f"{label}: {method.upper()} {url}")
            if label in ("no token", "not bearer", "empty bearer", "malformed", "forged", "unsigned"):
                assert r.status_code == 401, f"{label}: {method.upper()} {url}: {r.status_code}"
            if label == "expired":
                assert r.status_code == 401 and "expired" in r.json()["detail"], url
    _assert_untouched(cloud)


def test_a_revoked_key_is_refused_everywhere(cloud: Cloud) -> None:
    ops = bearer_operations(cloud)
    assert cloud.app.state.auth.keys.revoke(cloud.owner_id)
    for method, url, body in ops:
        r = cloud.client.request(method.upper(), url, headers=cloud.bearer(cloud.token), json=body)
        if url in LOCAL_VIEW and not in_process(cloud):
            _assert_not_found(r, f"revoked: {method.upper()} {url}")
            continue
        _assert_refused(r, f"revoked: {method.upper()} {url}")
        assert r.status_code == 401 and "revoked" in r.json()["detail"], url
    r = cloud.client.post("/tokens", headers={"Reactor-API-Key": cloud.owner_key}, json=None)
    _assert_refused(r, "revoked key on /tokens")
    assert live_session_ids(cloud) == [cloud.session_id]
    assert cloud.app.state.registry.ended == {}


@pytest.mark.parametrize("method", ["get", "post"])
def test_tokens_refuse_every_bad_key(cloud: Cloud, method: str) -> None:
    keys = cloud.app.state.auth.keys
    revoked, revoked_key = keys.create("revoked")
    assert keys.revoke(revoked.key_id)
    cases = {
        "no key": {},
        "empty key": {"Reactor-API-Key": ""},
        "malformed key": {"Reactor-API-Key": "not a key"},
        "unknown key": {"Reactor-API-Key": "rk_" + "A" * 43},
        "a token instead of a key": {"Reactor-API-Key": cloud.token},
        "bearer instead of a key": {"Authorization": f"Bearer {cloud.token}"},
        "revoked key": {"Reactor-API-Key": revoked_key},
        "revoked key (X-API-Key)": {"X-API-Key": revoked_key},
    }
    for label, headers in cases.items():
        kwargs: dict[str, Any] = {"json": None} if method == "post" else {}
        r = cloud.client.request(method.upper(), "/tokens", headers=headers, **kwargs)
        _assert_refused(r, label)
        assert r.status_code == 401, label
        assert "jwt" not in r.text


def test_a_session_bound_token_cannot_create_sessions(cloud: Cloud) -> None:
    bound = cloud.mint(cloud.owner_key, _scope(bind=[cloud.session_id]))
    # It acts on its session...
    assert cloud.client.get(f"/sessions/{cloud.session_id}", headers=cloud.bearer(bound)).status_code == 200
    # ...but may not start another one (even where capacity allowed it).
    r = cloud.client.post("/sessions", headers=cloud.bearer(bound), json=SESSION_BODY)
    _assert_refused(r, "bound token creating a session")
    assert r.status_code == 403


def test_a_model_scoped_token_acts_only_on_its_models_sessions(cloud: Cloud) -> None:
    painter = cloud.mint(cloud.owner_key, _scope(["painter"]))
    r = cloud.client.get(f"/sessions/{cloud.session_id}", headers=cloud.bearer(painter))
    _assert_refused(r, "painter token on a probe session")
    assert r.status_code == 403
    unscoped = cloud.mint(cloud.owner_key)
    assert (
        cloud.client.get(f"/sessions/{cloud.session_id}", headers=cloud.bearer(unscoped)).status_code == 200
    )
