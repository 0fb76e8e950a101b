"""PROBE.md's pixel definition, written out once more for the runtime probe model.

Pure numpy and self-contained (no import from ``openreactor``), so the probe model that runs
inside Reactor's runtime (``runtime_probe_model.py``, in ``.runtime-venv``) can use it, and so
``test_probe_frames.py`` can check it against our own renderer: two independent readings of
the same page that must agree bit for bit.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

CODE_ROWS = 16
BLOCKS = 38
BAND_WIDTH = CODE_ROWS * BLOCKS  # 608: the narrowest frame that holds the whole code
SHORTEST = 64

YELLOW = (255, 255, 0)
CYAN = (0, 255, 255)
MAGENTA = (255, 0, 255)
GREY = 128


def triangle(t: int, s: int) -> int:
    """``tri(t, s)`` of PROBE.md."""
    if s <= 0:
        return 0
    p = t % (2 * s)
    return p if p <= s else 2 * s - p


def code_blocks(counter: int, value: int) -> list[int]:
    """The 38 block bits, left to right: white ref, black ref, counter, value, check nibble."""
    nibble = 0
    for word in (counter, value):
        for shift in (0, 4, 8, 12):
            nibble ^= word >> shift
    nibble &= 0xF
    msb_first = lambda word, width: [(word >> bit) & 1 for bit in range(width - 1, -1, -1)]  # noqa: E731
    return [1, 0, *msb_first(counter, 16), *msb_first(value, 16), *msb_first(nibble, 4)]


class ProbeFrames:
    """Renders frame ``n`` with value ``v`` at a fixed ``width x height``."""

    def __init__(self, width: int, height: int) -> None:
        if width < BAND_WIDTH or height < SHORTEST:
            raise ValueError(f"probe frames need width >= {BAND_WIDTH} and height >= {SHORTEST}")
        self.width = width
        self.height = height
        # The gradients at n = 0, as uint8 planes: moving them by n is a wrapping uint8 add,
        # which is exactly "mod 256".
        cols = np.arange(width, dtype=np.int64)[None, :]
        rows = np.arange(height, dtype=np.int64)[:, None]
        self._red = np.ascontiguousarray(np.broadcast_to(cols % 256, (height, width)), dtype=np.uint8)
        self._green = np.ascontiguousarray(np.broadcast_to(rows % 256, (height, width)), dtype=np.uint8)
        self._blue = ((cols + rows) % 256).astype(np.uint8)
        radius = height // 10
        side = 2 * radius + 1
        offsets = np.arange(side, dtype=np.int64) - radius
        self._disc = offsets[:, None] ** 2 + offsets[None, :] ** 2 <= radius * radius

    def frame(self, n: int, v: int) -> npt.NDArray[np.uint8]:
        if n < 0 or not 0 <= v <= 0xFFFF:
            raise ValueError(f"bad frame index {n} or value {v}")
        W, H, T = self.width, self.height, CODE_ROWS
        img = np.empty((H, W, 3), dtype=np.uint8)
        # 1. background gradients
        img[..., 0] = self._red + np.uint8(4 * n % 256)
        img[..., 1] = self._green + np.uint8(2 * n % 256)
        img[..., 2] = self._blue + np.uint8(3 * n % 256)
        # 2. shapes A (rectangle), B (square), C (disc), in that order
        rw, rh = W // 8, H // 6
        left, top = triangle(8 * n, W - rw), T + triangle(5 * n, H - T - rh)
        img[top : top + rh, left : left + rw] = YELLOW
        side = H // 5
        left, top = W - side - triangle(6 * n, W - side), T + triangle(7 * n, H - T - side)
        img[top : top + side, left : left + side] = CYAN
        radius = H // 10
        box = 2 * radius + 1
        left, top = triangle(5 * n, W - box), T + triangle(4 * n, H - T - box)
        img[top : top + box, left : left + box][self._disc] = MAGENTA
        # 3. code band: grey first, then the 38 blocks
        img[:T] = GREY
        for k, bit in enumerate(code_blocks(n % 65536, v)):
            img[:T, 16 * k : 16 * k + 16] = 255 if bit else 0
        return img
