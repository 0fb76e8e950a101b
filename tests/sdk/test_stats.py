"""Connection statistics: deltas, the client-stats report on the wire, and a live connection."""

from __future__ import annotations

from typing import Any

import pytest

from reactor_protocol import codec_v1_protobuf as codec
from reactor_protocol.messages import Channel, ClientStats, Envelope
from reactor_sdk import ConnectionStats, InboundStream, InvalidStateError, OutboundStream, Reactor
from reactor_sdk.stats import StatsSampler, client_stats_report
from support.waiting import eventually


def test_sampler_rates_from_byte_deltas() -> None:
    sampler = StatsSampler()
    assert sampler.rates(10.0, 1000, 500, {"main_video": 3}) == (None, None, {"main_video": None})
    # Under 200 ms: no rates, and the baseline is kept.
    assert sampler.rates(10.1, 2000, 600, {"main_video": 4})[:2] == (None, None)
    incoming, outgoing, fps = sampler.rates(11.0, 3000, 500, {"main_video": 33})
    assert incoming == pytest.approx(16000.0) and outgoing == 0.0
    assert fps == {"main_video": pytest.approx(30.0)}


def test_client_stats_report_encodes_as_the_wire_message() -> None:
    stats = ConnectionStats(
        timestamp_ms=1,
        rtt_ms=12.5,
        incoming_bitrate_bps=1e6,
        inbound=[InboundStream("main_video", "video", "1", 100, 2, 0.004, 90, 30.0, 7)],
        outbound=[OutboundStream("webcam", "video", "0", 50, 4000, 40)],
    )
    report = client_stats_report(stats, frozenset({"main_video"}))
    raw = codec.encode(Envelope.notification(Channel.CONTROL, ClientStats(report)), "client")
    decoded = codec.decode(raw, Channel.CONTROL, "client")
    assert isinstance(decoded.payload, ClientStats)
    tracks = decoded.payload.stats["track_stats"]
    assert [t["track_name"] for t in tracks] == ["main_video", "webcam"]
    assert tracks[0]["paused"] is True and tracks[0]["metrics"]["frames_dropped"] == 7.0
    assert decoded.payload.stats["connection_stat"]["environment"]["sdk_type"] == "python"


async def test_get_stats_requires_ready() -> None:
    with pytest.raises(InvalidStateError):
        await Reactor("m", local=True).get_stats()


@pytest.mark.timeout(60)
async def test_live_stats(probe_server: str) -> None:
    frames: list[Any] = []
    async with Reactor(
        "probe", api_url=probe_server, local=True, ice_host_addresses=["127.0.0.1"]
    ) as reactor:
        reactor.on_frame(lambda f: frames.append(f.shape))
        first = await reactor.get_stats()
        assert first.incoming_bitrate_bps is None and first.timestamp_ms > 0

        async def measured() -> Any:
            sample = await reactor.get_stats()  # rates are over the time since the previous call
            return sample if sample.incoming_bitrate_bps and sample.frames_per_second else None

        second = await eventually(measured, interval=0.5, what="a stats sample with bitrate and fps")
        assert second.incoming_bitrate_bps is not None and second.incoming_bitrate_bps > 0
        assert second.bytes_received is not None and second.bytes_received > 0
        assert second.frames_per_second is not None and second.frames_per_second > 0
        assert [s.track_name for s in second.inbound] == ["main_video"]
        assert second.inbound[0].frames_received > 0 and second.inbound[0].frames_dropped_by_handler >= 0
        assert second.candidate_type in (None, "host")
