"""Load: N concurrent probe sessions on one ``serve --workers N`` server, held; prints JSON.

Starts ``openreactor serve --model probe --width 640 --height 360 --fps 30 --ice-host 127.0.0.1
--workers N --state-dir D --debug-endpoints`` on 127.0.0.1 (all traffic stays on loopback),
creates an API key with ``python -m openreactor keys --state-dir D create`` (the cloud plane:
the SDK mints a token with the key, then creates the session), and connects N clients with our
SDK (``Reactor("probe", api_key=KEY, api_url=URL, ice_host_addresses=["127.0.0.1"])``). The
clients run in ``--client-procs`` child processes of this script (default 1; sessions are split
evenly), so that the client side's CPU and memory are measured apart from this orchestrator.
Each frame is decoded with ``decode_probe`` on the SDK's delivery thread.

The sessions are held for ``--seconds`` (default 600, capped at ``MAX_SECONDS``). Every
``--interval`` seconds (default 30) one sample is logged (stderr) and recorded:

* per session: delivered fps (distinct probe counters received in the interval / interval),
  the lowest 1-s bucket of distinct counters, dropped counters (gaps in the counter sequence),
  undecodable frames, frames delivered to the handler;
* memory: ``VmRSS`` of the server front process and of each worker (pids from
  ``GET /debug/workers``), and of each client process;
* CPU: utime+stime of the server (front + workers) and of the clients over the interval, in % of
  one core, and the machine's busy % (``/proc/stat``, all cores).

At the end it prints JSON: the settings, the per-interval series and a summary (min/mean fps
per session, min 1-s fps, dropped counters, server/client CPU means, and memory growth in MB
per hour from a least-squares line through the samples, for the server total, each worker and
the clients)::

    .venv/bin/python bench/load.py --sessions 6 [--seconds 600] [--interval 30] [--client-procs 1]

Every loop is bounded: by the sample count (``seconds / interval``), and each wait by a timeout.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
from proc_stats import free_port, rss_kib

REPO = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"
MAX_SECONDS = 4 * 3600
CONNECT_TIMEOUT = 60.0
CLK_TCK = os.sysconf("SC_CLK_TCK")


def log(text: str) -> None:
    print(f"[load] {text}", file=sys.stderr, flush=True)


def cpu_ticks(pid: int) -> int | None:
    """utime + stime of a process (all its threads), in clock ticks."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return int(fields[11]) + int(fields[12])


def machine_ticks() -> tuple[int, int]:
    """(busy, total) jiffies over all cores, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return sum(values) - idle, sum(values)


def slope_per_hour(ts: list[float], ys: list[float]) -> float | None:
    """Least-squares slope of ys (MB) against ts (s), in MB per hour."""
    n = len(ts)
    if n < 2:
        return None
    mt, my = sum(ts) / n, sum(ys) / n
    den = sum((t - mt) ** 2 for t in ts)
    if den == 0:
        return None
    return sum((t - mt) * (y - my) for t, y in zip(ts, ys, strict=True)) / den * 3600


# --------------------------------------------------------------------------- client child


class SessionStats:
    """Filled on the SDK's delivery thread; read at each sample under the lock."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.buckets: dict[int, set[int]] = {}
        self.frames = 0
        self.undecodable = 0
        self.dropped = 0
        self.last: int | None = None
        self.t0 = 0.0
        self.errors: list[str] = []

    def add(self, counter: int | None, now: float) -> None:
        with self.lock:
            self.frames += 1
            if counter is None:
                self.undecodable += 1
                return
            if self.last is not None:
                step = (counter - self.last) % 65536
                if step == 0 or step > 32768:  # a repeat or a late (reordered) frame
                    return
                self.dropped += step - 1
            self.last = counter
            self.buckets.setdefault(math.floor(now - self.t0), set()).add(counter)

    def take(self, first_second: int, last_second: int) -> dict[str, Any]:
        """Stats for the 1-s buckets [first_second, last_second); resets the counters."""
        with self.lock:
            per_second = [len(self.buckets.pop(s, ())) for s in range(first_second, last_second)]
            for s in [s for s in self.buckets if s < first_second]:
                del self.buckets[s]
            out = {
                "frames": self.frames,
                "undecodable": self.undecodable,
                "dropped_counters": self.dropped,
                "errors": list(self.errors),
            }
            self.frames = self.undecodable = self.dropped = 0
            self.errors.clear()
        seconds = max(1, last_second - first_second)
        out["fps"] = round(sum(per_second) / seconds, 2)
        out["min_1s_fps"] = min(per_second) if per_second else 0
        return out


async def client_main(args: argparse.Namespace) -> int:
    from openreactor.models.builtin.probe_pattern import decode_probe
    from reactor_sdk import Reactor

    stats = [SessionStats() for _ in range(args.child)]
    clients = []
    for st in stats:
        reactor = Reactor("probe", api_key=args.key, api_url=args.url, ice_host_addresses=[HOST])

        def on_frame(frame: Any, st: SessionStats = st) -> None:
            code = decode_probe(frame)
            st.add(None if code is None else code.counter, time.time())

        def on_error(err: Any, st: SessionStats = st) -> None:
            with st.lock:
                st.errors.append(str(err)[:200])

        reactor.on_frame(on_frame)
        reactor.on_error(on_error)
        clients.append(reactor)

    def emit(obj: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()

    try:
        await asyncio.wait_for(asyncio.gather(*(c.connect() for c in clients)), CONNECT_TIMEOUT)
        emit({"type": "ready", "sessions": [c.session_id for c in clients], "pid": os.getpid()})
        loop = asyncio.get_running_loop()
        line = await asyncio.wait_for(loop.run_in_executor(None, sys.stdin.readline), CONNECT_TIMEOUT * 2)
        t0 = float(line.split()[1])
        for st in stats:
            with st.lock:
                st.t0 = t0
                st.buckets.clear()
                st.frames = st.undecodable = st.dropped = 0
        samples = int(args.seconds // args.interval)
        for i in range(1, samples + 1):
            await asyncio.sleep(max(0.0, t0 + i * args.interval - time.time()))
            first = int((i - 1) * args.interval)
            last = int(i * args.interval)
            t = os.times()
            emit(
                {
                    "type": "sample",
                    "i": i,
                    "sessions": [st.take(first, last) for st in stats],
                    "rss_kib": rss_kib(os.getpid()),
                    "cpu_s": t.user + t.system,
                }
            )
    except Exception as exc:  # reported to the parent, which fails the run
        emit({"type": "error", "error": f"{type(exc).__name__}: {exc}"[:500]})
        return 1
    finally:
        for c in clients:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(c.disconnect(), 10)
    emit({"type": "done"})
    return 0


# --------------------------------------------------------------------------- orchestrator


class Child:
    def __init__(self, cmd: list[str]) -> None:
        self.proc = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=REPO, bufsize=1
        )
        self.lines: list[dict[str, Any]] = []
        self.cond = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            with contextlib.suppress(ValueError):
                msg = json.loads(raw)
                with self.cond:
                    self.lines.append(msg)
                    self.cond.notify_all()
        with self.cond:
            self.lines.append({"type": "eof"})
            self.cond.notify_all()

    def wait_for(self, pred: Any, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for msg in self.lines:
                    if pred(msg) or msg["type"] in ("error", "eof"):
                        return msg
                left = deadline - time.monotonic()
                if left <= 0:
                    return {"type": "error", "error": "timeout"}
                self.cond.wait(left)


def start_server(
    args: argparse.Namespace, state_dir: Path, log_path: Path
) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    cmd = [
        sys.executable, "-m", "openreactor", "serve", "--model", "probe",
        "--host", HOST, "--port", str(port),
        "--width", str(args.width), "--height", str(args.height), "--fps", str(args.fps),
        "--ice-host", HOST, "--workers", str(args.sessions),
        "--state-dir", str(state_dir), "--debug-endpoints",
        # Sessions must outlive the hold (the cloud default ends them after 1200 s).
        "--max-session-duration", str(int(min(args.seconds, MAX_SECONDS) + 600)),
    ]  # fmt: skip
    with open(log_path, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=REPO)
    url = f"http://{HOST}:{port}"
    deadline = time.monotonic() + 60
    while True:
        if proc.poll() is not None:
            raise SystemExit(f"server exited early:\n{log_path.read_text(errors='replace')}")
        with contextlib.suppress(httpx.HTTPError):
            r = httpx.get(f"{url}/debug/workers", timeout=2)
            if (
                r.status_code == 200
                and sum(bool(w.get("ready")) for w in r.json()["workers"]) >= args.sessions
            ):
                return proc, url
        if time.monotonic() > deadline:
            raise SystemExit("server or its workers not ready in 60 s")
        time.sleep(0.2)


def orchestrate(args: argparse.Namespace) -> dict[str, Any]:
    seconds = min(args.seconds, MAX_SECONDS)
    tmp = Path(tempfile.mkdtemp(prefix="load-"))
    state_dir = tmp / "state"
    server, url = start_server(args, state_dir, tmp / "server.log")
    result: dict[str, Any] = {
        "settings": {
            "sessions": args.sessions, "client_procs": args.client_procs, "seconds": seconds,
            "interval": args.interval, "width": args.width, "height": args.height, "fps": args.fps,
            "cores": os.cpu_count(),
        },
        "samples": [],
    }  # fmt: skip
    children: list[Child] = []
    try:
        key = subprocess.run(
            [sys.executable, "-m", "openreactor", "keys", "--state-dir", str(state_dir), "create", "--name", "load"],
            check=True, capture_output=True, text=True, cwd=REPO,
        ).stdout.split()[1]  # fmt: skip
        procs = max(1, min(args.client_procs, args.sessions))
        split = [args.sessions // procs + (1 if i < args.sessions % procs else 0) for i in range(procs)]
        for k in split:
            children.append(
                Child(
                    [sys.executable, __file__, "--child", str(k), "--url", url, "--key", key,
                     "--seconds", str(seconds), "--interval", str(args.interval)]
                )
            )  # fmt: skip
        sessions: list[str] = []
        for c in children:
            msg = c.wait_for(lambda m: m["type"] == "ready", CONNECT_TIMEOUT + 10)
            if msg["type"] != "ready":
                raise SystemExit(f"client failed to connect: {msg}")
            sessions += msg["sessions"]
        log(f"{len(sessions)} sessions connected via {len(children)} client process(es)")
        t0 = time.time() + 1.0
        for c in children:
            assert c.proc.stdin is not None
            c.proc.stdin.write(f"go {t0}\n")
            c.proc.stdin.flush()

        def server_pids() -> dict[str, int]:
            pids = {"front": server.pid}
            with contextlib.suppress(httpx.HTTPError, ValueError, KeyError):
                for w in httpx.get(f"{url}/debug/workers", timeout=5).json()["workers"]:
                    pids[f"worker:{w['pid']}:{w.get('session_id')}"] = int(w["pid"])
            return pids

        def server_cpu(pids: dict[str, int]) -> float:
            return sum((cpu_ticks(p) or 0) for p in pids.values()) / CLK_TCK

        pids = server_pids()
        prev_server_cpu = server_cpu(pids)
        prev_client_cpu = [0.0] * len(children)
        prev_machine = machine_ticks()
        prev_t = time.time()
        samples = int(seconds // args.interval)
        for i in range(1, samples + 1):
            time.sleep(max(0.0, t0 + i * args.interval - time.time()))
            now = time.time()
            pids = server_pids()
            cpu_now = server_cpu(pids)
            machine = machine_ticks()
            mem = {name: rss_kib(pid) for name, pid in pids.items()}
            msgs = [
                c.wait_for(lambda m, i=i: m["type"] == "sample" and m["i"] == i, args.interval + 30)
                for c in children
            ]
            bad = [m for m in msgs if m["type"] != "sample"]
            if bad:
                raise SystemExit(f"client failed at sample {i}: {bad[0]}")
            dt = now - prev_t
            client_cpu = [float(m["cpu_s"]) for m in msgs]
            per_session = [s for m in msgs for s in m["sessions"]]
            sample = {
                "t": round(now - t0, 1),
                "fps": [s["fps"] for s in per_session],
                "min_1s_fps": [s["min_1s_fps"] for s in per_session],
                "dropped_counters": [s["dropped_counters"] for s in per_session],
                "undecodable": [s["undecodable"] for s in per_session],
                "errors": [e for s in per_session for e in s["errors"]],
                "server_rss_mb": {k: round(v / 1024, 1) for k, v in mem.items() if v is not None},
                "server_rss_total_mb": round(sum(v for v in mem.values() if v) / 1024, 1),
                "client_rss_mb": [round((m["rss_kib"] or 0) / 1024, 1) for m in msgs],
                "server_cpu_pct": round((cpu_now - prev_server_cpu) / dt * 100, 1),
                "client_cpu_pct": round(sum(a - b for a, b in zip(client_cpu, prev_client_cpu, strict=True)) / dt * 100, 1),
                "machine_busy_pct": round(
                    (machine[0] - prev_machine[0]) / max(1, machine[1] - prev_machine[1]) * 100, 1
                ),
            }  # fmt: skip
            prev_server_cpu, prev_client_cpu, prev_machine, prev_t = cpu_now, client_cpu, machine, now
            result["samples"].append(sample)
            log(
                f"t={sample['t']}s fps={sample['fps']} min1s={sample['min_1s_fps']} "
                f"dropped={sample['dropped_counters']} server_rss={sample['server_rss_total_mb']}MB "
                f"client_rss={sample['client_rss_mb']}MB cpu server/client/machine="
                f"{sample['server_cpu_pct']}%/{sample['client_cpu_pct']}%/{sample['machine_busy_pct']}%"
            )
        for c in children:
            c.wait_for(lambda m: m["type"] == "done", 30)
    finally:
        for c in children:
            with contextlib.suppress(subprocess.TimeoutExpired):
                c.proc.wait(20)
            if c.proc.poll() is None:
                c.proc.kill()
                c.proc.wait()
        if server.poll() is None:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(20)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
    result["summary"] = summarize(result["samples"])
    return result


def summarize(samples: list[dict[str, Any]]) -> dict[str, Any]:
    if not samples:
        return {}
    n = len(samples[0]["fps"])
    ts = [s["t"] for s in samples]
    out: dict[str, Any] = {
        "intervals": len(samples),
        "fps_min_per_session": [min(s["fps"][k] for s in samples) for k in range(n)],
        "fps_mean_per_session": [round(sum(s["fps"][k] for s in samples) / len(samples), 2) for k in range(n)],
        "min_1s_fps_per_session": [min(s["min_1s_fps"][k] for s in samples) for k in range(n)],
        "dropped_counters_per_session": [sum(s["dropped_counters"][k] for s in samples) for k in range(n)],
        "undecodable_per_session": [sum(s["undecodable"][k] for s in samples) for k in range(n)],
        "errors": sum(len(s["errors"]) for s in samples),
        "server_cpu_pct_mean": round(sum(s["server_cpu_pct"] for s in samples) / len(samples), 1),
        "client_cpu_pct_mean": round(sum(s["client_cpu_pct"] for s in samples) / len(samples), 1),
        "machine_busy_pct_mean": round(sum(s["machine_busy_pct"] for s in samples) / len(samples), 1),
        "server_rss_total_mb": [samples[0]["server_rss_total_mb"], samples[-1]["server_rss_total_mb"]],
        "client_rss_total_mb": [round(sum(samples[0]["client_rss_mb"]), 1), round(sum(samples[-1]["client_rss_mb"]), 1)],
        "server_growth_mb_per_hour": slope_per_hour(ts, [s["server_rss_total_mb"] for s in samples]),
        "client_growth_mb_per_hour": slope_per_hour(ts, [sum(s["client_rss_mb"]) for s in samples]),
    }  # fmt: skip
    names = set(samples[0]["server_rss_mb"])
    for s in samples[1:]:
        names &= set(s["server_rss_mb"])
    out["per_process_growth_mb_per_hour"] = {
        name: slope_per_hour(ts, [s["server_rss_mb"][name] for s in samples]) for name in sorted(names)
    }
    for key in ("server_growth_mb_per_hour", "client_growth_mb_per_hour"):
        if out[key] is not None:
            out[key] = round(out[key], 1)
    out["per_process_growth_mb_per_hour"] = {
        k: (None if v is None else round(v, 1)) for k, v in out["per_process_growth_mb_per_hour"].items()
    }
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sessions", type=int, default=6, help="concurrent sessions (= server workers)")
    p.add_argument("--seconds", type=float, default=600.0, help=f"hold time (capped at {MAX_SECONDS})")
    p.add_argument("--interval", type=float, default=30.0, help="seconds between samples")
    p.add_argument(
        "--client-procs", type=int, default=1, help="client processes the sessions are split across"
    )
    p.add_argument("--width", type=int, default=640)
    p.add_argument("--height", type=int, default=360)
    p.add_argument("--fps", type=float, default=30.0)
    p.add_argument("--child", type=int, help=argparse.SUPPRESS)
    p.add_argument("--url", help=argparse.SUPPRESS)
    p.add_argument("--key", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        return asyncio.run(client_main(args))
    args.seconds = min(args.seconds, MAX_SECONDS)
    print(json.dumps(orchestrate(args), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
