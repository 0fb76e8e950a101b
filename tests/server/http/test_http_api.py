"""The local control plane and signalling routes over real HTTP: statuses, bodies, bad input."""

from __future__ import annotations

import httpx
import pytest

SIG = "/sessions/{sid}/transport/webrtc"
HEADERS = {"Reactor-API-Version": "1", "Reactor-API-Accept-Version": "1", "Reactor-WebRTC-Version": "1.0"}


@pytest.fixture
def client(probe_server: str):
    with httpx.Client(base_url=probe_server, headers=HEADERS, timeout=10) as c:
        yield c


def start(client: httpx.Client) -> dict:
    r = client.post("/start_session", json={})
    assert r.status_code == 200, r.text
    return r.json()


def test_health_then_serving(client: httpx.Client) -> None:
    assert client.get("/health").json() == {"status": "healthy", "state": "available", "detail": None}
    start(client)
    assert client.get("/health").json()["state"] == "serving"


def test_start_session_returns_a_ready_descriptor(client: httpx.Client) -> None:
    d = start(client)
    assert d["state"] == "waiting"
    assert d["selected_transport"] == {"protocol": "webrtc", "version": "1.0"}
    assert d["capabilities"]["tracks"] == [{"name": "main_video", "kind": "video", "direction": "recvonly"}]
    assert d["capabilities"]["emission_fps"] == 30.0
    assert d["model"] == {"name": "probe"}
    for field in ("session_id", "cluster", "server_info", "generation"):
        assert field in d
    assert client.get("/session").json()["session_id"] == d["session_id"]


def test_one_session_at_a_time_and_stop(client: httpx.Client) -> None:
    d = start(client)
    busy = client.post("/start_session", json={})
    assert busy.status_code == 409
    assert "cannot start session while" in busy.json()["detail"]
    assert client.post("/stop_session").status_code == 200
    assert client.get("/session").status_code == 404
    assert client.post("/stop_session").status_code == 409
    # The ended session's signalling routes answer 404, and a new session can start.
    assert client.get(SIG.format(sid=d["session_id"]) + "/ice_servers").status_code == 404
    assert start(client)["session_id"] != d["session_id"]


def test_stop_with_reason_validates_length(client: httpx.Client) -> None:
    start(client)
    assert client.post("/stop_session", json={"reason": "x" * 65}).status_code == 400
    assert client.post("/stop_session", json={"reason": "moderation", "moderate": True}).status_code == 200


def test_stepped_generation_is_refused_clearly(client: httpx.Client) -> None:
    r = client.post("/start_session", json={"generation": "stepped"})
    assert r.status_code == 400
    assert "stepped" in r.json()["detail"]


def test_schema_lists_the_probe_command(client: httpx.Client) -> None:
    doc = client.get("/schema").json()
    body = doc["paths"]["/events/set_value"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body["properties"]["value"]["maximum"] == 65535
    assert body["required"] == ["value"]
    assert doc["x-reactor"]["tracks"] == [{"name": "main_video", "kind": "video", "direction": "out"}]


def test_connections_and_answer_polling(client: httpx.Client) -> None:
    sid = start(client)["session_id"]
    base = SIG.format(sid=sid)
    assert client.get(base + "/ice_servers").json() == {"ice_servers": []}
    r = client.post(base + "/connections", json={})
    assert r.status_code == 201
    cid = r.json()["connection_id"]
    assert 5000 <= cid <= 9999
    assert r.json()["track_map"] == {"main_video": {"kind": "video", "direction": "out", "rate": 0.0}}
    assert client.get(f"{base}/connections/{cid}/sdp_params").status_code == 202
    early = {
        "candidates": [
            {
                "candidate": "candidate:1 1 udp 2122260223 127.0.0.2 5000 typ host ufrag ab",
                "sdp_mid": "0",
                "sdp_mline_index": 0,
            }
        ],
        "is_final": False,
    }
    assert client.post(f"{base}/connections/{cid}/ice_candidates", json=early).status_code == 202


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/nope", 404),
        ("DELETE", "/start_session", 405),
        ("GET", "/start_session", 405),
        ("POST", "/health", 405),
    ],
)
def test_unknown_routes_and_methods_get_json_errors(
    client: httpx.Client, method: str, path: str, status: int
) -> None:
    r = client.request(method, path)
    assert r.status_code == status
    assert isinstance(r.json()["detail"], str)


def test_malformed_bodies_are_400(client: httpx.Client) -> None:
    for body in (b"{not json", b"[1, 2]", b'"text"'):
        r = client.post("/start_session", content=body, headers={"Content-Type": "application/json"})
        assert r.status_code == 400, body
        assert "detail" in r.json()
    sid = start(client)["session_id"]
    base = SIG.format(sid=sid)
    cid = client.post(base + "/connections", json={}).json()["connection_id"]
    offer_url = f"{base}/connections/{cid}/sdp_params"
    assert client.post(offer_url, content=b"{oops").status_code == 400
    assert client.post(offer_url, json={"no_offer": 1}).status_code == 400
    bad_sdp = client.post(offer_url, json={"sdp_offer": "this is not SDP", "track_mapping": []})
    assert bad_sdp.status_code == 400
    assert "SDP" in bad_sdp.json()["detail"]
    bad_mapping = client.post(offer_url, json={"sdp_offer": "v=0\r\n", "track_mapping": "main_video"})
    assert bad_mapping.status_code == 400
    assert client.post(f"{base}/connections/{cid}/ice_candidates", json={"candidates": 5}).status_code == 400
    # Still serving after all of that.
    assert client.get("/session").json()["session_id"] == sid


def test_unknown_session_and_connection_are_404(client: httpx.Client) -> None:
    assert client.get(SIG.format(sid="nope") + "/ice_servers").status_code == 404
    sid = start(client)["session_id"]
    base = SIG.format(sid=sid)
    assert client.get(f"{base}/connections/123/sdp_params").status_code == 404
    r = client.post(f"{base}/connections/123/sdp_params", json={"sdp_offer": "v=0\r\n", "track_mapping": []})
    assert r.status_code == 404
    assert client.get(f"{base}/connections/abc/sdp_params").status_code == 400


def test_version_headers(client: httpx.Client) -> None:
    assert client.post("/start_session", json={}, headers={"Reactor-API-Version": "0"}).status_code == 426
    assert client.post("/start_session", json={}, headers={"Reactor-API-Version": "2"}).status_code == 501
    sid = start(client)["session_id"]
    r = client.get(SIG.format(sid=sid) + "/ice_servers", headers={"Reactor-WebRTC-Version": "1.0.0"})
    assert r.status_code == 400
