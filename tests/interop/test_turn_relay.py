"""Reachable through TURN only: the official Python client and Chromium, each in a namespace that
can reach our server's HTTP port and a coturn server but not the server's media address.

``turn_relay_launcher.py`` (inside ``netns-run``) builds that topology, starts Debian's coturn
with ``--use-auth-secret`` and our server with ``--turn-url``/``--turn-secret-file``, and runs one
client. The client must connect with the credentials our ``ice_servers`` route minted, and the
tests make sure no direct path did the work: the client's own statistics name a relay candidate
on the selected pair, and coturn's log counts the media it relayed for that session's username.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from support.paths import NETNS_RUN, REPO, official_python
from support.servers import skip_unless_ci

HERE = Path(__file__).resolve().parent
LAUNCHER = HERE / "turn_relay_launcher.py"
DRIVER = HERE / "turn_relay_driver.py"
CHECKS = HERE / "turn_checks.py"
BROWSER_SCRIPT = REPO / "js" / "e2e" / "turn_relay.mjs"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
MEDIA = "127.0.0.2"  # the server's ICE host address, unreachable from the client
TTL_S = 600  # the launcher's --turn-ttl
MIN_RELAYED_BYTES = 200_000  # a couple of seconds of 640x360 VP8; signalling alone is a few kB


def in_netns(command: list[str], marker: str) -> dict[str, Any]:
    """Run ``command`` under netns-run; the JSON after its last ``marker`` line."""
    if not os.access(NETNS_RUN, os.X_OK):
        skip_unless_ci(f"{NETNS_RUN} is missing")
    for tool in ("turnserver", "nsenter", "unshare", "ip"):
        if shutil.which(tool) is None:
            skip_unless_ci(f"{tool} is not installed (scripts/install_test.sh installs coturn)")
    probe = subprocess.run([str(NETNS_RUN), "true"], capture_output=True, text=True, timeout=30)
    if probe.returncode != 0:
        skip_unless_ci(f"netns-run cannot create a network namespace here: {probe.stderr.strip()}")
    proc = subprocess.run([str(NETNS_RUN), *command], capture_output=True, text=True, timeout=100, cwd=REPO)
    lines = [line for line in proc.stdout.splitlines() if line.startswith(marker)]
    assert lines, f"no {marker} line (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    result: dict[str, Any] = json.loads(lines[-1][len(marker) :])
    return result


def launch(client: list[str]) -> dict[str, Any]:
    """One run of ``client`` through the relay topology; the launcher's report."""
    cmd = [sys.executable, str(LAUNCHER), "--client-timeout", "60", "--", *client]
    report = in_netns(cmd, "@@LAUNCH ")
    assert "error" not in report, explain(report)
    assert report["client"]["result"] is not None, explain(report)
    assert "exception" not in report["client"]["result"], explain(report)
    return report


def explain(report: dict[str, Any]) -> str:
    tails = ("server_log", "turn_log")
    brief = {k: v for k, v in report.items() if k not in tails}
    return f"\n{json.dumps(brief, indent=1, default=repr)}" + "".join(
        f"\n--- {name} ---\n{report.get(name)}" for name in tails
    )


def assert_only_the_relay_was_possible(report: dict[str, Any]) -> None:
    topology = report["topology"]
    assert topology["udp_to_media"] != "sent", explain(report)  # no route to the media address
    assert topology["http_health"] == 200, explain(report)


def assert_relayed_for_session(report: dict[str, Any], session_id: str, client_bytes: int) -> None:
    """coturn allocated for our minted username and relayed at least what the client received."""
    turn = report["turn"]
    assert len(turn["usernames"]) == 1, explain(report)  # the client may allocate more than once
    username = turn["usernames"][0]
    expiry, _, label = username.partition(":")
    assert label == session_id, explain(report)
    assert time.time() < int(expiry) <= time.time() + TTL_S, explain(report)
    assert turn["processed"].get("ALLOCATE", 0) >= 1, explain(report)
    assert turn["processed"].get("CREATE_PERMISSION", 0) + turn["processed"].get("CHANNEL_BIND", 0) >= 1
    assert turn["permissions"] == [MEDIA], explain(report)  # the relay's only peer is our server
    assert turn["usage"] and {u["username"] for u in turn["usage"]} == {username}, explain(report)
    # Everything the client counted on its selected pair went through coturn.
    sent_to_client = sum(u["sb"] for u in turn["usage"])
    received_from_server = sum(u["rb"] for u in turn["peer_usage"])
    assert sent_to_client >= max(MIN_RELAYED_BYTES, 0.9 * client_bytes), explain(report)
    assert received_from_server >= MIN_RELAYED_BYTES, explain(report)
    assert report["secret_in_server_log"] is False, explain(report)


# -- the official Python client (reactor-sdk 1.13.0) ----------------------------------------------


@pytest.fixture(scope="module")
def official_run() -> dict[str, Any]:
    if not official_python().exists():
        skip_unless_ci(f"official reactor-sdk interpreter {official_python()} is missing")
    return launch([str(official_python()), str(DRIVER)])


def test_official_client_streams_through_the_relay(official_run: dict[str, Any]) -> None:
    assert_only_the_relay_was_possible(official_run)
    driver = official_run["client"]["result"]
    assert driver["connect"]["ok"] and driver["statuses"][:3] == ["connecting", "waiting", "ready"]
    stream = driver["stream"]
    assert stream["reached_min"] and stream["strictly_increasing"], explain(official_run)
    assert stream["shape"] == [360, 640, 3], explain(official_run)
    assert driver["set_value"]["raised"] is None and driver["set_value"]["value_seen"], explain(official_run)
    assert driver["errors"] == [], explain(official_run)


def test_official_client_selected_a_relay_candidate(official_run: dict[str, Any]) -> None:
    stats = official_run["client"]["result"]["stats"]
    assert stats["candidate_type"] == "relay" and stats["relay_protocol"] == "udp", explain(official_run)
    nominated = stats["nominated_pairs"]
    assert nominated and all(p["local_candidate_type"] == "relay" for p in nominated), explain(official_run)
    # The host candidate pairs never carried anything.
    assert all(p["bytes_received"] == 0 for p in stats["pairs"] if p["local_candidate_type"] == "host")


def test_coturn_relayed_the_official_clients_media(official_run: dict[str, Any]) -> None:
    driver = official_run["client"]["result"]
    relayed = max(p["bytes_received"] for p in driver["stats"]["nominated_pairs"])
    assert_relayed_for_session(official_run, driver["connect"]["session_id"], relayed)


# -- Chromium (the playground, our JS SDK) --------------------------------------------------------


@pytest.fixture(scope="module")
def chromium_run() -> dict[str, Any]:
    for path, hint in (
        (Path(CHROMIUM), "install Debian's chromium (apt-get install -y chromium)"),
        (REPO / "js" / "node_modules" / "playwright-core", "run `npm ci` in js/ (scripts/install_test.sh does)"),
    ):
        if not path.exists():
            pytest.fail(f"{path} is missing: {hint}")
    if shutil.which("node") is None:
        pytest.fail("node is not installed")
    return launch(["node", str(BROWSER_SCRIPT)])  # the script reads $CHROMIUM itself


def test_chromium_plays_the_stream_through_the_relay(chromium_run: dict[str, Any]) -> None:
    assert_only_the_relay_was_possible(chromium_run)
    page = chromium_run["client"]["result"]
    assert page["ready"], explain(chromium_run)
    counters = page["counters"]
    assert len(counters) >= 5 and counters == sorted(set(counters)), explain(chromium_run)
    # Our SDK handed Chromium the server's TURN entry with credentials minted for this session.
    (turn,) = page["iceServers"]
    assert turn["urls"] == ["turn:127.0.0.3:3478?transport=udp"] and turn["hasCredential"], explain(
        chromium_run
    )
    assert turn["username"].endswith(":" + page["sessionId"]), explain(chromium_run)


def test_chromium_selected_a_relay_candidate(chromium_run: dict[str, Any]) -> None:
    pair = chromium_run["client"]["result"]["pair"]
    assert pair["state"] == "succeeded" and pair["framesDecoded"] > 0, explain(chromium_run)
    assert pair["local"]["type"] == "relay" and pair["local"]["relayProtocol"] == "udp", explain(chromium_run)
    assert pair["remote"]["address"] == MEDIA, explain(chromium_run)


def test_coturn_relayed_chromiums_media(chromium_run: dict[str, Any]) -> None:
    page = chromium_run["client"]["result"]
    assert_relayed_for_session(chromium_run, page["sessionId"], page["pair"]["bytesReceived"])


# -- against coturn directly: the server's relay candidate, what the TTL means ----------------------


def test_turn_for_server_gives_the_servers_ice_agent_a_relay_candidate() -> None:
    result = in_netns([sys.executable, str(CHECKS), "server-relay"], "@@RESULT ")
    relay = [c for c in result["candidates"] if " typ relay " in c]
    assert len(relay) == 1 and f" {MEDIA} " in relay[0], result
    # coturn accepted the credentials minted from the shared secret for the server's label.
    (username,) = result["turn"]["usernames"]
    assert username.endswith(":server-check") and result["turn"]["processed"]["ALLOCATE"] == 1, result


def test_the_ttl_bounds_new_allocations_not_running_ones() -> None:
    """docs/NETWORKING.md: a relayed session outlives its credential's expiry; a new one cannot."""
    result = in_netns([sys.executable, str(CHECKS), "expiry"], "@@RESULT ")
    assert result["refresh_after_expiry"] == "ok" and result["permission_after_expiry"] == "ok", result
    assert "401" in result["new_allocation_after_expiry"], result
