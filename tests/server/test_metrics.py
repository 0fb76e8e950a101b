"""``GET /metrics``: Prometheus counters and histograms after a short real session on loopback."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

from openreactor.metrics import ServerMetrics, summarize_client_stats
from reactor_protocol.messages import Channel, ClientStats, Command, Envelope, ResumeTrack
from support.rtc_client import raw_client
from support.waiting import eventually


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(text: str, name: str, **labels: str) -> float:
    return samples(text).get((name, tuple(sorted(labels.items()))), 0.0)


STATS = {
    "track_stats": [
        {
            "track_name": "main_video",
            "direction": "TRACK_DIRECTION_RECVONLY",
            "metrics": {"packets_lost": 3.0, "frames_per_second": 29.5, "jitter_ms": 4.0},
        },
        {"track_name": "cam", "direction": "TRACK_DIRECTION_SENDONLY", "metrics": {"packets_lost": 99.0}},
    ],
    "connection_stat": {"metrics": {"round_trip_time_ms": 12.0}},
}


async def test_metrics_after_a_session(probe_server: str) -> None:
    async with raw_client(probe_server) as c:
        assert (await c.request(Channel.CONTROL, ResumeTrack("main_video"), "ctrl_1")).payload is None
        await c.frame()
        ack = await c.request(Channel.DATA, Command("set_value", {"value": 7.0}), "data_1")
        assert ack.payload is None
        c.send(Envelope.notification(Channel.CONTROL, ClientStats(STATS)))
        cid = str(c.connection_id)
        async with httpx.AsyncClient(base_url=probe_server, timeout=30) as http:

            async def with_client_stats() -> str | None:
                text = (await http.get("/metrics")).text
                return (
                    text
                    if value(text, "openreactor_client_stats", connection_id=cid, field="packets_lost")
                    else None
                )

            # The stats notification travels on its own.
            live = await eventually(with_client_stats, what="the client's stats in /metrics")
        assert value(live, "openreactor_sessions_active") == 1
        assert value(live, "openreactor_connections_active") == 1
        assert value(live, "openreactor_client_stats", connection_id=cid, field="packets_lost") == 3.0
        assert value(live, "openreactor_client_stats", connection_id=cid, field="frames_per_second") == 29.5
        assert value(live, "openreactor_client_stats", connection_id=cid, field="round_trip_time_ms") == 12.0
        r = await c.http.post("/stop_session", json={})
        assert r.status_code in (200, 204), r.text
    async with httpx.AsyncClient(base_url=probe_server) as http:
        r = await http.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    text = r.text
    assert value(text, "openreactor_sessions_started_total") == 1
    assert value(text, "openreactor_sessions_ended_total", reason="client_ended") == 1
    assert value(text, "openreactor_sessions_active") == 0
    assert value(text, "openreactor_connections_active") == 0
    assert value(text, "openreactor_connections_opened_total") == 1
    assert value(text, "openreactor_time_to_first_frame_seconds_count") == 1
    assert (
        value(text, "openreactor_time_to_first_frame_seconds_sum") > 0
    )  # how long: bench/bench_streaming.py
    assert value(text, "openreactor_command_latency_seconds_count") == 1
    assert value(text, "openreactor_encode_seconds_count") >= 1
    assert value(text, "openreactor_model_step_seconds_count") >= 1
    # A connection's client-stats series go with it.
    assert "openreactor_client_stats{" not in text


def test_registries_are_per_app_and_client_stats_are_bounded() -> None:
    a, b = ServerMetrics(), ServerMetrics()
    a.on_session_started()
    assert value(a.render().decode(), "openreactor_sessions_started_total") == 1
    assert value(b.render().decode(), "openreactor_sessions_started_total") == 0
    for cid in range(200):
        a.on_client_stats(cid, STATS)
    series = [k for k in samples(a.render().decode()) if k[0] == "openreactor_client_stats"]
    assert len({dict(labels)["connection_id"] for _, labels in series}) == 64
    a.forget_client_stats(0)
    a.on_client_stats(500, STATS)
    assert (
        value(a.render().decode(), "openreactor_client_stats", connection_id="500", field="jitter_ms") == 4.0
    )


def test_summarize_client_stats_ignores_sent_tracks_and_junk() -> None:
    assert summarize_client_stats(STATS) == {
        "packets_lost": 3.0,
        "frames_per_second": 29.5,
        "jitter_ms": 4.0,
        "round_trip_time_ms": 12.0,
    }
    assert summarize_client_stats({"track_stats": "nope", "connection_stat": [1]}) == {}


def test_end_reasons_are_bounded_and_match_the_session_enum() -> None:
    from openreactor.metrics import SESSION_END_REASONS
    from openreactor.sessions.session import EndReason

    assert {r.value for r in EndReason} == SESSION_END_REASONS
    m = ServerMetrics()
    m.on_session_started()
    m.on_session_ended("whatever a client sent")
    assert value(m.render().decode(), "openreactor_sessions_ended_total", reason="other") == 1
