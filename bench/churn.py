"""Churn soak: many connect/disconnect and recoverable-disconnect/reconnect cycles; prints JSON.

Starts one ``openreactor serve --model probe --width 640 --height 360 --fps 15 --ice-host
127.0.0.1 --debug-endpoints`` subprocess (the probe model refuses widths below 608, so the
smallest size it serves is used; ``--width/--height/--fps`` change it) on 127.0.0.1 (all traffic stays on loopback) and drives
it with our SDK (``reactor_sdk``) from this process:

* phase ``connect_disconnect``: ``--cycles`` times (default 1000) a fresh
  ``Reactor("probe", local=True, ...)``, ``await connect()``, wait for one frame,
  ``await disconnect()``;
* phase ``reconnect``: one session, ``--reconnects`` times (default 200)
  ``disconnect(recoverable=True)``, ``reconnect()``, wait for a frame received after the
  reconnect; then ``disconnect()``.

Every loop is bounded: by its count, by ``--max-seconds`` for the whole run (default 1500; a
phase that runs out of time stops early and says so), and each step by a timeout. For each
phase it reports cycles done, seconds, cycles/s, failures (with the first error text), the
server's ``GET /debug/resources`` before and after (after waiting for sessions and peer
connections to reach 0 and then settling ``--settle`` seconds), the leaked counts (after minus
before; all should be 0), the client's own asyncio tasks / threads / fds before and after, and
the server's RSS (``VmRSS``) before/after and its growth per 100 cycles (overall, and the slope
of a least-squares line through samples taken every ``--rss-every`` cycles, which discounts
warm-up)::

    .venv/bin/python bench/churn.py [--cycles 1000] [--reconnects 200] [--max-seconds 1500]

With ``--workers N`` the server runs ``serve --workers N`` (each session in a pre-spawned worker
process, reused session after session) and each phase also reports the worker processes before
and after (``GET /debug/workers``: pids, replacements) and the server's live child processes:
neither may change (no leaked or lost worker process), and the workers' RSS growth.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
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

from reactor_sdk import Reactor

REPO = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"
STEP_TIMEOUT = 30.0
FRAME_TIMEOUT = 10.0


def log(text: str) -> None:
    print(f"[churn] {text}", file=sys.stderr, flush=True)


def client_fds() -> int:
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:
        return -1


def client_counts() -> dict[str, int]:
    return {
        "asyncio_tasks": len([t for t in asyncio.all_tasks() if not t.done()]),
        "threads": threading.active_count(),
        "open_fds": client_fds(),
    }


def slope_per_100(samples: list[tuple[int, int]]) -> float | None:
    """Least-squares slope of (cycle, rss KiB) samples, in KiB per 100 cycles."""
    if len(samples) < 3:
        return None
    n = len(samples)
    mx = sum(x for x, _ in samples) / n
    my = sum(y for _, y in samples) / n
    sxx = sum((x - mx) ** 2 for x, _ in samples)
    if sxx == 0:
        return None
    sxy = sum((x - mx) * (y - my) for x, y in samples)
    return round(sxy / sxx * 100, 1)


class Server:
    def __init__(self, workdir: Path, width: int, height: int, fps: float, workers: int = 0) -> None:
        self.workers = workers
        self.port = free_port()
        self.url = f"http://{HOST}:{self.port}"
        self.log_path = workdir / "server.log"
        args = [
            sys.executable, "-m", "openreactor", "serve", "--model", "probe",
            "--width", str(width), "--height", str(height), "--fps", str(fps),
            "--host", HOST, "--port", str(self.port), "--ice-host", HOST,
            "--state-dir", str(workdir / "state"), "--debug-endpoints",
            *(["--workers", str(workers)] if workers else []),
        ]  # fmt: skip
        with open(self.log_path, "wb") as out:
            self.process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, cwd=REPO)
        deadline = time.monotonic() + 30
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited early ({self.process.returncode}): {self.log_tail()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    if not workers or all(
                        w["ready"] for w in httpx.get(f"{self.url}/debug/workers").json()["workers"]
                    ):
                        return
            if time.monotonic() > deadline:
                raise RuntimeError(f"server not healthy in 30 s: {self.log_tail()}")
            time.sleep(0.1)

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def rss(self) -> int | None:
        return rss_kib(self.process.pid)

    def workers_rss(self) -> int | None:
        """Summed RSS (KiB) of the worker processes; ``None`` without ``--workers``."""
        if not self.workers:
            return None
        return sum(rss_kib(pid) or 0 for pid in self.children())

    def children(self) -> list[int]:
        """Live child processes of the server (its worker processes)."""
        pids: list[int] = []
        for task in Path(f"/proc/{self.process.pid}/task").glob("*"):
            with contextlib.suppress(OSError):
                pids += [int(p) for p in (task / "children").read_text().split()]
        return sorted(pids)

    def stop(self) -> int | None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            return None


async def resources(http: httpx.AsyncClient) -> dict[str, Any]:
    r = await http.get("/debug/resources")
    r.raise_for_status()
    return dict(r.json())


async def worker_processes(server: Server, http: httpx.AsyncClient) -> dict[str, Any] | None:
    """``serve --workers N``: the pool's pids and replacements, the server's children, workers' RSS."""
    if not server.workers:
        return None
    pool = (await http.get("/debug/workers")).json()
    pids = sorted(w["pid"] for w in pool["workers"])
    return {
        "pids": pids,
        "replaced": pool["replaced"],
        "children": server.children(),
        "rss_kib": [rss_kib(pid) for pid in pids],
    }


async def settled(http: httpx.AsyncClient, settle_s: float) -> dict[str, Any]:
    """Resources once sessions and peer connections are 0 (at most 30 s), then ``settle_s`` more."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        counts = await resources(http)
        if counts["sessions"] == 0 and counts["peer_connections"] == 0:
            break
        await asyncio.sleep(0.2)
    await asyncio.sleep(settle_s)
    return await resources(http)


LEAK_KEYS = ("asyncio_tasks", "open_fds", "peer_connections", "sessions", "upload_files")


def leaked(before: dict[str, Any], after: dict[str, Any]) -> dict[str, int]:
    out = {key: after[key] - before[key] for key in LEAK_KEYS}
    out["non_executor_threads"] = (after["threads"] - after["executor_threads"]) - (
        before["threads"] - before["executor_threads"]
    )
    return out


class FrameWaiter:
    """Counts frames from an SDK frame callback (any thread) and lets the loop wait for the next."""

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.count = 0
        self.lock = threading.Lock()
        self.event = asyncio.Event()

    def on_frame(self, frame: Any) -> None:
        with self.lock:
            self.count += 1
        self.loop.call_soon_threadsafe(self.event.set)

    async def next_after(self, seen: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            with self.lock:
                if self.count > seen:
                    return
                self.event.clear()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no frame within {timeout} s")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.event.wait(), remaining)


class Phase:
    def __init__(self, name: str, target: int) -> None:
        self.name = name
        self.target = target
        self.done = 0
        self.failures = 0
        self.first_error: str | None = None
        self.rss_samples: list[tuple[int, int]] = []
        self.worker_rss_samples: list[tuple[int, int]] = []
        """``--workers``: the summed RSS of the worker processes, sampled with the server's."""

    def sample_memory(self, i: int, server: Server, every: int) -> None:
        """After cycle ``i``: every ``every`` cycles (and the last) the server's and workers' RSS."""
        if i % every and i != self.target - 1:
            return
        rss = server.rss()
        if rss is not None:
            self.rss_samples.append((i + 1, rss))
        workers_rss = server.workers_rss()
        if workers_rss is not None:
            self.worker_rss_samples.append((i + 1, workers_rss))
        self.stopped_by_time = False

    def fail(self, exc: BaseException) -> None:
        self.failures += 1
        if self.first_error is None:
            self.first_error = f"cycle {self.done + self.failures}: {type(exc).__name__}: {exc}"
            log(f"{self.name}: first failure: {self.first_error}")


async def run_phase(
    name: str,
    target: int,
    deadline: float,
    server: Server,
    http: httpx.AsyncClient,
    args: argparse.Namespace,
    body: Any,
) -> dict[str, Any]:
    phase = Phase(name, target)
    before = await settled(http, args.settle)
    workers_before = await worker_processes(server, http)
    client_before = client_counts()
    rss_before = server.rss()
    t0 = time.monotonic()
    await body(phase, deadline)
    seconds = time.monotonic() - t0
    after = await settled(http, args.settle)
    workers_after = await worker_processes(server, http)
    # Let the client's own callbacks and executor threads wind down too.
    await asyncio.sleep(1.0)
    client_after = client_counts()
    rss_after = server.rss()
    cycles = phase.done + phase.failures
    growth = None
    if rss_before is not None and rss_after is not None and cycles:
        growth = round((rss_after - rss_before) / cycles * 100, 1)
    late = [s for s in phase.rss_samples if s[0] >= cycles // 2]
    result: dict[str, Any] = {
        "target_cycles": target,
        "cycles_ok": phase.done,
        "failures": phase.failures,
        "first_error": phase.first_error,
        "stopped_by_max_seconds": phase.stopped_by_time,
        "seconds": round(seconds, 1),
        "cycles_per_s": round(cycles / seconds, 2) if seconds > 0 else None,
        "server_before": before,
        "server_after": after,
        "leaked": leaked(before, after),
        "client_before": client_before,
        "client_after": client_after,
        "client_delta": {k: client_after[k] - client_before[k] for k in client_before},
        "server_rss_kib_before": rss_before,
        "server_rss_kib_after": rss_after,
        "server_rss_kib_per_100_cycles": growth,
        "server_rss_kib_per_100_cycles_slope": slope_per_100(phase.rss_samples),
        "server_rss_kib_per_100_cycles_slope_second_half": slope_per_100(late),
        "server_rss_samples_kib": phase.rss_samples[:: max(1, len(phase.rss_samples) // 20)],
        "workers_rss_kib_per_100_cycles_slope": slope_per_100(phase.worker_rss_samples),
        "workers_rss_kib_per_100_cycles_slope_second_half": slope_per_100(
            [w for w in phase.worker_rss_samples if w[0] >= cycles // 2]
        ),
        "workers_rss_samples_kib": phase.worker_rss_samples[:: max(1, len(phase.worker_rss_samples) // 20)],
    }
    # A negative delta (e.g. one fd fewer) is not a leak; a positive one is.
    result["leak_free"] = all(v <= 0 for v in result["leaked"].values())
    if workers_before is not None and workers_after is not None:
        result["worker_processes_before"] = workers_before
        result["worker_processes_after"] = workers_after
        # The same N processes served every session: none leaked, none lost, none replaced.
        result["leak_free"] = result["leak_free"] and (
            workers_before["pids"] == workers_after["pids"] == workers_after["children"]
            and workers_after["replaced"] == workers_before["replaced"]
        )
    log(f"{name}: {json.dumps({k: result[k] for k in ('cycles_ok', 'failures', 'seconds', 'leaked')})}")
    return result


def make_connect_disconnect(server: Server, args: argparse.Namespace) -> Any:
    async def body(phase: Phase, deadline: float) -> None:
        for i in range(phase.target):
            if time.monotonic() > deadline:
                phase.stopped_by_time = True
                break
            frames = FrameWaiter()
            reactor = Reactor("probe", local=True, api_url=server.url, ice_host_addresses=[HOST])
            reactor.on_frame(frames.on_frame)
            try:
                await asyncio.wait_for(reactor.connect(), STEP_TIMEOUT)
                await frames.next_after(0, FRAME_TIMEOUT)
            except Exception as exc:  # noqa: BLE001 - counted and reported
                phase.fail(exc)
            else:
                phase.done += 1
            finally:
                try:
                    await asyncio.wait_for(reactor.disconnect(), STEP_TIMEOUT)
                except Exception as exc:  # noqa: BLE001 - counted and reported
                    phase.fail(exc)
            phase.sample_memory(i, server, args.rss_every)
            if (i + 1) % 100 == 0:
                log(f"{phase.name}: {i + 1}/{phase.target} ({phase.failures} failures)")

    return body


def make_reconnect(server: Server, args: argparse.Namespace) -> Any:
    async def body(phase: Phase, deadline: float) -> None:
        frames = FrameWaiter()
        reactor = Reactor("probe", local=True, api_url=server.url, ice_host_addresses=[HOST])
        reactor.on_frame(frames.on_frame)
        try:
            await asyncio.wait_for(reactor.connect(), STEP_TIMEOUT)
            await frames.next_after(0, FRAME_TIMEOUT)
            session = reactor.session_id
            for i in range(phase.target):
                if time.monotonic() > deadline:
                    phase.stopped_by_time = True
                    break
                try:
                    await asyncio.wait_for(reactor.disconnect(recoverable=True), STEP_TIMEOUT)
                    with frames.lock:
                        seen = frames.count
                    await asyncio.wait_for(reactor.reconnect(), STEP_TIMEOUT)
                    if reactor.session_id != session:
                        raise RuntimeError(f"session changed: {session} -> {reactor.session_id}")
                    await frames.next_after(seen, FRAME_TIMEOUT)
                except Exception as exc:  # noqa: BLE001 - counted and reported
                    phase.fail(exc)
                    # Get back to a connected state on the same session if we can.
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(reactor.reconnect(force=True), STEP_TIMEOUT)
                else:
                    phase.done += 1
                phase.sample_memory(i, server, args.rss_every)
                if (i + 1) % 50 == 0:
                    log(f"{phase.name}: {i + 1}/{phase.target} ({phase.failures} failures)")
        except Exception as exc:  # noqa: BLE001 - the initial connect failed
            phase.fail(exc)
        finally:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(reactor.disconnect(), STEP_TIMEOUT)

    return body


async def main_async(args: argparse.Namespace, server: Server) -> dict[str, Any]:
    deadline = time.monotonic() + args.max_seconds
    out: dict[str, Any] = {}
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
        if args.warmup > 0:
            # A few cycles first so one-time costs (imports, codec set-up, the default executor's
            # first threads) are not counted as leaks or per-cycle growth.
            warm = Phase("warmup", args.warmup)
            await make_connect_disconnect(server, args)(warm, deadline)
            out["warmup"] = {
                "cycles_ok": warm.done,
                "failures": warm.failures,
                "first_error": warm.first_error,
            }
        if args.cycles > 0:
            out["connect_disconnect"] = await run_phase(
                "connect_disconnect", args.cycles, deadline, server, http, args,
                make_connect_disconnect(server, args),
            )  # fmt: skip
        if args.reconnects > 0:
            out["reconnect"] = await run_phase(
                "reconnect", args.reconnects, deadline, server, http, args, make_reconnect(server, args)
            )
    return out


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cycles", type=int, default=1000, help="connect/disconnect cycles (phase a)")
    parser.add_argument("--reconnects", type=int, default=200, help="recoverable reconnect cycles (phase b)")
    parser.add_argument("--max-seconds", type=float, default=1500, help="bound on the whole run")
    parser.add_argument("--settle", type=float, default=3.0, help="seconds to settle before counting")
    parser.add_argument("--warmup", type=int, default=5, help="uncounted connect cycles first")
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=360)
    parser.add_argument("--fps", type=float, default=15)
    parser.add_argument("--rss-every", type=int, default=10, help="sample server RSS every N cycles")
    parser.add_argument("--workers", type=int, default=0, help="serve --workers N (0: in-process sessions)")
    args = parser.parse_args()
    t0 = time.monotonic()
    report: dict[str, Any] = {
        "config": {
            "cycles": args.cycles,
            "reconnects": args.reconnects,
            "max_seconds": args.max_seconds,
            "settle_s": args.settle,
            "warmup_cycles": args.warmup,
            "server": f"probe {args.width}x{args.height}@{args.fps:g}, --ice-host 127.0.0.1, --debug-endpoints"
            + (f", --workers {args.workers}" if args.workers else ""),
            "cpus": os.cpu_count(),
            "python": sys.version.split()[0],
        }
    }
    with tempfile.TemporaryDirectory(prefix="churn-") as tmp:
        server = Server(Path(tmp), args.width, args.height, args.fps, args.workers)
        try:
            report["phases"] = asyncio.run(main_async(args, server))
        except Exception as exc:  # noqa: BLE001 - reported in the JSON
            report["error"] = f"{type(exc).__name__}: {exc}"
        finally:
            report["server_exit_status"] = server.stop()
            tail = server.log_tail(4000)
            report["server_log_tracebacks"] = tail.count("Traceback")
            if "error" in report or report["server_exit_status"] not in (0, None):
                report["server_log_tail"] = tail
    report["total_seconds"] = round(time.monotonic() - t0, 1)
    phases = report.get("phases", {})
    report["ok"] = "error" not in report and all(
        p["failures"] == 0 and p.get("leak_free", True) for p in phases.values()
    )
    print(json.dumps(report, indent=2))
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
