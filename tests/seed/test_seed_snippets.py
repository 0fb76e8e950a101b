"""Every Python snippet of the seed page runs as written against our server (issue #4).

The snippets come straight from ``shared/seed/snippets.md``; seed_runner.py wraps each one with
only the model name, the API key and timing filled in, and runs it inside a private network
namespace so that neither the server nor the SDK needs an ICE address setting.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from support.paths import NETNS_RUN, REPO, SHARED

SNIPPETS = SHARED / "seed" / "snippets.md"


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    workdir = tmp_path_factory.mktemp("seed")
    env = {**os.environ, "SEED_WORKDIR": str(workdir), "PYTHONPATH": str(REPO / "src")}
    proc = subprocess.run(
        [str(NETNS_RUN), sys.executable, str(Path(__file__).with_name("seed_runner.py")), str(SNIPPETS)],
        capture_output=True,
        text=True,
        timeout=400,
        env=env,
        cwd=REPO,
    )
    lines = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    assert lines, f"runner printed nothing (exit {proc.returncode}):\n{proc.stderr[-3000:]}"
    assert lines[0]["snippets"] == ["P1", "P2", "P3", "P4", "P5", "P6", "P7a", "P7b", "P8"]
    observed = {obs["snippet"]: obs for obs in lines[1:]}
    missing = sorted(set(lines[0]["snippets"]) - set(observed))
    assert not missing, f"runner stopped before {missing} (exit {proc.returncode}):\n{proc.stderr[-3000:]}"
    return observed


def ok(results: dict[str, dict[str, Any]], name: str) -> dict[str, Any]:
    obs = results[name]
    assert obs["ok"], f"{name} failed: {obs.get('error')}\n{obs.get('traceback')}\nstdout: {obs['stdout']}"
    return obs


def test_p1_context_manager_connects_and_ends_the_session(results: dict[str, dict[str, Any]]) -> None:
    obs = ok(results, "P1")
    assert obs["status_after"] == "disconnected"
    assert obs["server_session_after"] == 404  # the session this client created is gone


def test_p2_frame_handler_prints_frames(results: dict[str, dict[str, Any]]) -> None:
    obs = ok(results, "P2")
    assert obs["stdout"].count("Frame: (360, 640, 3)") >= 20


def test_p3_frame_works_with_pil_opencv_and_a_model(results: dict[str, dict[str, Any]], tmp_path_factory: pytest.TempPathFactory) -> None:
    obs = ok(results, "P3")
    assert obs["shape"] == [360, 640, 3]
    assert 0 < obs["result"] < 255


def test_p4_ready_handler_sends_the_prompt(results: dict[str, dict[str, Any]]) -> None:
    obs = ok(results, "P4")
    assert {"type": "echo", "data": {"command": "set_prompt", "data": {"prompt": "a forest at dawn"}}} in obs[
        "replies"
    ]


def test_p5_uploads_from_path_bytes_and_file_object(results: dict[str, dict[str, Any]]) -> None:
    obs = ok(results, "P5")
    assert (
        obs["ref"]["name"] == "photo.jpg"
        and obs["ref"]["mime_type"] == "image/jpeg"
        and obs["ref"]["size"] > 0
    )
    assert "photo.jpg" in json.dumps(obs["reply"])


def test_p6_error_handler_sees_a_recoverable_drop(results: dict[str, dict[str, Any]]) -> None:
    obs = ok(results, "P6")
    assert "[gpu:DISCONNECTED]" in obs["stdout"]
    assert "Retrying in 3s" in obs["stdout"]


def test_p7_disconnect_terminates(results: dict[str, dict[str, Any]]) -> None:
    obs = ok(results, "P7a")
    assert obs["status"] == "disconnected" and obs["session_id_after"] is None


def test_p7_recoverable_disconnect_and_reconnect_keep_the_session(results: dict[str, dict[str, Any]]) -> None:
    obs = ok(results, "P7b")
    assert obs["same_session"] and obs["status"] == "ready"
    assert obs["frames_after_reconnect"] >= 10


def test_p8_auto_reconnect_recipe(results: dict[str, dict[str, Any]]) -> None:
    obs = ok(results, "P8")
    assert obs["reconnected"] == "ready" and obs["same_session"]
    assert obs["frames_after"] >= 10
