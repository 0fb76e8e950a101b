"""Paint: the model of docs/writing-a-model.md.

A coloured background with a white square sliding across it. Clients repaint the background with
a typed command, change the square's speed through a state field, and get a greeting when they
connect. Serve it with::

    PYTHONPATH=examples/models openreactor serve --model paint:Paint --ice-host 127.0.0.1
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Annotated

import numpy as np

from openreactor import Arg, Frame, Model, ModelContext, command, state


class Color(enum.Enum):
    RED = "red"
    GREEN = "green"
    BLUE = "blue"


RGB = {Color.RED: (255, 0, 0), Color.GREEN: (0, 255, 0), Color.BLUE: (0, 0, 255)}


@dataclass
class Painted:
    """The reply to ``paint``: the background colour now in use."""

    rgb: list[int]


@dataclass
class Welcome:
    """Broadcast when a client connects."""

    clients: int
    color: str


class Paint(Model):
    """A coloured background with a white square sliding across it."""

    name = "paint"
    description = "Repaint the background, change the square's speed."
    messages = (Welcome,)

    speed: int = state(4, ge=0, le=40, description="How many pixels the square moves per frame.")

    def __init__(self, width: int = 320, height: int = 180, fps: float = 30.0) -> None:
        self.width, self.height, self.fps = width, height, float(fps)
        self.color = Color.RED
        self.brightness = 1.0
        self.x = 0

    def on_session_start(self, ctx: ModelContext) -> None:
        self.color, self.brightness, self.x = Color.RED, 1.0, 0

    def on_client_connected(self, ctx: ModelContext, connection_id: int) -> None:
        ctx.broadcast(Welcome(clients=ctx.client_count, color=self.color.value))

    @command
    def paint(
        self,
        color: Color,
        brightness: Annotated[float, Arg(ge=0.0, le=1.0, description="1 is full colour.")] = 1.0,
    ) -> Painted:
        """Paint the background."""
        self.color, self.brightness = color, brightness
        return Painted(rgb=list(self.background()))

    def background(self) -> tuple[int, int, int]:
        r, g, b = RGB[self.color]
        return (round(r * self.brightness), round(g * self.brightness), round(b * self.brightness))

    def next_frame(self, ctx: ModelContext) -> Frame:
        frame = np.empty((self.height, self.width, 3), np.uint8)
        frame[:] = self.background()
        side = self.height // 4
        self.x = (self.x + self.speed) % (self.width - side)
        top = (self.height - side) // 2
        frame[top : top + side, self.x : self.x + side] = 255
        return frame
