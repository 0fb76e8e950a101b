"""The ``openreactor`` command as a newcomer meets it: its help, the key store options, a client-only
install, a port already taken."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from openreactor.cli import build_parser, main
from support.paths import REPO


def run_cli(*args: str, code: str | None = None) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-c", code, *args] if code else [sys.executable, "-m", "openreactor", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, cwd=REPO)


def test_help_lists_the_public_commands_only() -> None:
    out = run_cli("--help")
    assert out.returncode == 0, out.stderr
    for command in ("serve", "worker", "coordinator", "models", "keys", "schema", "codegen"):
        assert command in out.stdout
    assert "worker-process" not in out.stdout and "SUPPRESS" not in out.stdout, out.stdout
    # Still there for `serve --workers N`, which starts its worker processes with it.
    assert build_parser().parse_args(["worker-process", "--socket", "s", "--settings", "{}"]).command == (
        "worker-process"
    )


def test_key_store_options_go_before_or_after_the_action(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "state"
    assert main(["keys", "create", "--state-dir", str(state), "--name", "after"]) == 0
    key_id = capsys.readouterr().out.split()[0]
    assert main(["keys", "--state-dir", str(state), "create", "--name", "before"]) == 0
    capsys.readouterr()
    for argv in (["keys", "list", "--state-dir", str(state)], ["keys", "--state-dir", str(state), "list"]):
        assert main(argv) == 0
        listed = capsys.readouterr().out
        assert key_id in listed and "after" in listed and "before" in listed, listed
    # After the action wins over before it; an option left out after the action keeps the one before.
    other = tmp_path / "other"
    assert main(["keys", "--state-dir", str(other), "list", "--state-dir", str(state)]) == 0
    assert key_id in capsys.readouterr().out and not other.exists()
    assert main(["keys", "revoke", key_id, "--state-dir", str(state)]) == 0
    args = build_parser().parse_args(["keys", "list", "--redis", "redis://h:1/0"])
    assert args.redis_url == "redis://h:1/0" and args.cluster_prefix == "openreactor:"


CLIENT_ONLY = """
import sys
for name in ("starlette", "uvicorn", "jsonschema", "jwt", "PIL", "prometheus_client", "redis"):
    sys.modules[name] = None  # as after `pip install openreactor`: no server extra
from openreactor.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.parametrize("command", [["serve"], ["models"], ["schema", "--model", "probe"]])
def test_a_client_only_install_names_the_server_extra(command: list[str]) -> None:
    out = run_cli(*command, code=CLIENT_ONLY)
    assert out.returncode == 2, (out.stdout, out.stderr)
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in out.stderr, out.stderr
    assert lines[0].startswith(f"openreactor {command[0]} needs the server extra"), lines
    assert "pip install 'openreactor[server]'" in lines[0] and "pip install -e '.[server]'" in lines[0]


def test_help_needs_no_server_extra() -> None:
    out = run_cli("--help", code=CLIENT_ONLY)
    assert out.returncode == 0 and "serve" in out.stdout, out.stderr


def test_a_port_in_use_is_one_line_naming_the_address(tmp_path: Path) -> None:
    with contextlib.closing(socket.socket()) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        out = run_cli(
            "serve", "--model", "probe", "--port", str(port), "--state-dir", str(tmp_path / "state")
        )
    assert out.returncode == 1, (out.stdout, out.stderr)
    lines = out.stderr.strip().splitlines()
    assert lines == [lines[0]] and "Traceback" not in out.stderr, out.stderr
    assert f"cannot listen on 127.0.0.1:{port}" in lines[0] and "address already in use" in lines[0], lines
    assert "serving model" not in out.stderr  # refused before the model loads


def test_settings_help_is_grouped_and_per_command() -> None:
    helps = {command: run_cli(command, "--help") for command in ("serve", "worker", "coordinator")}
    for command, out in helps.items():
        assert out.returncode == 0, out.stderr
        lines = out.stdout.splitlines()
        assert lines[0] == f"usage: openreactor {command} [-h] [--config FILE.toml] [--SETTING VALUE ...]"
        for group in ("model:", "HTTP:", "ICE (docs/NETWORKING.md):", "video:", "uploads:", "logging:"):
            assert group in lines, (command, group)
        assert "--keepalive S" in out.stdout and "(default: 30)" in out.stdout
        assert "cluster_secret" in out.stdout.split("logging:")[1]  # named as a file/env-only setting
    assert "--redis" not in helps["serve"].stdout and "cluster (openreactor" not in helps["serve"].stdout
    assert (
        "--redis URL" in helps["coordinator"].stdout and "--drain-timeout" not in helps["coordinator"].stdout
    )
    assert "--redis URL" in helps["worker"].stdout and "--drain-timeout S" in helps["worker"].stdout
