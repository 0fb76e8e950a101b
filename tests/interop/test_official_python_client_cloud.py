"""The official Python client (``reactor-sdk`` 1.13.0) on our cloud plane, with an API key.

One ``netns-run`` launch (see ``official_harness.py``): the launcher creates an API key in the
server's ``--state-dir`` (``openreactor keys create``), the driver builds
``Reactor("probe", api_key=KEY, api_url=URL)``, which mints a token (``POST /tokens``), creates
the session (``POST /sessions``) and polls ``GET /sessions/{id}`` before signalling with the
bearer; ``disconnect()`` deletes the session, which the launcher then reads back as ``CLOSED``.
"""

from __future__ import annotations

from typing import Any

import pytest
from official_harness import explain, launch

CLOUD_MIN_FRAMES = 30  # official_client_driver.CLOUD_MIN_FRAMES
CLOUD_VALUE = 3131  # official_client_driver.CLOUD_VALUE


@pytest.fixture(scope="module")
def cloud_run() -> dict[str, Any]:
    return launch("cloud", create_key=True, server_log_level="info")


def test_connects_with_an_api_key(cloud_run: dict[str, Any]) -> None:
    driver = cloud_run["driver"]
    assert driver["connect"]["ok"] and driver["connect"]["status"] == "ready", explain(cloud_run)
    assert driver["errors"] == [], explain(cloud_run)
    # The session was made on the cloud plane: it is visible there, owned by the key, while live.
    connected = cloud_run["cloud_session"]["connected"]
    assert connected["status"] == 200 and connected["state"] in ("WAITING", "ACTIVE"), explain(cloud_run)
    log = cloud_run["server_log"]
    for request in ("POST /tokens", "POST /sessions", "GET /sessions/"):
        assert request in log, explain(cloud_run)


def test_streams_probe_frames(cloud_run: dict[str, Any]) -> None:
    stream = cloud_run["driver"]["stream"]
    assert stream["reached_min"] and stream["decoded"] >= CLOUD_MIN_FRAMES, explain(cloud_run)
    assert stream["shape"] == [360, 640, 3], explain(cloud_run)
    assert stream["strictly_increasing"], explain(cloud_run)


def test_set_value_is_acknowledged_and_drawn(cloud_run: dict[str, Any]) -> None:
    result = cloud_run["driver"]["set_value"]
    assert result["raised"] is None and result["returned_none"], explain(cloud_run)
    assert result["value_seen"], explain(cloud_run)


def test_disconnect_deletes_the_session(cloud_run: dict[str, Any]) -> None:
    driver = cloud_run["driver"]
    assert driver["disconnect"]["status"] == "disconnected", explain(cloud_run)
    after = cloud_run["cloud_session"]["after_disconnect"]
    assert after["status"] == 200 and after["state"] == "CLOSED", explain(cloud_run)
    assert "DELETE /sessions/" in cloud_run["server_log"], explain(cloud_run)
    # Nothing runs on the local plane either.
    assert cloud_run["session"]["after_disconnect"] == 404, explain(cloud_run)
    assert cloud_run["driver_exit_status"] == 0 and cloud_run["server_exit_status"] == 0, explain(cloud_run)
