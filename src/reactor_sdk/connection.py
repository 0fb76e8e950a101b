"""One WebRTC connection of a session: the RTCPeerConnection, its two data channels, the remote
tracks, and request/response correlation on the channels (PROTOCOL.md §3-§5).

A :class:`PeerLink` lives for one offer/answer. A reconnect builds a new one for the same session
and connection id. aiortc exceptions are translated here into ``ReactorError`` subclasses.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

from aiortc import (
    RTCConfiguration,
    RTCDataChannel,
    RTCIceServer,
    RTCPeerConnection,
    RTCRtpTransceiver,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamTrack
from aiortc.stats import (
    RTCInboundRtpStreamStats,
    RTCOutboundRtpStreamStats,
    RTCRemoteInboundRtpStreamStats,
    RTCTransportStats,
)

from reactor_protocol import codec_v1_protobuf as codec
from reactor_protocol.errors import DecodeError as WireDecodeError
from reactor_protocol.limits import MAX_MESSAGE_BYTES
from reactor_protocol.messages import Channel, Envelope, Kind, Payload
from reactor_rtc.patches import bound_jitter_wait
from reactor_sdk.errors import (
    DecodeError,
    DisconnectedError,
    MessageTooLargeError,
    ReactorError,
    RequestTimeoutError,
    TransportError,
)
from reactor_sdk.frame_reader import FrameReader, FrameSinks, TrackDrainer
from reactor_sdk.ice_report import describe_ice_attempt
from reactor_sdk.stats import (
    AUDIO_CLOCK_RATE,
    VIDEO_CLOCK_RATE,
    ConnectionStats,
    InboundStream,
    OutboundStream,
    StatsSampler,
    selected_pair,
)
from reactor_sdk.tracks import InputFeed, PushedVideoTrack

logger = logging.getLogger("reactor_sdk")

TrackKindName: TypeAlias = Literal["video", "audio"]
TrackDirectionName: TypeAlias = Literal["recvonly", "sendonly"]

_ICE_URL_SCHEMES = ("stun:", "stuns:", "turn:", "turns:")


@dataclass(frozen=True, slots=True)
class TrackSpec:
    """One declared track, named from the client's side (``recvonly`` = model output)."""

    name: str
    kind: TrackKindName
    direction: TrackDirectionName


def ice_servers_from_json(servers: Sequence[dict[str, Any]]) -> list[RTCIceServer]:
    """``{"uris": [...], "credentials": {"username", "password"}}`` entries → aiortc servers.

    URLs aiortc cannot use are skipped. An empty list stays empty: aiortc must never fall back
    to its default public STUN server.
    """
    out: list[RTCIceServer] = []
    for server in servers:
        urls = server.get("uris", server.get("urls", []))
        if isinstance(urls, str):
            urls = [urls]
        usable = [u for u in urls if isinstance(u, str) and u.startswith(_ICE_URL_SCHEMES)]
        if not usable:
            continue
        creds = server.get("credentials") or {}
        username = creds.get("username", server.get("username"))
        credential = creds.get("password", server.get("credential"))
        out.append(RTCIceServer(urls=usable, username=username, credential=credential))
    return out


class RequestIds:
    """Request ids as the official client numbers them: ``data_1``, ``data_2``, … on ``data`` and
    ``ctrl_1``, … on ``control``, counted per client instance."""

    _PREFIX = {Channel.DATA: "data", Channel.CONTROL: "ctrl"}
    _PATTERN = re.compile(r"^(data|ctrl)_(\d+)$")

    def __init__(self) -> None:
        self._last = {Channel.DATA: 0, Channel.CONTROL: 0}

    def next(self, channel: Channel) -> str:
        self._last[channel] += 1
        return f"{self._PREFIX[channel]}_{self._last[channel]}"

    def issued(self, request_id: str) -> bool:
        """Whether ``request_id`` is one this client sent (a late reply, say)."""
        match = self._PATTERN.match(request_id)
        if match is None:
            return False
        channel = Channel.DATA if match.group(1) == "data" else Channel.CONTROL
        return 0 < int(match.group(2)) <= self._last[channel]


class PeerLink:
    """One RTCPeerConnection with channels ``data`` and ``control``.

    Callbacks (all on the loop): ``on_envelope`` gets every inbound envelope that is not the
    reply to a pending request; ``on_lost`` is called once when the connection drops after
    :meth:`mark_ready` (peer failed or closed, a channel closed) unless :meth:`close` started it.
    """

    def __init__(
        self,
        tracks: Sequence[TrackSpec],
        ice_servers: list[RTCIceServer],
        *,
        request_ids: RequestIds,
        sinks: FrameSinks,
        on_envelope: Callable[[PeerLink, Envelope], None],
        on_lost: Callable[[PeerLink, str], None],
        on_track: Callable[[PeerLink, TrackSpec, str | None], None] | None = None,
    ) -> None:
        self.tracks = tuple(tracks)
        self._on_track_started = on_track
        self._inputs: dict[str, PushedVideoTrack] = {}
        self.user_sampler = StatsSampler()
        self.report_sampler = StatsSampler()
        self._request_ids = request_ids
        self._sinks = sinks
        self._on_envelope = on_envelope
        self._on_lost = on_lost
        # An explicit (possibly empty) server list: aiortc's default adds a public STUN server.
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=ice_servers))
        self._transceivers: list[tuple[TrackSpec, RTCRtpTransceiver]] = []
        self._channels: dict[Channel, RTCDataChannel] = {}
        self._pending: dict[str, asyncio.Future[Envelope]] = {}
        self._changed = asyncio.Event()
        self.readers: dict[str, FrameReader] = {}
        self._drainers: list[TrackDrainer] = []
        self.closing = False
        self.ready = False
        self._lost_reported = False
        self._close_task: asyncio.Task[None] | None = None
        self.pc.on("connectionstatechange", self._on_pc_state)
        self.pc.on("track", self._on_track)

    # ------------------------------------------------------------------------------------------
    # negotiation

    async def create_offer(self) -> tuple[str, list[dict[str, str]]]:
        """Transceivers (in declared order), then channels ``data`` and ``control``, then the
        offer with every host candidate gathered into it. Returns ``(sdp, track_mapping)``."""
        for spec in self.tracks:
            transceiver = self.pc.addTransceiver(spec.kind, direction=spec.direction)
            if spec.kind == "video" and spec.direction == "recvonly":
                bound_jitter_wait(transceiver.receiver)  # an unrepairable loss freezes ~0.2 s, not ~2.5 s
            self._transceivers.append((spec, transceiver))
        for channel in (Channel.DATA, Channel.CONTROL):
            dc = self.pc.createDataChannel(channel.value)
            self._channels[channel] = dc
            self._watch_channel(channel, dc)
        try:
            offer = await self.pc.createOffer()
            await self.pc.setLocalDescription(offer)
        except Exception as exc:  # aiortc raises plain exceptions (ValueError, InvalidStateError…)
            raise TransportError(f"could not create the SDP offer: {exc!r}") from exc
        mapping = [
            {"name": spec.name, "kind": spec.kind, "direction": spec.direction, "mid": str(t.mid)}
            for spec, t in self._transceivers
        ]
        return self.pc.localDescription.sdp, mapping

    async def accept_answer(self, sdp: str) -> None:
        try:
            await self.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="answer"))
        except Exception as exc:
            raise TransportError(f"could not apply the SDP answer: {exc!r}") from exc

    def _is_ready(self) -> bool:
        return self.pc.connectionState == "connected" and all(
            self._channels.get(c) is not None and self._channels[c].readyState == "open"
            for c in (Channel.DATA, Channel.CONTROL)
        )

    def _failure(self) -> str | None:
        if self.pc.connectionState in ("failed", "closed"):
            return f"peer connection {self.pc.connectionState}"
        for channel, dc in self._channels.items():
            if dc.readyState in ("closing", "closed"):
                return f"data channel {channel.value!r} closed"
        return None

    def ice_report(self) -> str:
        """The ICE candidates both sides offered, the states, and a hint (for error messages)."""
        local = self.pc.localDescription
        remote = self.pc.remoteDescription
        return f"(ICE {self.pc.iceConnectionState}, peer {self.pc.connectionState}); " + describe_ice_attempt(
            local.sdp if local else None, remote.sdp if remote else None
        )

    async def wait_ready(self, timeout: float) -> None:
        """Until the peer is connected and both channels are open; ``TransportError`` otherwise
        (naming the ICE candidates tried when ICE is what failed)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not self._is_ready():
            failure = self._failure()
            if failure is not None:
                detail = f" {self.ice_report()}" if self.pc.connectionState != "connected" else ""
                raise TransportError(f"connection failed before ready: {failure}{detail}")
            remaining = deadline - loop.time()
            if remaining <= 0:
                if self.pc.connectionState == "connected":
                    open_ = [c.value for c, dc in self._channels.items() if dc.readyState == "open"]
                    raise TransportError(
                        f"peer connected but the data channels did not open within {timeout:g} s "
                        f"(open: {open_ or 'none'})"
                    )
                raise TransportError(f"peer not connected within {timeout:g} s {self.ice_report()}")
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), remaining)
            except TimeoutError:
                pass

    def mark_ready(self) -> None:
        self.ready = True

    # ------------------------------------------------------------------------------------------
    # events from aiortc

    def _watch_channel(self, channel: Channel, dc: RTCDataChannel) -> None:
        @dc.on("open")
        def _opened() -> None:
            self._changed.set()

        @dc.on("close")
        def _closed() -> None:
            self._changed.set()
            self._report_lost(f"data channel {channel.value!r} closed")

        @dc.on("message")
        def _message(raw: bytes | str) -> None:
            self._on_raw(channel, raw)

    def _on_pc_state(self) -> None:
        self._changed.set()
        if self.pc.connectionState in ("failed", "closed"):
            self._report_lost(f"peer connection {self.pc.connectionState}")

    def _report_lost(self, reason: str) -> None:
        if self.closing or not self.ready or self._lost_reported:
            return
        self._lost_reported = True
        self._on_lost(self, reason)

    def _on_track(self, track: MediaStreamTrack) -> None:
        found = next(((s, t) for s, t in self._transceivers if t.receiver.track is track), None)
        if found is None or found[0].direction != "recvonly":
            return
        spec, transceiver = found
        if self.closing:
            return  # a reader started now would outlive the close
        if self._on_track_started is not None:
            try:
                self._on_track_started(self, spec, transceiver.mid)
            except Exception:
                logger.exception("track callback for %r raised", spec.name)
        if spec.kind == "video":
            reader = FrameReader(spec.name, track, self._sinks)
            self.readers[spec.name] = reader
            reader.start()
        else:
            drainer = TrackDrainer(spec.name, track)
            self._drainers.append(drainer)
            drainer.start()

    def _on_raw(self, channel: Channel, raw: bytes | str) -> None:
        try:
            env = codec.decode(raw, channel, "server")
        except WireDecodeError as exc:
            logger.warning("dropping an undecodable message on %r: %s", channel.value, exc)
            return
        if env.kind is Kind.RESPONSE:
            future = self._pending.pop(env.request_id, None)
            if future is not None:
                if not future.done():
                    future.set_result(env)
                return
        self._on_envelope(self, env)

    # ------------------------------------------------------------------------------------------
    # statistics

    async def stats(self, sampler: StatsSampler) -> ConnectionStats:
        """A snapshot of this connection; bitrates and frame rates relative to ``sampler``'s
        previous sample."""
        report = await self.pc.getStats()
        bytes_rx = bytes_tx = packets_rx = packets_tx = 0
        for item in report.values():
            if isinstance(item, RTCTransportStats):
                bytes_rx += item.bytesReceived
                bytes_tx += item.bytesSent
                packets_rx += item.packetsReceived
                packets_tx += item.packetsSent
        frames = {name: reader.received for name, reader in self.readers.items()}
        incoming, outgoing, fps = sampler.rates(time.monotonic(), bytes_rx, bytes_tx, frames)
        inbound: list[InboundStream] = []
        outbound: list[OutboundStream] = []
        rtts: list[float] = []
        lost_total = received_total = 0
        jitters: list[float] = []
        for spec, transceiver in self._transceivers:
            if spec.direction == "recvonly":
                received = lost = None
                jitter = None
                for item in (await transceiver.receiver.getStats()).values():
                    if isinstance(item, RTCInboundRtpStreamStats):
                        received, lost = item.packetsReceived, item.packetsLost
                        clock = VIDEO_CLOCK_RATE if spec.kind == "video" else AUDIO_CLOCK_RATE
                        jitter = item.jitter / clock
                if received is not None and lost is not None:
                    received_total += received
                    lost_total += max(0, lost)
                if jitter is not None:
                    jitters.append(jitter)
                reader = self.readers.get(spec.name)
                inbound.append(
                    InboundStream(
                        track_name=spec.name,
                        kind=spec.kind,
                        mid=transceiver.mid,
                        packets_received=received,
                        packets_lost=lost,
                        jitter_s=jitter,
                        frames_received=reader.received if reader else 0,
                        frames_per_second=fps.get(spec.name),
                        frames_dropped_by_handler=reader.dropped if reader else 0,
                    )
                )
            else:
                sent_packets = sent_bytes = None
                for item in (await transceiver.sender.getStats()).values():
                    if isinstance(item, RTCOutboundRtpStreamStats):
                        sent_packets, sent_bytes = item.packetsSent, item.bytesSent
                    elif isinstance(item, RTCRemoteInboundRtpStreamStats):
                        rtts.append(item.roundTripTime)
                track = self._inputs.get(spec.name)
                outbound.append(
                    OutboundStream(
                        track_name=spec.name,
                        kind=spec.kind,
                        mid=transceiver.mid,
                        packets_sent=sent_packets,
                        bytes_sent=sent_bytes,
                        frames_pushed=track.sent if track is not None else 0,
                    )
                )
        pair = selected_pair(self.pc)
        primary = self._sinks.primary
        return ConnectionStats(
            timestamp_ms=int(time.time() * 1000),
            rtt_ms=sum(rtts) / len(rtts) * 1000 if rtts else None,
            jitter_s=max(jitters) if jitters else None,
            packet_loss_ratio=(
                lost_total / (lost_total + received_total) if lost_total + received_total else None
            ),
            incoming_bitrate_bps=incoming,
            outgoing_bitrate_bps=outgoing,
            frames_per_second=fps.get(primary) if primary is not None else None,
            candidate_type=pair.local_candidate_type if pair else None,
            candidate_pair_state=pair.state if pair else None,
            packets_received=packets_rx,
            packets_lost=lost_total if received_total else None,
            packets_sent=packets_tx,
            bytes_received=bytes_rx,
            bytes_sent=bytes_tx,
            inbound=inbound,
            outbound=outbound,
            candidate_pairs=[pair] if pair else [],
        )

    # ------------------------------------------------------------------------------------------
    # input media

    def mid_of(self, name: str) -> str | None:
        return next((t.mid for s, t in self._transceivers if s.name == name), None)

    def attach_input(self, name: str, feed: InputFeed) -> None:
        """Start sending ``feed`` on the sendonly transceiver of input ``name`` (no renegotiation)."""
        if self.closing:
            return
        track = self._inputs.get(name)
        if track is not None:
            track.set_feed(feed)
            return
        transceiver = next(
            (t for s, t in self._transceivers if s.name == name and s.direction == "sendonly"), None
        )
        if transceiver is None:
            return
        track = PushedVideoTrack(feed)
        self._inputs[name] = track
        transceiver.sender.replaceTrack(track)

    def detach_input(self, name: str) -> None:
        """Stop sending input ``name``; its track stays attached, idle."""
        track = self._inputs.get(name)
        if track is not None:
            track.set_feed(None)

    # ------------------------------------------------------------------------------------------
    # sending

    def send(self, env: Envelope, *, operation: str | None = None) -> None:
        """Encode and send one envelope. Raises ``MessageTooLargeError`` before sending anything
        over 256 KiB, ``DisconnectedError`` when the channel is not open."""
        try:
            raw = codec.encode(env, "client")
        except (TypeError, ValueError) as exc:
            raise DecodeError(
                f"message cannot be encoded: {exc}", component="gpu", operation=operation
            ) from exc
        if len(raw) > MAX_MESSAGE_BYTES:
            raise MessageTooLargeError(
                f"message of {len(raw)} bytes is over the {MAX_MESSAGE_BYTES}-byte data-channel limit; "
                "send large data with upload_file()",
                operation=operation,
            )
        dc = self._channels.get(Channel(env.channel))
        if dc is None or dc.readyState != "open" or self.closing:
            raise DisconnectedError(f"the {env.channel} channel is not open", operation=operation)
        try:
            dc.send(raw)
        except Exception as exc:
            raise DisconnectedError(
                f"could not send on {env.channel!r}: {exc!r}", operation=operation
            ) from exc

    def notify(self, channel: Channel, payload: Payload, *, operation: str | None = None) -> None:
        self.send(Envelope.notification(channel, payload), operation=operation)

    async def request(
        self, channel: Channel, payload: Payload, *, timeout: float, operation: str
    ) -> Envelope:
        """Send a REQUEST and wait for its RESPONSE (``RequestTimeoutError`` after ``timeout``)."""
        request_id = self._request_ids.next(channel)
        future: asyncio.Future[Envelope] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        try:
            self.send(Envelope(channel, Kind.REQUEST, payload, request_id), operation=operation)
            return await asyncio.wait_for(asyncio.shield(future), timeout)
        except TimeoutError:
            raise RequestTimeoutError(
                f"no reply to {request_id} within {timeout:g} s", operation=operation
            ) from None
        finally:
            self._pending.pop(request_id, None)
            if not future.done():
                future.cancel()

    def fail_pending(self, error: Callable[[], ReactorError]) -> None:
        """Fail every request still waiting for a reply (each gets its own error object)."""
        pending, self._pending = self._pending, {}
        for future in pending.values():
            if not future.done():
                future.set_exception(error())
                # Retrieved by the waiting request; mark it so an abandoned future stays quiet.
                future.exception()

    # ------------------------------------------------------------------------------------------
    # teardown

    def stop_delivery(self) -> None:
        """Stop every frame delivery of this connection at once (see :meth:`FrameReader.stop`)."""
        for reader in self.readers.values():
            reader.stop()

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has finished (readers closed, delivery threads joined or reported)."""
        return self._close_task is not None and self._close_task.done()

    async def close(self, error: Callable[[], ReactorError] | None = None) -> None:
        """Close the peer connection; pending requests fail with ``error()`` (default: aborted).

        Returns once every frame reader is closed and its delivery thread has ended (or, stuck in
        a handler, has been reported). Idempotent: later and concurrent calls wait for the first
        close, and cancelling a caller does not interrupt it.
        """
        self.closing = True
        self.fail_pending(error or (lambda: DisconnectedError("connection closed")))
        if self._close_task is None:
            self._close_task = asyncio.get_running_loop().create_task(
                self._close(), name="reactor_sdk:close-link"
            )
        await asyncio.shield(self._close_task)

    async def _close(self) -> None:
        # Frame delivery first: its threads are joined however long the peer takes to close.
        self.stop_delivery()
        await asyncio.gather(
            *(r.aclose() for r in self.readers.values()),
            *(d.aclose() for d in self._drainers),
            return_exceptions=True,
        )
        for track in self._inputs.values():
            track.stop()
        self._inputs.clear()
        try:
            await self.pc.close()
        except Exception:
            logger.debug("error while closing the peer connection", exc_info=True)

    def close_media_now(self) -> None:
        """Synchronous part of teardown for ``Reactor.close()``: stop readers, join threads."""
        self.closing = True
        for track in self._inputs.values():
            track.stop()
        self._inputs.clear()
        self.stop_delivery()
        for reader in self.readers.values():
            reader.close_now()
        for drainer in self._drainers:
            drainer.close_now()
