"""``openreactor serve | models | keys | schema | codegen``."""

from __future__ import annotations

import argparse
import errno
import json
import signal
import socket
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from openreactor.codegen.command import add_parser as add_codegen_parser
from openreactor.codegen.command import run as run_codegen
from openreactor.config import ConfigError, resolve_settings
from openreactor.ice import check_ice_settings
from openreactor.logs import LOG_FORMATS, configure_logging
from openreactor.settings import Settings, default_state_dir

DEFAULT_MODEL = "world"

SERVER_EXTRA_MODULES = frozenset(
    {"starlette", "uvicorn", "jsonschema", "jwt", "PIL", "prometheus_client", "redis"}
)
"""Top-level modules of the ``server`` extra (pyproject.toml). ``pip install openreactor`` (the
client) leaves them out, so this module imports none of them at import time: a command that needs
them says so (:func:`main`) instead of failing with a traceback."""


def _addresses(value: str) -> list[str]:
    return [a.strip() for a in value.split(",") if a.strip()]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="openreactor", description="Serve real-time video models over WebRTC; manage API keys."
    )
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
        help="local address(es) ICE may offer (they must be on an interface), e.g. 127.0.0.1 on "
        "loopback; default: every interface but loopback. Behind NAT see --ice-public",
    )
    serve.add_argument(
        "--ice-public",
        dest="ice_public",
        action="append",
        type=_addresses,
        metavar="PUBLIC|LOCAL=PUBLIC",
        help="behind a 1:1 NAT: also offer the host candidates' ports on this public address "
        "(LOCAL=PUBLIC: only those on LOCAL)",
    )
    serve.add_argument(
        "--stun-url",
        dest="stun_urls",
        action="append",
        type=_addresses,
        metavar="URL",
        help="STUN server handed to clients, e.g. stun:stun.example.org:3478",
    )
    serve.add_argument(
        "--turn-url",
        dest="turn_urls",
        action="append",
        type=_addresses,
        metavar="URL",
        help="TURN server handed to clients with short-lived credentials, e.g. "
        "turn:turn.example.org:3478?transport=udp (needs --turn-secret-file)",
    )
    serve.add_argument(
        "--turn-secret-file",
        type=Path,
        metavar="FILE",
        help="the TURN server's shared secret (coturn static-auth-secret)",
    )
    serve.add_argument(
        "--turn-ttl", type=int, metavar="S", help="lifetime of minted TURN credentials (default 3600)"
    )
    serve.add_argument(
        "--turn-for-server",
        action="store_true",
        help="the server's own ICE agent also takes a TURN relay candidate (hosts without inbound UDP)",
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
        "--upload-dir",
        type=Path,
        metavar="DIR",
        help="where sessions store uploads, one folder each (default: a fresh temporary folder)",
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
        "--model-step-timeout",
        type=float,
        metavar="S",
        help="end the session (model_timeout) when one call into the model takes longer "
        "(default 10; 0 = no limit)",
    )
    serve.add_argument(
        "--max-session-memory-mb",
        type=float,
        metavar="MB",
        help="end the session (memory_limit) when the process's RSS grows this much above its "
        "baseline (default: no limit)",
    )
    serve.add_argument(
        "--debug-endpoints", action="store_true", help="serve GET /debug/resources (resource counts)"
    )
    serve.add_argument(
        "--cors-origin",
        dest="cors_origins",
        action="append",
        metavar="ORIGIN",
        help="a page origin (scheme://host[:port]) allowed on the local-plane routes, replacing the "
        "default: pages from this machine (localhost, 127.x.x.x, [::1]) on any port; repeatable, '*' "
        "allows any. The bearer-token routes (/sessions..., /uploads/...) accept every origin",
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

    # Scale-out: both take every `serve` flag (HTTP, TLS, ICE, model, pool size, limits) plus the
    # cluster's own; the coordinator ignores the model flags (it hosts no model).
    worker_node = sub.add_parser(
        "worker",
        conflict_handler="resolve",
        help="join a cluster: host sessions of --model in --workers N processes, announced in Redis",
    )
    coordinator = sub.add_parser(
        "coordinator",
        conflict_handler="resolve",
        help="the public front of a cluster: places sessions on workers, keeps its state in Redis",
    )
    for cluster_parser in (worker_node, coordinator):
        cluster_parser._add_container_actions(serve)
        cluster_parser.add_argument("--redis", dest="redis_url", metavar="URL", help="redis://host:port/db")
        cluster_parser.add_argument("--cluster-prefix", metavar="PREFIX", help="Redis key prefix")
        cluster_parser.add_argument("--heartbeat", type=float, metavar="S", help="worker heartbeat (default 1)")
        cluster_parser.add_argument(
            "--worker-ttl", type=float, metavar="S", help="a worker silent this long is dead (default 5)"
        )
    worker_node.add_argument(
        "--advertise-url", metavar="URL", help="how coordinators reach this node (default http://HOST:PORT)"
    )
    worker_node.add_argument("--worker-id", metavar="ID", help="this node's id (default hostname-random)")
    worker_node.add_argument(
        "--drain-timeout", type=float, metavar="S", help="SIGTERM: how long live sessions may go on (default 30)"
    )

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
    "upload_dir": "upload_dir",
    "model_step_timeout": "model_step_timeout_s",
    "max_session_memory_mb": "max_session_memory_mb",
    "turn_secret_file": "turn_secret_file",
    "turn_ttl": "turn_ttl_s",
}
"""``serve`` flag (argparse dest) -> the Settings field it sets, for flags that map one to one."""

_LIST_FLAGS = {"ice_public": "ice_public_addresses", "stun_urls": "stun_urls", "turn_urls": "turn_urls"}
"""Repeatable comma-separated ``serve`` flags (argparse dest) -> the tuple Settings field they set."""


_CLUSTER_FLAG_FIELDS = {
    "redis_url": "redis_url",
    "cluster_prefix": "cluster_prefix",
    "heartbeat": "heartbeat_s",
    "worker_ttl": "worker_ttl_s",
    "advertise_url": "advertise_url",
    "worker_id": "worker_id",
    "drain_timeout": "drain_timeout_s",
}
"""``worker`` / ``coordinator`` flags -> Settings fields."""


def flag_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The Settings fields set by flags actually given on the command line."""
    out = {
        field: getattr(args, dest)
        for dest, field in {**_FLAG_FIELDS, **_CLUSTER_FLAG_FIELDS}.items()
        if getattr(args, dest, None) is not None
    }
    if args.ice_hosts:
        out["ice_host_addresses"] = tuple(a for group in args.ice_hosts for a in group)
    for dest, field in _LIST_FLAGS.items():
        if getattr(args, dest):
            out[field] = tuple(a for group in getattr(args, dest) for a in group)
    if args.turn_for_server:
        out["turn_for_server"] = True
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
    from openreactor.http.app import create_app
    from openreactor.models.loader import ModelNotFoundError, load_model, resolve_model_class

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
    return serve_http(create_app(settings, model), settings, log_config, sock)


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
        from openreactor.models.builtin import BUILTIN_MODELS

        for name, cls in sorted(BUILTIN_MODELS.items()):
            print(f"{name:10s} {cls.description}")
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
