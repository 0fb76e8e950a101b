"""``reactor_protocol.__all__`` is sorted and lists exactly the package's public names."""

from __future__ import annotations

import inspect

import reactor_protocol


def test_all_is_sorted_and_unique() -> None:
    names = list(reactor_protocol.__all__)
    assert names == sorted(names)
    assert len(names) == len(set(names))


def test_all_matches_the_real_exports() -> None:
    for name in reactor_protocol.__all__:
        assert hasattr(reactor_protocol, name), name
    public = {
        name
        for name, value in vars(reactor_protocol).items()
        if not name.startswith("_") and not inspect.ismodule(value) and name != "annotations"
    }
    assert public == set(reactor_protocol.__all__)
