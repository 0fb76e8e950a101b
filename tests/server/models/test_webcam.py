"""The built-in ``webcam`` model on its own: the transform, the waiting pattern, input handling."""

from __future__ import annotations

import numpy as np

from openreactor.models.api import Frame, Message
from openreactor.models.builtin import BUILTIN_MODELS
from openreactor.models.builtin.webcam import (
    BORDER_RGB,
    WebcamModel,
    border_width,
    waiting_pattern,
    webcam_effect,
)


class FakeContext:
    """Just enough ModelContext for a unit test of ``next_frame``."""

    def __init__(self, frame: Frame | None) -> None:
        self.frame = frame
        self.session_id = "s"
        self.frame_index = 0
        self.asked: list[str] = []

    def broadcast(self, message: Message) -> None:
        raise AssertionError("webcam broadcasts nothing")

    def input_frame(self, track: str) -> Frame | None:
        self.asked.append(track)
        return self.frame


def test_registered_with_an_input_and_an_output() -> None:
    assert BUILTIN_MODELS["webcam"] is WebcamModel
    assert [(t.name, t.direction) for t in WebcamModel.tracks] == [("webcam", "in"), ("main_video", "out")]


def test_effect_mirrors_posterises_tints_and_frames() -> None:
    picture = np.zeros((90, 160, 3), np.uint8)
    picture[:, :80] = (200, 10, 100)  # left
    picture[:, 80:] = (0, 255, 130)  # right
    out = webcam_effect(picture, 320, 180)
    b = border_width(320, 180)
    assert out.shape == (180, 320, 3) and out.dtype == np.uint8
    assert (
        tuple(out[0, 0]) == BORDER_RGB
        and tuple(out[-1, -1]) == BORDER_RGB
        and tuple(out[90, b - 1]) == BORDER_RGB
    )
    # Mirrored: the right input half is on the left. Posterised to 32/96/160/224, red at 3/4.
    assert tuple(out[90, 40]) == (32 // 4 * 3, 224, 160)
    assert tuple(out[90, 280]) == (224 // 4 * 3, 32, 96)


def test_next_frame_uses_the_input_or_waits() -> None:
    model = WebcamModel(width=64, height=48)
    waiting = model.next_frame(FakeContext(None))  # type: ignore[arg-type]
    assert np.array_equal(waiting, waiting_pattern(64, 48, 0))
    assert len(np.unique(waiting[10:-10, 10:-10, 0])) == 2, "stripes, not a flat picture"
    ctx = FakeContext(np.full((10, 10, 3), 255, np.uint8))
    shown = model.next_frame(ctx)  # type: ignore[arg-type]
    assert ctx.asked == ["webcam"]
    assert shown.shape == (48, 64, 3) and tuple(shown[24, 32]) == (224 // 4 * 3, 224, 224)
