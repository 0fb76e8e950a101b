"""Streaming over an impaired network, inside a private network namespace; prints JSON.

Re-runs itself inside ``shared/tools/netns-run`` (a namespace with ``lo`` and a veth pair whose
only address is 127.0.0.2; nothing routes off the machine). There it starts ``openreactor serve
--model probe --width 640 --height 360 --fps 30 --host 127.0.0.2 --ice-host 127.0.0.2`` and
connects our SDK (``ice_host_addresses=["127.0.0.2"]``) from this process.

Where the packets flow: 127.0.0.2 is a local address, so the kernel routes traffic between two
sockets on it through ``lo`` (``ip route get 127.0.0.2`` says ``dev lo``), not through the veth.
The impairment therefore goes on ``lo``; the report includes ``tc -s qdisc show`` of ``lo`` and
``rx0`` at the end as evidence (``lo`` carries the bytes, ``rx0`` none).

Impairment, target 40 ms each way (80 ms RTT), 2 % loss each way, 3 Mbit/s server -> client:

* ``netem`` mode: ``tc qdisc add dev lo root netem delay 40ms loss 2% rate 3mbit``. Each
  packet crosses ``lo`` once per direction, so this is 40 ms each way (and both directions share
  the rate and its queue). Not exercised here: this kernel has no netem.
* ``fallback`` mode, when the kernel has no netem (``CONFIG_NET_SCH_NETEM`` unset: ``tc``
  answers "Specified qdisc kind is unknown"): the rate limit stays in the kernel, delay and loss
  are applied in user space in the client process, on every UDP datagram its ICE sockets
  (aioice ``StunProtocol``) send or receive: dropped with probability 2 %, otherwise delivered
  40 ms later. Every client-server media packet passes through the client's sockets once, so
  both directions see 40 ms and 2 %. The HTTP signalling (TCP) gets only the rate limit.

The rate limit (``--shaper``):

* ``htb`` (default): ``htb`` on ``lo`` whose default class is limited to ``--rate`` with a
  drop-tail ``bfifo`` queue of ``--queue-ms`` at that rate (200 ms: 75 kB at 3 Mbit/s); the
  datagrams the client's ICE sockets send (RTCP feedback, STUN) go to an unlimited class (``u32``
  filter on the client's source ports, added as aioice opens them). That is a bottleneck on the
  server -> client path with a finite buffer, like an access link.
* ``tbf``: the original setup, ``tbf rate 3mbit burst 32kbit latency <queue-ms>ms`` as the root
  of ``lo``. Two artefacts make it harsher than a real link: the client's feedback (NACK, RR,
  REMB) waits in the same queue as the media, and the queue limit never binds with the default
  400 ms: packets waiting in a qdisc are charged to the sending socket's buffer (212 kB
  ``wmem_default``), so the server's socket fills first, and asyncio then buffers the server's
  datagrams in user space without any limit (measured: 10 MB, 15 s of one-way delay at
  1280x720). Below ~300 ms at 3 Mbit/s the tbf limit binds and it drops instead.

Measured over ``--duration`` seconds (default 30) of streaming: delivered fps, frozen time (sum
of inter-frame gaps over 100 ms), interval percentiles, probe counter gaps, and command→frame
latency (``set_value`` with unique values every ``--command-every`` seconds, until the first
frame whose probe code shows the value; decoded with ``decode_probe``). ``network`` adds what the
client's RTP receiver saw: one-way delay (server send time from the RTP abs-send-time extension
to the client's RTP processing), receive rate per second, NACKs, PLIs and REMB values it sent,
jitter-buffer gaps given up on (SDK: ``reactor_rtc.patches.receiver``), plus the bottleneck queue's largest
backlog and its drops. Then a 1 s total outage (root qdisc on ``lo`` replaced by ``pfifo limit
0``, which drops every packet; works with or without netem), the impairment is restored, and the
time from restoring until frames flow again (first frame, first decodable frame, and the end of
the first 1 s span holding >= 15 frames, i.e. half rate) is reported. ``--rate none`` and
``--no-delay-loss`` switch parts of the impairment off, to see which part costs what.
Every wait is bounded.

    .venv/bin/python bench/bad_network.py [--duration 30] [--width 1280 --height 720]
    .venv/bin/python bench/bad_network.py --shaper tbf --queue-ms 400   # the original setup
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
NETNS_RUN = REPO.parent / "shared" / "tools" / "netns-run"
HOST = "127.0.0.2"
DEV = "lo"
NETEM = ["netem", "delay", "40ms", "loss", "2%", "rate", "3mbit"]
OUTAGE = ["pfifo", "limit", "0"]
UNLIMITED = ["pfifo", "limit", "1000"]
DELAY_S = 0.040
LOSS = 0.02
FROZEN_GAP_S = 0.100


def log(text: str) -> None:
    print(f"[bad_network] {text}", file=sys.stderr, flush=True)


def tc(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["tc", *args], capture_output=True, text=True, timeout=10)


def set_root(qdisc: list[str]) -> str | None:
    """Replace the root qdisc of ``lo``; None on success, else tc's error text."""
    return tc_ok(tc("qdisc", "replace", "dev", DEV, "root", *qdisc))


def tc_ok(r: subprocess.CompletedProcess[str]) -> str | None:
    return None if r.returncode == 0 else (r.stderr.strip() or r.stdout.strip() or f"exit {r.returncode}")


def rate_bps(rate: str) -> int:
    m = re.fullmatch(r"(\d+(?:\.\d+)?)([kmg]?)bit", rate.lower())
    if m is None:
        raise ValueError(f"rate must look like 3mbit, 500kbit: {rate!r}")
    return int(float(m.group(1)) * {"": 1, "k": 1e3, "m": 1e6, "g": 1e9}[m.group(2)])


class Shaper:
    """The kernel rate limit on ``lo`` (fallback mode): see the module docstring."""

    def __init__(self, kind: str, rate: str, queue_ms: float) -> None:
        self.kind = kind
        self.rate = rate
        self.queue_ms = queue_ms
        self.feedback_ports: set[int] = set()
        self.errors: list[str] = []
        self.active = False

    @property
    def limited_qdisc(self) -> str:
        """The qdisc whose backlog and drops are the bottleneck's (``tc -s qdisc`` line prefix)."""
        return "qdisc bfifo 10:" if self.kind == "htb" and self.rate != "none" else "qdisc "

    def describe(self) -> str:
        if self.rate == "none":
            return "pfifo limit 1000 (no rate limit)"
        if self.kind == "tbf":
            return " ".join(self.tbf())
        return (
            f"htb default 1:10; class 1:10 rate {self.rate} with bfifo limit {self.queue_bytes()} bytes "
            f"({self.queue_ms:g} ms); class 1:20 unlimited for udp sport = client ICE ports"
        )

    def queue_bytes(self) -> int:
        return int(rate_bps(self.rate) * self.queue_ms / 8000)

    def tbf(self) -> list[str]:
        return ["tbf", "rate", self.rate, "burst", "32kbit", "latency", f"{self.queue_ms:g}ms"]

    def install(self) -> str | None:
        if self.rate == "none":
            err = set_root(UNLIMITED)
        elif self.kind == "tbf":
            err = set_root(self.tbf())
        else:
            err = set_root(["handle", "1:", "htb", "default", "10"])
            steps = [
                ["class", "add", "dev", DEV, "parent", "1:", "classid", "1:10", "htb", "rate", self.rate,
                 "ceil", self.rate],
                ["qdisc", "add", "dev", DEV, "parent", "1:10", "handle", "10:", "bfifo", "limit",
                 str(self.queue_bytes())],
                ["class", "add", "dev", DEV, "parent", "1:", "classid", "1:20", "htb", "rate", "10gbit",
                 "ceil", "10gbit"],
            ]  # fmt: skip
            for step in steps:
                err = err or tc_ok(tc(*step))
            self.active = err is None
            for port in sorted(self.feedback_ports):
                err = err or self._filter(port)
        return err

    def add_feedback_port(self, port: int) -> None:
        if port in self.feedback_ports:
            return
        self.feedback_ports.add(port)
        if self.active:
            err = self._filter(port)
            if err:
                self.errors.append(err)

    def _filter(self, port: int) -> str | None:
        if self.kind != "htb" or self.rate == "none":
            return None
        return tc_ok(tc("filter", "add", "dev", DEV, "parent", "1:", "protocol", "ip", "prio", "1", "u32",
                        "match", "ip", "sport", str(port), "0xffff", "flowid", "1:20"))  # fmt: skip

    def sample(self) -> tuple[int, int] | None:
        """(backlog bytes, dropped packets) of the bottleneck queue, or None."""
        out = tc("-s", "qdisc", "show", "dev", DEV).stdout
        blocks = re.split(r"\n(?=qdisc )", out)
        for block in blocks:
            if block.startswith(self.limited_qdisc):
                dropped = re.search(r"dropped (\d+)", block)
                backlog = re.search(r"backlog (\d+)b", block)
                if dropped and backlog:
                    return int(backlog.group(1)), int(dropped.group(1))
        return None


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    s = sorted(values)
    k = (len(s) - 1) * q / 100
    lo, hi = int(k), min(int(k) + 1, len(s) - 1)
    return round(s[lo] + (s[hi] - s[lo]) * (k - lo), 2)


# ---------------------------------------------------------------- user-space impairment (fallback)


class Impairment:
    """Delay and random loss on every datagram of the client's aioice sockets, both directions."""

    def __init__(
        self, delay_s: float, loss: float, seed: int = 8, on_port: Any = None, delay_loss: bool = True
    ) -> None:
        self.delay_s = delay_s
        self.loss = loss
        self.rng = random.Random(seed)
        self.counts = {"sent": 0, "sent_dropped": 0, "received": 0, "received_dropped": 0}
        self.on_port = on_port
        """Called with the local port of every ICE socket the client opens."""
        self.delay_loss = delay_loss

    def install(self) -> None:
        from aioice import ice

        imp = self
        proto = ice.StunProtocol
        orig_made = proto.connection_made
        orig_received = proto.datagram_received

        class DelayedTransport:
            def __init__(self, inner: asyncio.DatagramTransport) -> None:
                self._inner = inner

            def sendto(self, data: bytes, addr: Any = None) -> None:
                imp.counts["sent"] += 1
                if imp.rng.random() < imp.loss:
                    imp.counts["sent_dropped"] += 1
                    return
                asyncio.get_running_loop().call_later(imp.delay_s, self._send_later, data, addr)

            def _send_later(self, data: bytes, addr: Any) -> None:
                if not self._inner.is_closing():
                    with contextlib.suppress(OSError):
                        self._inner.sendto(data, addr)

            def __getattr__(self, name: str) -> Any:
                return getattr(self._inner, name)

        def connection_made(self: Any, transport: asyncio.BaseTransport) -> None:
            orig_made(self, transport)
            sockname = transport.get_extra_info("sockname")
            if imp.on_port is not None and sockname:
                imp.on_port(int(sockname[1]))
            if imp.delay_loss:
                self.transport = DelayedTransport(self.transport)  # type: ignore[arg-type]

        def datagram_received(self: Any, data: bytes | str, addr: tuple[Any, ...]) -> None:
            if not imp.delay_loss:
                orig_received(self, data, addr)
                return
            imp.counts["received"] += 1
            if imp.rng.random() < imp.loss:
                imp.counts["received_dropped"] += 1
                return
            asyncio.get_running_loop().call_later(imp.delay_s, self._impaired_deliver, data, addr)

        def deliver(self: Any, data: bytes | str, addr: tuple[Any, ...]) -> None:
            if not getattr(self.transport, "is_closing", lambda: False)():
                orig_received(self, data, addr)

        proto.connection_made = connection_made  # type: ignore[method-assign]
        proto.datagram_received = datagram_received  # type: ignore[method-assign]
        proto._impaired_deliver = deliver  # type: ignore[attr-defined]


class RtpProbe:
    """What the client's aiortc video receivers see and send (bench-only hooks on private methods)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.packets: list[tuple[float, int, float | None, bool]] = []
        """(arrival monotonic, bytes, one-way delay ms from abs-send-time, retransmission?). A
        retransmission carries the send time of the packet it repairs: no one-way delay for it."""
        self.nacks: list[tuple[float, int]] = []
        self.plis: list[float] = []
        self.rembs: list[tuple[float, int]] = []
        self.skips: list[float] = []

    def install(self) -> None:
        from aiortc import clock, rtcrtpreceiver
        from aiortc.codecs import is_rtx
        from aiortc.rtp import RTCP_PSFB_APP, RtcpPsfbPacket, unpack_remb_fci

        probe = self
        receiver = rtcrtpreceiver.RTCRtpReceiver
        handle, nack, pli, send_rtcp = (
            receiver._handle_rtp_packet, receiver._send_rtcp_nack, receiver._send_rtcp_pli,
            receiver._send_rtcp,
        )  # fmt: skip

        async def handle_rtp(self: Any, packet: Any, arrival_time_ms: int) -> None:
            owd = None
            codec = getattr(self, "_RTCRtpReceiver__codecs", {}).get(packet.payload_type)
            rtx = codec is not None and is_rtx(codec)
            if not rtx and packet.extensions.abs_send_time is not None:
                now = (clock.current_ntp_time() >> 14) & 0xFFFFFF
                owd = ((now - packet.extensions.abs_send_time) % (1 << 24)) / (1 << 18) * 1000
            with probe.lock:
                probe.packets.append((time.monotonic(), len(packet.payload) + 12, owd, rtx))
            await handle(self, packet, arrival_time_ms)

        async def send_nack(self: Any, media_ssrc: int, lost: list[int]) -> None:
            with probe.lock:
                probe.nacks.append((time.monotonic(), len(lost)))
            await nack(self, media_ssrc, lost)

        async def send_pli(self: Any, media_ssrc: int) -> None:
            with probe.lock:
                probe.plis.append(time.monotonic())
            await pli(self, media_ssrc)

        async def send(self: Any, packet: Any) -> None:
            if isinstance(packet, RtcpPsfbPacket) and packet.fmt == RTCP_PSFB_APP:
                with contextlib.suppress(ValueError), probe.lock:
                    probe.rembs.append((time.monotonic(), unpack_remb_fci(packet.fci)[0]))
            await send_rtcp(self, packet)

        receiver._handle_rtp_packet = handle_rtp  # type: ignore[method-assign]
        receiver._send_rtcp_nack = send_nack  # type: ignore[method-assign]
        receiver._send_rtcp_pli = send_pli  # type: ignore[method-assign]
        receiver._send_rtcp = send  # type: ignore[method-assign]
        try:  # the SDK's bounded jitter-buffer wait (absent in older SDKs)
            from reactor_rtc.patches.receiver import BoundedWaitJitterBuffer
        except ImportError:
            return
        skip = BoundedWaitJitterBuffer._skip_gap

        def skip_gap(self: Any, gap: int) -> bool:
            done: bool = skip(self, gap)
            if done:
                with probe.lock:
                    probe.skips.append(time.monotonic())
            return done

        BoundedWaitJitterBuffer._skip_gap = skip_gap  # type: ignore[method-assign]

    def window(self, t0: float, t1: float) -> dict[str, Any]:
        with self.lock:
            packets = [p for p in self.packets if t0 <= p[0] <= t1]
            nacks = [n for t, n in self.nacks if t0 <= t <= t1]
            plis = sum(1 for t in self.plis if t0 <= t <= t1)
            rembs = [b for t, b in self.rembs if t0 <= t <= t1]
            skips = sum(1 for t in self.skips if t0 <= t <= t1)
        owd = [d for _, _, d, _ in packets if d is not None]
        retransmissions = sum(1 for *_, rtx in packets if rtx)
        per_s: dict[int, int] = {}
        for t, size, _, _ in packets:
            per_s[int(t - t0)] = per_s.get(int(t - t0), 0) + size
        kbps = [per_s.get(i, 0) * 8 / 1000 for i in range(int(t1 - t0))]
        return {
            "rtp_packets": len(packets),
            "retransmissions_received": retransmissions,
            "one_way_delay_ms": {"p50": percentile(owd, 50), "p95": percentile(owd, 95),
                                 "max": round(max(owd), 1) if owd else None},
            "receive_kbps": {"p50": percentile(kbps, 50), "min": round(min(kbps)) if kbps else None,
                             "max": round(max(kbps)) if kbps else None,
                             "per_second": [round(k) for k in kbps]},
            "nacks_sent": len(nacks),
            "nacked_sequence_numbers": sum(nacks),
            "plis_sent": plis,
            "remb_kbps": {"min": round(min(rembs) / 1000) if rembs else None,
                          "p50": round(percentile(rembs, 50) / 1000) if rembs else None,  # type: ignore[operator]
                          "last": round(rembs[-1] / 1000) if rembs else None},
            "jitter_buffer_gaps_skipped": skips,
        }  # fmt: skip


class QueueWatch:
    """Polls the bottleneck queue (backlog, drops) every 0.25 s from a thread."""

    def __init__(self, shaper: Shaper | None) -> None:
        self.shaper = shaper
        self.samples: list[tuple[float, int, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        if self.shaper is not None and self.shaper.rate != "none":
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5)

    def _run(self) -> None:
        assert self.shaper is not None
        while not self._stop.wait(0.25):
            sample = self.shaper.sample()
            if sample is not None:
                self.samples.append((time.monotonic(), *sample))

    def window(self, t0: float, t1: float) -> dict[str, Any]:
        sel = [s for s in self.samples if t0 <= s[0] <= t1]
        if not sel:
            return {}
        rate = rate_bps(self.shaper.rate) if self.shaper else 0
        backlog = max(b for _, b, _ in sel)
        last_drops: dict[int, int] = {}
        for t, _, dropped in sel:
            last_drops[int(t - t0)] = dropped
        per_second, previous = [], sel[0][2]
        for second in range(int(t1 - t0)):
            now = last_drops.get(second, previous)
            per_second.append(max(0, now - previous))
            previous = now
        return {
            "max_backlog_bytes": backlog,
            "max_backlog_ms": round(backlog * 8000 / rate) if rate else None,
            "dropped_packets": max(0, sel[-1][2] - sel[0][2]),
            "dropped_per_second": per_second,
        }


# ---------------------------------------------------------------- inside the namespace


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def start_server(workdir: Path, width: int, height: int) -> tuple[subprocess.Popen[bytes], str, Path]:
    import httpx

    port = free_port()
    url = f"http://{HOST}:{port}"
    log_path = workdir / "server.log"
    args = [
        sys.executable, "-m", "openreactor", "serve", "--model", "probe", "--width", str(width),
        "--height", str(height), "--fps", "30", "--host", HOST, "--port", str(port), "--ice-host", HOST,
        "--state-dir", str(workdir / "state"),
    ]  # fmt: skip
    with open(log_path, "wb") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, cwd=REPO)
    deadline = time.monotonic() + 30
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited early ({proc.returncode}): {log_path.read_text()[-2000:]}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return proc, url, log_path
        if time.monotonic() > deadline:
            raise RuntimeError(f"server not healthy in 30 s: {log_path.read_text()[-2000:]}")
        time.sleep(0.1)


class Recorder:
    def __init__(self) -> None:
        from openreactor.models.builtin.probe_pattern import decode_probe

        self.decode = decode_probe
        self.loop = asyncio.get_running_loop()
        self.lock = threading.Lock()
        self.times: list[float] = []
        self.codes: list[tuple[int, int] | None] = []
        self.waiting: dict[int, tuple[float, asyncio.Event]] = {}
        self.value_seen: dict[int, float] = {}

    def on_frame(self, frame: Any) -> None:
        now = time.monotonic()
        code = self.decode(frame)
        with self.lock:
            self.times.append(now)
            self.codes.append((code.counter, code.value) if code else None)
            if code is not None and code.value in self.waiting and code.value not in self.value_seen:
                self.value_seen[code.value] = now
                self.loop.call_soon_threadsafe(self.waiting[code.value][1].set)


def window_stats(
    times: list[float], codes: list[tuple[int, int] | None], t0: float, t1: float
) -> dict[str, Any]:
    sel = [(t, c) for t, c in zip(times, codes, strict=False) if t0 <= t <= t1]
    ts = [t0] + [t for t, _ in sel] + [t1]
    gaps = [b - a for a, b in zip(ts, ts[1:], strict=False)]
    intervals_ms = [g * 1000 for g in gaps[1:-1]]
    counters = [c[0] for _, c in sel if c is not None]
    steps = [b - a for a, b in zip(counters, counters[1:], strict=False)]
    elapsed = t1 - t0
    return {
        "seconds": round(elapsed, 2),
        "frames": len(sel),
        "delivered_fps": round(len(sel) / elapsed, 2) if elapsed > 0 else None,
        "frozen_s": round(sum(g for g in gaps if g > FROZEN_GAP_S), 3),
        "frozen_gaps": sum(1 for g in gaps if g > FROZEN_GAP_S),
        "longest_gap_ms": round(max(gaps) * 1000, 1) if gaps else None,
        "interval_ms": {
            "p50": percentile(intervals_ms, 50),
            "p95": percentile(intervals_ms, 95),
            "p99": percentile(intervals_ms, 99),
        },
        "undecodable_frames": sum(1 for _, c in sel if c is None),
        "source_frames_skipped": sum(s - 1 for s in steps if s > 1),
    }


async def streaming(
    args: argparse.Namespace, url: str, mode: str, shaper: Shaper | None, probe: RtpProbe
) -> dict[str, Any]:
    from reactor_sdk import Reactor

    rec = Recorder()
    queue_watch = QueueWatch(shaper) if shaper is not None else None
    if queue_watch is not None:
        queue_watch.start()
    reactor = Reactor("probe", local=True, api_url=url, ice_host_addresses=[HOST])
    reactor.on_frame(rec.on_frame)
    out: dict[str, Any] = {}
    try:
        t_c = time.monotonic()
        await asyncio.wait_for(reactor.connect(), 60)
        out["connect_s"] = round(time.monotonic() - t_c, 3)
        deadline = time.monotonic() + 20
        while not rec.times and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        out["first_frame_s"] = round(rec.times[0] - t_c, 3) if rec.times else None
        await asyncio.sleep(1.0)  # let the encoder's first keyframe/rate settle before measuring

        # Steady window with commands interleaved.
        latencies: list[float] = []
        timeouts = errors = 0
        first_error: str | None = None
        value = 1000
        t0 = time.monotonic()
        end = t0 + args.duration
        while time.monotonic() < end:
            value += 1
            event = asyncio.Event()
            with rec.lock:
                rec.waiting[value] = (time.monotonic(), event)
            ts = time.monotonic()
            try:
                await asyncio.wait_for(reactor.send_command("set_value", {"value": value}), 5)
                await asyncio.wait_for(event.wait(), max(0.1, min(3.0, end + 3 - time.monotonic())))
                latencies.append((rec.value_seen[value] - ts) * 1000)
            except TimeoutError:
                timeouts += 1
            except Exception as exc:  # noqa: BLE001 - counted
                errors += 1
                first_error = first_error or f"{type(exc).__name__}: {exc}"
            rest = ts + args.command_every - time.monotonic()
            if rest > 0:
                await asyncio.sleep(min(rest, max(0.0, end - time.monotonic())))
        t1 = time.monotonic()
        with rec.lock:
            times, codes = list(rec.times), list(rec.codes)
        out["steady"] = window_stats(times, codes, t0, t1)
        out["network"] = probe.window(t0, t1)
        out["network"]["bottleneck_queue"] = queue_watch.window(t0, t1) if queue_watch else {}
        out["command_to_frame"] = {
            "samples": len(latencies),
            "timeouts": timeouts,
            "errors": errors,
            "first_error": first_error,
            "p50_ms": percentile(latencies, 50),
            "p95_ms": percentile(latencies, 95),
            "max_ms": round(max(latencies), 1) if latencies else None,
        }

        # 1 s total outage, then the impairment back.
        with rec.lock:
            n_before = len(rec.times)
        err = set_root(OUTAGE)
        t_out = time.monotonic()
        await asyncio.sleep(1.0)
        err2 = set_root(NETEM) if shaper is None else shaper.install()
        t_back = time.monotonic()
        out_rec: dict[str, Any] = {
            "outage_s": round(t_back - t_out, 3),
            "tc_errors": [e for e in (err, err2) if e],
        }
        with rec.lock:
            during = [t for t in rec.times[n_before:] if t_out + 0.1 < t < t_back]
        out_rec["frames_during_outage"] = len(during)
        first = first_dec = steady_at = None
        deadline = t_back + args.recover_timeout
        while time.monotonic() < deadline:
            with rec.lock:
                after = [(t, c) for t, c in zip(rec.times, rec.codes, strict=False) if t > t_back]
            if after:
                first = first or after[0][0]
                dec = [t for t, c in after if c is not None]
                first_dec = first_dec or (dec[0] if dec else None)
                ts_after = [t for t, _ in after]
                # Flowing again: the first 1 s window (ending at a frame) holding >= 15 frames.
                j = 0
                for i, t in enumerate(ts_after):
                    while ts_after[j] < t - 1.0:
                        j += 1
                    if i - j + 1 >= 15:
                        steady_at = t
                        break
            if first and first_dec and steady_at:
                break
            await asyncio.sleep(0.02)

        def ms(t: float | None) -> float | None:
            return None if t is None else round((t - t_back) * 1000, 1)

        out_rec["network_first_2s"] = {
            k: v
            for k, v in probe.window(t_back, t_back + 2.0).items()
            if k in ("one_way_delay_ms", "nacks_sent", "plis_sent", "jitter_buffer_gaps_skipped")
        }
        out_rec["recover_first_frame_ms"] = ms(first)
        out_rec["recover_first_decodable_ms"] = ms(first_dec)
        out_rec["recover_15fps_over_1s_ms"] = ms(steady_at)
        out_rec["recovered"] = steady_at is not None
        out_rec["status_after"] = str(reactor.status)
        await asyncio.sleep(2.0)
        with rec.lock:
            times, codes = list(rec.times), list(rec.codes)
        now = time.monotonic()
        out_rec["fps_last_2s"] = window_stats(times, codes, now - 2.0, now)["delivered_fps"]
        out["outage"] = out_rec
    finally:
        if queue_watch is not None:
            queue_watch.stop()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(reactor.disconnect(), 15)
    return out


def inside(args: argparse.Namespace) -> dict[str, Any]:
    report: dict[str, Any] = {"namespace": True}
    route = subprocess.run(["ip", "route", "get", HOST], capture_output=True, text=True, timeout=10)
    report["route_to_127.0.0.2"] = route.stdout.strip()
    global NETEM
    if args.rate == "none":
        NETEM = NETEM[:-2]
    else:
        NETEM = [*NETEM[:-1], args.rate]
    if args.no_delay_loss:
        NETEM = ["netem", "rate", args.rate] if args.rate != "none" else UNLIMITED
    err = set_root(NETEM)
    imp: Impairment | None = None
    shaper: Shaper | None = None
    probe = RtpProbe()
    probe.install()
    if err is None:
        mode = "netem"
        report["impairment"] = {"mode": "netem", "lo_root": " ".join(NETEM)}
    else:
        mode = "fallback"
        report["netem_unavailable"] = f"tc qdisc add ... netem: {err}"
        shaper = Shaper(args.shaper, args.rate, args.queue_ms)
        err_shaper = shaper.install()
        if err_shaper is not None:
            report["error"] = f"neither netem nor {args.shaper} available on lo: {err}; {err_shaper}"
            return report
        imp = Impairment(DELAY_S, LOSS, on_port=shaper.add_feedback_port, delay_loss=not args.no_delay_loss)
        imp.install()
        report["impairment"] = {
            "mode": "fallback: kernel rate limit on lo + user-space delay/loss in the client's ICE sockets",
            "lo": shaper.describe(),
            "user_space": {"delay_ms_each_way": DELAY_S * 1000, "loss_each_way": LOSS}
            if not args.no_delay_loss
            else "off (--no-delay-loss)",
        }
    report["impairment"]["outage"] = f"lo root replaced by '{' '.join(OUTAGE)}' for 1 s"
    with tempfile.TemporaryDirectory(prefix="badnet-") as tmp:
        proc, url, log_path = start_server(Path(tmp), args.width, args.height)
        try:
            report["result"] = asyncio.run(
                asyncio.wait_for(streaming(args, url, mode, shaper, probe), args.duration + 120)
            )
        except Exception as exc:  # noqa: BLE001 - reported
            report["error"] = f"{type(exc).__name__}: {exc}"
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
            try:
                report["server_exit_status"] = proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                report["server_exit_status"] = proc.wait()
            tail = log_path.read_text(errors="replace")
            report["server_log_tracebacks"] = tail.count("Traceback")
            if "error" in report:
                report["server_log_tail"] = tail[-3000:]
    if imp is not None and not args.no_delay_loss:
        report["impairment"]["user_space"]["datagrams"] = imp.counts
    if shaper is not None:
        report["impairment"]["client_ice_ports"] = sorted(shaper.feedback_ports)
        if shaper.errors:
            report["impairment"]["tc_errors"] = shaper.errors
    for dev in (DEV, "rx0"):
        report[f"tc_qdisc_{dev}"] = tc("-s", "qdisc", "show", "dev", dev).stdout.strip()
    return report


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of impaired streaming")
    parser.add_argument("--command-every", type=float, default=0.5, help="seconds between set_value commands")
    parser.add_argument(
        "--recover-timeout", type=float, default=30.0, help="max wait for frames after the outage"
    )
    parser.add_argument("--rate", default="3mbit", help="tc rate on lo, or 'none' for no rate limit")
    parser.add_argument("--shaper", choices=("htb", "tbf"), default="htb", help="rate limit without netem")
    parser.add_argument(
        "--queue-ms", type=float, default=200.0, help="bottleneck queue limit, in ms at --rate"
    )
    parser.add_argument("--width", type=int, default=640, help="probe width (>= 608)")
    parser.add_argument("--height", type=int, default=360, help="probe height")
    parser.add_argument("--no-delay-loss", action="store_true", help="rate limit only (no delay, no loss)")
    parser.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inside:
        try:
            report = inside(args)
        except Exception as exc:  # noqa: BLE001 - still print JSON
            report = {"error": f"{type(exc).__name__}: {exc}"}
        print("@@BADNET " + json.dumps(report), flush=True)
        return 0
    report: dict[str, Any] = {
        "config": {
            "duration_s": args.duration,
            "server": f"probe {args.width}x{args.height}@30 on 127.0.0.2",
            "rate": args.rate,
            "shaper": args.shaper,
            "queue_ms": args.queue_ms,
            "delay_loss": not args.no_delay_loss,
        }
    }
    problems = []
    if shutil.which("tc") is None:
        problems.append("tc (iproute2) is not installed")
    if not os.access(NETNS_RUN, os.X_OK):
        problems.append(f"{NETNS_RUN} missing or not executable")
    if problems:
        report["error"] = "; ".join(problems)
        print(json.dumps(report, indent=2))
        return 1
    cmd = [str(NETNS_RUN), sys.executable, str(Path(__file__).resolve()), "--inside",
           "--duration", str(args.duration), "--command-every", str(args.command_every),
           "--recover-timeout", str(args.recover_timeout), "--rate", args.rate,
           "--shaper", args.shaper, "--queue-ms", str(args.queue_ms),
           "--width", str(args.width), "--height", str(args.height),
           *(["--no-delay-loss"] if args.no_delay_loss else [])]  # fmt: skip
    t0 = time.monotonic()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=args.duration + 240, cwd=REPO)
    except subprocess.TimeoutExpired:
        report["error"] = "namespace run exceeded its time bound"
        print(json.dumps(report, indent=2))
        return 1
    lines = [line for line in proc.stdout.splitlines() if line.startswith("@@BADNET ")]
    if not lines:
        report["error"] = f"no report from inside the namespace (exit {proc.returncode})"
        report["stderr_tail"] = proc.stderr[-3000:]
    else:
        report.update(json.loads(lines[-1][len("@@BADNET ") :]))
    report["total_seconds"] = round(time.monotonic() - t0, 1)
    print(json.dumps(report, indent=2))
    return 0 if "error" not in report else 1


if __name__ == "__main__":
    sys.exit(main())
