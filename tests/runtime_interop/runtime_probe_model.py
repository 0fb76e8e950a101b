"""The PROBE.md benchmark model, written for Reactor's own runtime (``reactor-runtime`` 3.10).

Runs only inside ``.runtime-venv`` (Python >= 3.12, see ``scripts/runtime_venv.sh``); the
manifest the test writes names it as ``runtime_probe_model:ProbeApp`` and puts this folder on
``PYTHONPATH``. Surface, per PROBE.md:

* one output video track ``main_video`` (RGB uint8, ``(H, W, 3)``);
* state ``value: int`` in ``0..65535``, default 0, so the runtime generates the
  ``set_value {"value": <int>}`` command (a bodyless ack);
* ``W x H`` and the pinned playout rate from ``PROBE_WIDTH`` / ``PROBE_HEIGHT`` / ``PROBE_FPS``
  (defaults 1280 x 720 at 30 fps);
* frame index ``n`` restarts at 0 with every session; ``v`` is the state value read before
  generating frame ``n`` (commands run between steps, under the runtime's step lock);
* pacing: frame ``n`` is due at ``t0 + n / fps``, ``t0`` being the session's first step. The
  runtime asks for the next step as soon as its output queue has room, which would render up to
  a dozen frames ahead (about 0.4 s of latency at 30 fps); so, as PROBE.md asks of a server,
  a step that is not due yet is refused (``ApplicationError``; the runtime retries a few
  milliseconds later, with its step lock released so commands still apply). ``PROBE_PACED=0``
  leaves the pacing to the runtime alone.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import numpy.typing as npt
from probe_frames import ProbeFrames
from reactor_runtime import (
    ApplicationError,
    InputField,
    InputState,
    Output,
    ReactorApp,
    Video,
    session_started,
)


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    return int(raw) if raw else default


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    return float(raw) if raw else default


class ProbeState(InputState):
    value: int = InputField(default=0, ge=0, le=65535, description="Value drawn into the code band.")


class ProbeOutput(Output):
    main_video: Video


class ProbeApp(ReactorApp):
    state: ProbeState
    # Pinned playout rate; load() re-pins it from PROBE_FPS (the runtime reads it off the class).
    fps = 30.0

    def load(self, config_path: Path | None) -> None:
        type(self).fps = _env_float("PROBE_FPS", 30.0)
        self._frames = ProbeFrames(_env_int("PROBE_WIDTH", 1280), _env_int("PROBE_HEIGHT", 720))
        self._paced = os.environ.get("PROBE_PACED", "1").strip() != "0"
        self._n = 0
        self._t0: float | None = None

    @session_started
    async def _restart_counter(self) -> None:
        self._n = 0
        self._t0 = None

    async def process_input(self) -> int:
        if self._paced:
            now = time.monotonic()
            if self._t0 is None:
                self._t0 = now
            elif now < self._t0 + self._n / type(self).fps:
                raise ApplicationError("next probe frame not due yet")
        # Snapshot v before the frame is generated.
        return int(self.state.value)

    def generate(self, input: int, /) -> ProbeOutput:
        n = self._n
        self._n += 1
        frame: npt.NDArray[np.uint8] = self._frames.frame(n, input)
        return ProbeOutput(main_video=frame)
