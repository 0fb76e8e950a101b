"""What the session descriptor reports as the compute device (``server_info.device``).

``"cuda"`` only when torch is loaded in the process that runs the model and sees a CUDA device;
``"cpu"`` otherwise. torch is never imported here: a model that computes on a GPU through torch
has imported it already, and importing it just to ask would cost seconds and hundreds of MB (or
fail, on a server without it). Clients use the field to name the side of an error truthfully
("gpu" only on a GPU server).
"""

from __future__ import annotations

import sys
from functools import cache
from typing import Any, Literal, TypeAlias

Device: TypeAlias = Literal["cpu", "cuda"]


def compute_device() -> Device:
    """``"cuda"`` if the already-imported torch has CUDA available, else ``"cpu"``."""
    torch = sys.modules.get("torch")
    if torch is None:
        return "cpu"
    return _torch_device(torch)


@cache
def _torch_device(torch: Any) -> Device:
    try:
        return "cuda" if bool(torch.cuda.is_available()) else "cpu"
    except Exception:  # a broken or partial install: not a GPU we can vouch for
        return "cpu"
