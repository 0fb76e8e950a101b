"""The runtime probe model's renderer (``probe_frames.py``) agrees bit for bit with ours.

``probe_frames.py`` is a second, independent reading of PROBE.md, used by the probe model that
runs inside Reactor's runtime; frames from the two servers can only be compared side by side if
both render the very same pixels. Runs in ``.venv`` (no runtime needed).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from openreactor.models.builtin.probe_pattern import ProbeRenderer, decode_probe

HERE = Path(__file__).resolve().parent


def _load_probe_frames() -> ModuleType:
    name = "runtime_interop_probe_frames"
    spec = importlib.util.spec_from_file_location(name, HERE / "probe_frames.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


probe_frames = _load_probe_frames()


@pytest.mark.parametrize(("width", "height"), [(640, 360), (608, 64), (1280, 720), (777, 333)])
def test_bit_identical_to_our_renderer(width: int, height: int) -> None:
    theirs = probe_frames.ProbeFrames(width, height)
    ours = ProbeRenderer(width, height)
    for n, v in [(0, 0), (1, 0), (7, 4321), (123, 65535), (65535, 1), (65536, 2), (70001, 40000)]:
        a = theirs.frame(n, v)
        b = ours.render(n, v)
        assert a.dtype == np.uint8 and a.shape == (height, width, 3)
        assert np.array_equal(a, b), f"frame n={n} v={v} at {width}x{height} differs"


def test_frames_decode() -> None:
    frames = probe_frames.ProbeFrames(640, 360)
    for n, v in [(0, 0), (42, 4321), (65536 + 5, 65535)]:
        code = decode_probe(frames.frame(n, v))
        assert code is not None and (code.counter, code.value) == (n % 65536, v)


def test_rejects_what_probe_md_rules_out() -> None:
    with pytest.raises(ValueError):
        probe_frames.ProbeFrames(607, 360)
    with pytest.raises(ValueError):
        probe_frames.ProbeFrames(640, 63)
    with pytest.raises(ValueError):
        probe_frames.ProbeFrames(640, 360).frame(0, 65536)
