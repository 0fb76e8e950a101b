"""Pixels of the ``world`` renderer: packed ``uint32`` colours, mixing, smooth noise, blur.

All compositing is on packed ``uint32`` pixels (``R | G << 8 | B << 16``), which numpy copies
and masks several times faster than 3-byte pixels; the frame is unpacked once at the end.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from openreactor.models.builtin.world.scene import RGB

Arr = npt.NDArray[Any]
Packed = npt.NDArray[np.uint32]

ALPHA = np.uint32(0xFF000000)


def pack(rgb: Arr) -> Packed:
    """Float RGB ``(..., 3)`` in 0..255 → packed ``uint32`` pixels."""
    c = np.clip(rgb, 0.0, 255.0).astype(np.uint32)
    out: Packed = c[..., 0] | (c[..., 1] << np.uint32(8)) | (c[..., 2] << np.uint32(16)) | ALPHA
    return out


def pack1(rgb: RGB | Arr) -> np.uint32:
    return np.uint32(pack(np.asarray(rgb, dtype=np.float32)))


def unpack_into(packed: Packed, out: npt.NDArray[np.uint8]) -> None:
    """Packed pixels ``(H, W)`` → RGB ``(H, W, 3)`` (three strided channel copies)."""
    b = packed.view(np.uint8).reshape(packed.shape[0], packed.shape[1], 4)
    for ch in range(3):
        out[:, :, ch] = b[:, :, ch]


def mix(a: Arr | RGB, b: Arr | RGB, t: Arr | float) -> Arr:
    a_ = np.asarray(a, dtype=np.float32)
    b_ = np.asarray(b, dtype=np.float32)
    return a_ + (b_ - a_) * t


def value_noise_1d(n: int, cells: int, rng: np.random.Generator) -> Arr:
    """Smooth periodic noise in 0..1 of length ``n`` with ``cells`` random knots."""
    vals = rng.random(cells).astype(np.float32)
    x = np.arange(n, dtype=np.float32) * (cells / n)
    i = np.floor(x).astype(np.int64)
    fr = x - i
    s = fr * fr * (3.0 - 2.0 * fr)
    out: Arr = vals[i % cells] * (1.0 - s) + vals[(i + 1) % cells] * s
    return out


def fbm_1d(n: int, cells: int, octaves: int, rng: np.random.Generator, gain: float = 0.5) -> Arr:
    total = np.zeros(n, np.float32)
    amp, norm = 1.0, 0.0
    for o in range(octaves):
        total += amp * value_noise_1d(n, min(n, cells * 2**o), rng)
        norm += amp
        amp *= gain
    out: Arr = total / norm
    return out


def value_noise_2d(h: int, w: int, ch: int, cw: int, rng: np.random.Generator) -> Arr:
    """Smooth noise in 0..1 of shape ``(h, w)``, periodic both ways, ``ch`` x ``cw`` knots."""
    vals = rng.random((ch, cw)).astype(np.float32)
    y = np.arange(h, dtype=np.float32) * (ch / h)
    x = np.arange(w, dtype=np.float32) * (cw / w)
    iy, ix = np.floor(y).astype(np.int64), np.floor(x).astype(np.int64)
    fy, fx = y - iy, x - ix
    sy = (fy * fy * (3 - 2 * fy))[:, None]
    sx = (fx * fx * (3 - 2 * fx))[None, :]
    y0, y1 = (iy % ch)[:, None], ((iy + 1) % ch)[:, None]
    x0, x1 = (ix % cw)[None, :], ((ix + 1) % cw)[None, :]
    top = vals[y0, x0] * (1 - sx) + vals[y0, x1] * sx
    bot = vals[y1, x0] * (1 - sx) + vals[y1, x1] * sx
    out: Arr = top * (1 - sy) + bot * sy
    return out


def box_blur_wrap(img: Arr, ry: int, rx: int) -> Arr:
    """Periodic box blur of ``img`` (H, W, C) with radii ``ry`` (rows) and ``rx`` (columns)."""
    out = img
    for axis, r in ((0, ry), (1, rx)):
        if r <= 0:
            continue
        n = out.shape[axis]
        if 2 * r + 1 >= n:
            out = np.broadcast_to(out.mean(axis=axis, keepdims=True), out.shape).copy()
            continue
        pad = np.concatenate(
            [np.take(out, range(n - r - 1, n), axis=axis), out, np.take(out, range(r), axis=axis)], axis=axis
        )
        c = np.cumsum(pad, axis=axis, dtype=np.float32)
        hi = np.take(c, range(2 * r + 1, n + 2 * r + 1), axis=axis)
        lo = np.take(c, range(0, n), axis=axis)
        out = (hi - lo) / (2 * r + 1)
    return out
