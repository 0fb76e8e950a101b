"""The official Python client (``reactor-sdk`` 1.13.0) against our server, end to end.

libwebrtc ignores loopback interfaces, so every run happens inside ``shared/tools/netns-run``
(a private network namespace whose veth holds 127.0.0.2). There ``netns_launcher.py`` starts
``openreactor serve --model probe`` on 127.0.0.2 with ICE pinned to it, runs
``official_client_driver.py`` with the official client's interpreter (its own venv: both
packages are called ``reactor_sdk``), then SIGTERMs the server. Each scenario is one such run;
the tests below assert on the facts a user of the official client sees.

The official interpreter comes from ``conftest.official_python()``
(``OPENREACTOR_OFFICIAL_PYTHON``, default ``.interop-venv/bin/python``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from conftest import NETNS_RUN, REPO, official_python

HERE = Path(__file__).resolve().parent
LAUNCHER = HERE / "netns_launcher.py"
DRIVER = HERE / "official_client_driver.py"
RUN_TIMEOUT_S = 90
MIN_FRAMES = 60
SET_VALUE = 4242  # official_client_driver.SET_VALUE


def _prerequisites() -> str | None:
    """Why the interop runs cannot happen here, or None."""
    if not os.access(NETNS_RUN, os.X_OK):
        return f"{NETNS_RUN} is missing"
    if not official_python().exists():
        return f"official reactor-sdk interpreter {official_python()} is missing (set OPENREACTOR_OFFICIAL_PYTHON)"
    probe = subprocess.run([str(NETNS_RUN), "true"], capture_output=True, text=True, timeout=30)
    if probe.returncode != 0:
        return f"netns-run cannot create a network namespace here: {probe.stderr.strip()}"
    return None


def launch(scenario: str, *, width: int = 640, height: int = 360) -> dict[str, Any]:
    """Run one scenario in a fresh namespace; return the launcher's report."""
    reason = _prerequisites()
    if reason is not None:
        pytest.skip(reason)
    cmd = [
        str(NETNS_RUN), sys.executable, str(LAUNCHER),
        "--client-python", str(official_python()), "--width", str(width), "--height", str(height),
        "--client-timeout", str(RUN_TIMEOUT_S - 20), "--", str(DRIVER), scenario,
    ]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=RUN_TIMEOUT_S, cwd=REPO)
    reports = [line for line in proc.stdout.splitlines() if line.startswith("@@LAUNCH ")]
    assert reports, f"launcher printed no report (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    report: dict[str, Any] = json.loads(reports[-1][len("@@LAUNCH ") :])
    driver = report.get("driver")
    assert driver is not None, f"driver printed no result:\n{json.dumps(report, indent=1)}"
    assert "exception" not in driver, (
        f"driver failed: {driver['traceback']}\nserver log:\n{report['server_log']}"
    )
    return report


def explain(report: dict[str, Any]) -> str:
    """Context for a failed assertion: the whole report minus the bulky tails, then the tails."""
    brief = {k: v for k, v in report.items() if k not in ("server_log", "driver_stderr")}
    return (
        f"\n{json.dumps(brief, indent=1, default=repr)}\n--- server log ---\n{report.get('server_log')}"
        f"\n--- driver stderr ---\n{report.get('driver_stderr')}"
    )


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
    assert sigterm is not None and sigterm["exit_status"] == 0, explain(report)
    assert sigterm["exit_seconds"] <= 5, explain(report)
    after = driver["after_sigterm"]
    assert after["disconnected"] and after["status"] == "disconnected", explain(report)
    assert report["driver_exit_status"] == 0, explain(report)
