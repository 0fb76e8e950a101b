"""Bit-exact renderer and decoder for the benchmark "probe" pattern.

The pattern is specified in ``shared/reference/PROBE.md`` ("The benchmark probe model"):
scrolling background gradients, three moving shapes driven by triangle waves, and a
16-row code band of 38 16x16 blocks carrying reference white/black, a 16-bit frame
counter, a 16-bit value and a check nibble.  Any implementation following that page
renders bit-identical frames; :class:`ProbeRenderer` is ours, :func:`decode_probe`
reads the code back from a received (possibly lossy) frame.

Pure numpy, no asyncio.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = [
    "BAND_HEIGHT",
    "MIN_HEIGHT",
    "MIN_WIDTH",
    "NUM_BLOCKS",
    "ProbeCode",
    "ProbeRenderer",
    "check_nibble",
    "decode_probe",
    "tri",
]

#: Height of the code band (``T`` in PROBE.md).
BAND_HEIGHT = 16
#: Number of 16x16 code blocks.
NUM_BLOCKS = 38
#: Smallest supported frame size.
MIN_WIDTH = BAND_HEIGHT * NUM_BLOCKS  # 608
MIN_HEIGHT = 64

_BLOCK = 16
_GREY = 128
_COLOUR_A = (255, 255, 0)
_COLOUR_B = (0, 255, 255)
_COLOUR_C = (255, 0, 255)
# Sums over the centre 8x8 block and three channels are compared instead of means, so
# decoding is exact integer arithmetic: 192 samples per block.
_SAMPLES = 8 * 8 * 3
_MIN_CONTRAST_SUM = 64 * _SAMPLES


def tri(t: int, s: int) -> int:
    """Triangle wave of PROBE.md: ``p = t mod 2s``; ``p`` if ``p <= s`` else ``2s - p``; 0 if ``s <= 0``."""
    if s <= 0:
        return 0
    p = t % (2 * s)
    return p if p <= s else 2 * s - p


def check_nibble(c: int, v: int) -> int:
    """Check nibble ``(c ^ c>>4 ^ c>>8 ^ c>>12 ^ v ^ v>>4 ^ v>>8 ^ v>>12) & 0xF``."""
    return (c ^ (c >> 4) ^ (c >> 8) ^ (c >> 12) ^ v ^ (v >> 4) ^ (v >> 8) ^ (v >> 12)) & 0xF


def _code_bits(c: int, v: int) -> list[int]:
    """The 38 block bits (1 = white) for counter ``c`` and value ``v``."""
    k4 = check_nibble(c, v)
    bits = [1, 0]
    bits += [(c >> (15 - i)) & 1 for i in range(16)]
    bits += [(v >> (15 - i)) & 1 for i in range(16)]
    bits += [(k4 >> (3 - i)) & 1 for i in range(4)]
    return bits


@dataclass(frozen=True, slots=True)
class ProbeCode:
    """The code read from a probe frame: ``counter = n mod 65536`` and the value ``v``."""

    counter: int
    value: int


class ProbeRenderer:
    """Renders probe frames of a fixed size, bit-exact to PROBE.md.

    The background gradients are precomputed once (interleaved RGB, uint8) so a frame is
    one wrapping uint8 addition of the per-frame offsets ``(4n, 2n, 3n) mod 256``, followed
    by three sliced shape fills and the code band.
    """

    __slots__ = ("_base", "_disc_mask", "_height", "_width")

    def __init__(self, width: int, height: int) -> None:
        width = operator.index(width)
        height = operator.index(height)
        if width < MIN_WIDTH:
            raise ValueError(f"probe width must be >= {MIN_WIDTH}, got {width}")
        if height < MIN_HEIGHT:
            raise ValueError(f"probe height must be >= {MIN_HEIGHT}, got {height}")
        self._width = width
        self._height = height
        x = np.arange(width, dtype=np.int64)
        y = np.arange(height, dtype=np.int64)
        base = np.empty((height, width, 3), dtype=np.uint8)
        base[:, :, 0] = (x % 256).astype(np.uint8)[None, :]
        base[:, :, 1] = (y % 256).astype(np.uint8)[:, None]
        base[:, :, 2] = ((x[None, :] + y[:, None]) % 256).astype(np.uint8)
        # Viewed as (H, W*3) so the per-frame add runs over long contiguous rows.
        self._base = base.reshape(height, width * 3)
        r = height // 10
        d = 2 * r + 1
        i = np.arange(d, dtype=np.int64)
        self._disc_mask = ((i[None, :] - r) ** 2 + (i[:, None] - r) ** 2 <= r * r)[:, :, None]

    @property
    def width(self) -> int:
        return self._width

    @property
    def height(self) -> int:
        return self._height

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self._height, self._width, 3)

    def render(self, n: int, value: int) -> npt.NDArray[np.uint8]:
        """Frame ``n`` with value ``value`` as a new C-contiguous ``(H, W, 3)`` uint8 RGB array."""
        out = np.empty((self._height, self._width, 3), dtype=np.uint8)
        self.render_into(out, n, value)
        return out

    def render_into(self, out: npt.NDArray[np.uint8], n: int, value: int) -> None:
        """Render frame ``n`` with value ``value`` into ``out`` (C-contiguous ``(H, W, 3)`` uint8)."""
        n = operator.index(n)
        value = operator.index(value)
        if n < 0:
            raise ValueError(f"frame index must be >= 0, got {n}")
        if not 0 <= value <= 0xFFFF:
            raise ValueError(f"probe value must be in 0..65535, got {value}")
        W, H, T = self._width, self._height, BAND_HEIGHT
        if out.shape != (H, W, 3) or out.dtype != np.uint8 or not out.flags.c_contiguous:
            raise ValueError(f"out must be a C-contiguous uint8 array of shape {(H, W, 3)}")

        # 1. Background: (x + 4n, y + 2n, x + y + 3n) mod 256 == uint8 wrapping addition.
        offsets = np.array([(4 * n) % 256, (2 * n) % 256, (3 * n) % 256], dtype=np.uint8)
        np.add(self._base, np.tile(offsets, W), out=out.reshape(H, W * 3))

        # 2. Shapes, in order A, B, C.
        w, h = W // 8, H // 6
        x = tri(8 * n, W - w)
        y = T + tri(5 * n, H - T - h)
        out[y : y + h, x : x + w] = _COLOUR_A

        s = H // 5
        x = W - s - tri(6 * n, W - s)
        y = T + tri(7 * n, H - T - s)
        out[y : y + s, x : x + s] = _COLOUR_B

        r = H // 10
        d = 2 * r + 1
        x0 = tri(5 * n, W - d)
        y0 = T + tri(4 * n, H - T - d)
        np.copyto(out[y0 : y0 + d, x0 : x0 + d], np.array(_COLOUR_C, dtype=np.uint8), where=self._disc_mask)

        # 3. Code band: grey, then 38 black/white 16x16 blocks.
        band = out[:T]
        band[:, MIN_WIDTH:] = _GREY
        bits = np.array(_code_bits(n % 65536, value), dtype=np.uint8) * np.uint8(255)
        band[:, :MIN_WIDTH] = np.repeat(bits, _BLOCK)[None, :, None]


def decode_probe(frame: npt.NDArray[np.uint8]) -> ProbeCode | None:
    """Read the code band of a received probe frame, per PROBE.md "Decoding a received frame".

    Accepts ``(H, W, 3)`` RGB/BGR or ``(H, W, 4)`` BGRA/RGBA (alpha ignored).  Returns
    ``None`` when the frame is undecodable: wrong shape, narrower than 608 px or shorter
    than 16 rows, too little white/black contrast, or a check-nibble mismatch.
    """
    if frame.ndim != 3 or frame.shape[2] not in (3, 4):
        return None
    if frame.shape[0] < BAND_HEIGHT or frame.shape[1] < MIN_WIDTH:
        return None
    # Rows 4..11, columns 16k+4 .. 16k+11 of each block, first three channels.
    centre = frame[4:12, :MIN_WIDTH, :3].reshape(8, NUM_BLOCKS, _BLOCK, 3)[:, :, 4:12, :]
    sums = centre.sum(axis=(0, 2, 3), dtype=np.int64).tolist()
    white, black = sums[0], sums[1]
    # white - black < 64 (means)  <=>  sum difference < 64 * 192.
    if white - black < _MIN_CONTRAST_SUM:
        return None
    # m_k > (white + black) / 2  <=>  2 * S_k > S_white + S_black.
    threshold = white + black
    word = 0
    for s_k in sums[2:]:
        word = (word << 1) | (1 if 2 * s_k > threshold else 0)
    c = (word >> 20) & 0xFFFF
    v = (word >> 4) & 0xFFFF
    k4 = word & 0xF
    if k4 != check_nibble(c, v):
        return None
    return ProbeCode(counter=c, value=v)
