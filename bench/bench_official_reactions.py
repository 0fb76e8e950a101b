"""How fast our server reacts, as the official Python client (``reactor-sdk`` 1.13.0) sees it; prints JSON.

``tests/interop`` checks with the official client *that* these happen; this measures how long
they take, ``--runs`` times (default 3), each a fresh server and client inside
``shared/tools/netns-run`` (libwebrtc ignores loopback interfaces), driven by the interop tests'
own launcher and driver (``tests/interop/netns_launcher.py``, ``official_client_driver.py``):

* ``sigterm``: SIGTERM to the server with the client streaming: until the server has exited
  (``exit_seconds``), and until the client's status says ``disconnected``;
* ``pause``: ``track("main_video").resume()`` after a pause: until the first frame; also how late
  the last frame after ``pause()`` came, and how many came;
* ``webcam``: ``publish_track("webcam")`` and pushing a picture: until the first output frame that
  shows it transformed; ``unpublish_track``: until the idle pattern is back.

Each value lists every run, with min/median/max, its target and whether every run met it::

    .venv/bin/python bench/bench_official_reactions.py [--runs 3] [--official-python PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
NETNS_RUN = REPO.parent / "shared" / "tools" / "netns-run"
LAUNCHER = REPO / "tests" / "interop" / "netns_launcher.py"
DRIVER = REPO / "tests" / "interop" / "official_client_driver.py"

# (scenario, model, value name, where in the launcher's report, target seconds)
MEASURES: list[tuple[str, str, str, tuple[str, ...], float | None]] = [
    ("sigterm", "probe", "server_exit_s", ("sigterm", "exit_seconds"), 5.0),
    ("sigterm", "probe", "client_disconnected_s", ("driver", "after_sigterm", "seconds"), None),
    ("pause", "probe", "resume_to_first_frame_s", ("driver", "resumed", "seconds_to_first"), 2.0),
    ("pause", "probe", "last_frame_after_pause_s", ("driver", "paused", "last_frame_after_pause_s"), 0.5),
    ("pause", "probe", "frames_after_pause", ("driver", "paused", "frames_after_pause"), None),
    ("webcam", "webcam", "publish_to_transformed_s", ("driver", "published", "seconds_to_first"), 5.0),
    ("webcam", "webcam", "unpublish_to_idle_s", ("driver", "unpublished", "seconds_to_idle"), 3.0),
]


def official_python(cli_value: str | None) -> Path:
    if cli_value:
        return Path(cli_value)
    return Path(os.environ.get("OPENREACTOR_OFFICIAL_PYTHON", REPO / ".interop-venv" / "bin" / "python"))


def launch(scenario: str, model: str, client_python: Path) -> dict[str, Any]:
    cmd = [
        str(NETNS_RUN), sys.executable, str(LAUNCHER), "--client-python", str(client_python),
        "--model", model, "--client-timeout", "120", "--", str(DRIVER), scenario,
    ]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=180, cwd=REPO)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("@@LAUNCH ")]
    if not lines:
        return {"error": f"launcher printed no report (exit {proc.returncode}): {proc.stderr[-2000:]}"}
    report: dict[str, Any] = json.loads(lines[-1][len("@@LAUNCH ") :])
    driver = report.get("driver") or {}
    if "exception" in driver or report.get("error"):
        report["error"] = report.get("error") or driver.get("exception")
    return report


def pick(report: dict[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = report
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    return value


def summary(values: list[Any], target: float | None) -> dict[str, Any]:
    numbers = [v for v in values if isinstance(v, int | float)]
    out: dict[str, Any] = {
        "values": values,
        "min": min(numbers) if numbers else None,
        "median": round(statistics.median(numbers), 3) if numbers else None,
        "max": max(numbers) if numbers else None,
    }
    if target is not None:
        out["target_max"] = target
        out["met"] = bool(numbers) and len(numbers) == len(values) and max(numbers) <= target
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--official-python", default=None)
    args = parser.parse_args()
    client_python = official_python(args.official_python)
    for needed in (NETNS_RUN, client_python):
        if not needed.exists():
            print(json.dumps({"bench": "official_reactions", "skipped": f"{needed} is missing"}))
            return 0
    reports: dict[str, list[dict[str, Any]]] = {}
    for scenario, model in sorted({(s, m) for s, m, *_ in MEASURES}):
        for i in range(args.runs):
            print(f"[official_reactions] {scenario} {i + 1}/{args.runs}", file=sys.stderr, flush=True)
            reports.setdefault(scenario, []).append(launch(scenario, model, client_python))
    measures = {}
    for scenario, _, name, path, target in MEASURES:
        values = [pick(r, path) for r in reports[scenario]]
        if name == "last_frame_after_pause_s":  # no frame at all after pause(): none came late
            values = [
                0.0 if v is None and not r.get("error") else v
                for v, r in zip(values, reports[scenario], strict=True)
            ]
        measures[name] = summary(values, target)
    errors = {s: [r["error"] for r in rs if r.get("error")] for s, rs in reports.items()}
    print(
        json.dumps(
            {
                "bench": "official_reactions",
                "machine": {
                    "cpus": os.cpu_count(),
                    "python": platform.python_version(),
                    "load": os.getloadavg(),
                },
                "runs": args.runs,
                "measures": measures,
                "errors": {s: e for s, e in errors.items() if e},
            },
            indent=2,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
