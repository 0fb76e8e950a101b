"""Settings layering: CLI flag > OPENREACTOR_<FIELD> environment > --config file > default."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest

from conftest import REPO
from openreactor.cli import build_parser, serve_settings
from openreactor.config import ConfigError, load_env, resolve_settings
from openreactor.settings import Settings


def settings_for(argv: list[str], env: dict[str, str] | None = None) -> Settings:
    return serve_settings(build_parser().parse_args(["serve", *argv]), environ=env or {})


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "openreactor.toml"
    path.write_text(text)
    return path


def test_defaults_without_file_env_or_flags() -> None:
    s = settings_for([])
    assert (s.model, s.host, s.port, s.keepalive_s, s.playground, s.metrics) == (
        "world",
        "127.0.0.1",
        8080,
        Settings().keepalive_s,
        True,
        True,
    )
    assert s.log_format == "text"


def test_precedence_flag_over_env_over_file_over_default(tmp_path: Path) -> None:
    conf = write(tmp_path, 'port = 9000\nkeepalive_s = 12.5\nhost = "0.0.0.0"\nmodel = "echo"\n')
    env = {"OPENREACTOR_PORT": "9100", "OPENREACTOR_KEEPALIVE_S": "7"}
    s = settings_for(["--config", str(conf), "--port", "9200"], env)
    assert s.port == 9200  # flag
    assert s.keepalive_s == 7.0  # env beats file
    assert s.host == "0.0.0.0" and s.model == "echo"  # file beats default
    assert settings_for(["--config", str(conf)], env).port == 9100
    assert settings_for(["--config", str(conf)]).port == 9000


def test_env_parsing_of_every_kind_of_field(tmp_path: Path) -> None:
    env = {
        "OPENREACTOR_DEBUG_ENDPOINTS": "true",
        "OPENREACTOR_PLAYGROUND": "off",
        "OPENREACTOR_FPS": "24",
        "OPENREACTOR_WIDTH": "",
        "OPENREACTOR_CORS_ORIGINS": "https://a.example, https://b.example",
        "OPENREACTOR_ICE_SERVERS": '[{"uris": ["stun:stun.example:3478"]}]',
        "OPENREACTOR_STATE_DIR": str(tmp_path / "state"),
        "OPENREACTOR_LOG_FORMAT": "json",
        "OPENREACTOR_OFFICIAL_PYTHON": "/not/a/setting",  # other tools share the prefix: ignored
        "PORT": "1",
    }
    s = settings_for([], env)
    assert s.debug_endpoints is True and s.playground is False
    assert s.fps == 24.0 and s.width is None
    assert s.cors_origins == ("https://a.example", "https://b.example")
    assert s.ice_servers == [{"uris": ["stun:stun.example:3478"]}]
    assert s.state_dir == tmp_path / "state"
    assert s.log_format == "json" and s.port == 8080


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"OPENREACTOR_PORT": "eighty"}, "port must be an integer"),
        ({"OPENREACTOR_PLAYGROUND": "maybe"}, "playground must be a boolean"),
        ({"OPENREACTOR_ICE_SERVERS": "[{"}, "ice_servers must be a JSON list"),
    ],
)
def test_bad_env_values_are_clear_errors(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_env(env)


def test_unknown_file_key_is_an_error_with_a_suggestion(tmp_path: Path) -> None:
    conf = write(tmp_path, "prot = 1\n")
    with pytest.raises(ConfigError, match=r"unknown setting 'prot' \(did you mean 'port'\?\)"):
        settings_for(["--config", str(conf)])


def test_file_type_errors_and_bad_toml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="port must be an integer"):
        settings_for(["--config", str(write(tmp_path, 'port = "80"\n'))])
    with pytest.raises(ConfigError, match="invalid TOML"):
        settings_for(["--config", str(write(tmp_path, "port = \n"))])
    with pytest.raises(ConfigError, match="cannot read config file"):
        settings_for(["--config", str(tmp_path / "missing.toml")])


def test_relative_paths_in_the_file_are_the_files(tmp_path: Path) -> None:
    conf = write(tmp_path, 'state_dir = "state"\ncors_origins = ["*"]\n')
    s = settings_for(["--config", str(conf)])
    assert s.state_dir == tmp_path.resolve() / "state" and s.cors_origins == ("*",)


def test_flags_mapping_to_derived_fields() -> None:
    s = settings_for(
        ["--max-upload-mb", "2", "--no-playground", "--no-metrics", "--ice-host", "10.0.0.1,10.0.0.2"]
    )
    assert s.max_upload_bytes == 2 * 2**20 and not s.playground and not s.metrics
    assert s.ice_host_addresses == ("10.0.0.1", "10.0.0.2")
    assert settings_for(["--liveness-timeout", "4"]).liveness_check_s == 1.0


def test_the_example_file_covers_only_known_settings() -> None:
    s = resolve_settings(config_file=REPO / "openreactor.example.toml", environ={})
    assert isinstance(s, Settings)


def test_dockerfile_cmd_uses_flags_the_cli_accepts() -> None:
    text = (REPO / "Dockerfile").read_text()
    cmd_lines = [line for line in text.splitlines() if line.startswith(("CMD", "ENTRYPOINT"))]
    argv: list[str] = []
    for line in cmd_lines:
        argv += json.loads(line.split(None, 1)[1])
    assert argv[:2] == ["openreactor", "serve"], argv
    args = build_parser().parse_args(argv[1:])
    assert args.host == "0.0.0.0"


def test_systemd_unit_uses_flags_the_cli_accepts() -> None:
    text = (REPO / "deploy" / "openreactor.service").read_text()
    exec_start = next(line for line in text.splitlines() if line.startswith("ExecStart="))
    argv = shlex.split(exec_start.removeprefix("ExecStart="))
    assert Path(argv[0]).name == "openreactor" and argv[1] == "serve"
    build_parser().parse_args(argv[1:])
