"""Settings layering: CLI flag > OPENREACTOR_<FIELD> environment > --config file > default."""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import shlex
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import openreactor.cli as cli_module
import openreactor.config as config_module
import openreactor.settings as settings_module
from openreactor.cli import build_parser, serve_settings
from openreactor.config import ConfigError, field_types, load_env, optional_inner, resolve_settings
from openreactor.settings import Settings, setting, setting_specs
from openreactor.workers import settings_codec
from openreactor.workers.settings_codec import dump_settings, load_settings
from support.paths import REPO


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


# -- each setting declared once: flag, environment variable, TOML key and codec from the field ----

SETTINGS_COMMANDS = ("serve", "worker", "coordinator")

EXISTING_FLAGS = {
    "--model", "--host", "--port", "--width", "--height", "--fps", "--ice-host", "--ice-public",
    "--stun-url", "--turn-url", "--turn-secret-file", "--turn-ttl", "--turn-for-server",
    "--video-bitrate-min", "--video-bitrate-max", "--video-encoder-threads", "--keyframe-interval",
    "--keepalive", "--liveness-timeout", "--state-dir", "--max-upload-mb", "--upload-dir",
    "--negotiation-timeout", "--workers", "--max-sessions-per-key", "--max-session-duration",
    "--model-step-timeout", "--max-session-memory-mb", "--debug-endpoints", "--cors-origin",
    "--tls-cert", "--tls-key", "--no-playground", "--log-level", "--log-format", "--no-metrics",
    "--config",
}  # fmt: skip
"""The flags of ``serve`` before they came from the fields; ``worker`` / ``coordinator`` take them too."""
CLUSTER_FLAGS = {"--redis", "--cluster-prefix", "--heartbeat", "--worker-ttl"}
WORKER_ONLY_FLAGS = {"--advertise-url", "--worker-id", "--drain-timeout"}


@dataclass(frozen=True)
class Sample:
    """A non-default value of a setting, as flag arguments, environment text and TOML value."""

    flag_args: list[str]
    env: str
    toml: Any
    expected: Any


def sample(name: str) -> Sample:
    spec = setting_specs()[name]
    tp, _ = optional_inner(field_types()[name])
    default = next(f for f in dataclasses.fields(Settings) if f.name == name).default
    flag = spec.flag or ""
    if tp is bool:
        on = not default
        return Sample([flag if on else flag.replace("--", "--no-", 1)], str(on).lower(), on, on)
    if spec.scale != 1:
        return Sample([flag, "3"], str(3 * spec.scale), 3 * spec.scale, 3 * spec.scale)
    if tp is int:
        return Sample([flag, "7"], "7", 7, 7)
    if tp is float:
        return Sample([flag, "2.5"], "2.5", 2.5, 2.5)
    if tp is str:
        value = spec.choices[-1] if spec.choices else f"x-{name}"
        assert value != default
        return Sample([flag, value], value, value, value)
    if tp is Path:
        path = f"/srv/x-{name}"
        return Sample([flag, path], path, path, Path(path))
    if typing.get_origin(tp) is tuple:
        items = ("a.example", "b.example", "c.example")
        first = ["a.example,b.example"] if spec.comma else ["a.example", flag, "b.example"]
        return Sample([flag, *first, flag, "c.example"], ",".join(items), list(items), items)
    if typing.get_origin(tp) is list:
        servers = [{"uris": ["stun:x.example:3478"]}]
        return Sample([flag, json.dumps(servers)], json.dumps(servers), servers, servers)
    raise AssertionError(f"no sample for {name}: {tp}")  # a new kind of type: teach coerce() too


FIELDS = [f.name for f in dataclasses.fields(Settings)]


def test_every_field_is_declared_with_its_help() -> None:
    specs = setting_specs()
    assert list(specs) == FIELDS
    for name, spec in specs.items():
        assert spec.help and spec.group, name
        assert (spec.flag is None) == spec.secret, name
        assert set(spec.commands) <= set(SETTINGS_COMMANDS), name


@pytest.mark.parametrize("name", FIELDS)
def test_every_setting_is_a_flag_in_its_commands_with_its_help(name: str) -> None:
    spec = setting_specs()[name]
    s = sample(name)
    for command in SETTINGS_COMMANDS:
        parser = build_parser()
        if command not in spec.commands:
            if spec.flag is not None:
                with pytest.raises(SystemExit):
                    parser.parse_args([command, *s.flag_args])
            continue
        got = getattr(serve_settings(parser.parse_args([command, *s.flag_args]), environ={}), name)
        assert got == s.expected, (command, s.flag_args)
        (action,) = [a for a in subparser(parser, command)._actions if a.dest == name]
        assert action.help is not None and action.help.replace("%%", "%").startswith(spec.help)


@pytest.mark.parametrize("name", FIELDS)
def test_every_setting_is_an_environment_variable_and_a_file_key(name: str, tmp_path: Path) -> None:
    s = sample(name)
    assert getattr(resolve_settings(environ={f"OPENREACTOR_{name.upper()}": s.env}), name) == s.expected
    conf = write(tmp_path, tomli_w_line(name, s.toml))
    assert getattr(resolve_settings(config_file=conf, environ={}), name) == s.expected


def tomli_w_line(name: str, value: Any) -> str:
    """``name = value`` in TOML (json.dumps spells strings, numbers, booleans and lists alike)."""
    if isinstance(value, list) and value and isinstance(value[0], dict):
        return f"{name} = [{{ uris = {json.dumps(value[0]['uris'])} }}]\n"
    return f"{name} = {json.dumps(value)}\n"


def test_the_settings_codec_round_trips_every_field_but_the_secrets() -> None:
    values = {name: sample(name).expected for name in FIELDS}
    secrets = {name for name, spec in setting_specs().items() if spec.secret}
    assert secrets == {"cluster_secret"}
    settings = Settings(**values)
    text = dump_settings(settings)
    assert all(values[name] not in (None, "") and str(values[name]) not in text for name in secrets)
    assert load_settings(text) == Settings(**{n: v for n, v in values.items() if n not in secrets})
    assert load_settings(dump_settings(Settings())) == Settings()
    assert "cluster_secret" not in repr(settings)


def test_existing_flags_keep_their_names_and_commands() -> None:
    parser = build_parser()
    for command, expected in (
        ("serve", EXISTING_FLAGS),
        ("coordinator", EXISTING_FLAGS | CLUSTER_FLAGS),
        ("worker", EXISTING_FLAGS | CLUSTER_FLAGS | WORKER_ONLY_FLAGS),
    ):
        flags = {o for a in subparser(parser, command)._actions for o in a.option_strings}
        assert expected <= flags, (command, expected - flags)
        assert not (CLUSTER_FLAGS | WORKER_ONLY_FLAGS) - expected & flags, command


def test_bad_flag_values_name_the_setting(capsys: pytest.CaptureFixture[str]) -> None:
    for argv, message in (
        (["--port", "eighty"], "argument --port: port must be an integer, not 'eighty'"),
        (["--log-format", "xml"], "argument --log-format: log_format must be one of text, json"),
        (["--max-upload-mb", "lots"], "argument --max-upload-mb: must be a number, not 'lots'"),
    ):
        with pytest.raises(SystemExit):
            build_parser().parse_args(["serve", *argv])
        assert message in capsys.readouterr().err
    with pytest.raises(ConfigError, match="log_format must be one of text, json, not 'xml'"):
        load_env({"OPENREACTOR_LOG_FORMAT": "xml"})


def test_a_boolean_flag_beats_the_file_both_ways(tmp_path: Path) -> None:
    conf = write(tmp_path, "playground = false\ndebug_endpoints = true\n")
    s = settings_for(["--config", str(conf), "--playground", "--no-debug-endpoints"])
    assert s.playground and not s.debug_endpoints
    assert not settings_for(["--config", str(conf)]).playground


def test_unknown_file_key_suggests_the_field_behind_a_flag(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"unknown setting 'keepalive' \(did you mean 'keepalive_s'\?\)"):
        settings_for(["--config", str(write(tmp_path, "keepalive = 5\n"))])


EXAMPLE_KEY = re.compile(r"^#?\s*([a-z][a-z0-9_]*)\s*=")


def test_the_example_file_lists_every_setting_with_a_usable_value(tmp_path: Path) -> None:
    lines = (REPO / "openreactor.example.toml").read_text().splitlines()
    listed = [m.group(1) for line in lines if (m := EXAMPLE_KEY.match(line))]
    assert sorted(listed) == sorted(FIELDS), set(FIELDS) ^ set(listed)
    # The commented-out examples are valid too.
    uncommented = write(
        tmp_path, "\n".join(line.lstrip("# ") if EXAMPLE_KEY.match(line) else line for line in lines)
    )
    assert isinstance(resolve_settings(config_file=uncommented, environ={}), Settings)


@pytest.fixture
def extended_settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[type[Settings]]:
    """Settings with one field more, as if someone had just added it to settings.py."""

    @dataclasses.dataclass(slots=True)
    class Extended(Settings):
        frobnicate_s: float = setting(1.5, "how long to frobnicate", group="video")
        frobnicator_url: str | None = setting(None, "who frobnicates", metavar="URL", commands=("worker",))

    for module in (settings_module, config_module, cli_module, settings_codec):
        monkeypatch.setattr(module, "Settings", Extended)
    setting_specs.cache_clear()
    yield Extended
    setting_specs.cache_clear()


def frob(s: Settings) -> Any:
    return dataclasses.asdict(s)["frobnicate_s"]


def test_adding_a_setting_is_adding_a_field(extended_settings: type[Settings], tmp_path: Path) -> None:
    parser = build_parser()
    args = parser.parse_args(["worker", "--frobnicate", "4", "--frobnicator-url", "http://f.example"])
    s = serve_settings(args, environ={})
    assert (frob(s), dataclasses.asdict(s)["frobnicator_url"]) == (4.0, "http://f.example")
    with pytest.raises(SystemExit):
        parser.parse_args(["serve", "--frobnicator-url", "http://f.example"])
    help_text = subparser(parser, "serve").format_help()
    assert "--frobnicate S" in help_text and "how long to frobnicate (default: 1.5)" in help_text
    assert frob(resolve_settings(environ={"OPENREACTOR_FROBNICATE_S": "2"})) == 2.0
    conf = write(tmp_path, "frobnicate_s = 3.0\n")
    assert frob(resolve_settings(config_file=conf, environ={})) == 3.0
    with pytest.raises(ConfigError, match="did you mean 'frobnicate_s'"):
        resolve_settings(config_file=write(tmp_path, "frobnicate = 3.0\n"), environ={})
    assert frob(load_settings(dump_settings(s))) == 4.0


def subparser(parser: argparse.ArgumentParser, command: str) -> argparse.ArgumentParser:
    (action,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    found: argparse.ArgumentParser = action.choices[command]
    return found
