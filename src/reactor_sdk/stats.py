"""Connection statistics, computed locally (SDK-API §1.2.6), and the 5-second client report.

aiortc reports byte counts per transport and packet counts per stream. Bitrates are computed
from byte deltas between two samples (never from an estimate); they are ``None`` on the first
call and when calls are less than 200 ms apart. Fields aiortc cannot supply stay ``None``.
"""

from __future__ import annotations

import platform
import time
from dataclasses import dataclass, field
from typing import Any

from reactor_rtc.patches import nominated_pairs
from reactor_sdk.defaults import SDK_TYPE, __version__

MIN_INTERVAL_S = 0.2
REPORT_INTERVAL_S = 5.0
VIDEO_CLOCK_RATE = 90_000
AUDIO_CLOCK_RATE = 48_000


@dataclass(frozen=True, slots=True)
class InboundStream:
    """One output track as received by this client."""

    track_name: str
    kind: str
    mid: str | None
    packets_received: int | None = None
    packets_lost: int | None = None
    jitter_s: float | None = None
    frames_received: int = 0
    frames_per_second: float | None = None
    frames_dropped_by_handler: int = 0
    """Frames overwritten in the newest-wins mailbox before a handler took them."""


@dataclass(frozen=True, slots=True)
class OutboundStream:
    """One input track as sent by this client."""

    track_name: str
    kind: str
    mid: str | None
    packets_sent: int | None = None
    bytes_sent: int | None = None
    frames_pushed: int = 0


@dataclass(frozen=True, slots=True)
class CandidatePair:
    local_candidate_type: str | None
    remote_candidate_type: str | None
    state: str | None
    local_address: str | None = None
    remote_address: str | None = None


@dataclass(frozen=True, slots=True)
class ConnectionStats:
    """A snapshot of the live connection (``await reactor.get_stats()``)."""

    timestamp_ms: int
    rtt_ms: float | None = None
    jitter_s: float | None = None
    packet_loss_ratio: float | None = None
    incoming_bitrate_bps: float | None = None
    outgoing_bitrate_bps: float | None = None
    available_incoming_bitrate_bps: float | None = None
    available_outgoing_bitrate_bps: float | None = None
    target_bitrate_bps: float | None = None
    frames_per_second: float | None = None
    candidate_type: str | None = None
    relay_protocol: str | None = None
    candidate_pair_state: str | None = None
    packets_received: int | None = None
    packets_lost: int | None = None
    packets_sent: int | None = None
    bytes_received: int | None = None
    bytes_sent: int | None = None
    inbound: list[InboundStream] = field(default_factory=list)
    outbound: list[OutboundStream] = field(default_factory=list)
    candidate_pairs: list[CandidatePair] = field(default_factory=list)


@dataclass(slots=True)
class _Sample:
    at: float
    bytes_received: int
    bytes_sent: int
    frames: dict[str, int]


class StatsSampler:
    """Keeps the previous sample of one connection, for deltas."""

    def __init__(self) -> None:
        self._previous: _Sample | None = None

    def rates(
        self, now: float, bytes_received: int, bytes_sent: int, frames: dict[str, int]
    ) -> tuple[float | None, float | None, dict[str, float | None]]:
        """``(incoming bps, outgoing bps, {track: fps})`` since the previous call."""
        previous = self._previous
        if previous is not None and now - previous.at < MIN_INTERVAL_S:
            return None, None, dict.fromkeys(frames)
        self._previous = _Sample(now, bytes_received, bytes_sent, dict(frames))
        if previous is None:
            return None, None, dict.fromkeys(frames)
        dt = now - previous.at
        incoming = max(0, bytes_received - previous.bytes_received) * 8 / dt
        outgoing = max(0, bytes_sent - previous.bytes_sent) * 8 / dt
        fps: dict[str, float | None] = {
            name: max(0, count - previous.frames[name]) / dt if name in previous.frames else None
            for name, count in frames.items()
        }
        return incoming, outgoing, fps


def selected_pair(pc: Any) -> CandidatePair | None:
    """The nominated ICE pair of the peer connection's transport (aioice internals, read by
    :func:`reactor_rtc.patches.nominated_pairs`: ``None`` when unavailable)."""
    try:
        sctp = pc.sctp
        transports = [sctp.transport.transport] if sctp is not None else []
        transports += [t.receiver.transport.transport for t in pc.getTransceivers() if t.receiver.transport]
        for ice in transports:
            for pair in nominated_pairs(ice):
                local, remote = pair.local_candidate, pair.remote_candidate
                return CandidatePair(
                    local_candidate_type=getattr(local, "type", None),
                    remote_candidate_type=getattr(remote, "type", None),
                    state=str(getattr(pair, "state", "succeeded")).rsplit(".", 1)[-1].lower(),
                    local_address=f"{local.host}:{local.port}",
                    remote_address=f"{remote.host}:{remote.port}",
                )
    except Exception:  # aioice internals moved: no pair rather than a failure
        return None
    return None


def environment() -> dict[str, str]:
    return {
        "sdk_type": SDK_TYPE,
        "sdk_version": __version__,
        "os": platform.system(),
        "os_version": platform.release(),
        "arch": platform.machine(),
    }


def client_stats_report(stats: ConnectionStats, paused: frozenset[str]) -> dict[str, Any]:
    """The JSON form of the wire ``ClientStats`` message (PROTOCOL.md §5.6, §10.4)."""
    now_ms = int(time.time() * 1000)
    tracks: list[dict[str, Any]] = []
    for inbound in stats.inbound:
        metrics = {
            "frames_decoded": float(inbound.frames_received),
            "frames_dropped": float(inbound.frames_dropped_by_handler),
        }
        if inbound.packets_received is not None:
            metrics["packets_received"] = float(inbound.packets_received)
        if inbound.packets_lost is not None:
            metrics["packets_lost"] = float(inbound.packets_lost)
        if inbound.jitter_s is not None:
            metrics["jitter_ms"] = inbound.jitter_s * 1000
        if inbound.frames_per_second is not None:
            metrics["frames_per_second"] = inbound.frames_per_second
        tracks.append(
            {
                "timestamp": now_ms,
                "track_name": inbound.track_name,
                "kind": "TRACK_KIND_VIDEO" if inbound.kind == "video" else "TRACK_KIND_AUDIO",
                "direction": "TRACK_DIRECTION_RECVONLY",
                "paused": inbound.track_name in paused,
                "metrics": metrics,
            }
        )
    for outbound in stats.outbound:
        out_metrics: dict[str, float] = {}
        if outbound.packets_sent is not None:
            out_metrics["packets_sent"] = float(outbound.packets_sent)
        tracks.append(
            {
                "timestamp": now_ms,
                "track_name": outbound.track_name,
                "kind": "TRACK_KIND_VIDEO" if outbound.kind == "video" else "TRACK_KIND_AUDIO",
                "direction": "TRACK_DIRECTION_SENDONLY",
                "metrics": out_metrics,
            }
        )
    connection: dict[str, float] = {}
    if stats.rtt_ms is not None:
        connection["round_trip_time_ms"] = stats.rtt_ms
    if stats.incoming_bitrate_bps is not None:
        connection["bitrate_bps"] = stats.incoming_bitrate_bps
    return {
        "track_stats": tracks,
        "connection_stat": {"timestamp": now_ms, "metrics": connection, "environment": environment()},
    }
