"""What a model produced → the RGB uint8 frames the pacer plays out.

Accepted: ``None`` (idle tick), a frame ``(H, W, 3)``, a chunk ``(N, H, W, 3)``, as numpy uint8,
numpy float in [0, 1], or torch tensors: uint8 channels-last, or float channels-first
``(C, H, W)`` / ``(N, C, H, W)`` in [0, 1] (the torch convention). torch is never imported here:
a tensor is recognised by its type's module, so the server runs without torch installed.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

from openreactor.models.api import Frame


class OutputError(TypeError):
    """A model produced something that is not a frame or a chunk."""


def _is_torch_tensor(value: Any) -> bool:
    return type(value).__module__.startswith("torch") and hasattr(value, "detach")


def _torch_to_numpy(tensor: Any) -> np.ndarray[Any, Any]:
    t = tensor.detach()
    if t.ndim in (3, 4) and t.shape[-1] != 3 and t.shape[-3] == 3:
        t = t.movedim(-3, -1)  # channels first → channels last
    if t.is_floating_point():
        t = (t.clamp(0, 1) * 255).round().to(dtype=_torch_uint8(t))
    return np.ascontiguousarray(t.cpu().contiguous().numpy())


def _torch_uint8(tensor: Any) -> Any:
    return sys.modules["torch"].uint8  # loaded: the model handed us one of its tensors


def to_frames(output: Any) -> list[Frame | None]:
    """The frames in ``output`` (``[None]`` for an idle tick); raises :class:`OutputError`."""
    if output is None:
        return [None]
    array = _torch_to_numpy(output) if _is_torch_tensor(output) else output
    if not isinstance(array, np.ndarray):
        raise OutputError(f"a model must produce numpy arrays or torch tensors, not {type(output).__name__}")
    if array.dtype != np.uint8:
        if not np.issubdtype(array.dtype, np.floating):
            raise OutputError(f"frames must be uint8 (or float in [0, 1]), not {array.dtype}")
        if array.ndim in (3, 4) and array.shape[-1] != 3 and array.shape[-3] == 3:
            array = np.moveaxis(array, -3, -1)
        array = np.rint(np.clip(array, 0.0, 1.0) * 255.0).astype(np.uint8)
    if array.ndim == 3 and array.shape[-1] == 3:
        return [np.ascontiguousarray(array)]
    if array.ndim == 4 and array.shape[-1] == 3:
        array = np.ascontiguousarray(array)
        return [array[i] for i in range(array.shape[0])]
    raise OutputError(f"expected a frame (H, W, 3) or a chunk (N, H, W, 3), got shape {tuple(array.shape)}")
