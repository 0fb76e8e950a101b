"""STUN/TURN for clients (``ice.py``): coturn's shared-secret credentials, settings, the route,
and the public-address twins of host candidates behind NAT (``transport/public_address.py``).

The relay itself, through a real coturn, is proven in tests/interop/test_turn_relay.py.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import logging
import time
import warnings
from pathlib import Path
from typing import Any

import pytest
from aiortc import RTCPeerConnection

from openreactor.cli import build_parser, main, serve_settings
from openreactor.config import ConfigError, resolve_settings
from openreactor.ice import (
    MAX_TURN_TTL_S,
    check_ice_settings,
    client_ice_servers,
    server_ice_servers,
    turn_credentials,
)
from openreactor.serve import create_serve_app
from openreactor.settings import Settings
from openreactor.transport.peer import _rtc_configuration
from openreactor.transport.public_address import add_public_candidates, parse_public_addresses
from reactor_rtc.ice_hosts import configured_host_addresses, set_host_addresses

with warnings.catch_warnings():  # starlette's "use httpx2" notice; httpx is what the suite has
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

SECRET = "s3cret-shared-with-coturn"
TURN = "turn:turn.example.org:3478?transport=udp"
HEADERS = {"Reactor-API-Version": "1", "Reactor-API-Accept-Version": "1", "Reactor-WebRTC-Version": "1.0"}


def expected_password(secret: str, username: str) -> str:
    """coturn's check, written out independently of ice.py."""
    mac = hmac.new(secret.encode(), username.encode(), hashlib.sha1)
    return base64.b64encode(mac.digest()).decode()


def assert_valid(credentials: dict[str, str], label: str, ttl_s: int, secret: str = SECRET) -> None:
    expiry, _, got_label = credentials["username"].partition(":")
    now = time.time()
    assert got_label == label
    assert now < int(expiry) <= now + ttl_s + 1  # in the future, and no later than the TTL allows
    assert credentials["password"] == expected_password(secret, credentials["username"])
    assert len(base64.b64decode(credentials["password"])) == 20  # a SHA-1 digest


@pytest.fixture
def secret_file(tmp_path: Path) -> Path:
    path = tmp_path / "turn.secret"
    path.write_text(SECRET + "\n")  # the newline an editor leaves is not part of the secret
    return path


def turn_settings(secret_file: Path, **overrides: Any) -> Settings:
    return Settings(turn_urls=(TURN,), turn_secret_file=secret_file, **overrides)


# -- the credential scheme ------------------------------------------------------------------------


def test_credentials_follow_coturns_rest_api_scheme() -> None:
    creds = turn_credentials(SECRET.encode(), "sess-1", 600, now=1_700_000_000)
    assert creds["username"] == "1700000600:sess-1"
    assert creds["password"] == expected_password(SECRET, "1700000600:sess-1")
    assert_valid(turn_credentials(SECRET.encode(), "sess-1", 600), "sess-1", 600)


def test_client_servers_merge_static_stun_and_turn_in_that_order(secret_file: Path) -> None:
    static = [{"uris": ["turn:static.example:3478"], "credentials": {"username": "u", "password": "p"}}]
    settings = turn_settings(secret_file, ice_servers=static, stun_urls=("stun:stun.example.org:3478",))
    servers = client_ice_servers(settings, "sid")
    assert servers[:2] == [*static, {"uris": ["stun:stun.example.org:3478"]}]
    assert servers[2]["uris"] == [TURN]
    assert_valid(servers[2]["credentials"], "sid", 3600)
    assert settings.ice_servers == static  # handing out a list never edits the setting
    assert client_ice_servers(Settings(), "sid") == []


def test_each_request_mints_from_the_current_secret(secret_file: Path) -> None:
    settings = turn_settings(secret_file, turn_ttl_s=60)
    assert_valid(client_ice_servers(settings, "a")[0]["credentials"], "a", 60)
    secret_file.write_text("rotated")  # rotation needs no restart
    assert_valid(client_ice_servers(settings, "a")[0]["credentials"], "a", 60, secret="rotated")


def test_an_unreadable_secret_leaves_turn_out_and_says_why(
    secret_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = turn_settings(secret_file, stun_urls=("stun:stun.example.org:3478",))
    secret_file.unlink()
    with caplog.at_level(logging.ERROR, logger="openreactor.ice"):
        assert client_ice_servers(settings, "a") == [{"uris": ["stun:stun.example.org:3478"]}]
    assert str(secret_file) in caplog.text


def test_the_server_relays_only_when_asked(secret_file: Path) -> None:
    static = [{"uris": ["stun:static.example:3478"]}]
    assert server_ice_servers(turn_settings(secret_file, ice_servers=static), "sid") == static
    assert server_ice_servers(Settings(stun_urls=("stun:x.example:3478",)), "sid") == []
    servers = server_ice_servers(turn_settings(secret_file, turn_for_server=True), "sid")
    assert servers[0]["uris"] == [TURN]
    (ice,) = _rtc_configuration(servers).iceServers
    assert ice.urls == [TURN] and ice.username == servers[0]["credentials"]["username"]
    assert ice.credential == expected_password(SECRET, ice.username)


# -- settings -------------------------------------------------------------------------------------


def test_flags_env_and_file_set_the_turn_settings(secret_file: Path, tmp_path: Path) -> None:
    argv = ["serve", "--turn-url", TURN, "--turn-url", "turn:b.example:3478?transport=tcp",
            "--stun-url", "stun:s.example:3478", "--turn-secret-file", str(secret_file),
            "--turn-ttl", "120", "--turn-for-server", "--ice-public", "203.0.113.9,10.0.0.5=198.51.100.1"]  # fmt: skip
    s = serve_settings(build_parser().parse_args(argv), environ={})
    assert s.turn_urls == (TURN, "turn:b.example:3478?transport=tcp")
    assert s.stun_urls == ("stun:s.example:3478",)
    assert (s.turn_secret_file, s.turn_ttl_s, s.turn_for_server) == (secret_file, 120, True)
    assert s.ice_public_addresses == ("203.0.113.9", "10.0.0.5=198.51.100.1")
    check_ice_settings(s)

    env = {"OPENREACTOR_TURN_URLS": f"{TURN}, turn:b.example:3478", "OPENREACTOR_TURN_TTL_S": "300",
           "OPENREACTOR_TURN_SECRET_FILE": str(secret_file), "OPENREACTOR_ICE_PUBLIC_ADDRESSES": "203.0.113.9"}  # fmt: skip
    s = resolve_settings(environ=env)
    assert s.turn_urls == (TURN, "turn:b.example:3478") and s.turn_ttl_s == 300
    assert s.turn_secret_file == secret_file and s.ice_public_addresses == ("203.0.113.9",)

    conf = tmp_path / "openreactor.toml"
    conf.write_text(f'turn_urls = ["{TURN}"]\nturn_secret_file = "turn.secret"\nstun_urls = []\n')
    s = resolve_settings(config_file=conf, environ={})
    assert s.turn_urls == (TURN,) and s.turn_secret_file == secret_file


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"turn_urls": (TURN,)}, "go together"),
        ({"turn_secret_file": "SECRET"}, "go together"),
        ({"turn_urls": ("stun:x.example:3478",), "turn_secret_file": "SECRET"}, "not a turn"),
        ({"stun_urls": ("turn:x.example:3478",)}, "not a stun"),
        ({"turn_urls": (TURN,), "turn_secret_file": "SECRET", "turn_ttl_s": 0}, "turn_ttl_s"),
        (
            {"turn_urls": (TURN,), "turn_secret_file": "SECRET", "turn_ttl_s": MAX_TURN_TTL_S + 1},
            "turn_ttl_s",
        ),
        ({"turn_for_server": True}, "turn_for_server needs"),
        ({"turn_urls": (TURN,), "turn_secret_file": "MISSING"}, "cannot read a secret"),
        ({"turn_urls": (TURN,), "turn_secret_file": "EMPTY"}, "cannot read a secret"),
        ({"ice_public_addresses": ("not-an-ip",)}, "ice_public_addresses"),
        ({"ice_public_addresses": ("10.0.0.5=2001:db8::1",)}, "ice_public_addresses"),
    ],
)
def test_unusable_settings_are_refused_at_startup(
    overrides: dict[str, Any], message: str, secret_file: Path, tmp_path: Path
) -> None:
    (tmp_path / "empty").write_text("\n")
    files = {"SECRET": secret_file, "MISSING": tmp_path / "missing", "EMPTY": tmp_path / "empty"}
    if "turn_secret_file" in overrides:
        overrides["turn_secret_file"] = files[overrides["turn_secret_file"]]
    with pytest.raises(ConfigError, match=message) as caught:
        check_ice_settings(Settings(**overrides))
    assert SECRET not in str(caught.value)


def test_serve_exits_2_on_unusable_turn_settings(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--turn-url", TURN]) == 2
    assert "go together" in capsys.readouterr().err


# -- the route ------------------------------------------------------------------------------------


def test_ice_servers_route_mints_credentials_for_the_session(
    secret_file: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = turn_settings(secret_file, model="echo", state_dir=tmp_path / "state", turn_ttl_s=900)
    passwords = []
    with caplog.at_level(logging.DEBUG), TestClient(create_serve_app(settings)) as client:
        sid = client.post("/start_session", json={}, headers=HEADERS).json()["session_id"]
        for _ in range(2):
            r = client.get(f"/sessions/{sid}/transport/webrtc/ice_servers", headers=HEADERS)
            assert r.status_code == 200, r.text
            (turn,) = r.json()["ice_servers"]
            assert turn["uris"] == [TURN]
            assert_valid(turn["credentials"], sid, 900)
            passwords.append(turn["credentials"]["password"])
        client.post("/stop_session", headers=HEADERS)
    # Neither the secret nor a password it made shows up in the log or in the settings' repr.
    for text in (caplog.text, repr(settings)):
        assert SECRET not in text
        assert not any(p in text for p in passwords)


# -- public addresses behind NAT ------------------------------------------------------------------

ANSWER = "\r\n".join(
    [
        "v=0",
        "m=video 9 UDP/TLS/RTP/SAVPF 96",
        "a=candidate:a1 1 udp 2130706431 10.0.0.5 50000 typ host",
        "a=candidate:a2 1 udp 2130706431 10.0.0.6 50002 typ host",
        "a=candidate:a3 1 udp 2130706431 2001:db8::5 50004 typ host",
        "a=candidate:a4 1 tcp 1518280447 10.0.0.5 9 typ host tcptype passive",
        "a=candidate:a5 1 udp 2130706431 abcd.local 50006 typ host",
        "a=end-of-candidates",
        "",
    ]
)


def srflx_lines(sdp: str) -> list[list[str]]:
    return [line.split()[4:] for line in sdp.split("\r\n") if " typ srflx " in line]


def test_a_public_address_twins_every_host_candidate_of_its_ip_version() -> None:
    sdp = add_public_candidates(ANSWER, ["203.0.113.9"])
    assert srflx_lines(sdp) == [
        ["203.0.113.9", "50000", "typ", "srflx", "raddr", "10.0.0.5", "rport", "50000"],
        ["203.0.113.9", "50002", "typ", "srflx", "raddr", "10.0.0.6", "rport", "50002"],
    ]
    lines = sdp.split("\r\n")
    # Each twin follows its host candidate (before end-of-candidates); the host candidates stay.
    assert lines.index("a=end-of-candidates") == len(lines) - 2
    assert all(line in lines for line in ANSWER.split("\r\n"))
    twin = lines[lines.index("a=candidate:a1 1 udp 2130706431 10.0.0.5 50000 typ host") + 1]
    foundation, _component, _transport, priority = twin[len("a=candidate:") :].split()[:4]
    assert foundation != "a1" and int(priority) < 2130706431  # srflx ranks below host


def test_local_equals_public_maps_only_that_address() -> None:
    sdp = add_public_candidates(ANSWER, ["10.0.0.6=198.51.100.1", "2001:db8::5=2001:db8:ffff::5"])
    assert [s[:2] + s[4:6] for s in srflx_lines(sdp)] == [
        ["198.51.100.1", "50002", "raddr", "10.0.0.6"],
        ["2001:db8:ffff::5", "50004", "raddr", "2001:db8::5"],
    ]
    assert add_public_candidates(ANSWER, []) == ANSWER
    assert parse_public_addresses([" 203.0.113.9 "])[0].public == "203.0.113.9"


def test_the_answer_of_a_real_negotiation_carries_the_public_twin(tmp_path: Path) -> None:
    async def make_offer() -> str:
        pc = RTCPeerConnection()
        pc.addTransceiver("video", direction="recvonly")
        pc.createDataChannel("data")
        await pc.setLocalDescription(await pc.createOffer())
        sdp: str = pc.localDescription.sdp
        await pc.close()
        return sdp

    settings = Settings(
        model="probe",
        width=640,
        height=360,
        state_dir=tmp_path / "state",
        ice_host_addresses=("127.0.0.1",),
        ice_public_addresses=("127.0.0.1=192.0.2.44",),
    )
    offer = asyncio.run(make_offer())
    pinned = configured_host_addresses()  # the app pins ICE hosts process-wide; put them back after
    with contextlib.ExitStack() as stack:
        stack.callback(set_host_addresses, pinned)
        client = stack.enter_context(TestClient(create_serve_app(settings)))
        sid = client.post("/start_session", json={}, headers=HEADERS).json()["session_id"]
        base = f"/sessions/{sid}/transport/webrtc"
        cid = client.post(f"{base}/connections", json={}, headers=HEADERS).json()["connection_id"]
        mapping = [{"name": "main_video", "kind": "video", "direction": "recvonly", "mid": "0"}]
        r = client.post(
            f"{base}/connections/{cid}/sdp_params",
            json={"sdp_offer": offer, "track_mapping": mapping},
            headers=HEADERS,
        )
        assert r.status_code == 202, r.text
        answer = client.get(f"{base}/connections/{cid}/sdp_params", headers=HEADERS).json()["sdp_answer"]
        client.post("/stop_session", headers=HEADERS)
    twins = srflx_lines(answer)
    assert twins and all(t[0] == "192.0.2.44" and t[5] == "127.0.0.1" for t in twins), answer
    hosts = [line.split()[4:6] for line in answer.split("\r\n") if " typ host" in line]
    assert sorted(t[1] for t in twins) == sorted(port for _, port in hosts)
