"""Models that return torch tensors: the runtime converts them to RGB uint8 frames.

Skipped only where torch is missing *and* ``CI`` is unset (CI installs torch's CPU wheel).
"""

from __future__ import annotations

import importlib.util
import os
import sys

import numpy as np
import pytest

from openreactor.models.outputs import OutputError, to_frames
from openreactor.testing import run_model

if importlib.util.find_spec("torch") is None and not os.environ.get("CI"):
    pytest.skip("torch is not installed (CI installs it)", allow_module_level=True)

import torch  # noqa: E402

from support.paths import REPO

EXAMPLES = REPO / "examples" / "models"


def test_tensor_layouts_become_rgb_uint8() -> None:
    chw = torch.zeros(3, 4, 6)
    chw[0] = 1.0
    chw[2] = 0.5
    (frame,) = to_frames(chw)
    assert frame is not None
    assert frame.shape == (4, 6, 3) and frame.dtype == np.uint8 and frame.flags.c_contiguous
    assert tuple(frame[0, 0]) == (255, 0, 128)
    hwc = torch.full((4, 6, 3), 7, dtype=torch.uint8)
    (same,) = to_frames(hwc)
    assert same is not None and tuple(same[3, 5]) == (7, 7, 7)
    chunk = torch.rand(5, 3, 4, 6, requires_grad=True) * 2  # out of range: clamped
    frames = to_frames(chunk)
    assert len(frames) == 5 and all(f is not None and f.shape == (4, 6, 3) for f in frames)
    with pytest.raises(OutputError):
        to_frames(torch.zeros(2, 4, 6))


def test_the_torch_example_runs_and_takes_commands() -> None:
    sys.path.insert(0, str(EXAMPLES))
    try:
        from torch_noise import TorchNoise
    finally:
        sys.path.remove(str(EXAMPLES))
    run = run_model(TorchNoise(64, 48), frames=4, commands=[(2, "set_tint", {"tint": 1.0})])
    assert [r.error for r in run.replies] == [None]
    assert all(f.shape == (48, 64, 3) and f.dtype == np.uint8 for f in run.frames)
    assert run.frames[3][..., 0].min() == 255  # fully tinted red channel
    assert run.frames[0][..., 0].min() < 255
