"""How fast the server reacts to faults and to SIGTERM, on real processes on loopback; prints JSON.

The tests (``tests/server/workers/test_faults.py``, ``test_session_lifecycle.py``, ``tests/server/cluster``)
check *that* each reaction happens and that no deadline passes early; how long each one takes is
measured here, ``--runs`` times (default 3), each on a fresh ``openreactor serve``:

* ``model_timeout`` (``faulty_models:HangOnCommand``, ``--model-step-timeout 2``): from the
  ``hang`` command to the end of the session (``GET /session`` answers 404), in process and with
  ``--workers 1``; with workers also until a replacement worker is ready;
* ``stop_during_hang`` (``--workers 1``): ``POST /stop_session`` while the model hangs: how long
  the call takes (``on_session_end`` waits behind the hung call, at most the step timeout);
* ``memory_limit`` (``faulty_models:LeakOnCommand``, ``--max-session-memory-mb 150``): from the
  ``leak`` command to the end of the session;
* ``client_timeout`` (``--liveness-timeout 2 --keepalive 2``): a client process (our SDK,
  ``tests/support/sdk_client_process.py``) gets SIGKILL; until the session ends;
* ``sigterm``: SIGTERM with our SDK's client streaming: until the server process has exited
  (and its exit status);
* ``worker_lost`` (only where ``redis-server`` is installed): a cluster of two worker nodes and
  one coordinator (heartbeat 0.5 s, worker TTL 2 s); the node holding a session is SIGKILLed with
  all its processes; until the coordinator says ``CLOSED``.

The clients are our SDK (``reactor_sdk``) in this process. Each case reports every run's seconds,
their min/median/max, its target and whether every run met it::

    .venv/bin/python bench/bench_faults.py [--runs 3] [--only model_timeout,sigterm]

The official client's reaction times (its SIGTERM, pause/resume, an input track) are
``bench/bench_official_reactions.py``'s.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
from proc_stats import free_port

from reactor_sdk import Reactor

REPO = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"
TEST_MODELS = REPO / "tests" / "support" / "models"
CLIENT_PROCESS = REPO / "tests" / "support" / "sdk_client_process.py"
STEP_TIMEOUT_S = 2.0
MEMORY_LIMIT_MB = 150
LIVENESS_S, KEEPALIVE_S = 2.0, 2.0
WAIT_S = 60.0
"""Longest any one reaction may take before the run counts as failed."""

TARGETS = {
    "model_timeout": ("ended within the step timeout + 3 s", STEP_TIMEOUT_S + 3),
    "model_timeout_workers": ("ended within the step timeout + 3 s", STEP_TIMEOUT_S + 3),
    "stop_during_hang": ("stop_session within the step timeout + 3 s", STEP_TIMEOUT_S + 3),
    "memory_limit": ("ended within 10 s of the leak", 10.0),
    "client_timeout": ("ended within liveness + keep-alive + 3 s", LIVENESS_S + KEEPALIVE_S + 3),
    "sigterm": ("exited within 10 s", 10.0),
    "worker_lost": ("closed within 10 s (worker TTL 2 s)", 10.0),
}


def log(text: str) -> None:
    print(f"[bench_faults] {text}", file=sys.stderr, flush=True)


def env() -> dict[str, str]:
    out = dict(os.environ)
    out["PYTHONPATH"] = os.pathsep.join(p for p in (str(TEST_MODELS), out.get("PYTHONPATH")) if p)
    return out


def poll(check: Callable[[], Any], what: str, timeout: float = WAIT_S, interval: float = 0.02) -> Any:
    """Until ``check()`` is truthy (HTTP errors count as not yet); its value."""
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(httpx.HTTPError):
            value = check()
            if value:
                return value
        if time.monotonic() > deadline:
            raise RuntimeError(f"no {what} within {timeout} s")
        time.sleep(interval)


async def apoll(check: Callable[[], Any], what: str, timeout: float = WAIT_S) -> Any:
    return await asyncio.to_thread(poll, check, what, timeout)


class Server:
    """``openreactor serve`` on a free loopback port, its log in ``workdir``."""

    def __init__(self, workdir: Path, model: str, extra: list[str]) -> None:
        self.port = free_port(HOST)
        self.url = f"http://{HOST}:{self.port}"
        self.log_path = workdir / f"server-{self.port}.log"
        args = [
            sys.executable, "-m", "openreactor", "serve", "--model", model, "--host", HOST,
            "--port", str(self.port), "--ice-host", HOST, "--state-dir", str(workdir / f"state-{self.port}"),
            "--debug-endpoints", *extra,
        ]  # fmt: skip
        with open(self.log_path, "wb") as out:
            self.process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, cwd=REPO, env=env())

        def ready() -> bool:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited ({self.process.returncode}): {self.log()[-2000:]}")
            if httpx.get(f"{self.url}/health", timeout=1).status_code != 200:
                return False
            pool = httpx.get(f"{self.url}/debug/workers", timeout=5).json().get("workers", [])
            return all(w["ready"] for w in pool)

        poll(ready, "healthy server", interval=0.1)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def session_gone(self) -> bool:
        return httpx.get(f"{self.url}/session", timeout=5).status_code == 404

    def workers(self) -> list[dict[str, Any]]:
        return list(httpx.get(f"{self.url}/debug/workers", timeout=5).json().get("workers", []))

    def stop(self) -> int | None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            return None


@contextlib.contextmanager
def serving(model: str, extra: list[str]) -> Iterator[Server]:
    with tempfile.TemporaryDirectory(prefix="bench-faults-") as tmp:
        server = Server(Path(tmp), model, extra)
        try:
            yield server
        finally:
            server.stop()


async def streaming_client(server: Server, model: str) -> Reactor:
    """Our SDK connected in local mode, with frames coming."""
    frames: list[int] = []
    reactor = Reactor(model, local=True, api_url=server.url, ice_host_addresses=[HOST])
    reactor.on_frame(lambda frame: frames.append(1))
    await asyncio.wait_for(reactor.connect(), WAIT_S)
    await apoll(lambda: len(frames) >= 3, "frames")
    return reactor


async def command_until_ended(server: Server, model: str, name: str, data: dict[str, Any]) -> float:
    reactor = await streaming_client(server, model)
    try:
        sent = time.monotonic()
        with contextlib.suppress(Exception):  # the fault may beat the acknowledgement
            await reactor.send_command(name, data, timeout=WAIT_S)
        await apoll(server.session_gone, "end of the session")
        return time.monotonic() - sent
    finally:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(reactor.disconnect(), 10)


# -- the cases -------------------------------------------------------------------------------------


async def model_timeout(workers: bool) -> dict[str, float]:
    extra = ["--model-step-timeout", str(STEP_TIMEOUT_S), *(["--workers", "1"] if workers else [])]
    with serving("faulty_models:HangOnCommand", extra) as server:
        old = [w["pid"] for w in server.workers()]
        ended = await command_until_ended(server, "hangs", "hang", {"mode": "sleep"})
        out = {"seconds": ended}
        if workers:
            t0 = time.monotonic()
            await apoll(
                lambda: any(w["pid"] not in old and w["ready"] for w in server.workers()),
                "replacement worker",
            )
            out["replacement_ready_s"] = time.monotonic() - t0
        return out


async def stop_during_hang() -> dict[str, float]:
    extra = ["--model-step-timeout", str(STEP_TIMEOUT_S), "--workers", "1"]
    with serving("faulty_models:HangOnCommand", extra) as server:
        reactor = await streaming_client(server, "hangs")
        try:
            await reactor.send_command("hang", {"mode": "sleep"})
            await apoll(lambda: "next_frame hangs" in server.log(), "the hang")
            t0 = time.monotonic()
            r = await asyncio.to_thread(httpx.post, f"{server.url}/stop_session", timeout=WAIT_S)
            took = time.monotonic() - t0
            if r.status_code != 200:
                raise RuntimeError(f"stop_session answered {r.status_code}: {r.text}")
            return {"seconds": took}
        finally:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(reactor.disconnect(), 10)


async def memory_limit() -> dict[str, float]:
    extra = ["--max-session-memory-mb", str(MEMORY_LIMIT_MB)]
    with serving("faulty_models:LeakOnCommand", extra) as server:
        return {"seconds": await command_until_ended(server, "leaky", "leak", {"mb": 20})}


async def client_timeout() -> dict[str, float]:
    extra = ["--liveness-timeout", str(LIVENESS_S), "--keepalive", str(KEEPALIVE_S)]
    with serving("echo", extra) as server:
        client = subprocess.Popen(
            [sys.executable, str(CLIENT_PROCESS), server.url, "echo"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            cwd=REPO,
            text=True,
        )
        try:
            assert client.stdout is not None
            line = await asyncio.wait_for(asyncio.to_thread(client.stdout.readline), WAIT_S)
            if not line.startswith("READY "):
                raise RuntimeError(f"client did not get ready: {line}{client.stdout.read()}")
            client.send_signal(signal.SIGKILL)
            killed = time.monotonic()
        finally:
            if client.poll() is None:
                client.kill()
            client.wait()
        await apoll(server.session_gone, "end of the session")
        return {"seconds": time.monotonic() - killed}


async def sigterm() -> dict[str, float]:
    with serving("probe", ["--width", "640", "--height", "360"]) as server:
        reactor = await streaming_client(server, "probe")
        try:
            t0 = time.monotonic()
            server.process.send_signal(signal.SIGTERM)
            status = await asyncio.to_thread(server.process.wait, WAIT_S)
            return {"seconds": time.monotonic() - t0, "exit_status": status}
        finally:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(reactor.disconnect(), 10)


async def worker_lost() -> dict[str, float]:
    return await asyncio.to_thread(_worker_lost)


def _worker_lost() -> dict[str, float]:
    procs: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryDirectory(prefix="bench-faults-cluster-") as tmp:
        try:
            redis_port = free_port(HOST)
            redis_url = f"redis://{HOST}:{redis_port}/0"
            devnull = subprocess.DEVNULL
            procs.append(subprocess.Popen(
                ["redis-server", "--port", str(redis_port), "--bind", HOST, "--save", "", "--appendonly", "no"],
                stdout=devnull, stderr=devnull, start_new_session=True,
            ))  # fmt: skip
            cluster = ["--redis", redis_url, "--heartbeat", "0.5", "--worker-ttl", "2"]
            nodes = {}
            for node in ("A", "B"):
                args = [
                    sys.executable, "-m", "openreactor", "worker", *cluster, "--worker-id", node, "--model", "probe",
                    "--width", "640", "--height", "360", "--fps", "10", "--host", HOST,
                    "--port", str(free_port(HOST)), "--ice-host", HOST, "--workers", "1",
                ]  # fmt: skip
                with open(Path(tmp) / f"worker-{node}.log", "wb") as out:
                    nodes[node] = subprocess.Popen(
                        args, stdout=out, stderr=subprocess.STDOUT, cwd=REPO, start_new_session=True
                    )
                procs.append(nodes[node])
            url = f"http://{HOST}:{free_port(HOST)}"
            port = url.rsplit(":", 1)[1]
            with open(Path(tmp) / "coordinator.log", "wb") as out:
                procs.append(subprocess.Popen(
                    [sys.executable, "-m", "openreactor", "coordinator", *cluster, "--host", HOST, "--port", port],
                    stdout=out, stderr=subprocess.STDOUT, cwd=REPO, start_new_session=True,
                ))  # fmt: skip

            def alive() -> set[str]:
                health = httpx.get(f"{url}/health", timeout=2).json()
                return {w["worker_id"] for w in health.get("workers", []) if w["alive"] and not w["draining"]}

            poll(lambda: {"A", "B"} <= alive(), "both worker nodes", timeout=120, interval=0.25)
            key = subprocess.run(
                [sys.executable, "-m", "openreactor", "keys", "--redis", redis_url, "create", "--name", "bench"],
                check=True, capture_output=True, text=True, cwd=REPO,
            ).stdout.split()[1]  # fmt: skip
            jwt = httpx.post(f"{url}/tokens", headers={"Reactor-API-Key": key}, timeout=10).json()["jwt"]
            headers = {"Reactor-API-Version": "1", "Authorization": f"Bearer {jwt}"}
            created = httpx.post(
                f"{url}/sessions", headers=headers, json={"model": {"name": "probe"}}, timeout=30
            )
            created.raise_for_status()
            sid, victim = created.json()["session_id"], created.json()["cluster"]
            os.killpg(nodes[victim].pid, signal.SIGKILL)
            killed = time.monotonic()
            poll(
                lambda: (
                    httpx.get(f"{url}/sessions/{sid}", headers=headers, timeout=5).json()["state"] == "CLOSED"
                ),
                "the session closed",
            )
            return {"seconds": time.monotonic() - killed}
        finally:
            for proc in reversed(procs):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()


CASES: dict[str, Callable[[], Awaitable[dict[str, float]]]] = {
    "model_timeout": lambda: model_timeout(workers=False),
    "model_timeout_workers": lambda: model_timeout(workers=True),
    "stop_during_hang": stop_during_hang,
    "memory_limit": memory_limit,
    "client_timeout": client_timeout,
    "sigterm": sigterm,
    "worker_lost": worker_lost,
}


async def run_case(name: str, runs: int) -> dict[str, Any]:
    if name == "worker_lost" and shutil.which("redis-server") is None:
        return {"skipped": "redis-server is not installed"}
    results: list[dict[str, float]] = []
    errors: list[str] = []
    for i in range(runs):
        log(f"{name} {i + 1}/{runs}")
        try:
            results.append(await CASES[name]())
        except Exception as exc:  # noqa: BLE001 - reported in the JSON
            errors.append(f"{type(exc).__name__}: {exc}")
    seconds = [r["seconds"] for r in results]
    what, limit = TARGETS[name]
    out: dict[str, Any] = {
        "runs": runs,
        "seconds": [round(s, 3) for s in seconds],
        "min": round(min(seconds), 3) if seconds else None,
        "median": round(statistics.median(seconds), 3) if seconds else None,
        "max": round(max(seconds), 3) if seconds else None,
        "target": what,
        "met": bool(seconds) and not errors and max(seconds) <= limit,
        "errors": errors,
    }
    for extra in sorted({k for r in results for k in r} - {"seconds"}):
        out[extra] = [
            round(r[extra], 3) if isinstance(r[extra], float) else r[extra] for r in results if extra in r
        ]
    return out


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    names = [n for n in CASES if not args.only or n in args.only.split(",")]
    cases = {name: await run_case(name, args.runs) for name in names}
    return {
        "bench": "faults",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "load": os.getloadavg()},
        "settings": {
            "model_step_timeout_s": STEP_TIMEOUT_S,
            "max_session_memory_mb": MEMORY_LIMIT_MB,
            "liveness_timeout_s": LIVENESS_S,
            "keepalive_s": KEEPALIVE_S,
        },
        "cases": cases,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--only", default="", help=f"comma-separated subset of {','.join(CASES)}")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(main_async(args)), indent=2))


if __name__ == "__main__":
    main()
