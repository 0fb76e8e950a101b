"""Where things are: this checkout, the shared folder beside it, and the peers' interpreters."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared"
NETNS_RUN = SHARED / "tools" / "netns-run"
TEST_MODELS = REPO / "tests" / "support" / "models"
"""On the server's import path, so ``--model crashy_models:CrashOnCommand`` style paths load."""


def official_python() -> Path:
    """The interpreter of the venv holding the official ``reactor-sdk`` (never our own package)."""
    return Path(os.environ.get("OPENREACTOR_OFFICIAL_PYTHON", REPO / ".interop-venv" / "bin" / "python"))
