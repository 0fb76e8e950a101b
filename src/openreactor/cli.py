"""``openreactor serve | models | keys | schema | codegen``."""

from __future__ import annotations

import argparse
import json
import signal
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from openreactor.codegen.command import add_parser as add_codegen_parser
from openreactor.codegen.command import run as run_codegen
from openreactor.config import ConfigError, resolve_settings
from openreactor.logs import LOG_FORMATS, configure_logging
from openreactor.models.builtin import BUILTIN_MODELS
from openreactor.models.loader import ModelNotFoundError, load_model
from openreactor.models.schema import openapi_document
from openreactor.settings import Settings, default_state_dir

DEFAULT_MODEL = "world"


def _addresses(value: str) -> list[str]:
    return [a.strip() for a in value.split(",") if a.strip()]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="openreactor", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="serve a model (local mode: one session at a time)")
    serve.add_argument("--model", help=f"built-in name or package.module:Class (default {DEFAULT_MODEL})")
    serve.add_argument("--host", help="HTTP bind address (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="HTTP port (default 8080)")
    serve.add_argument("--width", type=int, help="output width for models that take one")
    serve.add_argument("--height", type=int)
    serve.add_argument("--fps", type=float)
    serve.add_argument(
        "--ice-host",
        dest="ice_hosts",
        action="append",
        type=_addresses,
        metavar="ADDR[,ADDR]",
        help="host address(es) ICE may offer, e.g. 127.0.0.1 on loopback or the public address "
        "behind NAT; default: every interface but loopback",
    )
    serve.add_argument("--video-bitrate-min", type=int, metavar="BPS")
    serve.add_argument("--video-bitrate-max", type=int, metavar="BPS")
    serve.add_argument("--video-encoder-threads", type=int, metavar="N")
    serve.add_argument("--keyframe-interval", type=float, metavar="S")
    serve.add_argument(
        "--keepalive",
        type=float,
        metavar="S",
        help="how long a session with no client lives (default 30)",
    )
    serve.add_argument(
        "--liveness-timeout",
        type=float,
        metavar="S",
        help="drop a connection silent on both data channels for this long (default 20)",
    )
    serve.add_argument(
        "--state-dir",
        type=Path,
        metavar="DIR",
        help="API keys and the JWT secret (default $OPENREACTOR_STATE_DIR or ~/.local/share/openreactor)",
    )
    serve.add_argument(
        "--max-upload-mb",
        type=float,
        metavar="MB",
        help="largest upload accepted, in MiB (default 100)",
    )
    serve.add_argument(
        "--negotiation-timeout",
        type=float,
        metavar="S",
        help="drop a connection whose offer does not connect within this time (default 30)",
    )
    serve.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="host up to N concurrent sessions, each in its own pre-spawned worker process "
        "(default 0: one session at a time in the server process)",
    )
    serve.add_argument(
        "--max-sessions-per-key",
        type=int,
        metavar="N",
        help="with --workers: concurrent sessions per API key",
    )
    serve.add_argument(
        "--max-session-duration",
        type=float,
        metavar="S",
        help="with --workers: the longest a session lives (default 1200)",
    )
    serve.add_argument(
        "--debug-endpoints", action="store_true", help="serve GET /debug/resources (resource counts)"
    )
    serve.add_argument(
        "--cors-origin",
        dest="cors_origins",
        action="append",
        metavar="URL",
        help="allow browser calls from this origin (repeatable; '*' allows any)",
    )
    serve.add_argument("--tls-cert", type=Path, metavar="FILE", help="PEM certificate: serve HTTPS")
    serve.add_argument("--tls-key", type=Path, metavar="FILE", help="PEM private key for --tls-cert")
    serve.add_argument(
        "--no-playground", action="store_true", help="do not serve the browser playground at /"
    )
    serve.add_argument("--log-level", help="debug, info (default), warning, error")
    serve.add_argument(
        "--log-format",
        choices=LOG_FORMATS,
        help="text (default) or json: one object per line, with session_id and connection_id",
    )
    serve.add_argument("--no-metrics", action="store_true", help="do not serve GET /metrics (Prometheus)")
    serve.add_argument(
        "--config",
        type=Path,
        metavar="FILE.toml",
        help="settings file (keys named like the settings); precedence: flag > OPENREACTOR_<SETTING> "
        "environment variable > file > default",
    )

    sub.add_parser("models", help="list the built-in models")

    keys = sub.add_parser("keys", help="manage API keys for the cloud plane")
    keys.add_argument("--state-dir", type=Path, default=None, metavar="DIR")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True)
    create = keys_sub.add_parser("create", help="create a key and print it (shown only once)")
    create.add_argument("--name", default="")
    keys_sub.add_parser("list", help="list keys (never the keys themselves)")
    revoke = keys_sub.add_parser("revoke", help="revoke a key by id")
    revoke.add_argument("key_id")

    schema = sub.add_parser("schema", help="print a model's schema (OpenAPI) as JSON")
    schema.add_argument("--model", default=DEFAULT_MODEL)

    worker = sub.add_parser("worker-process", help=argparse.SUPPRESS)
    worker.add_argument("--socket", required=True)
    worker.add_argument("--settings", required=True, help="the front's settings as JSON")

    add_codegen_parser(sub)
    return parser


_FLAG_FIELDS = {
    "model": "model",
    "host": "host",
    "port": "port",
    "width": "width",
    "height": "height",
    "fps": "fps",
    "video_bitrate_min": "video_bitrate_min",
    "video_bitrate_max": "video_bitrate_max",
    "video_encoder_threads": "video_encoder_threads",
    "keyframe_interval": "keyframe_interval_s",
    "keepalive": "keepalive_s",
    "liveness_timeout": "liveness_timeout_s",
    "state_dir": "state_dir",
    "negotiation_timeout": "negotiation_timeout_s",
    "tls_cert": "tls_cert",
    "tls_key": "tls_key",
    "log_level": "log_level",
    "log_format": "log_format",
    "workers": "workers",
    "max_sessions_per_key": "max_sessions_per_key",
    "max_session_duration": "max_session_duration_s",
}
"""``serve`` flag (argparse dest) -> the Settings field it sets, for flags that map one to one."""


def flag_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The Settings fields set by flags actually given on the command line."""
    out = {
        field: getattr(args, dest) for dest, field in _FLAG_FIELDS.items() if getattr(args, dest) is not None
    }
    if args.ice_hosts:
        out["ice_host_addresses"] = tuple(a for group in args.ice_hosts for a in group)
    if args.max_upload_mb is not None:
        out["max_upload_bytes"] = int(args.max_upload_mb * 2**20)
    if args.cors_origins:
        out["cors_origins"] = tuple(args.cors_origins)
    if args.debug_endpoints:
        out["debug_endpoints"] = True
    if args.no_playground:
        out["playground"] = False
    if args.no_metrics:
        out["metrics"] = False
    return out


def serve_settings(args: argparse.Namespace, environ: Mapping[str, str] | None = None) -> Settings:
    """Flags > ``OPENREACTOR_<FIELD>`` environment > ``--config`` file > defaults."""
    return resolve_settings(
        config_file=args.config,
        environ=environ,
        overrides=flag_overrides(args),
        defaults={"model": DEFAULT_MODEL},
    )


def serve(args: argparse.Namespace) -> int:
    import uvicorn

    from openreactor.http.app import create_app

    try:
        settings = serve_settings(args)
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
    try:
        model = load_model(settings.model, settings.model_options())
    except (ModelNotFoundError, ValueError, TypeError) as exc:
        print(f"openreactor: {exc}", file=sys.stderr)
        return 2
    # uvicorn re-raises SIGTERM/SIGINT after its graceful shutdown; a no-op handler underneath
    # turns that into a normal exit (status 0) once every session has said goodbye.
    signal.signal(signal.SIGTERM, lambda *_: None)
    uvicorn.run(
        create_app(settings, model),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        log_config=log_config,
        timeout_graceful_shutdown=10,
        ssl_certfile=str(settings.tls_cert) if settings.tls_cert else None,
        ssl_keyfile=str(settings.tls_key) if settings.tls_key else None,
    )
    return 0


def manage_keys(args: argparse.Namespace) -> int:
    from openreactor.auth.access import CloudAuth

    store = CloudAuth.open(args.state_dir or default_state_dir()).keys
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
    if args.command == "serve":
        return serve(args)
    if args.command == "models":
        for name, cls in sorted(BUILTIN_MODELS.items()):
            print(f"{name:10s} {cls.description}")
        return 0
    if args.command == "keys":
        return manage_keys(args)
    if args.command == "worker-process":
        from openreactor.workers.settings_codec import load_settings
        from openreactor.workers.worker_app import run_worker

        return run_worker(args.socket, load_settings(args.settings))
    if args.command == "codegen":
        return run_codegen(args)
    if args.command == "schema":
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
