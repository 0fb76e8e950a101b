"""Start an ``openreactor serve`` process, run one client driver against it, report as JSON.

Meant to run *inside* ``shared/tools/netns-run`` (so libwebrtc finds the non-loopback
127.0.0.2 interface), with the interpreter that has ``openreactor`` installed::

    netns-run .venv/bin/python tests/interop/netns_launcher.py \\
        --client-python /path/to/official/python -- tests/interop/official_client_driver.py session

The launcher starts the server on ``--host`` (ICE pinned to the same address), waits for
``GET /health``, then runs ``CLIENT_PYTHON DRIVER ARGS... URL``. The driver talks to the
launcher through its stdout:

* ``@@ACTION sigterm``: SIGTERM the server now; its exit status and the seconds it took to
  exit are reported under ``sigterm``;
* ``@@ACTION session <label>``: ``GET /session`` now; the status code is reported under
  ``session[label]``;
* ``@@ACTION stop_session <label>``: ``POST /stop_session`` now; the status code is reported
  under ``session[label]``;
* ``@@ACTION cpu <label>``: read the server's CPU time (user + system seconds, from
  ``/proc/<pid>/stat``) and the bytes through ``lo`` (``/proc/net/dev``; inside the namespace
  that is all client-server traffic) now; reported under ``cpu[label]`` with a monotonic time;
* ``@@ACTION cloud_session <label> <session_id>``: mint a token from the launcher's API key
  (``--create-key``) and ``GET /sessions/<session_id>`` with it now; the status code and the
  descriptor's ``state`` are reported under ``cloud_session[label]``;
* ``@@RESULT <json>``: the driver's own result, reported under ``driver``.

The server keeps its API keys and JWT secret in a fresh temporary ``--state-dir``. With
``--create-key`` the launcher makes a key there (``openreactor keys create``) before the driver
starts and hands it to the driver in ``$OPENREACTOR_INTEROP_API_KEY``.

Once the driver exits the server is SIGTERMed (unless a driver already asked for it) and the
launcher prints one line ``@@LAUNCH <json>`` with everything above, the driver's exit status,
the tail of its stderr and the tail of the server log.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
CLK_TCK = os.sysconf("SC_CLK_TCK")
sys.path.append(str(REPO / "tests"))  # for the waiting helper
from support.waiting import wait_until  # noqa: E402


def free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def http_status(url: str, timeout: float = 2.0, method: str = "GET") -> int:
    request = urllib.request.Request(
        url,
        method=method,
        data=b"{}" if method == "POST" else None,
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except OSError:
        return -1


def cloud_session(url: str, api_key: str, session_id: str) -> dict[str, Any]:
    """``POST /tokens`` with ``api_key``, then ``GET /sessions/<session_id>`` with that token."""
    minted = urllib.request.Request(
        f"{url}/tokens", method="POST", data=b"null",
        headers={"Reactor-API-Key": api_key, "Content-Type": "application/json"},
    )  # fmt: skip
    try:
        with urllib.request.urlopen(minted, timeout=5) as response:
            token = json.loads(response.read())["jwt"]
        get = urllib.request.Request(
            f"{url}/sessions/{session_id}",
            headers={"Authorization": f"Bearer {token}", "Reactor-API-Version": "1"},
        )
        with urllib.request.urlopen(get, timeout=5) as response:
            return {"status": int(response.status), "state": json.loads(response.read()).get("state")}
    except urllib.error.HTTPError as exc:
        return {"status": int(exc.code), "state": None, "body": exc.read().decode(errors="replace")[:500]}
    except OSError as exc:
        return {"status": -1, "state": None, "error": str(exc)}


def process_cpu_seconds(pid: int) -> float | None:
    """utime + stime of ``pid`` in seconds (all threads), or None when it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def loopback_bytes() -> int | None:
    """Bytes through ``lo`` in this network namespace (all local traffic, 127.0.0.2 included)."""
    try:
        for line in Path("/proc/net/dev").read_text().splitlines():
            name, _, counters = line.partition(":")
            if name.strip() == "lo":
                return int(counters.split()[0])
    except OSError:
        pass
    return None


def tail(text: str, chars: int = 4000) -> str:
    return text[-chars:]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--host", default="127.0.0.2")
    parser.add_argument("--model", default="probe")
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=360)
    parser.add_argument("--fps", type=float, default=30.0)
    parser.add_argument("--client-python", required=True, help="interpreter that runs the driver")
    parser.add_argument(
        "--client-timeout", type=float, default=60.0, help="seconds before the driver is killed"
    )
    parser.add_argument("--server-log-level", default="warning")
    parser.add_argument(
        "--server-log-chars", type=int, default=4000, help="how much of the server log's tail to report"
    )
    parser.add_argument(
        "--create-key",
        action="store_true",
        help="create an API key in the server's state dir; the driver gets it in $OPENREACTOR_INTEROP_API_KEY",
    )
    parser.add_argument(
        "--cluster",
        action="store_true",
        help="scale-out: redis-server + one `openreactor worker` + an `openreactor coordinator`, "
        "the coordinator being the server the driver talks to (keys in Redis)",
    )
    parser.add_argument(
        "driver", nargs=argparse.REMAINDER, help="-- DRIVER [ARGS...]; the base URL is appended"
    )
    args = parser.parse_args()
    driver_args = args.driver[1:] if args.driver[:1] == ["--"] else args.driver
    if not driver_args:
        parser.error("no driver given")

    report: dict[str, Any] = {
        "session": {}, "cloud_session": {}, "cpu": {}, "sigterm": None, "driver": None,
    }  # fmt: skip
    port = free_port(args.host)
    url = f"http://{args.host}:{port}"
    report["url"] = url
    state_dir = Path(tempfile.mkdtemp(prefix="openreactor-state-"))
    try:
        return run(args, driver_args, report, url, port, state_dir)
    finally:
        shutil.rmtree(state_dir, ignore_errors=True)


def run(
    args: argparse.Namespace,
    driver_args: list[str],
    report: dict[str, Any],
    url: str,
    port: int,
    state_dir: Path,
) -> int:
    driver_env = dict(os.environ)
    api_key = ""
    extras: list[subprocess.Popen[bytes]] = []
    key_store = ["--state-dir", str(state_dir)]
    if args.cluster:
        try:
            redis_url, node_log = start_cluster(args, extras, state_dir)
        except BaseException:
            stop_all(extras)
            raise
        key_store = ["--redis", redis_url]
    if args.create_key:
        created = subprocess.run(
            [sys.executable, "-m", "openreactor", "keys", *key_store, "create", "--name", "interop"],
            capture_output=True, text=True, cwd=REPO,
        )  # fmt: skip
        if created.returncode != 0:
            stop_all(extras)
            raise SystemExit(f"openreactor keys create failed: {created.stderr}")
        key_id, api_key = created.stdout.split()[:2]
        report["key_id"] = key_id
        driver_env["OPENREACTOR_INTEROP_API_KEY"] = api_key
    server_cmd = [
        sys.executable, "-m", "openreactor", "coordinator", "--redis", redis_url,
        "--host", args.host, "--port", str(port), "--log-level", args.server_log_level,
    ] if args.cluster else [
        sys.executable, "-m", "openreactor", "serve", "--model", args.model,
        "--host", args.host, "--port", str(port), "--ice-host", args.host,
        "--width", str(args.width), "--height", str(args.height), "--fps", str(args.fps),
        "--log-level", args.server_log_level, "--state-dir", str(state_dir),
    ]  # fmt: skip
    log_file = tempfile.NamedTemporaryFile(prefix="openreactor-server-", suffix=".log", delete=False)
    server = subprocess.Popen(server_cmd, stdout=log_file, stderr=subprocess.STDOUT, cwd=REPO)
    report["server_pid"] = server.pid
    sigterm_lock = threading.Lock()

    def sigterm_server() -> None:
        with sigterm_lock:
            if report["sigterm"] is not None:
                return
            t0 = time.monotonic()
            server.send_signal(signal.SIGTERM)
            try:
                rc: int | None = server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                rc = None
            report["sigterm"] = {"exit_status": rc, "exit_seconds": round(time.monotonic() - t0, 3)}
            if rc is None:
                server.kill()
                server.wait()

    try:

        def healthy() -> bool:
            if server.poll() is not None:
                raise RuntimeError(f"the server exited (status {server.returncode})")
            return http_status(f"{url}/health", timeout=1) == 200 and (
                not args.cluster or cluster_capacity(url) >= 1
            )

        try:
            wait_until(healthy, timeout=60, what="the server's /health")
        except (AssertionError, RuntimeError) as exc:
            report["error"] = f"server not healthy: {exc}"
            return finish(report, server, log_file.name, args.server_log_chars)

        driver = subprocess.Popen(
            [args.client_python, *driver_args, url],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO, env=driver_env,
        )  # fmt: skip
        lines: queue.Queue[str | None] = queue.Queue()
        stderr_chunks: list[str] = []

        def pump_stdout() -> None:
            assert driver.stdout is not None
            for line in driver.stdout:
                lines.put(line)
            lines.put(None)

        def pump_stderr() -> None:
            assert driver.stderr is not None
            stderr_chunks.append(driver.stderr.read())

        threading.Thread(target=pump_stdout, daemon=True).start()
        err_thread = threading.Thread(target=pump_stderr, daemon=True)
        err_thread.start()
        deadline = time.monotonic() + args.client_timeout
        other_stdout: list[str] = []
        while True:
            try:
                line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                report["error"] = f"driver still running after {args.client_timeout} s; killed"
                driver.kill()
                break
            if line is None:
                break
            line = line.rstrip("\n")
            if line.startswith("@@ACTION "):
                action, _, label = line[len("@@ACTION ") :].partition(" ")
                if action == "sigterm":
                    threading.Thread(target=sigterm_server, daemon=True).start()
                elif action == "session":
                    report["session"][label] = http_status(f"{url}/session")
                elif action == "stop_session":
                    report["session"][label] = http_status(f"{url}/stop_session", method="POST")
                elif action == "cloud_session":
                    label, _, session_id = label.partition(" ")
                    report["cloud_session"][label] = cloud_session(url, api_key, session_id.strip())
                elif action == "cpu":
                    report["cpu"][label] = {
                        "t": time.monotonic(),
                        "cpu_s": process_cpu_seconds(server.pid),
                        "lo_bytes": loopback_bytes(),
                    }
                else:
                    report.setdefault("unknown_actions", []).append(line)
            elif line.startswith("@@RESULT "):
                report["driver"] = json.loads(line[len("@@RESULT ") :])
            else:
                other_stdout.append(line)
        report["driver_exit_status"] = driver.wait()
        err_thread.join(5)
        report["driver_stderr"] = tail("".join(stderr_chunks))
        report["driver_stdout"] = tail("\n".join(other_stdout), 2000)
    finally:
        if report["sigterm"] is None:
            sigterm_server()
        else:
            # A driver-requested SIGTERM runs in a thread; wait for its verdict (it kills after 20 s).
            with contextlib.suppress(AssertionError):
                wait_until(lambda: server.poll() is not None, what="the server to exit")
        stop_all(extras)  # the worker node (it drains), then redis
        if args.cluster:
            report["worker_log"] = tail(node_log.read_text(errors="replace"), args.server_log_chars)
    return finish(report, server, log_file.name, args.server_log_chars)


def stop_all(processes: list[subprocess.Popen[bytes]]) -> None:
    """SIGTERM each (last started first), SIGKILL what is still there after 20 s."""
    for process in reversed(processes):
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def start_cluster(
    args: argparse.Namespace, extras: list[subprocess.Popen[bytes]], state_dir: Path
) -> tuple[str, Path]:
    """redis-server and one worker node (ICE pinned to ``--host``); returns the Redis URL and the node's log."""
    redis_port = free_port(args.host)
    extras.append(
        subprocess.Popen(
            ["redis-server", "--port", str(redis_port), "--bind", args.host, "--save", "", "--appendonly", "no",
             "--protected-mode", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
    )  # fmt: skip

    def redis_up() -> bool:
        socket.create_connection((args.host, redis_port), timeout=1).close()
        return True

    wait_until(redis_up, ignoring=(OSError,), what="redis-server")
    redis_url = f"redis://{args.host}:{redis_port}/0"
    node_log = state_dir / "worker.log"
    node_cmd = [
        sys.executable, "-m", "openreactor", "worker", "--redis", redis_url, "--model", args.model,
        "--host", args.host, "--port", str(free_port(args.host)), "--ice-host", args.host,
        "--width", str(args.width), "--height", str(args.height), "--fps", str(args.fps),
        "--workers", "1", "--drain-timeout", "2", "--log-level", args.server_log_level,
    ]  # fmt: skip
    with node_log.open("wb") as out:
        extras.append(subprocess.Popen(node_cmd, stdout=out, stderr=subprocess.STDOUT, cwd=REPO))
    return redis_url, node_log


def cluster_capacity(url: str) -> int:
    """Free room the coordinator sees (0 until a worker node has announced itself)."""
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
            return int(json.loads(response.read()).get("capacity", 0))
    except (OSError, ValueError):
        return 0


def finish(
    report: dict[str, Any], server: subprocess.Popen[bytes], log_path: str, log_chars: int = 4000
) -> int:
    if server.poll() is None:
        server.kill()
        server.wait()
    report["server_exit_status"] = server.returncode
    report["server_log"] = tail(Path(log_path).read_text(errors="replace"), log_chars)
    os.unlink(log_path)
    print("@@LAUNCH " + json.dumps(report), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
