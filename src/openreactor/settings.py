"""Every server setting in one dataclass; the CLI fills it, tests build it directly."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reactor_protocol import limits


def default_state_dir() -> Path:
    """``$OPENREACTOR_STATE_DIR``, else ``$XDG_DATA_HOME/openreactor`` (``~/.local/share/openreactor``)."""
    explicit = os.environ.get("OPENREACTOR_STATE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "openreactor"


@dataclass(slots=True)
class Settings:
    """Server configuration. Defaults are the protocol's (PROTOCOL.md §8.2) where one exists."""

    model: str = "probe"
    """Built-in model name or ``package.module:Class``."""
    host: str = "127.0.0.1"
    port: int = 8080
    width: int | None = None
    """Output width for models that take one (probe: 1280)."""
    height: int | None = None
    fps: float | None = None
    ice_host_addresses: tuple[str, ...] | None = None
    """Host addresses ICE may offer; ``None`` = every interface but loopback (aioice's default)."""
    ice_servers: list[dict[str, Any]] = field(default_factory=list)
    """STUN/TURN servers handed to clients and used by the server's own ICE agent, verbatim."""
    ice_public_addresses: tuple[str, ...] = ()
    """Behind a 1:1 NAT: ``PUBLIC`` or ``LOCAL=PUBLIC``; the answer also offers each (mapped) host
    candidate's port on the public address (transport/public_address.py)."""
    stun_urls: tuple[str, ...] = ()
    """STUN servers handed to clients (``stun:host:port``); the server does not query them."""
    turn_urls: tuple[str, ...] = ()
    """TURN servers handed to clients with fresh credentials (``turn:host:3478?transport=udp``)."""
    turn_secret_file: Path | None = None
    """File with the TURN server's shared secret (coturn ``static-auth-secret``), re-read per
    request; a file rather than a setting so that the secret stays off command lines."""
    turn_ttl_s: int = 3600
    """Lifetime of the TURN credentials minted per ``ice_servers`` request (at most 24 h)."""
    turn_for_server: bool = False
    """The server's own ICE agent also takes a relay candidate on the first TURN URL, for hosts
    that accept no inbound UDP (costs an allocation per connection and time before the answer)."""
    video_bitrate_min: int = 1_000_000
    """Encoder bitrate range in bit/s; the encoder starts at the maximum."""
    video_bitrate_max: int = 8_000_000
    video_encoder_threads: int = 1
    """libvpx threads per output track (more helps only with cores to spare)."""
    keyframe_interval_s: float = 3.0
    """Seconds between periodic keyframes (one is also forced on every resume and negotiation)."""
    keepalive_s: float = limits.KEEPALIVE_WINDOW_S
    """How long a session with no connected client lives."""
    liveness_timeout_s: float = limits.LIVENESS_TIMEOUT_S
    liveness_check_s: float = limits.LIVENESS_CHECK_S
    state_dir: Path = field(default_factory=lambda: default_state_dir())
    """Where API keys (SQLite, hashed) and the JWT signing secret live (owner-only permissions)."""
    token_rate_per_minute: int = 30
    """``POST``/``GET /tokens`` allowed per minute per client address and per API key (429 with
    ``Retry-After`` beyond); 0 disables the limit."""
    max_connections: int = 64
    """Peers per session (runtime 3.x allows 64)."""
    negotiation_timeout_s: float = 30.0
    """A new offer must reach "connected" within this time, else its half-open peer is reaped."""
    max_upload_bytes: int = 100 * 1024 * 1024
    """Largest upload accepted (declared size and PUT body); 413 beyond it."""
    upload_slot_ttl_s: float = 15 * 60.0
    """An upload slot whose bytes never arrived is forgotten after this long (PROTOCOL.md §7)."""
    upload_resolve_timeout_s: float = limits.UPLOAD_RESOLVE_TIMEOUT_S
    """How long a command waits for an upload it references before ``unresolved_upload``."""
    upload_dir: Path | None = None
    """Parent of the per-session upload folders; ``None`` = a fresh temporary folder per server."""
    debug_endpoints: bool = False
    """Serve ``GET /debug/resources`` (resource counts for leak tests)."""
    cors_origins: tuple[str, ...] = ()
    """Which browser pages may call this server cross-origin (PROTOCOL.md §2.1). The rule: the
    bearer-token routes (``/sessions``, ``/sessions/...``, ``/uploads/...``) answer pages of any
    origin; every other route (the local plane: ``/start_session``, ``/session``, ``/schema``, ...)
    answers the origins listed here or, when none are, pages served from this machine on any port
    (``http(s)://localhost``, ``127.x.x.x``, ``[::1]``). ``"*"`` lists every origin. No route allows
    credentials (cookies), and ``Reactor-API-Key`` is never an allowed header."""
    tls_cert: Path | None = None
    """PEM certificate (chain) for HTTPS; with ``tls_key``, uvicorn serves TLS."""
    tls_key: Path | None = None
    playground: bool = True
    """Serve the browser playground at ``/``."""
    metrics: bool = True
    """Serve ``GET /metrics`` (Prometheus text format)."""
    workers: int = 0
    """``serve --workers N``: host sessions in N pre-spawned worker processes (the cloud plane on one
    machine, up to N concurrent sessions); 0 = one session at a time in this process (local mode)."""
    max_sessions_per_key: int | None = None
    """With workers: concurrent sessions one API key may hold (429 beyond it); ``None`` = no limit."""
    max_session_duration_s: float | None = None
    """With workers: the longest a session lives (reason ``max_duration``); ``None`` = 1200 s."""
    model_step_timeout_s: float | None = 10.0
    """Longest one call into the model (a generation step, a command handler, a hook) may take;
    beyond it the session ends (reason ``model_timeout``). ``None`` or 0: no limit. The stuck
    thread cannot be killed; with ``workers`` its worker process is replaced."""
    max_session_memory_mb: float | None = None
    """End a session (reason ``memory_limit``) once its process's RSS has grown this many MiB above
    a baseline: with ``workers`` the worker's RSS once its model was loaded, else the RSS at session
    start. ``None``: no limit."""
    redis_url: str | None = None
    """Scale-out (``openreactor coordinator`` / ``openreactor worker``): the Redis holding the
    cluster's shared state, e.g. ``redis://10.0.0.5:6379/0``."""
    cluster_prefix: str = "openreactor:"
    """Prefix of every Redis key of this cluster (several clusters can share one Redis)."""
    cluster_secret: str | None = None
    """Shared secret of coordinator-to-worker calls; ``None`` = one generated once in Redis."""
    advertise_url: str | None = None
    """``openreactor worker``: the URL coordinators use to reach this node's internal API;
    ``None`` = ``http://<host>:<port>``."""
    worker_id: str | None = None
    """``openreactor worker``: this node's id in the registry; ``None`` = hostname + random suffix."""
    heartbeat_s: float = 1.0
    """How often a worker node announces itself to Redis."""
    worker_ttl_s: float = 5.0
    """A worker node whose last heartbeat is older than this is dead: its sessions end (``worker_lost``)."""
    drain_timeout_s: float = 30.0
    """SIGTERM on a worker node: how long live sessions may run on before they are ended."""
    log_level: str = "info"
    log_format: str = "text"
    """``text`` or ``json`` (one object per line, with ``session_id`` / ``connection_id``)."""

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
