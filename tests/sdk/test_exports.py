"""The public surface is deliberate: ``__all__`` is sorted and is exactly what the package exports."""

from __future__ import annotations

import reactor_sdk


def test_all_is_sorted_and_complete() -> None:
    assert reactor_sdk.__all__ == sorted(reactor_sdk.__all__)
    public = {
        name
        for name, value in vars(reactor_sdk).items()
        if not name.startswith("_") and not getattr(value, "__file__", None)  # no submodules
    }
    assert set(reactor_sdk.__all__) == public | {"__version__"}


def test_seed_imports() -> None:
    from reactor_sdk import Reactor, ReactorError, ReactorStatus  # noqa: F401

    ready: str = ReactorStatus.READY
    assert ready == "ready"
    assert [s.value for s in ReactorStatus] == ["disconnected", "connecting", "waiting", "ready"]
