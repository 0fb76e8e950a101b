"""Every server setting in one dataclass; the CLI fills it, tests build it directly.

A setting is declared once, as a :class:`Settings` field made with :func:`setting`: its type
annotation, default, help text and CLI details (flag name, metavar, choices, the subcommands that
take it, secret). From that one declaration come the TOML key and the ``OPENREACTOR_<FIELD>``
environment variable (config.py, by type), the flag and its ``--help`` text (cli.py), and the
JSON handed to worker processes (workers/settings_codec.py).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from types import MappingProxyType
from typing import Any, TypedDict, TypeVar, Unpack, overload

from openreactor.logs import LOG_FORMATS
from reactor_protocol import limits

SERVE = "serve"
WORKER = "worker"
COORDINATOR = "coordinator"
ALL_COMMANDS = (SERVE, WORKER, COORDINATOR)
"""The commands that take settings (``openreactor serve | worker | coordinator``)."""
CLUSTER_COMMANDS = (WORKER, COORDINATOR)


@dataclass(frozen=True, slots=True)
class SettingSpec:
    """How a setting shows up outside Python (the metadata of its :class:`Settings` field)."""

    help: str
    """One text for ``--help`` and for the reader of this module."""
    group: str | None = None
    """``--help`` section. ``None``: the section of the field declared before this one."""
    flag: str | None = None
    """The flag. ``None``: ``--field-name``, less a trailing ``_s`` (seconds: ``keepalive_s`` is
    ``--keepalive``); a boolean takes ``--flag`` and ``--no-flag``. Secrets take no flag."""
    metavar: str | None = None
    """``None``: ``S`` for seconds, else the flag's name in capitals."""
    choices: tuple[str, ...] = ()
    """The values allowed (checked in every layer: flag, environment, file)."""
    commands: tuple[str, ...] = ALL_COMMANDS
    """The subcommands whose flags include this one."""
    secret: bool = False
    """Never on a command line: no flag, not handed to worker processes, left out of ``repr``."""
    comma: bool = True
    """For list settings: the flag's value may list several, comma-separated (the flag repeats
    either way; in the environment lists are always comma-separated)."""
    scale: int = 1
    """The flag takes the value in units of ``scale`` (``--max-upload-mb`` for ``max_upload_bytes``)."""


class _SpecOptions(TypedDict, total=False):
    group: str
    flag: str
    metavar: str
    choices: tuple[str, ...]
    commands: tuple[str, ...]
    secret: bool
    comma: bool
    scale: int


_T = TypeVar("_T")
_SPEC = "openreactor"


@overload
def setting(default: _T, help: str, **options: Unpack[_SpecOptions]) -> _T: ...
@overload
def setting(*, factory: Callable[[], _T], help: str, **options: Unpack[_SpecOptions]) -> _T: ...
def setting(
    default: Any = dataclasses.MISSING,
    help: str = "",
    *,
    factory: Callable[[], Any] | None = None,
    **options: Unpack[_SpecOptions],
) -> Any:
    """A :class:`Settings` field: ``default`` (or ``factory``), help text and :class:`SettingSpec`."""
    spec = SettingSpec(help=help, **options)
    metadata = {_SPEC: spec}
    if factory is not None:
        return field(default_factory=factory, metadata=metadata, repr=not spec.secret)
    return field(default=default, metadata=metadata, repr=not spec.secret)


def default_state_dir() -> Path:
    """``$OPENREACTOR_STATE_DIR``, else ``$XDG_DATA_HOME/openreactor`` (``~/.local/share/openreactor``)."""
    explicit = os.environ.get("OPENREACTOR_STATE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "openreactor"


@dataclass(slots=True)
class Settings:
    """Server configuration. Defaults are the protocol's (PROTOCOL.md §8.2) where one exists.

    Fields are grouped as ``openreactor serve --help`` shows them; a field without ``group`` joins
    the group of the one above it."""

    # -- model --
    model: str = setting(
        "probe", "built-in model name or package.module:Class (openreactor models lists them)", group="model"
    )
    width: int | None = setting(None, "output width for models that take one (probe: 1280)")
    height: int | None = setting(None, "output height for models that take one (probe: 720)")
    fps: float | None = setting(None, "output frame rate for models that take one (probe: 30)")
    model_step_timeout_s: float | None = setting(
        10.0,
        "end the session (model_timeout) when one call into the model (a step, a command handler, a "
        "hook) takes longer; 0 = no limit. With --workers the stuck worker process is replaced",
    )
    max_session_memory_mb: float | None = setting(
        None,
        "end the session (memory_limit) once its process's RSS grew this many MiB above a baseline: "
        "with --workers the worker's RSS once its model loaded, else the RSS at session start "
        "(default: no limit)",
        metavar="MB",
    )

    # -- HTTP --
    host: str = setting("127.0.0.1", "HTTP bind address", group="HTTP")
    port: int = setting(8080, "HTTP port")
    tls_cert: Path | None = setting(
        None, "PEM certificate (chain): serve HTTPS (with --tls-key)", metavar="FILE"
    )
    tls_key: Path | None = setting(None, "PEM private key for --tls-cert", metavar="FILE")
    cors_origins: tuple[str, ...] = setting(
        (),
        "a page origin (scheme://host[:port]) allowed on the local-plane routes, replacing the "
        "default: pages from this machine (localhost, 127.x.x.x, [::1]) on any port; repeatable, '*' "
        "allows any. The bearer-token routes (/sessions..., /uploads/...) accept every origin",
        flag="--cors-origin",
        metavar="ORIGIN",
        comma=False,
    )
    """PROTOCOL.md §2.1. The bearer-token routes (``/sessions``, ``/sessions/...``, ``/uploads/...``)
    answer pages of any origin; every other route (the local plane: ``/start_session``,
    ``/session``, ``/schema``, ...) answers the origins listed here or, when none are, pages served
    from this machine on any port. No route allows credentials (cookies), and ``Reactor-API-Key``
    is never an allowed header."""
    playground: bool = setting(True, "serve the browser playground at /")
    metrics: bool = setting(True, "serve GET /metrics (Prometheus text format)")
    debug_endpoints: bool = setting(False, "serve GET /debug/resources (resource counts for leak tests)")

    # -- ICE (docs/NETWORKING.md) --
    ice_host_addresses: tuple[str, ...] | None = setting(
        None,
        "local address(es) ICE may offer (they must be on an interface). Default: this machine's "
        "network interfaces but loopback (loopback only on a machine with nothing else); browsers skip "
        "loopback candidates, so 127.0.0.1 suits Python clients and tests. Behind NAT see --ice-public",
        group="ICE (docs/NETWORKING.md)",
        flag="--ice-host",
        metavar="ADDR[,ADDR]",
    )
    ice_public_addresses: tuple[str, ...] = setting(
        (),
        "behind a 1:1 NAT: also offer the host candidates' ports on this public address "
        "(LOCAL=PUBLIC: only those on LOCAL)",
        flag="--ice-public",
        metavar="PUBLIC|LOCAL=PUBLIC",
    )
    ice_servers: list[dict[str, Any]] = setting(
        factory=list,
        help="STUN/TURN servers handed to clients and used by the server's own ICE agent, verbatim: "
        'a JSON list such as [{"uris": ["stun:stun.example.org:3478"]}]',
        metavar="JSON",
    )
    stun_urls: tuple[str, ...] = setting(
        (),
        "STUN server handed to clients, e.g. stun:stun.example.org:3478 (the server does not query it)",
        flag="--stun-url",
        metavar="URL",
    )
    turn_urls: tuple[str, ...] = setting(
        (),
        "TURN server handed to clients with short-lived credentials, e.g. "
        "turn:turn.example.org:3478?transport=udp (needs --turn-secret-file)",
        flag="--turn-url",
        metavar="URL",
    )
    turn_secret_file: Path | None = setting(
        None,
        "file with the TURN server's shared secret (coturn static-auth-secret), re-read per request "
        "(a file, so that the secret stays off command lines)",
        metavar="FILE",
    )
    turn_ttl_s: int = setting(3600, "lifetime of the TURN credentials minted per request (at most 24 h)")
    turn_for_server: bool = setting(
        False,
        "the server's own ICE agent also takes a relay candidate on the first TURN URL, for hosts "
        "that accept no inbound UDP (costs an allocation per connection and time before the answer)",
    )

    # -- video --
    video_bitrate_min: int = setting(1_000_000, "lowest encoder bitrate, bit/s", group="video", metavar="BPS")
    video_bitrate_max: int = setting(
        8_000_000, "highest encoder bitrate, bit/s (the encoder starts here)", metavar="BPS"
    )
    video_encoder_threads: int = setting(
        1, "libvpx threads per output track (more helps only with cores to spare)", metavar="N"
    )
    keyframe_interval_s: float = setting(
        3.0, "seconds between periodic keyframes (one is also forced on every resume and negotiation)"
    )

    # -- sessions and connections --
    keepalive_s: float = setting(
        limits.KEEPALIVE_WINDOW_S,
        "how long a session with no connected client lives",
        group="sessions and connections",
    )
    liveness_timeout_s: float = setting(
        limits.LIVENESS_TIMEOUT_S, "drop a connection silent on both data channels for this long"
    )
    liveness_check_s: float = setting(
        limits.LIVENESS_CHECK_S,
        "how often connections are checked for silence (when only --liveness-timeout is set: at "
        "most a quarter of it)",
    )
    negotiation_timeout_s: float = setting(
        30.0, 'a new offer must reach "connected" within this time, else its half-open peer is dropped'
    )
    max_connections: int = setting(64, "peers per session (runtime 3.x allows 64)", metavar="N")

    # -- uploads --
    max_upload_bytes: int = setting(
        100 * 1024 * 1024,
        "largest upload accepted (declared size and PUT body), in MiB; 413 beyond it",
        group="uploads",
        flag="--max-upload-mb",
        metavar="MB",
        scale=2**20,
    )
    upload_dir: Path | None = setting(
        None,
        "parent of the per-session upload folders (default: a fresh temporary folder per server)",
        metavar="DIR",
    )
    upload_slot_ttl_s: float = setting(
        15 * 60.0, "an upload slot whose bytes never arrived is forgotten after this long (PROTOCOL.md §7)"
    )
    upload_resolve_timeout_s: float = setting(
        limits.UPLOAD_RESOLVE_TIMEOUT_S,
        "how long a command waits for an upload it references before unresolved_upload",
    )

    # -- cloud plane --
    state_dir: Path = setting(
        factory=lambda: default_state_dir(),
        help="API keys (SQLite, hashed) and the JWT signing secret, owner-only "
        "(default: $OPENREACTOR_STATE_DIR or ~/.local/share/openreactor)",
        group="cloud plane (API keys, worker processes)",
        metavar="DIR",
    )
    token_rate_per_minute: int = setting(
        30,
        "POST/GET /tokens allowed per minute per client address and per API key (429 with "
        "Retry-After beyond); 0 disables the limit",
        metavar="N",
    )
    workers: int = setting(
        0,
        "host up to N concurrent sessions, each in its own pre-spawned worker process "
        "(0: one session at a time in the server process, local mode)",
        metavar="N",
    )
    max_sessions_per_key: int | None = setting(
        None,
        "with --workers: concurrent sessions one API key may hold, 429 beyond (default: no limit)",
        metavar="N",
    )
    max_session_duration_s: float | None = setting(
        None, "with --workers: the longest a session lives, reason max_duration (default: 1200)"
    )

    # -- cluster --
    redis_url: str | None = setting(
        None,
        "the Redis holding the cluster's shared state, e.g. redis://10.0.0.5:6379/0",
        group="cluster (openreactor worker / coordinator)",
        flag="--redis",
        metavar="URL",
        commands=CLUSTER_COMMANDS,
    )
    cluster_prefix: str = setting(
        "openreactor:",
        "prefix of every Redis key of this cluster (several clusters can share one Redis)",
        metavar="PREFIX",
        commands=CLUSTER_COMMANDS,
    )
    cluster_secret: str | None = setting(
        None,
        "shared secret of coordinator-to-worker calls, from the file or the environment only "
        "(default: one generated once in Redis)",
        secret=True,
    )
    heartbeat_s: float = setting(
        1.0, "how often a worker node announces itself to Redis", commands=CLUSTER_COMMANDS
    )
    worker_ttl_s: float = setting(
        5.0,
        "a worker node whose last heartbeat is older than this is dead: its sessions end (worker_lost)",
        commands=CLUSTER_COMMANDS,
    )
    advertise_url: str | None = setting(
        None,
        "the URL coordinators use to reach this worker node's internal API (default: http://HOST:PORT)",
        metavar="URL",
        commands=(WORKER,),
    )
    worker_id: str | None = setting(
        None,
        "this worker node's id in the registry (default: hostname + random suffix)",
        metavar="ID",
        commands=(WORKER,),
    )
    drain_timeout_s: float = setting(
        30.0,
        "SIGTERM on a worker node: how long live sessions may run on before they are ended",
        commands=(WORKER,),
    )

    # -- logging --
    log_level: str = setting("info", "debug, info, warning or error", group="logging", metavar="LEVEL")
    log_format: str = setting(
        "text", "text, or json: one object per line, with session_id and connection_id", choices=LOG_FORMATS
    )

    def model_options(self) -> dict[str, Any]:
        """The options the CLI passes to the model's constructor (only those that were set)."""
        options: dict[str, Any] = {}
        if self.width is not None:
            options["width"] = self.width
        if self.height is not None:
            options["height"] = self.height
        if self.fps is not None:
            options["fps"] = self.fps
        return options


@cache
def setting_specs() -> Mapping[str, SettingSpec]:
    """Field name -> its :class:`SettingSpec`, in declaration order, with ``group``, ``flag`` and
    ``metavar`` filled in (``flag`` stays ``None`` for secrets, which take no flag)."""
    out: dict[str, SettingSpec] = {}
    group = "settings"
    for f in dataclasses.fields(Settings):
        spec = f.metadata.get(_SPEC)
        if not isinstance(spec, SettingSpec):  # pragma: no cover - tests check every field has one
            raise TypeError(f"Settings.{f.name} is not declared with setting()")
        group = spec.group or group
        base = f.name.removesuffix("_s") if f.name.endswith("_s") else f.name
        flag = None if spec.secret else spec.flag or "--" + base.replace("_", "-")
        metavar = spec.metavar
        if metavar is None and flag is not None and not spec.choices and not isinstance(f.default, bool):
            metavar = "S" if f.name.endswith("_s") else flag.removeprefix("--").replace("-", "_").upper()
        commands = () if spec.secret else spec.commands
        out[f.name] = dataclasses.replace(spec, group=group, flag=flag, metavar=metavar, commands=commands)
    return MappingProxyType(out)
