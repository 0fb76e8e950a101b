"""Streaming benchmark: our server + the probe model, measured through our SDK and the official one.

For each client (``ours``: ``reactor_sdk`` from this repo's venv; ``official``: ``reactor-sdk``
1.13.0 in its own venv) and each size (1280x720@30, 640x360@30) it starts a fresh server and
one client inside ``shared/tools/netns-run`` (a private network namespace: all traffic stays on
127.0.0.2 there; libwebrtc ignores loopback interfaces, so the official client needs it), via
``tests/interop/netns_launcher.py``, and ``bench/streaming_driver.py`` measures:

* connect → first frame callback and → first decodable probe frame (ms), over a few connects;
* command → frame latency: ``set_value`` with a unique value until the first frame showing it;
* delivered fps and frame-interval percentiles over a steady window (20 s by default);
* server CPU (``/proc/<pid>/stat`` of the server process) and client CPU
  (``time.process_time`` of the client process) per streamed second;
* received Mbit/s: bytes through ``lo`` inside the namespace (every client-server packet,
  with IP/UDP/SRTP overhead) and, for the official client, its own ``get_stats()`` bytes;
* PSNR of received frames against ``ProbeRenderer(w, h).render(counter, value)``, RGB and
  BT.601 luma (the stream is VP8 4:2:0, so RGB PSNR is capped by chroma subsampling).

Prints one JSON document on stdout (progress on stderr)::

    .venv/bin/python bench/bench_streaming.py [--quick] [--official-python PATH]

Traffic stays inside the namespace. A full run takes about 3 minutes on 2 cores; ``--quick``
about 1.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
NETNS_RUN = REPO.parent / "shared" / "tools" / "netns-run"
LAUNCHER = REPO / "tests" / "interop" / "netns_launcher.py"
DRIVER = REPO / "bench" / "streaming_driver.py"
SIZES = [(1280, 720), (640, 360)]
FPS = 30.0

TARGETS = {
    "first_frame_ms_max": 500,
    "command_to_frame_p50_ms_max": 80,
    "command_to_frame_p95_ms_max": 150,
    "delivered_fps_720p_min": 29.0,
    "frame_interval_p99_ms_720p_max": 50,
    "psnr_720p_db_min": 35,
}


def official_python(cli_value: str | None) -> Path:
    if cli_value:
        return Path(cli_value)
    return Path(os.environ.get("OPENREACTOR_OFFICIAL_PYTHON", REPO / ".interop-venv" / "bin" / "python"))


def netns_usable() -> str | None:
    """None when netns-run works here, else why not."""
    if not os.access(NETNS_RUN, os.X_OK):
        return f"{NETNS_RUN} missing"
    probe = subprocess.run([str(NETNS_RUN), "true"], capture_output=True, text=True, timeout=30)
    return None if probe.returncode == 0 else f"netns-run failed: {probe.stderr.strip()}"


def run_one(
    sdk: str, client_python: Path, width: int, height: int, args: argparse.Namespace, in_netns: bool
) -> dict[str, Any]:
    host = "127.0.0.2" if in_netns else "127.0.0.1"
    driver_args = [
        str(DRIVER), "--sdk", sdk, "--width", str(width), "--height", str(height), "--fps", str(FPS),
        "--duration", str(args.duration), "--latency-samples", str(args.latency_samples),
        "--psnr-seconds", str(args.psnr_seconds), "--connect-trials", str(args.connect_trials),
    ]  # fmt: skip
    if sdk == "ours":
        driver_args += ["--ice-host", host]
    cmd = [
        sys.executable, str(LAUNCHER), "--host", host, "--width", str(width), "--height", str(height),
        "--fps", str(FPS), "--client-python", str(client_python), "--client-timeout", "150", "--", *driver_args,
    ]  # fmt: skip
    if in_netns:
        cmd = [str(NETNS_RUN), *cmd]
    t0 = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=200, cwd=REPO)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("@@LAUNCH ")]
    if not lines:
        return {
            "error": f"launcher printed no report (exit {proc.returncode})",
            "stderr": proc.stderr[-3000:],
        }
    report = json.loads(lines[-1][len("@@LAUNCH ") :])
    driver = report.get("driver")
    if driver is None:
        return {
            "error": report.get("error", "driver printed no result"),
            "driver_stderr": report.get("driver_stderr"),
            "server_log": report.get("server_log"),
        }
    out: dict[str, Any] = dict(driver)
    out["run_seconds"] = round(time.monotonic() - t0, 1)
    cpu = report.get("cpu", {})
    start, end = cpu.get("window_start"), cpu.get("window_end")
    if start and end and start["cpu_s"] is not None and end["cpu_s"] is not None:
        dt = end["t"] - start["t"]
        out["steady"]["server_cpu_s_per_s"] = round((end["cpu_s"] - start["cpu_s"]) / dt, 3)
        if start["lo_bytes"] is not None and end["lo_bytes"] is not None:
            key = "loopback_mbit_s" if in_netns else "host_loopback_mbit_s_unisolated"
            out["steady"][key] = round((end["lo_bytes"] - start["lo_bytes"]) * 8 / dt / 1e6, 3)
    out["server_exit_status"] = report.get("server_exit_status")
    if report.get("driver_exit_status") != 0:
        out["driver_stderr"] = report.get("driver_stderr")
    return out


def check_targets(results: dict[str, Any]) -> dict[str, Any]:
    """Each issue target vs each run: {target: {run: [value, ok]}}."""
    verdict: dict[str, Any] = {}

    def put(target: str, run: str, value: Any, ok: bool | None) -> None:
        verdict.setdefault(target, {})[run] = {"value": value, "ok": ok}

    for run, r in results.items():
        if "error" in r or "skipped" in r:
            continue
        first = r["first_frame"]["first_probe_frame_ms"]["max"]
        put(
            "first_frame_ms <= 500 (worst of the connects)",
            run,
            first,
            first is not None and first <= TARGETS["first_frame_ms_max"],
        )
        c2f = r["command_to_frame"]
        put(
            "command_to_frame p50 <= 80 ms",
            run,
            c2f["p50_ms"],
            c2f["p50_ms"] is not None and c2f["p50_ms"] <= TARGETS["command_to_frame_p50_ms_max"],
        )
        put(
            "command_to_frame p95 <= 150 ms",
            run,
            c2f["p95_ms"],
            c2f["p95_ms"] is not None and c2f["p95_ms"] <= TARGETS["command_to_frame_p95_ms_max"],
        )
        if r["width"] == 1280:
            steady = r["steady"]
            put(
                "720p delivered fps >= 29",
                run,
                steady["delivered_fps"],
                steady["delivered_fps"] >= TARGETS["delivered_fps_720p_min"],
            )
            p99 = steady["interval_ms"]["p99"]
            put("720p frame interval p99 <= 50 ms", run, p99, p99 is not None and p99 <= 50)
            y = r["psnr"]["y_db"].get("mean")
            rgb = r["psnr"]["rgb_db"].get("mean")
            put("720p PSNR >= 35 dB (Y, mean)", run, y, y is not None and y >= TARGETS["psnr_720p_db_min"])
            put(
                "720p PSNR >= 35 dB (RGB, mean)",
                run,
                rgb,
                rgb is not None and rgb >= TARGETS["psnr_720p_db_min"],
            )
    return verdict


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="short windows (about a minute in all)")
    parser.add_argument(
        "--official-python", default=None, help="interpreter of the official reactor-sdk venv"
    )
    parser.add_argument("--only", choices=["ours", "official"], default=None)
    args = parser.parse_args()
    if args.quick:
        args.duration, args.latency_samples, args.psnr_seconds, args.connect_trials = 5.0, 30, 1.0, 1
    else:
        args.duration, args.latency_samples, args.psnr_seconds, args.connect_trials = 20.0, 100, 3.0, 3

    started = time.monotonic()
    netns_problem = netns_usable()
    official = official_python(args.official_python)
    clients: list[tuple[str, Path | None, str | None]] = []
    if args.only in (None, "ours"):
        clients.append(("ours", Path(sys.executable), None))
    if args.only in (None, "official"):
        why = netns_problem or (None if official.exists() else f"{official} missing")
        clients.append(("official", official if why is None else None, why))

    results: dict[str, Any] = {}
    for sdk, python, why in clients:
        for width, height in SIZES:
            name = f"{sdk}_{width}x{height}"
            if python is None:
                results[name] = {"skipped": why}
                continue
            print(f"bench: {name} ...", file=sys.stderr, flush=True)
            results[name] = run_one(sdk, python, width, height, args, in_netns=netns_problem is None)

    load = os.getloadavg()
    document = {
        "benchmark": "streaming",
        "quick": args.quick,
        "fps": FPS,
        "settings": {
            "steady_seconds": args.duration,
            "latency_samples": args.latency_samples,
            "psnr_seconds": args.psnr_seconds,
            "connect_trials": args.connect_trials,
        },
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "loadavg_after": [round(x, 2) for x in load],
        },
        "isolation": "netns-run (127.0.0.2)"
        if netns_problem is None
        else f"loopback 127.0.0.1 ({netns_problem})",
        "notes": {
            "bitrate": "loopback_mbit_s = bytes through lo in the private namespace during the steady window "
            "(all client-server packets incl. IP/UDP/SRTP/RTCP/SCTP); client_stats_mbit_s = the "
            "official client's get_stats().bytes_received (RTP)",
            "psnr": "every frame received in the PSNR window vs ProbeRenderer.render(counter, value); "
            "y_db uses BT.601 luma of both RGB frames",
            "cpu": "seconds of CPU per wall second over the steady window (1.0 = one core)",
        },
        "targets": TARGETS,
        "results": results,
        "verdict": check_targets(results),
        "wall_seconds": round(time.monotonic() - started, 1),
    }
    print(json.dumps(document, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
