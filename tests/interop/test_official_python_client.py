"""The official Python client (``reactor-sdk`` 1.13.0) against our server, end to end.

Each scenario is one ``netns-run`` launch of ``openreactor serve --model probe`` plus
``official_client_driver.py`` (see ``official_harness.py``); the tests below assert on the facts a
user of the official client sees: connect, stream, commands, disconnect, SIGTERM. Uploads, input
tracks, pause/resume, reconnect and multi-client are in ``test_official_python_client_features.py``.
"""

from __future__ import annotations

from typing import Any

import pytest
from official_harness import explain, launch

MIN_FRAMES = 60
SET_VALUE = 4242  # official_client_driver.SET_VALUE


@pytest.fixture(scope="module")
def session_run() -> dict[str, Any]:
    """One connect → stream → commands → disconnect run shared by the scenario tests below."""
    return launch("session")


def test_connects_and_reaches_ready(session_run: dict[str, Any]) -> None:
    driver = session_run["driver"]
    assert driver["connect"]["ok"] and driver["connect"]["status"] == "ready", explain(session_run)
    assert driver["statuses"][:3] == ["connecting", "waiting", "ready"], explain(session_run)
    assert driver["errors"] == [], explain(session_run)


def test_receives_probe_frames_with_increasing_counters(session_run: dict[str, Any]) -> None:
    stream = session_run["driver"]["stream"]
    assert stream["shape"] == [360, 640, 3], explain(session_run)
    assert stream["reached_min"] and stream["decoded"] >= MIN_FRAMES, explain(session_run)
    # Gaps (frames skipped somewhere between model and callback) are allowed and reported;
    # a counter that repeats or goes backwards is not.
    assert stream["strictly_increasing"], explain(session_run)
    assert session_run["driver"]["all_frames"]["strictly_increasing"], explain(session_run)
    total = session_run["driver"]["all_frames"]
    print(
        f"probe frames: {total['decoded']} decoded, counters {total['first']}..{total['last']}, "
        f"{total['dropped']} dropped (largest gap {total['max_gap']})"
    )


def test_set_value_is_acknowledged_and_drawn(session_run: dict[str, Any]) -> None:
    result = session_run["driver"]["set_value"]
    assert result["raised"] is None, explain(session_run)
    assert result["returned_none"], explain(session_run)  # a bare acknowledgement
    assert result["value_seen"], explain(session_run)
    # Once the value shows, every later frame carries it (until another command).
    assert result["frames_after_first_with_other_value"] == 0, explain(session_run)
    assert session_run["driver"]["after_errors"]["values"] == [SET_VALUE], explain(session_run)


def test_unknown_command_raises_invalid_command(session_run: dict[str, Any]) -> None:
    result = session_run["driver"]["unknown_command"]
    assert result["is_reactor_error"], explain(session_run)
    assert result["code"] == "invalid_command", explain(session_run)


@pytest.mark.parametrize("case", ["string", "out_of_range", "missing"])
def test_wrongly_typed_arguments_raise_invalid_command(session_run: dict[str, Any], case: str) -> None:
    result = session_run["driver"]["bad_arguments"][case]
    assert result["is_reactor_error"], explain(session_run)
    assert result["code"] == "invalid_command", explain(session_run)


def test_session_keeps_streaming_after_rejected_commands(session_run: dict[str, Any]) -> None:
    after = session_run["driver"]["after_errors"]
    assert after["decoded"] >= 15, explain(session_run)
    assert after["strictly_increasing"], explain(session_run)
    assert after["first"] > after["counter_before"], explain(session_run)
    # The rejected commands left the value alone.
    assert after["values"] == [SET_VALUE], explain(session_run)


def test_disconnect_ends_the_session(session_run: dict[str, Any]) -> None:
    driver = session_run["driver"]
    assert driver["disconnect"]["status"] == "disconnected", explain(session_run)
    assert driver["statuses"][-1] == "disconnected", explain(session_run)
    assert session_run["session"]["after_disconnect"] == 404, explain(session_run)
    assert driver["disconnect"]["frames_after"] == 0, explain(session_run)
    assert session_run["driver_exit_status"] == 0, explain(session_run)
    assert session_run["server_exit_status"] == 0, explain(session_run)


def test_sigterm_ends_server_and_client_sees_disconnect() -> None:
    report = launch("sigterm")
    driver = report["driver"]
    assert driver["stream"]["reached_min"], explain(report)
    sigterm = report["sigterm"]
    # It exits, cleanly (the launcher gives it 20 s; how fast: bench/bench_faults.py).
    assert sigterm is not None and sigterm["exit_status"] == 0, explain(report)
    after = driver["after_sigterm"]
    assert after["disconnected"] and after["status"] == "disconnected", explain(report)
    assert report["driver_exit_status"] == 0, explain(report)
