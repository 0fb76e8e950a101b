"""Faults (issue #8): a model that hangs or leaks, a full upload disk, a client killed without goodbye.

Every test runs a real ``openreactor serve`` process on loopback and compares what the server
holds before and after the fault (``/debug/resources``, ``/debug/workers``, ``/proc/<pid>``). A
model that raises is covered by ``test_model_crash.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from reactor_protocol.messages import Channel, Command, Envelope, Kind, ResumeTrack, SessionEnded, UploadRef
from reactor_sdk import Reactor, ServerError
from support.paths import REPO
from support.resource_counts import resources, settle
from support.rtc_client import HEADERS, RawClient, is_error, raw_client
from support.servers import ServerFactory, ServerProcess, free_port, server_env, skip_unless_ci, wait_healthy
from support.waiting import eventually

pytestmark = pytest.mark.timeout(120)

SMALL = {"width": None, "height": None, "fps": None}
"""The faulty models' own defaults: 320x180 at 15 fps."""
HANG = "faulty_models:HangOnCommand"
LEAK = "faulty_models:LeakOnCommand"
STEP_TIMEOUT_S = 2.0
MEMORY_LIMIT_MB = 150


# -- counting ------------------------------------------------------------------------------------


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        kib = next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
    return kib / 1024


def back_to(idle: dict[str, Any], extra_threads: int = 0) -> Callable[[dict[str, Any]], bool]:
    """Counts no higher than ``idle`` (plus ``extra_threads`` non-executor threads)."""

    def threads(r: dict[str, Any]) -> int:
        return int(r["threads"] - r["executor_threads"])

    return lambda r: (
        r["sessions"] == 0
        and r["peer_connections"] == 0
        and r["upload_files"] == 0
        and r["asyncio_tasks"] <= idle["asyncio_tasks"]
        and threads(r) <= threads(idle) + extra_threads
        and r["open_fds"] <= idle["open_fds"]
    )


def ended_count(metrics_text: str, reason: str) -> float:
    match = re.search(rf'^openreactor_sessions_ended_total\{{reason="{reason}"\}} (\S+)$', metrics_text, re.M)
    return float(match.group(1)) if match else 0.0


async def workers(http: httpx.AsyncClient) -> dict[str, Any]:
    r = await http.get("/debug/workers")
    assert r.status_code == 200, r.text
    return dict(r.json())


async def replaced_worker(http: httpx.AsyncClient, old_pid: int) -> dict[str, Any]:
    """Wait until the pool has a new, ready worker in place of ``old_pid``; its status."""

    async def replacement() -> dict[str, Any] | None:
        (worker,) = (await workers(http))["workers"]
        return dict(worker) if worker["pid"] != old_pid and worker["ready"] and worker["alive"] else None

    return await eventually(replacement, interval=0.1, what=f"a ready worker in place of {old_pid}")


# -- sessions ------------------------------------------------------------------------------------


async def streaming(c: RawClient) -> None:
    """Resume the video and wait for a frame."""
    c.send(Envelope.notification(Channel.CONTROL, ResumeTrack("main_video")))
    await c.frame()


async def until_ended(c: RawClient, timeout: float = 30) -> list[Envelope]:
    """Every message up to and including ``session_ended``."""
    seen: list[Envelope] = []
    deadline = time.monotonic() + timeout
    while not any(isinstance(e.payload, SessionEnded) for e in seen):
        seen.append(await c.receive(timeout=max(0.01, deadline - time.monotonic())))
    return seen


async def one_streaming_session(url: str) -> None:
    """A new session starts and streams (the server lives on); stopped afterwards."""
    async with httpx.AsyncClient(base_url=url, headers=HEADERS, timeout=30) as http:

        async def available() -> bool:
            return bool((await http.get("/health")).json().get("state") == "available")

        await eventually(
            available, interval=0.2, what="the server to be available (the last session closing)"
        )
    async with raw_client(url) as c:
        await streaming(c)
        await c.frame()
        assert (await c.http.post("/stop_session")).status_code == 200


async def fault_ends_session(c: RawClient, command: Command, reason: str) -> tuple[float, list[Envelope]]:
    """Send ``command``; seconds until ``session_ended{reason}`` (printed, and a lower bound where
    a deadline must not pass early; how fast it is, ``bench/bench_faults.py`` measures), and what
    arrived meanwhile."""
    sent = time.monotonic()
    c.send(Envelope(Channel.DATA, Kind.REQUEST, command, "data_1"))
    seen = await until_ended(c)
    took = time.monotonic() - sent
    assert SessionEnded(reason) in [e.payload for e in seen], seen
    assert any(is_error(reason)(e) and e.kind is Kind.NOTIFICATION for e in seen), seen
    return took, seen


# -- 1. a model that hangs -----------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["sleep", "spin"])
async def test_hanging_model_ends_its_session_and_the_server_lives_on(server_factory: ServerFactory, mode: str) -> None:
    extra = ["--model-step-timeout", str(STEP_TIMEOUT_S), "--debug-endpoints"]
    with server_factory(model=HANG, **SMALL, extra=extra) as server:
        async with httpx.AsyncClient(base_url=server.url, headers=HEADERS, timeout=30) as http:
            await one_streaming_session(server.url)  # warm-up: lazily started pools are no leak
            idle = await settle(http, lambda r: r["sessions"] == 0 and r["peer_connections"] == 0)
            async with raw_client(server.url) as c:
                await streaming(c)
                took, _ = await fault_ends_session(c, Command("hang", {"mode": mode}), "model_timeout")
            assert took >= STEP_TIMEOUT_S, f"ended {took:.2f} s after the hang, before the step timeout"
            # A thread blocked in C can't be stopped: it stays (a daemon, so exit isn't held up).
            # A Python loop is interrupted by the asynchronous exception and its thread ends.
            stuck = 1 if mode == "sleep" else 0
            after = await settle(http, back_to(idle, extra_threads=stuck))
            assert back_to(idle, extra_threads=stuck)(after), {"idle": idle, "after": after}
            if mode == "spin":
                assert (
                    after["threads"] - after["executor_threads"] == idle["threads"] - idle["executor_threads"]
                )
            assert (await http.get("/session")).status_code == 404
            assert ended_count((await http.get("/metrics")).text, "model_timeout") == 1
            await one_streaming_session(server.url)
            print(f"local {mode}: ended {took:.2f} s after the hang; idle {idle}; after {after}")
        log = server.log()
        assert "did not return within 2 s" in log and "on_session_end skipped" in log
        assert server.terminate() == 0, log


@pytest.mark.parametrize("ended_by", ["timeout", "stop"])
async def test_hanging_model_with_workers_replaces_the_worker(server_factory: ServerFactory, ended_by: str) -> None:
    """Also when the session is stopped while the model hangs: the stuck thread is still there."""
    extra = ["--workers", "1", "--model-step-timeout", str(STEP_TIMEOUT_S), "--debug-endpoints"]
    with server_factory(model=HANG, **SMALL, extra=extra) as server:
        async with httpx.AsyncClient(base_url=server.url, headers=HEADERS, timeout=30) as http:
            (before,) = (await workers(http))["workers"]
            async with raw_client(server.url) as c:
                await streaming(c)
                hang = Command("hang", {"mode": "sleep"})
                if ended_by == "timeout":
                    took, _ = await fault_ends_session(c, hang, "model_timeout")
                    assert took >= STEP_TIMEOUT_S, (
                        f"ended {took:.2f} s after the hang, before the step timeout"
                    )
                else:
                    reply = await c.request(Channel.DATA, hang, "data_1")
                    assert reply.payload is None  # applied; the next frame hangs
                    await eventually(
                        lambda: "next_frame hangs" in server.log(), what="the model hanging in next_frame"
                    )
                    stopped = time.monotonic()
                    # on_session_end waits behind the hung call, for at most the step timeout
                    assert (await http.post("/stop_session")).status_code == 200
                    took = time.monotonic() - stopped
            hung_at = time.monotonic()
            after = await replaced_worker(http, before["pid"])
            replaced_in = time.monotonic() - hung_at
            print(f"workers {ended_by}: ended in {took:.2f} s; new worker ready {replaced_in:.2f} s later")
            assert not os.path.exists(f"/proc/{before['pid']}"), "the old worker process is gone"
            assert (await workers(http))["replaced"] == 1
            await one_streaming_session(server.url)
            assert (await workers(http))["workers"][0]["pid"] == after["pid"]
        assert server.terminate() == 0, server.log()


# -- 2. a model that leaks memory ----------------------------------------------------------------


def reported_growth_mib(seen: list[Envelope]) -> int:
    """The growth the server measured, from its ``memory_limit`` error to the clients."""
    notice = next(e.payload for e in seen if is_error("memory_limit")(e))
    match = re.fullmatch(
        rf"the session's process grew by (\d+) MiB, over its limit of {MEMORY_LIMIT_MB} MiB",
        notice.message,  # type: ignore[union-attr]
    )
    assert match, notice
    return int(match.group(1))


@contextlib.asynccontextmanager
async def peak_rss(pid: Callable[[], int]) -> AsyncIterator[list[float]]:
    """Sample ``pid()``'s RSS every 50 ms; the list holds the peak seen (MiB, for the record: the
    server may free the memory between two samples)."""
    peak = [0.0]

    async def sample() -> None:
        while True:
            with contextlib.suppress(OSError, StopIteration):
                peak[0] = max(peak[0], rss_mib(pid()))
            await asyncio.sleep(0.05)

    task = asyncio.create_task(sample())
    try:
        yield peak
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_leaking_model_hits_the_memory_limit_in_local_mode(server_factory: ServerFactory) -> None:
    extra = ["--max-session-memory-mb", str(MEMORY_LIMIT_MB), "--debug-endpoints"]
    with server_factory(model=LEAK, **SMALL, extra=extra) as server:
        pid = server.process.pid
        async with httpx.AsyncClient(base_url=server.url, headers=HEADERS, timeout=30) as http:
            await one_streaming_session(server.url)
            idle = await settle(http, lambda r: r["sessions"] == 0 and r["peer_connections"] == 0)
            before = rss_mib(pid)
            async with raw_client(server.url) as c, peak_rss(lambda: pid) as peak:
                await streaming(c)
                took, seen = await fault_ends_session(c, Command("leak", {"mb": 20}), "memory_limit")
            after_counts = await settle(http, back_to(idle))
            assert back_to(idle)(after_counts), {"idle": idle, "after": after_counts}
            grown = reported_growth_mib(seen)
            assert grown > MEMORY_LIMIT_MB, grown
            await eventually(
                lambda: rss_mib(pid) < before + 40,
                what=f"the server's RSS back near {before:.0f} MiB (peak {peak[0]:.0f} MiB)",
            )
            after = rss_mib(pid)
            assert ended_count((await http.get("/metrics")).text, "memory_limit") == 1
            await one_streaming_session(server.url)
            print(
                f"local: {took:.2f} s, +{grown} MiB; RSS {before:.0f} -> peak {peak[0]:.0f} -> {after:.0f} MiB"
            )
        assert server.terminate() == 0, server.log()


async def test_leaking_model_with_workers_replaces_the_worker(server_factory: ServerFactory) -> None:
    extra = ["--workers", "1", "--max-session-memory-mb", str(MEMORY_LIMIT_MB), "--debug-endpoints"]
    with server_factory(model=LEAK, **SMALL, extra=extra) as server:
        async with httpx.AsyncClient(base_url=server.url, headers=HEADERS, timeout=30) as http:
            (first,) = (await workers(http))["workers"]
            old_pid = int(first["pid"])
            before = rss_mib(old_pid)
            async with raw_client(server.url) as c, peak_rss(lambda: old_pid) as peak:
                await streaming(c)
                took, seen = await fault_ends_session(c, Command("leak", {"mb": 20}), "memory_limit")
            grown = reported_growth_mib(seen)
            assert grown > MEMORY_LIMIT_MB, grown
            new = await replaced_worker(http, old_pid)
            assert not os.path.exists(f"/proc/{old_pid}"), "the leaking worker's memory went with it"
            fresh = rss_mib(int(new["pid"]))
            assert fresh < before + 20, (before, fresh)
            await one_streaming_session(server.url)
            print(
                f"workers: {took:.2f} s, +{grown} MiB; RSS {before:.0f} -> peak {peak[0]:.0f}; new worker {fresh:.0f} MiB"
            )
        assert server.terminate() == 0, server.log()


# -- 3. the upload disk is full -------------------------------------------------------------------


@contextlib.contextmanager
def server_on_small_disk(
    tmp_path: Path, *, model: str = "echo", disk: str = "1m", extra: list[str] | None = None
) -> Iterator[tuple[ServerProcess, Path]]:
    """A server whose ``--upload-dir`` is on a tmpfs of ``disk`` bytes, mounted in a private mount
    namespace (``unshare -m``: nothing shows on the host). Yields the server and the tmpfs root as
    this process sees it (through ``/proc/<pid>/root``)."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        skip_unless_ci("a tmpfs in a private mount namespace needs root and unshare (util-linux)")
    mount_point = tmp_path / "small-disk"
    mount_point.mkdir()
    port = free_port()
    state_dir = tmp_path / f"state-{port}"
    serve = [
        sys.executable, "-m", "openreactor", "serve", "--model", model, "--host", "127.0.0.1",
        "--port", str(port), "--ice-host", "127.0.0.1", "--state-dir", str(state_dir),
        "--upload-dir", str(mount_point / "uploads"), "--debug-endpoints", *(extra or []),
    ]  # fmt: skip
    script = f'mount -t tmpfs -o size={disk} tmpfs "$0" && exec "$@"'
    log_path = tmp_path / f"server-{port}.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            ["unshare", "-m", "sh", "-c", script, str(mount_point), *serve],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=REPO,
            env=server_env(),
        )
    server = ServerProcess(f"http://127.0.0.1:{port}", process, log_path, state_dir)
    try:
        wait_healthy(server, 60)
        inside = Path(f"/proc/{process.pid}/root") / mount_point.relative_to("/")
        assert os.statvfs(inside).f_blocks * os.statvfs(inside).f_frsize <= 2**21, "not on the small tmpfs"
        assert not any(mount_point.iterdir()), "the tmpfs must not be visible outside its namespace"
        yield server, inside
    finally:
        server.terminate()


def files_under(root: Path) -> list[str]:
    return sorted(str(Path(d, f).relative_to(root)) for d, _, names in os.walk(root) for f in names)


def fill(path: Path) -> None:
    """Write zeros to ``path`` until the disk is full."""
    with open(path, "wb", buffering=0) as f:
        while True:
            try:
                f.write(b"\0" * 4096)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC, exc
                return


async def test_full_upload_disk_gives_507_leaves_nothing_and_the_session_goes_on(tmp_path: Path) -> None:
    with server_on_small_disk(tmp_path, model="echo") as (server, disk):
        async with raw_client(server.url) as c:
            await streaming(c)
            uploads = f"/sessions/{c.session_id}/uploads"
            stored = disk / "uploads" / c.session_id

            async def slot(name: str, size: int) -> dict[str, Any]:
                r = await c.http.post(uploads, json={"name": name, "size": size})
                assert r.status_code == 201, r.text
                return dict(r.json())

            # A file that fits is stored.
            a = await slot("a.bin", 600_000)
            assert (await c.http.put(a["presigned_url"], content=b"a" * 600_000)).status_code == 200
            # One larger than the space left: refused before its body is written.
            b = await slot("b.bin", 600_000)
            r = await c.http.put(b["presigned_url"], content=b"b" * 600_000)
            assert r.status_code == 507 and "not enough space" in r.json()["detail"], r.text
            print(f"refused early: {r.json()}")
            assert files_under(stored) == [f"{a['presigned_id']}/a.bin"]

            # The disk fills up while a body is being written (another writer takes the space).
            c_slot = await slot("c.bin", 200_000)
            first_part, go_on = asyncio.Event(), asyncio.Event()

            async def body() -> AsyncIterator[bytes]:
                yield b"c" * 65536
                first_part.set()
                await go_on.wait()
                for _ in range(2):
                    yield b"c" * 65536
                yield b"c" * (200_000 - 3 * 65536)

            put = asyncio.create_task(c.http.put(c_slot["presigned_url"], content=body()))
            await first_part.wait()
            part = stored / c_slot["presigned_id"] / "c.bin.part"
            await eventually(part.exists, what="the body being written (its .part file)")
            await asyncio.to_thread(fill, disk / "filler")
            go_on.set()
            r = await put
            assert r.status_code == 507 and "No space left on device" in r.json()["detail"], r.text
            assert files_under(stored) == [f"{a['presigned_id']}/a.bin"], "nothing half-written stays"
            assert (await resources(c.http))["upload_files"] == 1

            # Space freed: the same slot takes the same file, and the session uses both uploads.
            (disk / "filler").unlink()
            r = await c.http.put(c_slot["presigned_url"], content=b"c" * 200_000)
            assert r.status_code == 200, r.text
            refs = {
                "first": UploadRef(a["presigned_id"], "a.bin", "application/octet-stream", 600_000),
                "second": UploadRef(c_slot["presigned_id"], "c.bin", "application/octet-stream", 200_000),
            }
            reply = await c.request(Channel.DATA, Command("use", {}, refs), "data_1")
            described = reply.payload.data["data"]  # type: ignore[union-attr]
            assert (described["first"]["size"], described["second"]["size"]) == (600_000, 200_000)
            await c.frame()
            assert (await c.http.get("/session")).json()["state"] == "active"
        assert "not stored: No space left on device" in server.log()


async def test_full_upload_disk_with_workers_is_a_retryable_sdk_error(tmp_path: Path) -> None:
    with server_on_small_disk(tmp_path, model="echo", extra=["--workers", "1"]) as (server, disk):
        frames: list[int] = []
        reactor = Reactor("echo", api_url=server.url, local=True, ice_host_addresses=["127.0.0.1"])
        reactor.on_frame(lambda frame: frames.append(1))
        async with reactor:
            with pytest.raises(ServerError) as info:
                await reactor.upload_file(b"x" * 1_500_000, name="too-big-for-the-disk.bin")
            assert info.value.status == 507 and info.value.recoverable, info.value
            assert files_under(disk / "uploads") == []
            ref = await reactor.upload_file(b"y" * 100_000, name="fits.bin")
            reply = await reactor.send_command("use", {"file": ref})
            assert reply is not None and reply["data"]["data"]["file"]["size"] == 100_000
            seen = len(frames)
            await eventually(lambda: len(frames) > seen + 5, what="the session streaming on")


# -- 4. a client killed without goodbye ----------------------------------------------------------


async def test_killed_client_process_times_out_and_frees_everything(server_factory: ServerFactory) -> None:
    liveness, keepalive = 2.0, 2.0
    extra = ["--liveness-timeout", str(liveness), "--keepalive", str(keepalive), "--debug-endpoints"]
    with server_factory(model="echo", width=320, height=180, fps=10, extra=extra) as server:
        async with httpx.AsyncClient(base_url=server.url, headers=HEADERS, timeout=30) as http:

            async def kill_a_client() -> tuple[float, dict[str, Any]]:
                """Seconds from SIGKILL to the session's end, and the counts while it streamed."""
                client = subprocess.Popen(
                    [
                        sys.executable,
                        str(REPO / "tests" / "support" / "sdk_client_process.py"),
                        server.url,
                        "echo",
                    ],
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    cwd=REPO,
                    text=True,
                )
                try:
                    assert client.stdout is not None
                    line = await asyncio.wait_for(asyncio.to_thread(client.stdout.readline), 60)
                    assert line.startswith("READY "), line + client.stdout.read()
                    live = await resources(http)
                    client.send_signal(signal.SIGKILL)
                    killed = time.monotonic()
                    assert await asyncio.to_thread(client.wait, 30) == -signal.SIGKILL
                finally:
                    if client.poll() is None:
                        client.kill()
                        client.wait()

                async def gone() -> bool:
                    return (await http.get("/session")).status_code == 404

                await eventually(
                    gone, timeout=60, interval=0.1, what="the session of the killed client to end"
                )
                return time.monotonic() - killed, live

            await kill_a_client()  # warm-up: lazily started pools are no leak
            idle = await settle(http, lambda r: r["sessions"] == 0 and r["peer_connections"] == 0)
            for round_ in range(1, 4):
                took, live = await kill_a_client()
                assert (live["sessions"], live["peer_connections"], live["upload_files"]) == (1, 1, 1), live
                assert took >= keepalive, f"ended {took:.2f} s after SIGKILL, inside the keep-alive window"
                after = await settle(http, back_to(idle))
                assert back_to(idle)(after), {"round": round_, "idle": idle, "after": after}
                print(f"round {round_}: ended {took:.2f} s after SIGKILL; idle {idle}; after {after}")
            assert ended_count((await http.get("/metrics")).text, "client_timeout") == 4
        log = server.log()
        assert log.count("ending: client_timeout") == 4, log
