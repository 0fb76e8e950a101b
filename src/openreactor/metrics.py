"""Prometheus metrics of one server (``GET /metrics``).

Every app owns a :class:`ServerMetrics` with its own ``CollectorRegistry`` (never the global one),
so several apps in one process (tests) keep separate counts. The session, runner, peers and output
tracks get the object passed in and call its small ``on_*`` hooks; each hook is cheap and
thread-safe (the encoder and the model step run on worker threads).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

__all__ = ["CONTENT_TYPE_LATEST", "CLIENT_STATS_FIELDS", "MAX_STATS_CONNECTIONS", "ServerMetrics"]

CLIENT_STATS_FIELDS = (
    "packets_lost",
    "frames_dropped",
    "frames_per_second",
    "jitter_ms",
    "round_trip_time_ms",
    "bitrate_bps",
)
"""Exported fields of a ``ClientStats`` payload (PROTOCOL.md §5.6): the first four from its
received (``recvonly``) tracks (counts summed, ``frames_per_second`` the lowest, ``jitter_ms`` the
highest), the last two from ``connection_stat``."""

SESSION_END_REASONS = frozenset(
    {
        "client_ended",
        "client_timeout",
        "max_duration",
        "memory_limit",
        "model_error",
        "model_timeout",
        "server_shutdown",
        "worker_lost",
    }
)
"""``sessions.session.EndReason`` values: the only ``reason`` labels (bounded cardinality)."""

MAX_STATS_CONNECTIONS = 64
"""At most this many connections have client-stats series at once (bounded label cardinality)."""

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_FIRST_FRAME_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 30.0)


def _metrics_of(entry: Any) -> dict[str, float]:
    metrics = entry.get("metrics") if isinstance(entry, Mapping) else None
    if not isinstance(metrics, Mapping):
        return {}
    return {
        str(k): float(v) for k, v in metrics.items() if isinstance(v, int | float) and not isinstance(v, bool)
    }


def summarize_client_stats(stats: Mapping[str, Any]) -> dict[str, float]:
    """The exported fields present in one ``ClientStats`` payload (see ``CLIENT_STATS_FIELDS``)."""
    out: dict[str, float] = {}
    tracks = stats.get("track_stats")
    for entry in tracks if isinstance(tracks, list) else []:
        if not isinstance(entry, Mapping) or entry.get("direction") == "TRACK_DIRECTION_SENDONLY":
            continue
        metrics = _metrics_of(entry)
        for name in ("packets_lost", "frames_dropped"):
            if name in metrics:
                out[name] = out.get(name, 0.0) + metrics[name]
        if "frames_per_second" in metrics:
            out["frames_per_second"] = min(
                out.get("frames_per_second", math.inf), metrics["frames_per_second"]
            )
        if "jitter_ms" in metrics:
            out["jitter_ms"] = max(out.get("jitter_ms", 0.0), metrics["jitter_ms"])
    connection = _metrics_of(stats.get("connection_stat"))
    for name in ("round_trip_time_ms", "bitrate_bps"):
        if name in connection:
            out[name] = connection[name]
    return out


class ServerMetrics:
    """The server's gauges, counters and histograms, in a registry of its own."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        r = self.registry
        self.sessions_active = Gauge("openreactor_sessions_active", "Sessions not yet closed", registry=r)
        self.sessions_started = Counter("openreactor_sessions_started", "Sessions started", registry=r)
        self.sessions_ended = Counter(
            "openreactor_sessions_ended", "Sessions ended, by reason", ["reason"], registry=r
        )
        self.connections_active = Gauge(
            "openreactor_connections_active", "Client connections attached to a session", registry=r
        )
        self.connections_opened = Counter(
            "openreactor_connections_opened", "Client connections attached (re-offers included)", registry=r
        )
        self.time_to_first_frame = Histogram(
            "openreactor_time_to_first_frame_seconds",
            "From an offer applied to the first video packet sent on that connection",
            buckets=_FIRST_FRAME_BUCKETS,
            registry=r,
        )
        self.command_latency = Histogram(
            "openreactor_command_latency_seconds",
            "From a command queued for the model to the model having applied it",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.encode_time = Histogram(
            "openreactor_encode_seconds", "VP8 encode time per frame", buckets=_LATENCY_BUCKETS, registry=r
        )
        self.model_step_time = Histogram(
            "openreactor_model_step_seconds",
            "Model step time (events applied plus one generation resume)",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.client_stats = Gauge(
            "openreactor_client_stats",
            "Latest stats uploaded by a client connection (client_stats messages)",
            ["connection_id", "field"],
            registry=r,
        )
        self._stats_lock = threading.Lock()
        self._stats_connections: dict[str, set[str]] = {}

    # -- hooks ------------------------------------------------------------------------------------

    def on_session_started(self) -> None:
        self.sessions_started.inc()
        self.sessions_active.inc()

    def on_session_ended(self, reason: str) -> None:
        # Clients may name their own reason (POST /stop_session): unknown ones count as "other".
        label = str(reason) if str(reason) in SESSION_END_REASONS else "other"
        self.sessions_ended.labels(reason=label).inc()
        self.sessions_active.dec()

    def on_connection_attached(self) -> None:
        self.connections_opened.inc()
        self.connections_active.inc()

    def on_connection_detached(self, connection_id: int) -> None:
        self.connections_active.dec()
        self.forget_client_stats(connection_id)

    def on_first_frame(self, seconds: float) -> None:
        self.time_to_first_frame.observe(seconds)

    def on_command_applied(self, seconds: float) -> None:
        self.command_latency.observe(seconds)

    def on_encoded(self, seconds: float) -> None:
        self.encode_time.observe(seconds)

    def on_model_step(self, seconds: float) -> None:
        self.model_step_time.observe(seconds)

    def on_client_stats(self, connection_id: int, stats: Mapping[str, Any]) -> None:
        """Export a few fields of a client's stats; new connections beyond the cap are not tracked."""
        cid = str(connection_id)
        with self._stats_lock:
            fields = self._stats_connections.get(cid)
            if fields is None:
                if len(self._stats_connections) >= MAX_STATS_CONNECTIONS:
                    return
                fields = self._stats_connections[cid] = set()
            for name, value in summarize_client_stats(stats).items():
                self.client_stats.labels(connection_id=cid, field=name).set(value)
                fields.add(name)

    def forget_client_stats(self, connection_id: int) -> None:
        cid = str(connection_id)
        with self._stats_lock:
            for name in self._stats_connections.pop(cid, set()):
                self.client_stats.remove(cid, name)

    # -- exposition ---------------------------------------------------------------------------------

    def render(self) -> bytes:
        return generate_latest(self.registry)
