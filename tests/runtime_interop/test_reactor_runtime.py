"""Our SDK against Reactor's own runtime (``reactor-runtime`` 3.10.0 from PyPI), end to end.

The runtime needs Python >= 3.12, so it lives in ``.runtime-venv`` (``scripts/runtime_venv.sh``,
run by ``scripts/install_test.sh``) and hosts ``runtime_probe_model.py``, the PROBE.md model written
for it. Its media engine is libwebrtc, which ignores interfaces flagged LOOPBACK, so the run
happens inside ``shared/tools/netns-run`` (a private network namespace whose veth holds
127.0.0.2): there ``runtime_session.py`` starts the runtime on 127.0.0.2, drives one session with
``reactor_sdk.Reactor(..., local=True, ice_host_addresses=["127.0.0.2"])`` (connect, frames,
``set_value``, disconnect), checks ``GET /session``, SIGTERMs the runtime and reports JSON.

A missing ``.runtime-venv`` or an unusable ``netns-run`` fails this test: it is the proof that
our SDK talks to Reactor's runtime, and a skip would hide its absence. The one exception is a
machine with no Python >= 3.12 at all, where ``scripts/runtime_venv.sh`` wrote the reason to
``.runtime-venv.unavailable``: the test skips with that reason (and ``scripts/test.sh`` says so).
``OPENREACTOR_RUNTIME_PYTHON`` overrides the runtime interpreter.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from support.paths import NETNS_RUN, REPO

HERE = Path(__file__).resolve().parent
SESSION = HERE / "runtime_session.py"
RUN_TIMEOUT_S = 150
VALUE = 4321
MIN_FRAMES_BEFORE_COMMAND = 30


def runtime_python() -> Path:
    return Path(os.environ.get("OPENREACTOR_RUNTIME_PYTHON", REPO / ".runtime-venv" / "bin" / "python"))


def check_prerequisites() -> None:
    """Fail (never skip) when what the run needs is not there."""
    python = runtime_python()
    unavailable = REPO / ".runtime-venv.unavailable"
    if not python.exists() and unavailable.exists():
        pytest.skip(unavailable.read_text().strip())
    if not python.exists():
        pytest.fail(f"{python} is missing: run scripts/runtime_venv.sh (scripts/install_test.sh does) first")
    version = subprocess.run(
        [str(python), "-c", "import reactor_runtime; print(reactor_runtime.__version__)"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    if version.returncode != 0 or version.stdout.strip() != "3.10.0":
        pytest.fail(f"{python} does not hold reactor-runtime 3.10.0: {version.stdout}{version.stderr}")
    if not os.access(NETNS_RUN, os.X_OK):
        pytest.fail(f"{NETNS_RUN} is missing")
    probe = subprocess.run([str(NETNS_RUN), "true"], capture_output=True, text=True, timeout=30)
    if probe.returncode != 0:
        pytest.fail(f"netns-run cannot create a network namespace here: {probe.stderr.strip()}")


def explain(report: dict[str, Any]) -> str:
    brief = {k: v for k, v in report.items() if k not in ("runtime_log", "sdk_log")}
    return (
        f"\n{json.dumps(brief, indent=1, default=repr)}\n--- runtime log ---\n{report.get('runtime_log')}"
        f"\n--- sdk log ---\n{report.get('sdk_log')}"
    )


@pytest.fixture(scope="module")
def run() -> dict[str, Any]:
    """One start runtime → connect → frames → set_value → disconnect → stop run."""
    check_prerequisites()
    cmd = [
        str(NETNS_RUN), sys.executable, str(SESSION), "--runtime-python", str(runtime_python()),
        "--width", "640", "--height", "360", "--fps", "30", "--value", str(VALUE),
    ]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=RUN_TIMEOUT_S, cwd=REPO)
    reports = [line for line in proc.stdout.splitlines() if line.startswith("@@RESULT ")]
    assert reports, (
        f"runtime_session.py printed no report (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    )
    report: dict[str, Any] = json.loads(reports[-1][len("@@RESULT ") :])
    assert "error" not in report, f"run failed: {report['error']}{explain(report)}"
    return report


@pytest.mark.timeout(RUN_TIMEOUT_S + 60)
def test_session_against_reactor_runtime(run: dict[str, Any]) -> None:
    client = run["client"]
    why = explain(run)
    assert client.get("ok"), f"client failed at {client.get('failed_step')}: {client.get('exception')}{why}"
    assert client["errors"] == [], why

    # connect: the SDK reached READY against the runtime's local mode.
    statuses = [s.split(" ", 1)[1] for s in client["statuses"]]
    assert statuses[:3] == ["connecting", "waiting", "ready"], why
    assert run["session_before"]["state"] == "ready", why

    # frames: RGB at the probe's size, every one decodable once the first one was, counters
    # strictly increasing from the start of the session (the runtime restarts n at 0 for every
    # session). The runtime may send a black placeholder first (at 1280x720, its default size,
    # before it has seen a real frame): PROBE.md allows it, and only at the start.
    decoded = client["decoded"]
    assert len(client["leading_frames"]) <= 3, why
    assert client["later_shapes"] == [[360, 640, 3]], why
    assert client["later_undecodable"] == 0, why
    assert client["frames_before_command"] >= MIN_FRAMES_BEFORE_COMMAND, why
    counters = [c for _, c, _ in decoded]
    assert all(b > a for a, b in zip(counters, counters[1:], strict=False)), f"counters {counters}{why}"
    assert counters[0] < 10, f"first counter {counters[0]}{why}"

    # a command acknowledged: set_value answers with a bodyless ack (send_command returns None) …
    assert client["ack"]["returned"] and client["ack"]["reply"] is None, why
    # … and its value reaches the frames, for good: 0 before, VALUE from the first match on (the
    # refused command below changes nothing).
    values = [v for _, _, v in decoded]
    first = values.index(VALUE)
    assert set(values[:first]) == {0}, why
    assert set(values[first:]) == {VALUE}, why
    assert len(values) - first >= 15, why

    # an out-of-range value is refused by the runtime's validation; our SDK raises its code.
    refused = client["refused_command"]
    assert refused["raised"] == "ReactorError" and refused["code"] == "invalid_command", why

    # disconnect: our client ended the session, the runtime holds none afterwards.
    assert client["status_after_disconnect"] == "disconnected", why
    assert client["session_id_after_disconnect"] is None, why
    assert statuses[-1] == "disconnected", why
    assert run["session_after"]["status"] == 200, why
    assert run["session_after"]["body"]["state"] == "ready", why
    assert any(h["request"] == "POST /stop_session" and h.get("status") == 200 for h in run["http"]), why

    # the runtime stops cleanly on SIGTERM, with nothing logged as an error.
    assert run["sigterm"]["exit_status"] == 0, why
    assert run["runtime_exit_status"] == 0, why
    bad = [line for line in run["runtime_log"].splitlines() if " ERROR " in line or "Traceback" in line]
    assert bad == [], why


def test_signalling_matches_the_runtime_3x_checklist(run: dict[str, Any]) -> None:
    """PROTOCOL.md §11.2 as observed on the wire (see the report's ``http``)."""
    why = explain(run)
    http = run["http"]
    signalling = [h for h in http if "/transport/webrtc/" in h["request"]]
    assert signalling, why
    assert all(h.get("Reactor-WebRTC-Version") == "1.0" for h in signalling), why
    offers = [h for h in signalling if "offer_sdp" in h]
    assert len(offers) == 1 and offers[0]["request"].startswith("POST "), why
    mapping = offers[0]["offer_other"].get("track_mapping")
    assert mapping and mapping[0]["name"] == "main_video", why
    answers = [h for h in signalling if "answer_sdp" in h]
    assert len(answers) == 1 and answers[0]["status"] == 200, why
    # aiortc decodes VP8/H.264 only and offers no VP9; the runtime (VP9 first by default) answers
    # with a codec from the offer.
    assert answers[0]["answer_video_codec"].split("/")[0] in ("VP8", "H264"), why
    assert "a=sendonly" in answers[0]["answer_sdp"], why
