"""Runs one official-client scenario under ``netns-run`` and returns the launcher's report.

Shared by the interop test modules here. libwebrtc ignores loopback interfaces, so every run
happens inside ``shared/tools/netns-run`` (a private network namespace whose veth holds
127.0.0.2). There ``netns_launcher.py`` starts ``openreactor serve --model MODEL`` on 127.0.0.2
with ICE pinned to it, runs ``official_client_driver.py SCENARIO`` with the official client's
interpreter (its own venv: both packages are called ``reactor_sdk``), then SIGTERMs the server.

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

from support.paths import NETNS_RUN, REPO, official_python
from support.servers import skip_unless_ci

HERE = Path(__file__).resolve().parent
LAUNCHER = HERE / "netns_launcher.py"
DRIVER = HERE / "official_client_driver.py"
RUN_TIMEOUT_S = 90


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


def launch(
    scenario: str,
    *,
    model: str = "probe",
    width: int = 640,
    height: int = 360,
    server_log_level: str = "warning",
    server_log_chars: int = 4000,
    create_key: bool = False,
    cluster: bool = False,
) -> dict[str, Any]:
    """Run one scenario in a fresh namespace; return the launcher's report."""
    reason = _prerequisites()
    if reason is not None:
        skip_unless_ci(reason)
    cmd = [
        str(NETNS_RUN), sys.executable, str(LAUNCHER),
        "--client-python", str(official_python()), "--model", model,
        "--width", str(width), "--height", str(height),
        "--server-log-level", server_log_level, "--server-log-chars", str(server_log_chars),
        "--client-timeout", str(RUN_TIMEOUT_S - 20),
        *(["--create-key"] if create_key else []), *(["--cluster"] if cluster else []),
        "--", str(DRIVER), scenario,
    ]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=RUN_TIMEOUT_S, cwd=REPO)
    reports = [line for line in proc.stdout.splitlines() if line.startswith("@@LAUNCH ")]
    assert reports, f"launcher printed no report (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    report: dict[str, Any] = json.loads(reports[-1][len("@@LAUNCH ") :])
    driver = report.get("driver")
    assert driver is not None, f"driver printed no result:\n{explain(report)}"
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
