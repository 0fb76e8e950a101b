"""The ``webcam`` model: shows the newest frame of its ``webcam`` input, visibly transformed.

The transform (:func:`webcam_effect`) mirrors the picture, posterises it to four levels per
channel, takes a quarter off the red channel (a cyan tint) and frames it with an orange border,
so a client sees at a glance that its camera went through the model. Until a client publishes
the input it shows moving grey stripes inside the same border ("waiting for webcam").
"""

from __future__ import annotations

import numpy as np

from openreactor.models.api import Frame, Model, ModelContext, TrackSpec

BORDER_RGB = (255, 160, 0)
STRIPE_LEVELS = (40, 88)
STRIPE_PERIOD = 48


def border_width(width: int, height: int) -> int:
    return max(2, min(width, height) // 24)


def webcam_effect(frame: Frame, width: int, height: int) -> Frame:
    """``frame`` (any size) → mirrored, posterised, cyan-tinted, bordered ``(height, width, 3)``."""
    b = border_width(width, height)
    inner_h, inner_w = height - 2 * b, width - 2 * b
    src_h, src_w = frame.shape[:2]
    rows = np.arange(inner_h) * src_h // inner_h
    cols = (np.arange(inner_w) * src_w // inner_w)[::-1]  # mirrored, like a selfie view
    picture = frame[rows[:, None], cols[None, :]]
    picture = (picture & 0xC0) | 0x20  # four levels per channel: 32, 96, 160, 224
    picture[:, :, 0] = picture[:, :, 0] // 4 * 3
    out = np.empty((height, width, 3), dtype=np.uint8)
    out[:] = BORDER_RGB
    out[b : b + inner_h, b : b + inner_w] = picture
    return out


def waiting_pattern(width: int, height: int, index: int) -> Frame:
    """Diagonal grey stripes drifting right inside the border: no input yet."""
    b = border_width(width, height)
    y, x = np.ogrid[:height, :width]
    phase = ((x + y - 2 * index) // (STRIPE_PERIOD // 2)) % 2
    levels = np.asarray(STRIPE_LEVELS, dtype=np.uint8)[phase]
    out = np.repeat(levels[:, :, None], 3, axis=2)
    out[:b], out[-b:], out[:, :b], out[:, -b:] = BORDER_RGB, BORDER_RGB, BORDER_RGB, BORDER_RGB
    return out


class WebcamModel(Model):
    """Transforms the client's ``webcam`` input into ``main_video`` (see :func:`webcam_effect`)."""

    name = "webcam"
    description = "Mirrors, posterises and tints the client's webcam input."
    tracks = (TrackSpec("webcam", "video", "in"), TrackSpec("main_video", "video", "out"))

    def __init__(self, width: int = 640, height: int = 360, fps: float = 30.0) -> None:
        if width < 16 or height < 16:
            raise ValueError(f"webcam output must be at least 16x16, got {width}x{height}")
        self.width = width
        self.height = height
        self.fps = float(fps)

    def next_frame(self, ctx: ModelContext) -> Frame:
        frame = ctx.input_frame("webcam")
        if frame is None:
            return waiting_pattern(self.width, self.height, ctx.frame_index)
        return webcam_effect(frame, self.width, self.height)
