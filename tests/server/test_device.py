"""``server_info.device``: "cuda" only when the model's torch sees a GPU; torch is never imported."""

from __future__ import annotations

import sys
import types

import pytest

from openreactor.device import compute_device


def fake_torch(available: bool | None) -> types.ModuleType:
    torch = types.ModuleType("torch")

    def is_available() -> bool:
        if available is None:
            raise RuntimeError("broken CUDA install")
        return available

    torch.cuda = types.SimpleNamespace(is_available=is_available)  # type: ignore[attr-defined]
    return torch


def test_without_torch_loaded_it_is_cpu_and_torch_stays_unimported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "torch", raising=False)
    assert compute_device() == "cpu"
    assert "torch" not in sys.modules


@pytest.mark.parametrize(("available", "device"), [(True, "cuda"), (False, "cpu"), (None, "cpu")])
def test_loaded_torch_decides(monkeypatch: pytest.MonkeyPatch, available: bool | None, device: str) -> None:
    monkeypatch.setitem(sys.modules, "torch", fake_torch(available))
    assert compute_device() == device
