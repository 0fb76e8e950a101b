"""Micro-benchmark of the probe pattern renderer and decoder (see shared/reference/PROBE.md).

Prints one JSON object per resolution:
``{"width", "height", "render_ms_p50", "render_ms_p95", "decode_ms_p50"}``.

    .venv/bin/python bench/bench_probe_render.py [--frames 300]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from openreactor.models.builtin.probe_pattern import ProbeCode, ProbeRenderer, decode_probe


def bench(width: int, height: int, frames: int) -> dict[str, float | int]:
    renderer = ProbeRenderer(width, height)
    for n in range(10):  # warm-up
        decode_probe(renderer.render(n, n))
    render_ms: list[float] = []
    decode_ms: list[float] = []
    for n in range(frames):
        v = (n * 7919) % 65536
        t0 = time.perf_counter()
        frame = renderer.render(n, v)
        t1 = time.perf_counter()
        code = decode_probe(frame)
        t2 = time.perf_counter()
        if code != ProbeCode(n % 65536, v):
            raise SystemExit(f"decode mismatch at n={n}: {code}")
        render_ms.append((t1 - t0) * 1e3)
        decode_ms.append((t2 - t1) * 1e3)
    return {
        "width": width,
        "height": height,
        "render_ms_p50": round(float(np.percentile(render_ms, 50)), 4),
        "render_ms_p95": round(float(np.percentile(render_ms, 95)), 4),
        "decode_ms_p50": round(float(np.percentile(decode_ms, 50)), 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--frames", type=int, default=300)
    args = parser.parse_args()
    for width, height in [(1280, 720), (640, 360)]:
        print(json.dumps(bench(width, height, args.frames)), flush=True)


if __name__ == "__main__":
    main()
