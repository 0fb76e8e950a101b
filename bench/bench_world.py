"""Render-time benchmark of the procedural ``world`` model, on one thread.

Prints one JSON object per resolution and prompt:
``{"width", "height", "prompt", "render_ms_p50", "render_ms_p95", "render_ms_max", "fps_achieved",
"scene_build_ms", "fade_ms_p50"}`` where ``fps_achieved`` is frames per second rendering back to back (what one
core sustains), and a last summary object over all prompts. The camera walks and turns during
the run. ``scene_build_ms`` is the time to build a scene for a new prompt (the model does that
on a helper thread while the old scene keeps playing) and ``fade_ms_p50`` a frame's cost during
the one-second cross-fade that follows.

    .venv/bin/python bench/bench_world.py [--frames 240] [--screenshots docs]

``--screenshots DIR`` also saves 1280x720 PNGs of three prompts after 2 s of animation
(``world-forest-at-dawn.png`` ...) and exits; it needs Pillow.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

# One core: keep any BLAS / OpenMP pools of numpy to a single thread.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

from openreactor.models.api import Message  # noqa: E402
from openreactor.models.builtin.world import WorldModel  # noqa: E402

PROMPTS = ["a forest at dawn", "ocean at night", "a city in the snow", "zorblax quintessence mirage"]
SCREENSHOTS = {
    "a forest at dawn": "world-forest-at-dawn.png",
    "ocean at night": "world-ocean-at-night.png",
    "a city in the snow": "world-city-in-the-snow.png",
}


class BenchContext:
    session_id = "bench"
    frame_index = 0

    def broadcast(self, message: Message) -> None:
        pass

    def input_frame(self, track: str) -> None:
        return None


def bench(width: int, height: int, prompt: str, frames: int) -> dict[str, object]:
    model = WorldModel(width=width, height=height)
    ctx = BenchContext()
    model.on_session_start(ctx)  # type: ignore[arg-type]
    t0 = time.perf_counter()
    model.set_prompt(prompt)
    model.wait_for_scene()  # the build runs on a helper thread; here we time it
    build_ms = (time.perf_counter() - t0) * 1e3
    for _ in range(int(model.fps * 1.2)):  # past the cross-fade
        model.next_frame(ctx)  # type: ignore[arg-type]
    model.move(forward=0.7, strafe=0.4)
    times: list[float] = []
    start = time.perf_counter()
    for n in range(frames):
        if n % 48 == 0:
            model.turn(yaw=25.0, pitch=4.0 if n % 96 == 0 else -4.0)
        ctx.frame_index = n
        t = time.perf_counter()
        model.next_frame(ctx)  # type: ignore[arg-type]
        times.append((time.perf_counter() - t) * 1e3)
    wall = time.perf_counter() - start
    # cost of a frame during a cross-fade
    # frames while a new scene is built on the helper thread (same core), then the cross-fade
    model.set_prompt(prompt + " again")
    during: list[float] = []
    while model._pending is not None:
        t = time.perf_counter()
        model.next_frame(ctx)  # type: ignore[arg-type]
        during.append((time.perf_counter() - t) * 1e3)
        time.sleep(max(0.0, 1 / model.fps - during[-1] / 1e3))  # real-time pacing, as served
    fade: list[float] = []
    for _ in range(int(model.fps * 0.8)):
        t = time.perf_counter()
        model.next_frame(ctx)  # type: ignore[arg-type]
        fade.append((time.perf_counter() - t) * 1e3)
    return {
        "width": width,
        "height": height,
        "prompt": prompt,
        "render_ms_p50": round(float(np.percentile(times, 50)), 2),
        "render_ms_p95": round(float(np.percentile(times, 95)), 2),
        "render_ms_max": round(max(times), 2),
        "fps_achieved": round(frames / wall, 1),
        "scene_build_ms": round(build_ms, 1),
        "fade_ms_p50": round(float(np.percentile(fade, 50)), 2),
        "frames_during_build": len(during),
        "during_build_ms_max": round(max(during), 2) if during else None,
    }


def screenshots(folder: Path) -> None:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    ctx = BenchContext()
    for prompt, name in SCREENSHOTS.items():
        model = WorldModel(width=1280, height=720, prompt=prompt)
        model.on_session_start(ctx)  # type: ignore[arg-type]
        frame = None
        for _ in range(int(model.fps * 2)):
            frame = model.next_frame(ctx)  # type: ignore[arg-type]
        assert frame is not None
        path = folder / name
        Image.fromarray(frame).save(path, optimize=True)
        print(json.dumps({"prompt": prompt, "path": str(path)}), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--frames", type=int, default=240)
    parser.add_argument("--screenshots", type=Path, default=None, help="save PNGs here and exit")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):  # one core, as the issue asks
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    if args.screenshots is not None:
        screenshots(args.screenshots)
        return
    for width, height in [(1280, 720), (640, 360)]:
        rows = [bench(width, height, prompt, args.frames) for prompt in PROMPTS]
        for row in rows:
            print(json.dumps(row), flush=True)
        p95 = max(float(str(r["render_ms_p95"])) for r in rows)
        print(
            json.dumps(
                {
                    "width": width,
                    "height": height,
                    "summary": True,
                    "worst_render_ms_p95": p95,
                    "worst_fps_achieved": min(float(str(r["fps_achieved"])) for r in rows),
                    "sustains_24fps": p95 < 1000 / 24,
                }
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()
