"""Independent checks of the probe pattern (shared/reference/PROBE.md) renderer and decoder."""

from __future__ import annotations

import io
from fractions import Fraction

import numpy as np
import numpy.typing as npt
import pytest

from openreactor.models.builtin.probe_pattern import (
    ProbeCode,
    ProbeRenderer,
    check_nibble,
    decode_probe,
)

# ---------------------------------------------------------------------------------------------
# Slow, obviously-correct reference written straight from PROBE.md (per pixel, pure Python).
# ---------------------------------------------------------------------------------------------


def ref_tri(t: int, s: int) -> int:
    if s <= 0:
        return 0
    p = t % (2 * s)
    return p if p <= s else 2 * s - p


def ref_check(c: int, v: int) -> int:
    return (c ^ c >> 4 ^ c >> 8 ^ c >> 12 ^ v ^ v >> 4 ^ v >> 8 ^ v >> 12) & 0xF


def ref_pixel(W: int, H: int, n: int, v: int, x: int, y: int) -> tuple[int, int, int]:
    T = 16
    # 3. code band, drawn last, so it wins in rows 0..15.
    if y < T:
        if x >= 608:
            return (128, 128, 128)
        k = x // 16
        c = n % 65536
        if k == 0:
            bit = 1
        elif k == 1:
            bit = 0
        elif 2 <= k <= 17:
            bit = (c >> (15 - (k - 2))) & 1
        elif 18 <= k <= 33:
            bit = (v >> (15 - (k - 18))) & 1
        else:
            bit = (ref_check(c, v) >> (3 - (k - 34))) & 1
        return (255, 255, 255) if bit else (0, 0, 0)
    # 2. shapes, later ones overwrite earlier ones: check C, then B, then A.
    r = H // 10
    d = 2 * r + 1
    x0 = ref_tri(5 * n, W - d)
    y0 = T + ref_tri(4 * n, H - T - d)
    i, j = x - x0, y - y0
    if 0 <= i < d and 0 <= j < d and (i - r) ** 2 + (j - r) ** 2 <= r**2:
        return (255, 0, 255)
    wb = hb = H // 5
    xb = W - wb - ref_tri(6 * n, W - wb)
    yb = T + ref_tri(7 * n, H - T - hb)
    if xb <= x <= xb + wb - 1 and yb <= y <= yb + hb - 1:
        return (0, 255, 255)
    wa, ha = W // 8, H // 6
    xa = ref_tri(8 * n, W - wa)
    ya = T + ref_tri(5 * n, H - T - ha)
    if xa <= x <= xa + wa - 1 and ya <= y <= ya + ha - 1:
        return (255, 255, 0)
    # 1. background.
    return ((x + 4 * n) % 256, (y + 2 * n) % 256, (x + y + 3 * n) % 256)


def ref_frame(W: int, H: int, n: int, v: int) -> npt.NDArray[np.uint8]:
    rows = [[ref_pixel(W, H, n, v, x, y) for x in range(W)] for y in range(H)]
    return np.array(rows, dtype=np.uint8)


@pytest.mark.parametrize(("width", "height"), [(608, 64), (640, 96), (611, 67)])
@pytest.mark.parametrize("n", [0, 1, 37, 200, 1000, 65537])
def test_matches_reference(width: int, height: int, n: int) -> None:
    v = (n * 7919 + 12345) % 65536
    got = ProbeRenderer(width, height).render(n, v)
    want = ref_frame(width, height, n, v)
    assert got.shape == (height, width, 3)
    assert got.dtype == np.uint8
    assert got.flags.c_contiguous
    mismatches = np.argwhere(np.any(got != want, axis=2))
    assert mismatches.size == 0, f"{len(mismatches)} pixels differ, first at (y, x) {mismatches[:5].tolist()}"


def test_shapes_bounce_in_reference_cases() -> None:
    # Make sure the parametrised n values really exercise the falling edge of the triangle waves.
    W, H = 608, 64
    assert ref_tri(8 * 200, W - W // 8) != (8 * 200) % (2 * (W - W // 8))  # A bouncing back
    assert ref_tri(5 * 1000, H - 16 - H // 6) != (5 * 1000) % (2 * (H - 16 - H // 6))


def test_render_returns_new_array_each_call() -> None:
    r = ProbeRenderer(640, 96)
    a = r.render(3, 9)
    b = r.render(3, 9)
    assert a is not b
    assert not np.shares_memory(a, b)
    np.testing.assert_array_equal(a, b)
    a[:] = 0
    np.testing.assert_array_equal(b, r.render(3, 9))


def test_render_into_matches_render() -> None:
    r = ProbeRenderer(640, 96)
    out = np.zeros((96, 640, 3), dtype=np.uint8)
    r.render_into(out, 41, 777)
    np.testing.assert_array_equal(out, r.render(41, 777))
    with pytest.raises(ValueError):
        r.render_into(np.zeros((96, 641, 3), dtype=np.uint8), 0, 0)


def test_consecutive_frames_are_independent() -> None:
    # Rendering frames out of order gives the same pixels as rendering them fresh.
    r = ProbeRenderer(608, 64)
    fresh = ProbeRenderer(608, 64).render(37, 5)
    for n in (100, 3, 65537):
        r.render(n, n % 65536)
    np.testing.assert_array_equal(r.render(37, 5), fresh)


# ---------------------------------------------------------------------------------------------
# Spot checks at the default 1280x720 from PROBE.md's formulas.
# ---------------------------------------------------------------------------------------------


def test_spot_pixels_1280x720() -> None:
    W, H = 1280, 720
    r = ProbeRenderer(W, H)
    f = r.render(0, 0)
    # n = 0: A at (0, 16) size 160x120; B at (1280-144, 16) size 144; disc r=72, box (0, 16) d=145.
    assert tuple(f[16 + 72, 72]) == (255, 0, 255)  # disc centre (drawn over A)
    assert tuple(f[16, 0]) == (255, 255, 0)  # box corner outside the disc -> A underneath
    assert tuple(f[16 + 119, 159]) == (255, 255, 0)  # A's bottom-right pixel
    assert tuple(f[16 + 120, 159]) == (159 % 256, 136, (159 + 136) % 256)  # just below A
    assert tuple(f[16, 1136]) == (0, 255, 255)  # B's top-left
    assert tuple(f[16 + 143, 1279]) == (0, 255, 255)  # B's bottom-right
    assert tuple(f[16 + 144, 1279]) == (1279 % 256, 160, (1279 + 160) % 256)
    assert tuple(f[700, 600]) == (600 % 256, 700 % 256, 1300 % 256)
    # Band at n=0, v=0: white ref, black ref, everything else black (check nibble 0), grey tail.
    assert tuple(f[0, 0]) == (255, 255, 255)
    assert tuple(f[15, 15]) == (255, 255, 255)
    assert tuple(f[0, 16]) == (0, 0, 0)
    assert tuple(f[8, 607]) == (0, 0, 0)
    assert tuple(f[8, 608]) == (128, 128, 128)
    assert tuple(f[15, 1279]) == (128, 128, 128)

    n = 100
    f = r.render(n, 0xA5C3)
    # A: tri(800, 1120) = 800, y = 16 + tri(500, 584) = 516.
    assert tuple(f[516, 800]) == (255, 255, 0)
    assert tuple(f[515, 800]) == ((800 + 400) % 256, (515 + 200) % 256, (800 + 515 + 300) % 256)
    # B: x = 1280 - 144 - tri(600, 1136) = 536, y = 16 + tri(700, 560) = 16 + 420 = 436.
    # B spans x 536..679, y 436..579; its top-left lies inside the disc C (drawn later).
    assert tuple(f[436, 536]) == (255, 0, 255)
    assert tuple(f[579, 679]) == (0, 255, 255)  # B's bottom-right, outside the disc
    assert tuple(f[580, 679]) == ((679 + 400) % 256, (580 + 200) % 256, (679 + 580 + 300) % 256)
    assert tuple(f[579, 680]) == ((680 + 400) % 256, (579 + 200) % 256, (680 + 579 + 300) % 256)
    # C: x0 = tri(500, 1135) = 500, y0 = 16 + tri(400, 559) = 416; centre (572, 488).
    assert tuple(f[488, 572]) == (255, 0, 255)
    assert tuple(f[416, 572]) == (255, 0, 255)  # top of the disc (j = 0, i = r)
    assert tuple(f[416, 571]) == ((571 + 400) % 256, (416 + 200) % 256, (571 + 416 + 300) % 256)
    # Counter 100 = 0b0000000001100100: bits 6, 5, 2 set -> blocks 17-6, 17-5, 17-2.
    for k in range(2, 18):
        bit = (100 >> (17 - k)) & 1
        assert tuple(f[8, 16 * k + 8]) == ((255,) * 3 if bit else (0,) * 3), k
    for k in range(18, 34):
        bit = (0xA5C3 >> (33 - k)) & 1
        assert tuple(f[3, 16 * k + 1]) == ((255,) * 3 if bit else (0,) * 3), k
    k4 = check_nibble(100, 0xA5C3)
    for k in range(34, 38):
        bit = (k4 >> (37 - k)) & 1
        assert tuple(f[12, 16 * k + 14]) == ((255,) * 3 if bit else (0,) * 3), k


def test_check_nibble_values() -> None:
    assert check_nibble(0, 0) == 0
    assert check_nibble(0x1234, 0) == (1 ^ 2 ^ 3 ^ 4)
    assert check_nibble(0, 0xFFFF) == 0
    assert check_nibble(0xF000, 0x000F) == 0
    assert check_nibble(1, 0) == 1
    for c, v in [(100, 0xA5C3), (65535, 1), (4660, 43981)]:
        assert check_nibble(c, v) == ref_check(c, v)


# ---------------------------------------------------------------------------------------------
# Decoding.
# ---------------------------------------------------------------------------------------------


def test_decode_roundtrip_many_values() -> None:
    r = ProbeRenderer(608, 64)
    rng = np.random.default_rng(1)
    ns = [0, 1, 2, 255, 256, 4095, 65534, 65535, 65536, 65537, 131071, 10**9]
    ns += rng.integers(0, 2**31, size=40).tolist()
    vs = [0, 1, 0x8000, 0x7FFF, 0xFFFF] + rng.integers(0, 65536, size=47).tolist()
    for n, v in zip(ns, vs, strict=False):
        assert decode_probe(r.render(n, v)) == ProbeCode(counter=n % 65536, value=v)


def test_decode_all_single_bits() -> None:
    r = ProbeRenderer(1280, 720)
    for b in range(16):
        assert decode_probe(r.render(1 << b, 0)) == ProbeCode(1 << b, 0)
        assert decode_probe(r.render(0, 1 << b)) == ProbeCode(0, 1 << b)


def test_counter_wraps_at_65536() -> None:
    r = ProbeRenderer(640, 96)
    assert decode_probe(r.render(65535, 7)) == ProbeCode(65535, 7)
    assert decode_probe(r.render(65536, 7)) == ProbeCode(0, 7)
    assert decode_probe(r.render(65536 * 3 + 5, 7)) == ProbeCode(5, 7)
    # Band identical for n and n + 65536 (the rest of the frame moves on).
    np.testing.assert_array_equal(r.render(12, 34)[:16], r.render(12 + 65536, 34)[:16])


def test_value_bounds() -> None:
    r = ProbeRenderer(608, 64)
    assert decode_probe(r.render(0, 0)) == ProbeCode(0, 0)
    assert decode_probe(r.render(0, 65535)) == ProbeCode(0, 65535)
    for bad in (-1, 65536, 1 << 20):
        with pytest.raises(ValueError):
            r.render(0, bad)
    with pytest.raises(ValueError):
        r.render(-1, 0)


def test_size_validation() -> None:
    for w, h in [(607, 720), (1280, 63), (0, 0), (608, 16)]:
        with pytest.raises(ValueError):
            ProbeRenderer(w, h)
    ProbeRenderer(608, 64)


def test_decode_bgr_and_bgra() -> None:
    f = ProbeRenderer(1280, 720).render(4242, 31337)
    bgr = np.ascontiguousarray(f[:, :, ::-1])
    assert decode_probe(bgr) == ProbeCode(4242, 31337)
    bgra = np.concatenate([bgr, np.full((720, 1280, 1), 255, dtype=np.uint8)], axis=2)
    assert decode_probe(bgra) == ProbeCode(4242, 31337)
    bgra[:, :, 3] = 0  # alpha ignored
    assert decode_probe(bgra) == ProbeCode(4242, 31337)
    assert decode_probe(f[:, :, ::-1]) == ProbeCode(4242, 31337)  # non-contiguous view


def test_decode_undecodable() -> None:
    assert decode_probe(np.zeros((720, 1280, 3), dtype=np.uint8)) is None
    assert decode_probe(np.full((720, 1280, 3), 255, dtype=np.uint8)) is None
    rng = np.random.default_rng(7)
    noise_hits = 0
    for _ in range(50):
        noise = rng.integers(0, 256, size=(64, 640, 3), dtype=np.uint8)
        noise_hits += decode_probe(noise) is not None
    assert noise_hits <= 2  # the 8x8x3 means of noise are ~128 each: contrast check fails
    assert decode_probe(rng.integers(0, 256, size=(720, 1280, 3), dtype=np.uint8)) is None
    # Wrong shapes / too small.
    f = ProbeRenderer(1280, 720).render(5, 6)
    assert decode_probe(f[:, :607]) is None
    assert decode_probe(f[:15]) is None
    assert decode_probe(f[:16, :608]) == ProbeCode(5, 6)  # the band alone is enough
    assert decode_probe(f[:, :, 0]) is None
    assert decode_probe(f[:, :, :2]) is None


def test_decode_rejects_corrupted_check_nibble() -> None:
    r = ProbeRenderer(1280, 720)
    f = r.render(1000, 0x1234)
    assert decode_probe(f) == ProbeCode(1000, 0x1234)
    for k in list(range(2, 38)):
        g = f.copy()
        g[:16, 16 * k : 16 * k + 16] ^= 0xFF  # flip one block (white <-> black)
        assert decode_probe(g) is None, k
    # Swapping the reference blocks makes the contrast negative.
    g = f.copy()
    g[:16, 0:32] ^= 0xFF
    assert decode_probe(g) is None


def test_decode_tolerates_moderate_noise_and_offsets() -> None:
    f = ProbeRenderer(640, 96).render(777, 4321).astype(np.int16)
    rng = np.random.default_rng(3)
    noisy = f + rng.integers(-40, 41, size=f.shape)
    dim = (noisy * 0.6 + 30).clip(0, 255).astype(np.uint8)  # limited-range, low-contrast
    assert decode_probe(dim) == ProbeCode(777, 4321)


# ---------------------------------------------------------------------------------------------
# Lossy coding.
# ---------------------------------------------------------------------------------------------


def test_decode_survives_jpeg_q50() -> None:
    pil = pytest.importorskip("PIL.Image")
    r = ProbeRenderer(1280, 720)
    for n, v in [(0, 0), (1, 65535), (12345, 0xBEEF), (65535, 1)]:
        buf = io.BytesIO()
        pil.fromarray(r.render(n, v)).save(buf, format="JPEG", quality=50)
        decoded = np.asarray(pil.open(io.BytesIO(buf.getvalue())).convert("RGB"))
        assert decode_probe(decoded) == ProbeCode(n % 65536, v)


def test_decode_survives_vp8_2mbps() -> None:
    av = pytest.importorskip("av")
    W, H, fps = 1280, 720, 30
    enc = av.CodecContext.create("libvpx", "w")
    enc.width, enc.height = W, H
    enc.pix_fmt = "yuv420p"
    enc.bit_rate = 2_000_000
    enc.framerate = fps
    enc.time_base = Fraction(1, fps)
    enc.options = {"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0"}
    dec = av.CodecContext.create("vp8", "r")
    r = ProbeRenderer(W, H)
    sent: list[ProbeCode] = []
    got: list[ProbeCode | None] = []
    for n in range(45):
        v = (n * 2749) % 65536
        sent.append(ProbeCode(n, v))
        vf = av.VideoFrame.from_ndarray(r.render(n, v), format="rgb24").reformat(format="yuv420p")
        vf.pts = n
        for pkt in enc.encode(vf):
            for out in dec.decode(pkt):
                got.append(decode_probe(out.to_ndarray(format="rgb24")))
    for pkt in enc.encode(None):
        for out in dec.decode(pkt):
            got.append(decode_probe(out.to_ndarray(format="rgb24")))
    assert len(got) == len(sent)
    assert got == sent
