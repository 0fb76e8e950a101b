"""The official Python client (``reactor-sdk`` 1.13.0) with an API key against our coordinator.

One ``netns-run`` launch (``official_harness.launch(..., cluster=True)``): redis-server, one
``openreactor worker`` node and an ``openreactor coordinator``, all on 127.0.0.2; the key is
created in Redis (``openreactor keys --redis``). The client mints a token from the coordinator,
creates the session there (placed on the worker), signals through the coordinator (relayed to
the worker's internal API) and receives media from the worker directly.
"""

from __future__ import annotations

from typing import Any

import pytest
from official_harness import explain, launch

CLOUD_MIN_FRAMES = 30  # official_client_driver.CLOUD_MIN_FRAMES


@pytest.fixture(scope="module")
def cluster_run() -> dict[str, Any]:
    return launch("cloud", create_key=True, server_log_level="info", cluster=True)


def test_connects_and_streams_through_the_coordinator(cluster_run: dict[str, Any]) -> None:
    driver = cluster_run["driver"]
    assert driver["connect"]["ok"] and driver["connect"]["status"] == "ready", explain(cluster_run)
    assert driver["errors"] == [], explain(cluster_run)
    stream = driver["stream"]
    assert stream["reached_min"] and stream["decoded"] >= CLOUD_MIN_FRAMES, explain(cluster_run)
    assert stream["shape"] == [360, 640, 3] and stream["strictly_increasing"], explain(cluster_run)
    result = driver["set_value"]
    assert result["raised"] is None and result["value_seen"], explain(cluster_run)
    connected = cluster_run["cloud_session"]["connected"]
    assert connected["status"] == 200 and connected["state"] in ("WAITING", "ACTIVE"), explain(cluster_run)


def test_the_coordinator_relayed_and_the_worker_hosted(cluster_run: dict[str, Any]) -> None:
    coordinator_log, worker_log = cluster_run["server_log"], cluster_run["worker_log"]
    for request in ("POST /tokens", "POST /sessions", "/transport/webrtc/connections/"):
        assert request in coordinator_log, explain(cluster_run)
    assert "placed on worker" in coordinator_log, explain(cluster_run)
    assert "hosts session" in worker_log or "POST /sessions" in worker_log, cluster_run["worker_log"]


def test_disconnect_closes_the_session_in_the_cluster(cluster_run: dict[str, Any]) -> None:
    assert cluster_run["driver"]["disconnect"]["status"] == "disconnected", explain(cluster_run)
    after = cluster_run["cloud_session"]["after_disconnect"]
    assert after["status"] == 200 and after["state"] == "CLOSED", explain(cluster_run)
    assert cluster_run["driver_exit_status"] == 0 and cluster_run["server_exit_status"] == 0, explain(
        cluster_run
    )
