"""Streaming over an impaired network, inside a private network namespace; prints JSON.

Re-runs itself inside ``shared/tools/netns-run`` (a namespace with ``lo`` and a veth pair whose
only address is 127.0.0.2; nothing routes off the machine). There it starts ``openreactor serve
--model probe --width 640 --height 360 --fps 30 --host 127.0.0.2 --ice-host 127.0.0.2`` and
connects our SDK (``ice_host_addresses=["127.0.0.2"]``) from this process.

Where the packets flow: 127.0.0.2 is a local address, so the kernel routes traffic between two
sockets on it through ``lo`` (``ip route get 127.0.0.2`` says ``dev lo``), not through the veth.
The impairment therefore goes on ``lo``; the report includes ``tc -s qdisc show`` of ``lo`` and
``rx0`` at the end as evidence (``lo`` carries the bytes, ``rx0`` none).

Impairment, target 40 ms each way (80 ms RTT), 2 % loss each way, 3 Mbit/s:

* ``netem`` mode: ``tc qdisc add dev lo root netem delay 40ms loss 2% rate 3mbit``. Each
  packet crosses ``lo`` once per direction, so this is 40 ms each way.
* ``fallback`` mode, when the kernel has no netem (``CONFIG_NET_SCH_NETEM`` unset: ``tc``
  answers "Specified qdisc kind is unknown"): the rate limit stays in the kernel
  (``tc qdisc add dev lo root tbf rate 3mbit burst 32kbit latency 400ms``), and delay and loss
  are applied in user space in the client process, on every UDP datagram its ICE sockets
  (aioice ``StunProtocol``) send or receive: dropped with probability 2 %, otherwise delivered
  40 ms later. Every client-server media packet passes through the client's sockets once, so
  both directions see 40 ms and 2 %. The HTTP signalling (TCP) gets only the rate limit.

Measured over ``--duration`` seconds (default 30) of streaming: delivered fps, frozen time (sum
of inter-frame gaps over 100 ms), interval percentiles, probe counter gaps, and command→frame
latency (``set_value`` with unique values every ``--command-every`` seconds, until the first
frame whose probe code shows the value; decoded with ``decode_probe``). Then a 1 s total outage
(root qdisc on ``lo`` replaced by ``pfifo limit 0``, which drops every packet; works with or
without netem), the impairment is restored, and the time from restoring until frames flow again
(first frame, first decodable frame, and the end of the first 1 s span holding >= 15 frames,
i.e. half rate) is reported. ``--rate none`` and ``--no-delay-loss`` switch parts of the
impairment off, to see which part costs what.
Every wait is bounded.

    .venv/bin/python bench/bad_network.py [--duration 30]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
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
TBF = ["tbf", "rate", "3mbit", "burst", "32kbit", "latency", "400ms"]
OUTAGE = ["pfifo", "limit", "0"]
DELAY_S = 0.040
LOSS = 0.02
FROZEN_GAP_S = 0.100


def log(text: str) -> None:
    print(f"[bad_network] {text}", file=sys.stderr, flush=True)


def tc(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["tc", *args], capture_output=True, text=True, timeout=10)


def set_root(qdisc: list[str]) -> str | None:
    """Replace the root qdisc of ``lo``; None on success, else tc's error text."""
    r = tc("qdisc", "replace", "dev", DEV, "root", *qdisc)
    return None if r.returncode == 0 else (r.stderr.strip() or r.stdout.strip() or f"exit {r.returncode}")


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

    def __init__(self, delay_s: float, loss: float, seed: int = 8) -> None:
        self.delay_s = delay_s
        self.loss = loss
        self.rng = random.Random(seed)
        self.counts = {"sent": 0, "sent_dropped": 0, "received": 0, "received_dropped": 0}

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
            self.transport = DelayedTransport(self.transport)  # type: ignore[arg-type]

        def datagram_received(self: Any, data: bytes | str, addr: tuple[Any, ...]) -> None:
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


# ---------------------------------------------------------------- inside the namespace


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def start_server(workdir: Path) -> tuple[subprocess.Popen[bytes], str, Path]:
    import httpx

    port = free_port()
    url = f"http://{HOST}:{port}"
    log_path = workdir / "server.log"
    args = [
        sys.executable, "-m", "openreactor", "serve", "--model", "probe", "--width", "640",
        "--height", "360", "--fps", "30", "--host", HOST, "--port", str(port), "--ice-host", HOST,
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


async def streaming(args: argparse.Namespace, url: str, mode: str) -> dict[str, Any]:
    from reactor_sdk import Reactor

    rec = Recorder()
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
        restore = NETEM if mode == "netem" else (TBF if args.rate != "none" else ["pfifo", "limit", "1000"])
        with rec.lock:
            n_before = len(rec.times)
        err = set_root(OUTAGE)
        t_out = time.monotonic()
        await asyncio.sleep(1.0)
        err2 = set_root(restore)
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
        with contextlib.suppress(Exception):
            await asyncio.wait_for(reactor.disconnect(), 15)
    return out


def inside(args: argparse.Namespace) -> dict[str, Any]:
    report: dict[str, Any] = {"namespace": True}
    route = subprocess.run(["ip", "route", "get", HOST], capture_output=True, text=True, timeout=10)
    report["route_to_127.0.0.2"] = route.stdout.strip()
    global NETEM, TBF
    if args.rate == "none":
        NETEM = NETEM[:-2]
    else:
        NETEM = [*NETEM[:-1], args.rate]
        TBF = [TBF[0], "rate", args.rate, *TBF[3:]]
    if args.no_delay_loss:
        NETEM = ["netem", "rate", args.rate] if args.rate != "none" else ["pfifo", "limit", "1000"]
    err = set_root(NETEM)
    imp: Impairment | None = None
    if err is None:
        mode = "netem"
        report["impairment"] = {"mode": "netem", "lo_root": " ".join(NETEM)}
    else:
        mode = "fallback"
        report["netem_unavailable"] = f"tc qdisc add ... netem: {err}"
        err_tbf = set_root(TBF if args.rate != "none" else ["pfifo", "limit", "1000"])
        if err_tbf is not None:
            report["error"] = f"neither netem nor tbf available on lo: {err}; {err_tbf}"
            return report
        imp = Impairment(DELAY_S, LOSS)
        if not args.no_delay_loss:
            imp.install()
        report["impairment"] = {
            "mode": "fallback: kernel tbf rate on lo + user-space delay/loss in the client's ICE sockets",
            "lo_root": " ".join(TBF) if args.rate != "none" else "pfifo limit 1000 (no rate limit)",
            "user_space": {"delay_ms_each_way": DELAY_S * 1000, "loss_each_way": LOSS}
            if not args.no_delay_loss
            else "off (--no-delay-loss)",
        }
    report["impairment"]["outage"] = f"lo root replaced by '{' '.join(OUTAGE)}' for 1 s"
    with tempfile.TemporaryDirectory(prefix="badnet-") as tmp:
        proc, url, log_path = start_server(Path(tmp))
        try:
            report["result"] = asyncio.run(asyncio.wait_for(streaming(args, url, mode), args.duration + 120))
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
            "server": "probe 640x360@30 on 127.0.0.2",
            "rate": args.rate,
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
