"""``openreactor serve | models | keys | schema | codegen``."""

from __future__ import annotations

import argparse
import dataclasses
import errno
import json
import signal
import socket
import sys
import typing
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from openreactor.codegen.command import add_parser as add_codegen_parser
from openreactor.codegen.command import run as run_codegen
from openreactor.config import ConfigError, coerce, field_types, optional_inner, resolve_settings
from openreactor.ice import check_ice_settings
from openreactor.logs import configure_logging
from openreactor.settings import (
    COORDINATOR,
    SERVE,
    WORKER,
    Settings,
    SettingSpec,
    default_state_dir,
    setting_specs,
)

DEFAULT_MODEL = "world"

SERVER_EXTRA_MODULES = frozenset(
    {"starlette", "uvicorn", "jsonschema", "jwt", "PIL", "prometheus_client", "redis"}
)
"""Top-level modules of the ``server`` extra (pyproject.toml). ``pip install openreactor`` (the
client) leaves them out, so this module imports none of them at import time: a command that needs
them says so (:func:`main`) instead of failing with a traceback."""


SETTINGS_COMMANDS = {
    SERVE: "serve a model (local mode: one session at a time)",
    # Scale-out: both take every `serve` flag (HTTP, TLS, ICE, model, pool size, limits) plus the
    # cluster's own; the coordinator ignores the model flags (it hosts no model).
    WORKER: "join a cluster: host sessions of --model in --workers N processes, announced in Redis",
    COORDINATOR: "the public front of a cluster: places sessions on workers, keeps its state in Redis",
}
"""The commands that take settings (their flags come from settings.py), with their ``--help`` lines."""

CLI_DEFAULTS: Mapping[str, Any] = {"model": DEFAULT_MODEL}
"""Where these commands' default differs from the :class:`Settings` field's."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="openreactor", description="Serve real-time video models over WebRTC; manage API keys."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    for command, summary in SETTINGS_COMMANDS.items():
        settings_parser = sub.add_parser(
            command,
            help=summary,
            description=summary[0].upper() + summary[1:] + ". " + _SETTINGS_HELP,
            usage="%(prog)s [-h] [--config FILE.toml] [--SETTING VALUE ...]",
            epilog=_secrets_epilog(),
        )
        settings_parser.add_argument(
            "--config",
            type=Path,
            metavar="FILE.toml",
            help="settings file (keys named like the settings); precedence: flag > OPENREACTOR_<SETTING> "
            "environment variable > file > default",
        )
        add_setting_flags(settings_parser, command)

    sub.add_parser("models", help="list the built-in models")

    keys = sub.add_parser("keys", help="manage API keys for the cloud plane")
    # The store options go before or after the action (`keys --state-dir D list`, `keys list
    # --state-dir D`): the action's copies default to SUPPRESS so that they override only when given.
    store_options = argparse.ArgumentParser(add_help=False)
    for target, defaults in ((keys, (None, None, "openreactor:")), (store_options, (argparse.SUPPRESS,) * 3)):
        target.add_argument(
            "--state-dir",
            type=Path,
            default=defaults[0],
            metavar="DIR",
            help="the key store's folder (default $OPENREACTOR_STATE_DIR or ~/.local/share/openreactor)",
        )
        target.add_argument(
            "--redis",
            dest="redis_url",
            default=defaults[1],
            metavar="URL",
            help="the keys of a cluster (coordinators)",
        )
        target.add_argument("--cluster-prefix", default=defaults[2], metavar="PREFIX")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True)
    create = keys_sub.add_parser(
        "create", parents=[store_options], help="create a key and print it (shown only once)"
    )
    create.add_argument("--name", default="")
    keys_sub.add_parser("list", parents=[store_options], help="list keys (never the keys themselves)")
    revoke = keys_sub.add_parser("revoke", parents=[store_options], help="revoke a key by id")
    revoke.add_argument("key_id")

    schema = sub.add_parser("schema", help="print a model's schema (OpenAPI) as JSON")
    schema.add_argument("--model", default=DEFAULT_MODEL)

    add_codegen_parser(sub)
    # What `--help` lists: every command but the internal one added below (argparse has no
    # help=SUPPRESS for subcommands, so the metavar spells out the public ones).
    sub.metavar = "{" + ",".join(sub.choices) + "}"

    # Internal: `serve --workers N` starts its worker processes with it. No help, so unlisted.
    worker = sub.add_parser("worker-process")
    worker.add_argument("--socket", required=True)
    worker.add_argument("--settings", required=True, help="the front's settings as JSON")
    return parser


_SETTINGS_HELP = (
    "Every flag is also a setting: a key of the --config file and an OPENREACTOR_<KEY> environment "
    "variable. --log-level is log_level (OPENREACTOR_LOG_LEVEL); a flag in seconds drops the key's "
    "_s (--keepalive: keepalive_s); other names are in the flag's help."
)


def _secrets_epilog() -> str | None:
    secrets = [name for name, spec in setting_specs().items() if spec.secret]
    if not secrets:
        return None
    return f"Kept off command lines (set them in the file or the environment): {', '.join(secrets)}."


def _shown_default(name: str, spec: SettingSpec) -> str | None:
    """The default as ``--help`` shows it; ``None`` when there is none to show (the help says)."""
    f = next(f for f in dataclasses.fields(Settings) if f.name == name)
    value = CLI_DEFAULTS.get(name, f.default)
    if value is dataclasses.MISSING or value is None or value == () or value == []:
        return None
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, int | float):
        scaled = value / spec.scale
        return str(int(scaled)) if float(scaled).is_integer() else str(scaled)
    return str(value)


def _flag_help(name: str, spec: SettingSpec) -> str:
    notes = []
    default = _shown_default(name, spec)
    if default is not None:
        notes.append(f"default: {default}")
    assert spec.flag is not None
    key = spec.flag.removeprefix("--").replace("-", "_")
    if name not in (key, key + "_s"):
        notes.append(f"setting {name}" + (f" = {spec.metavar} * {spec.scale}" if spec.scale != 1 else ""))
    text = spec.help + (f" ({'; '.join(notes)})" if notes else "")
    return text.replace("%", "%%")


def _flag_type(name: str, spec: SettingSpec, tp: Any) -> Callable[[str], Any]:
    """Parses a flag's value as its environment variable's (config.coerce), scaled or listed."""
    flag = spec.flag
    is_list = typing.get_origin(tp) is tuple

    def parse(text: str) -> Any:
        if is_list and not spec.comma:
            return [text]
        if spec.scale != 1:
            try:
                return int(float(text) * spec.scale)
            except ValueError:
                raise argparse.ArgumentTypeError(f"must be a number, not {text!r}") from None
        try:
            value = coerce(name, text, str(flag), from_env=True)
        except ConfigError as exc:
            raise argparse.ArgumentTypeError(str(exc).removeprefix(f"{flag}: ")) from None
        if is_list:
            return list(value or ())
        return value

    return parse


def add_setting_flags(parser: argparse.ArgumentParser, command: str) -> None:
    """A flag for every setting ``command`` takes, in its ``--help`` group (all from settings.py).

    Each defaults to ``SUPPRESS``: only the flags given show up in the namespace, as the field
    they set (:func:`flag_overrides`)."""
    types = field_types()
    groups: dict[str, Any] = {}
    for name, spec in setting_specs().items():
        if spec.flag is None or command not in spec.commands:
            continue
        group_title = spec.group or "settings"
        if group_title not in groups:
            groups[group_title] = parser.add_argument_group(group_title)
        tp, _ = optional_inner(types[name])
        options: dict[str, Any] = {"dest": name, "default": argparse.SUPPRESS, "help": _flag_help(name, spec)}
        if tp is bool:
            options["action"] = argparse.BooleanOptionalAction
        else:
            options.update(metavar=spec.metavar, type=_flag_type(name, spec, tp))
            if spec.choices:
                options["choices"] = spec.choices
            if typing.get_origin(tp) is tuple:
                options["action"] = "extend"  # repeatable; each value may list several
        groups[group_title].add_argument(spec.flag, **options)


def flag_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The Settings fields set by flags actually given on the command line (of a command in
    :data:`SETTINGS_COMMANDS`)."""
    given = vars(args)
    types = field_types()
    out: dict[str, Any] = {}
    for name, spec in setting_specs().items():
        if spec.flag is None or name not in given:
            continue
        value = given[name]
        out[name] = tuple(value) if typing.get_origin(optional_inner(types[name])[0]) is tuple else value
    return out


def serve_settings(args: argparse.Namespace, environ: Mapping[str, str] | None = None) -> Settings:
    """Flags > ``OPENREACTOR_<FIELD>`` environment > ``--config`` file > defaults."""
    return resolve_settings(
        config_file=args.config,
        environ=environ,
        overrides=flag_overrides(args),
        defaults=CLI_DEFAULTS,
    )


def serve(args: argparse.Namespace) -> int:
    from openreactor.models.loader import ModelNotFoundError, load_model, resolve_model_class
    from openreactor.serve import create_serve_app

    try:
        settings = serve_settings(args)
    except ConfigError as exc:
        print(f"openreactor: {exc}", file=sys.stderr)
        return 2
    try:
        check_ice_settings(settings)
    except ConfigError as exc:
        print(f"openreactor: {exc}", file=sys.stderr)
        return 2
    if (settings.tls_cert is None) != (settings.tls_key is None):
        print("openreactor: --tls-cert and --tls-key go together", file=sys.stderr)
        return 2
    try:
        log_config = configure_logging(settings.log_level, settings.log_format)
    except ValueError as exc:
        print(f"openreactor: {exc}", file=sys.stderr)
        return 2
    sock = bind_or_explain(settings)  # before the model loads: a taken port fails at once
    if sock is None:
        return 1
    try:
        # With worker processes only they load the model (a GPU model must not load twice):
        # here just check that it resolves.
        model = (
            None
            if settings.workers > 0
            else load_model(settings.model, settings.model_options())
        )
        if model is None:
            resolve_model_class(settings.model)
    except (ModelNotFoundError, ValueError, TypeError) as exc:
        sock.close()
        print(f"openreactor: {exc}", file=sys.stderr)
        return 2
    # uvicorn re-raises SIGTERM/SIGINT after its graceful shutdown; a no-op handler underneath
    # turns that into a normal exit (status 0) once every session has said goodbye.
    signal.signal(signal.SIGTERM, lambda *_: None)
    return serve_http(create_serve_app(settings, model), settings, log_config, sock)


def listen_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` (as uvicorn binds it); raises ``OSError``."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host.strip("[]"), port))
    except OSError:
        sock.close()
        raise
    return sock


def bind_or_explain(settings: Settings) -> socket.socket | None:
    """The listening socket, bound before anything slow (the model) starts; ``None`` after printing
    one line naming the address when it cannot be had (in use, not this machine's, privileged)."""
    address = f"[{settings.host}]:{settings.port}" if ":" in settings.host else f"{settings.host}:{settings.port}"
    try:
        return listen_socket(settings.host, settings.port)
    except OSError as exc:
        hint = " (another server is listening there: stop it or choose another --port)"
        reason = (exc.strerror or str(exc)).lower()
        print(
            f"openreactor: cannot listen on {address}: {reason}{hint if exc.errno == errno.EADDRINUSE else ''}",
            file=sys.stderr,
        )
        return None


def serve_http(
    app: Any, settings: Settings, log_config: dict[str, Any] | None, sock: socket.socket | None = None
) -> int:
    """Run ``app`` with uvicorn on the settings' address (TLS when configured) until SIGTERM.

    0 after a graceful stop; 1 when the address cannot be bound; 3 when the app did not start."""
    import uvicorn

    if sock is None:
        sock = bind_or_explain(settings)
        if sock is None:
            return 1
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        log_config=log_config,
        timeout_graceful_shutdown=10,
        ssl_certfile=str(settings.tls_cert) if settings.tls_cert else None,
        ssl_keyfile=str(settings.tls_key) if settings.tls_key else None,
    )
    server = uvicorn.Server(config)
    with sock:
        server.run(sockets=[sock])
    return 0 if server.started else 3


def run_cluster_process(args: argparse.Namespace) -> int:
    """``openreactor worker`` / ``openreactor coordinator``: settings as for ``serve``, plus Redis."""
    try:
        settings = serve_settings(args)
        log_config = configure_logging(settings.log_level, settings.log_format)
    except (ConfigError, ValueError) as exc:
        print(f"openreactor: {exc}", file=sys.stderr)
        return 2
    if not settings.redis_url:
        print("openreactor: a cluster process needs --redis URL (or OPENREACTOR_REDIS_URL)", file=sys.stderr)
        return 2
    try:
        check_ice_settings(settings)
    except ConfigError as exc:
        print(f"openreactor: {exc}", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, lambda *_: None)  # see serve(): exit 0 after a graceful stop
    if args.command == "worker":
        from openreactor.cluster.node import run_node

        return run_node(settings, log_config)
    from openreactor.cluster.coordinator import create_coordinator_app

    return serve_http(create_coordinator_app(settings), settings, log_config)


def manage_keys(args: argparse.Namespace) -> int:
    from openreactor.auth.keys import KeyStore
    from openreactor.cluster.keys import RedisKeyAdmin

    store: KeyStore | RedisKeyAdmin
    if args.redis_url:
        store = RedisKeyAdmin(args.redis_url, args.cluster_prefix)
    else:
        state_dir = args.state_dir or default_state_dir()
        state_dir.mkdir(parents=True, exist_ok=True)
        state_dir.chmod(0o700)
        store = KeyStore(state_dir / "keys.sqlite3")
    if args.keys_command == "create":
        record, plain = store.create(args.name)
        print(f"{record.key_id} {plain}")
        return 0
    if args.keys_command == "list":
        for r in store.list():
            state = "revoked" if r.revoked_at else "active"
            print(f"{r.key_id} {state:8s} {r.name}")
        return 0
    if store.revoke(args.key_id):
        print(f"revoked {args.key_id}")
        return 0
    print(f"openreactor: no active key {args.key_id!r}", file=sys.stderr)
    return 1


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return run_command(args)
    except ModuleNotFoundError as exc:
        missing = (exc.name or "").partition(".")[0]
        if missing not in SERVER_EXTRA_MODULES:
            raise
        print(
            f"openreactor {args.command} needs the server extra ({missing} is missing): "
            "pip install 'openreactor[server]' (from a clone: pip install -e '.[server]')",
            file=sys.stderr,
        )
        return 2


def run_command(args: argparse.Namespace) -> int:
    if args.command == "serve":
        return serve(args)
    if args.command == "models":
        # The registry lists names and descriptions without importing the models; serving any of
        # them needs the server extra (jsonschema validates every command), so check it here too.
        import openreactor.models.schema  # noqa: F401
        from openreactor.models.builtin import BUILTINS

        for entry in sorted(BUILTINS, key=lambda e: e.name):
            print(f"{entry.name:10s} {entry.description}")
        return 0
    if args.command == "keys":
        return manage_keys(args)
    if args.command in ("worker", "coordinator"):
        return run_cluster_process(args)
    if args.command == "worker-process":
        from openreactor.workers.settings_codec import load_settings
        from openreactor.workers.worker_app import run_worker

        return run_worker(args.socket, load_settings(args.settings))
    if args.command == "codegen":
        return run_codegen(args)
    if args.command == "schema":
        from openreactor.models.loader import ModelNotFoundError, load_model
        from openreactor.models.schema import openapi_document

        try:
            model = load_model(args.model, {})
        except ModelNotFoundError as exc:
            print(f"openreactor: {exc}", file=sys.stderr)
            return 2
        print(json.dumps(openapi_document(model), indent=2))
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
