"""One client connection: its RTCPeerConnection (replaced on every re-offer), tracks and channels.

A ``Peer`` keeps its connection id across re-offers (PROTOCOL.md §3.6): a ``PUT`` of a new offer
tears the old RTCPeerConnection down and builds a new one, with fresh tracks (so the first frame
is a keyframe) and a fresh channel pump, attached to the same session.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from aiortc import (
    RTCConfiguration,
    RTCDataChannel,
    RTCIceServer,
    RTCPeerConnection,
    RTCRtpSender,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamTrack
from aiortc.sdp import SessionDescription

from openreactor.ice import server_ice_servers
from openreactor.logs import log_context
from openreactor.sessions.session import Session
from openreactor.settings import Settings
from openreactor.transport.channel_pump import ChannelPump
from openreactor.transport.ice_diagnosis import DIAGNOSIS_DELAY_S, loopback_dead_end
from openreactor.transport.mdns import defer_mdns_candidates
from openreactor.transport.public_address import add_public_candidates
from openreactor.transport.video_encoder import EncoderSettings
from openreactor.transport.video_in import drain_input_track
from openreactor.transport.video_out import ModelVideoTrack
from reactor_protocol.messages import Envelope, WireVersion
from reactor_rtc import (
    IceCandidate,
    describe_candidate,
    parse_candidate,
    sdp_candidates,
    ufrag_of_candidate,
    ufrag_of_sdp,
)
from reactor_rtc.patches import candidate_pair_count, forward_bandwidth_estimates, forward_keyframe_requests

log = logging.getLogger(__name__)

MAX_BUFFERED_CANDIDATES = 256

_PEER_CONNECTIONS: weakref.WeakSet[RTCPeerConnection] = weakref.WeakSet()
"""Every RTCPeerConnection a Peer made (for resource accounting; closed ones fall out on GC)."""


def open_peer_connections() -> int:
    """RTCPeerConnections made by this process that are not closed yet."""
    return sum(1 for pc in list(_PEER_CONNECTIONS) if pc.connectionState != "closed")


class OfferError(ValueError):
    """The offer (SDP or track mapping) cannot be used; the route answers 400."""


@dataclass(frozen=True, slots=True)
class TrackMapping:
    name: str
    kind: str
    direction: str
    """Client-centric: ``recvonly`` is a model output, ``sendonly`` a model input."""
    mid: str


def _rtc_configuration(ice_servers: list[dict[str, Any]]) -> RTCConfiguration:
    # An explicit (possibly empty) list: with no configuration aiortc adds a public STUN server,
    # and waiting on an unreachable STUN server would blow the clients' ~6 s answer deadline.
    servers = []
    for entry in ice_servers:
        creds = entry.get("credentials") or {}
        servers.append(
            RTCIceServer(
                urls=entry.get("uris") or entry.get("urls") or [],
                username=creds.get("username"),
                credential=creds.get("password"),
            )
        )
    return RTCConfiguration(iceServers=servers)


def _vp8_preferences() -> list[Any]:
    caps = RTCRtpSender.getCapabilities("video").codecs
    return [c for c in caps if c.mimeType.lower() in ("video/vp8", "video/rtx")]


class Peer:
    """A client connection of a session; implements the session's ``ClientLink``."""

    def __init__(
        self, connection_id: int, session: Session, settings: Settings, *, wire: WireVersion | None = None
    ) -> None:
        self._cid = connection_id
        self.session = session
        self.settings = settings
        self._wire = wire
        """Forced wire version (v0 for legacy flat routes), else detected from the first message."""
        self.pc: RTCPeerConnection | None = None
        self.pump: ChannelPump | None = None
        self.tracks: dict[str, ModelVideoTrack] = {}
        self.inputs: dict[str, str] = {}
        """mid -> declared input track name, for the client's sendonly m-sections of this offer."""
        self._readers: set[asyncio.Task[None]] = set()
        self.answer: str | None = None
        self.offer_ufrag: str | None = None
        self._early: list[tuple[str, str | None, int | None]] = []
        self._negotiation_timer: asyncio.TimerHandle | None = None
        self._diagnosis_timer: asyncio.TimerHandle | None = None
        self._remote_candidates: list[IceCandidate] = []
        """What the client offered for the current offer (in its SDP and trickled), for diagnosis."""
        self._lock = asyncio.Lock()
        self._loop = asyncio.get_running_loop()
        self._connected_at: float = self._loop.time()
        self.closed = False
        self.negotiations = 0
        self._tasks: set[asyncio.Task[None]] = set()

    # -- ClientLink ------------------------------------------------------------------------------

    @property
    def connection_id(self) -> int:
        return self._cid

    @property
    def last_inbound(self) -> float:
        if self.pump is None:
            return self._connected_at
        return max(self.pump.last_inbound, self._connected_at)

    def send(self, envelope: Envelope) -> None:
        if self.pump is not None:
            self.pump.send(envelope)

    def set_output_paused(self, track: str, paused: bool) -> bool:
        out = self.tracks.get(track)
        if out is None:
            return any(t.name == track and t.direction == "out" for t in self.session.model.tracks)
        if paused:
            out.pause()
        else:
            out.resume()
        return True

    async def close(self, reason: str) -> None:
        self.closed = True
        await self._teardown()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    # -- signalling ------------------------------------------------------------------------------

    def add_candidates(self, candidates: list[dict[str, Any]]) -> None:
        """Candidates for this connection; those of an offer not yet received are kept for it."""
        for item in candidates:
            line = item.get("candidate") if isinstance(item, dict) else None
            if not isinstance(line, str) or not line:
                continue
            mid = item.get("sdp_mid", item.get("sdpMid"))
            index = item.get("sdp_mline_index", item.get("sdpMLineIndex"))
            mid = mid if isinstance(mid, str) else None
            index = index if isinstance(index, int) else None
            ufrag = ufrag_of_candidate(line)
            if (
                self.pc is not None
                and self.answer is not None
                and (ufrag is None or ufrag == self.offer_ufrag)
            ):
                self._spawn_add(line, mid, index)
            elif len(self._early) < MAX_BUFFERED_CANDIDATES:
                self._early.append((line, mid, index))

    def _spawn_add(self, line: str, mid: str | None, index: int | None) -> None:
        seen = describe_candidate(line if "candidate:" in line else f"candidate:{line}")
        if seen is not None and seen not in self._remote_candidates:
            self._remote_candidates.append(seen)
        candidate = parse_candidate(line, mid, index)
        if candidate is None or self.pc is None:
            return
        pc = self.pc

        async def add() -> None:
            try:
                await pc.addIceCandidate(candidate)
            except Exception as exc:  # a bad candidate is dropped, never fatal
                log.debug("candidate dropped: %s", exc)

        self._spawn(add())

    async def _end_of_candidates(self, pc: RTCPeerConnection) -> None:
        try:
            await pc.addIceCandidate(None)
        except Exception as exc:  # like a bad candidate: never fatal
            log.debug("end of candidates not applied: %s", exc)

    async def apply_offer(self, sdp: str, mapping: list[TrackMapping]) -> str:
        """Build the answer for a (re-)offer; replaces any previous peer connection."""
        # aiortc's tasks and callbacks made for this offer log with the session and connection ids.
        with log_context(session_id=self.session.id, connection_id=self._cid):
            return await self._apply_offer(sdp, mapping)

    async def _apply_offer(self, sdp: str, mapping: list[TrackMapping]) -> str:
        offered_at = time.monotonic()
        async with self._lock:
            if self.closed:
                raise OfferError("connection is closed")
            try:
                parsed = SessionDescription.parse(sdp)
            except Exception as exc:
                raise OfferError(f"malformed SDP offer: {exc}") from exc
            if not parsed.media:
                raise OfferError("the SDP offer has no media sections")
            await self._teardown()
            self.answer = None
            self.offer_ufrag = ufrag_of_sdp(sdp)
            self._remote_candidates = sdp_candidates(sdp)
            self.negotiations += 1
            pc = RTCPeerConnection(_rtc_configuration(server_ice_servers(self.settings, self.session.id)))
            _PEER_CONNECTIONS.add(pc)
            pump = ChannelPump(self._on_envelope, wire=self._wire)
            self.pc, self.pump = pc, pump
            self._connected_at = self._loop.time()
            pc.on("datachannel", self._on_datachannel_for(pump))
            pc.on("connectionstatechange", lambda: self._on_state(pc))
            pc.on("track", lambda track: self._on_track(pc, track))
            deferred = defer_mdns_candidates(sdp)  # resolving them must not delay the answer
            try:
                self._prepare_transceivers(pc, parsed, mapping, offered_at)
                await pc.setRemoteDescription(RTCSessionDescription(sdp=deferred.sdp, type="offer"))
                await pc.setLocalDescription(await pc.createAnswer())
            except OfferError:
                await self._teardown()
                raise
            except Exception as exc:
                await self._teardown()
                raise OfferError(f"cannot negotiate this offer: {exc}") from exc
            early, self._early = self._early, []
            for line, mid, index in early:
                ufrag = ufrag_of_candidate(line)
                if ufrag is None or ufrag == self.offer_ufrag:
                    self._spawn_add(line, mid, index)
                else:
                    self._early.append((line, mid, index))
            for line, mid, index in deferred.candidates:
                self._spawn_add(line, mid, index)
            if deferred.end_of_candidates:
                self._spawn(self._end_of_candidates(pc))  # after the adds above, which it waits for
            self.answer = add_public_candidates(pc.localDescription.sdp, self.settings.ice_public_addresses)
            self.session.attach(self)
            self._negotiation_timer = self._loop.call_later(
                self.settings.negotiation_timeout_s, self._negotiation_expired, pc
            )
            self._diagnosis_timer = self._loop.call_later(
                DIAGNOSIS_DELAY_S, self._diagnose, pc, sdp_candidates(self.answer)
            )
            return self.answer

    def _prepare_transceivers(
        self,
        pc: RTCPeerConnection,
        parsed: SessionDescription,
        mapping: list[TrackMapping],
        offered_at: float,
    ) -> None:
        by_mid = {m.mid: m for m in mapping}
        outputs = {t.name: t for t in self.session.model.tracks if t.direction == "out"}
        inputs = {t.name: t for t in self.session.model.tracks if t.direction == "in"}
        self.inputs = {}
        # v1 clients resume outputs themselves; v0 (JS 2.9.0) never does, so its outputs flow at once.
        paused = self._wire != "v0"
        encoder = EncoderSettings(
            bitrate_min=self.settings.video_bitrate_min,
            bitrate_max=self.settings.video_bitrate_max,
            keyframe_interval_s=self.settings.keyframe_interval_s,
            threads=self.settings.video_encoder_threads,
            fps=self.session.model.fps,
        )
        # Transceivers created before setRemoteDescription bind to the offer's m-sections in order,
        # which lets us pin the codec (we encode VP8 ourselves) before the answer is built.
        for media in parsed.media:
            if media.kind not in ("audio", "video"):
                continue
            entry = by_mid.get(str(media.rtp.muxId))
            spec = outputs.get(entry.name) if entry is not None else None
            if (
                entry is not None
                and entry.direction == "recvonly"
                and spec is not None
                and media.kind == "video"
            ):
                transceiver = pc.addTransceiver("video", direction="sendonly")
                transceiver.setCodecPreferences(_vp8_preferences())
                track = ModelVideoTrack(
                    entry.name,
                    self.session.slot,
                    encoder,
                    paused=paused,
                    on_encoded=self.session.metrics.on_encoded if self.session.metrics else None,
                    on_first_packet=self._first_packet_hook(offered_at),
                )
                transceiver.sender.replaceTrack(track)
                forward_keyframe_requests(transceiver.sender, track)  # PLI/FIR reach our encoder
                forward_bandwidth_estimates(transceiver.sender, track)  # so do REMB and RR loss
                self.tracks[entry.name] = track
            elif (
                entry is not None
                and entry.direction == "sendonly"
                and entry.name in inputs
                and inputs[entry.name].kind == media.kind
            ):
                # A declared input: receive it (the publisher slot decides whether it feeds the model).
                pc.addTransceiver(media.kind, direction="recvonly")
                self.inputs[str(media.rtp.muxId)] = entry.name
            elif media.direction in ("sendonly", "sendrecv"):
                # Media the model never asked for: refuse it rather than decode it for nobody.
                pc.addTransceiver(media.kind, direction="inactive")
            else:
                pc.addTransceiver(media.kind, direction="recvonly")

    def _first_packet_hook(self, offered_at: float) -> Callable[[], None] | None:
        """Time to first frame: from the offer (``time.monotonic()``) to the track's first packet."""
        metrics = self.session.metrics
        if metrics is None:
            return None
        return lambda: metrics.on_first_frame(time.monotonic() - offered_at)

    def _on_datachannel_for(self, pump: ChannelPump) -> Any:
        def adopt(channel: RTCDataChannel) -> None:
            pump.add_channel(channel)

        return adopt

    def _on_track(self, pc: RTCPeerConnection, track: MediaStreamTrack) -> None:
        """A remote track of this offer: drain it, feeding the session if it is a declared input."""
        if pc is not self.pc:
            return
        mid = next((t.mid for t in pc.getTransceivers() if t.receiver.track is track), None)
        name = self.inputs.get(mid) if mid is not None else None
        deliver = None
        if name is not None and track.kind == "video":
            cid, session, implicit = self._cid, self.session, self._wire == "v0"

            def deliver(frame: Any) -> None:
                session.feed_input(cid, name, frame, implicit_claim=implicit)

        task = asyncio.ensure_future(self._read_input(track, deliver))
        self._readers.add(task)
        task.add_done_callback(self._readers.discard)

    async def _read_input(self, track: MediaStreamTrack, deliver: Any) -> None:
        count = await drain_input_track(track, deliver)
        log.debug("connection %s: input track ended after %d frames", self._cid, count)

    def _on_envelope(self, envelope: Envelope) -> None:
        if not self.session.is_closed:
            self.session.handle(self, envelope)

    def _on_state(self, pc: RTCPeerConnection) -> None:
        if pc is not self.pc:
            return
        state = pc.connectionState
        log.info("connection %s: %s", self._cid, state)
        if state == "connected":
            for timer in (self._negotiation_timer, self._diagnosis_timer):
                if timer is not None:
                    timer.cancel()
            self._negotiation_timer = self._diagnosis_timer = None
        elif state in ("failed", "closed"):
            self.session.detach(self)
            self._spawn(self._teardown_if_current(pc))

    def _diagnose(self, pc: RTCPeerConnection, local: list[IceCandidate]) -> None:
        """Not connected a while after the answer: say so once if the cause is a known dead end."""
        self._diagnosis_timer = None
        if pc is not self.pc or pc.connectionState in ("connected", "closed") or candidate_pair_count(pc):
            return  # a pair to check (a peer-reflexive one, say, from a client's unsignalled socket)
        why = loopback_dead_end(local, self._remote_candidates)
        if why is not None:
            log.warning("connection %s is not connecting: %s", self._cid, why)

    def _negotiation_expired(self, pc: RTCPeerConnection) -> None:
        if pc is self.pc and pc.connectionState != "connected":
            log.info(
                "connection %s did not connect in %.0f s", self._cid, self.settings.negotiation_timeout_s
            )
            self.session.detach(self)
            self._spawn(self._teardown_if_current(pc))

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _teardown_if_current(self, pc: RTCPeerConnection) -> None:
        if pc is self.pc:
            await self._teardown()

    async def _teardown(self) -> None:
        if self._negotiation_timer is not None:
            self._negotiation_timer.cancel()
            self._negotiation_timer = None
        if self._diagnosis_timer is not None:
            self._diagnosis_timer.cancel()
            self._diagnosis_timer = None
        pc, self.pc = self.pc, None
        self.pump = None
        for track in self.tracks.values():
            track.stop()
        self.tracks = {}
        readers, self._readers = self._readers, set()
        self.session.forget_inputs_of(self._cid)
        for task in readers:
            task.cancel()
        if pc is not None:
            try:
                await pc.close()
            except Exception:  # aiortc cannot close some half-negotiated connections (bad offers)
                log.warning("closing the peer connection failed", exc_info=True)
        await asyncio.gather(*readers, return_exceptions=True)
