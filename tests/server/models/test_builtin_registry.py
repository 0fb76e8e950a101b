"""The built-in models' registry: names and descriptions without imports, each model imported
only when it is used (``--model probe`` never imports the world renderer)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from openreactor.models.api import Model
from openreactor.models.builtin import BUILTIN_MODELS, BUILTINS
from openreactor.models.loader import ModelNotFoundError, resolve_model_class


def run_fresh(script: str) -> str:
    """Run ``script`` in a fresh interpreter; returns what it printed."""
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_loading_probe_imports_no_other_builtin() -> None:
    out = run_fresh(
        """
        import sys
        from openreactor.models.loader import load_model
        model = load_model("probe", {})
        assert type(model).__name__ == "ProbeModel"
        print("\\n".join(sorted(m for m in sys.modules if m.startswith("openreactor.models.builtin"))))
        """
    )
    loaded = out.split()
    assert "openreactor.models.builtin.probe" in loaded
    assert not [m for m in loaded if m.startswith("openreactor.models.builtin.world")], loaded
    assert not [m for m in loaded if m.rsplit(".", 1)[-1] in ("echo", "webcam")], loaded


def test_listing_the_models_imports_none_of_them() -> None:
    out = run_fresh(
        """
        import contextlib, io, sys
        from openreactor.cli import main
        with contextlib.redirect_stdout(io.StringIO()) as listing:
            assert main(["models"]) == 0
        names = [line.split()[0] for line in listing.getvalue().splitlines()]
        assert names == ["echo", "probe", "webcam", "world"], names
        print("\\n".join(m for m in sys.modules if m.startswith("openreactor.models.builtin.")))
        """
    )
    assert out.split() == []


@pytest.mark.parametrize("entry", BUILTINS, ids=[e.name for e in BUILTINS])
def test_each_entry_names_its_class_and_repeats_its_description(entry: object) -> None:
    from openreactor.models.builtin import BuiltinModel

    assert isinstance(entry, BuiltinModel)
    cls = BUILTIN_MODELS[entry.name]
    assert isinstance(cls, type) and issubclass(cls, Model)
    assert cls.name == entry.name
    assert cls.description == entry.description, "update the registry's copy of the description"
    assert resolve_model_class(entry.name) is cls


def test_names_are_known_without_importing_and_unknown_ones_refused() -> None:
    assert sorted(BUILTIN_MODELS) == ["echo", "probe", "webcam", "world"]
    assert "probe" in BUILTIN_MODELS and "nope" not in BUILTIN_MODELS
    with pytest.raises(ModelNotFoundError, match="built-ins are echo, probe, webcam, world"):
        resolve_model_class("nope")
