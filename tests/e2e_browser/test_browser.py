"""The JS SDK's own tests, run from pytest so README's single test command covers them.

* ``npm test`` in ``js/``: vitest unit tests (codec golden examples shared with Python, errors,
  store, hooks), the seed snippets J1-J7 type-checked, and the built package's entry points.
* ``js/e2e/run.mjs``: Debian's Chromium (driven by playwright-core) against the real Python
  server: our SDK (core and React) and the official ``@reactor-team/js-sdk@2.9.0``, with the test
  app served from another origin than the API. Once on plain loopback
  (``--allow-loopback-in-peer-connection``) and once inside ``netns-run``, where Chromium gathers
  on an ordinary interface and hides its host candidates behind mDNS names.

Needs ``npm ci`` in ``js/`` (scripts/install.sh) and ``/usr/bin/chromium`` (.ci/run installs it).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import skip_unless_ci

REPO = Path(__file__).resolve().parents[2]
JS = REPO / "js"
NETNS_RUN = REPO.parent / "shared" / "tools" / "netns-run"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")


def _need(path: Path | str, hint: str) -> None:
    if not Path(path).exists():
        pytest.fail(f"{path} is missing: {hint}")


def _env() -> dict[str, str]:
    return {**os.environ, "OPENREACTOR_PYTHON": sys.executable, "CHROMIUM": CHROMIUM}


def _run(cmd: list[str], timeout: float) -> None:
    proc = subprocess.run(cmd, cwd=JS, env=_env(), capture_output=True, text=True, timeout=timeout)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"{' '.join(cmd)} failed ({proc.returncode}):\n{output[-12000:]}"
    print(output[-4000:])


@pytest.fixture(scope="module")
def node_modules() -> None:
    _need(JS / "node_modules" / ".package-lock.json", "run `npm ci` in js/ (scripts/install.sh does)")
    if shutil.which("npm") is None:
        pytest.fail("npm is not installed")


@pytest.mark.timeout(300)
def test_vitest(node_modules: None) -> None:
    _run(["npm", "test", "--silent"], timeout=280)


@pytest.mark.timeout(400)
def test_chromium_e2e_loopback(node_modules: None) -> None:
    _need(CHROMIUM, "install Debian's chromium (apt-get install -y chromium)")
    _run(["node", "e2e/run.mjs"], timeout=380)


@pytest.mark.timeout(400)
def test_chromium_e2e_netns_mdns(node_modules: None) -> None:
    """Chromium with mDNS candidate hiding on, on a non-loopback interface (no loopback flag)."""
    _need(CHROMIUM, "install Debian's chromium (apt-get install -y chromium)")
    if not os.access(NETNS_RUN, os.X_OK):
        skip_unless_ci(f"{NETNS_RUN} is missing")
    probe = subprocess.run([str(NETNS_RUN), "true"], capture_output=True, text=True, timeout=30)
    if probe.returncode != 0:
        skip_unless_ci(f"netns-run cannot create a network namespace here: {probe.stderr.strip()}")
    env_cmd = ["env", "E2E_ICE_HOST=127.0.0.2"]
    _run(
        [str(NETNS_RUN), *env_cmd, "node", "e2e/run.mjs", "--only", "coreProbe,coreWebcam,official"],
        timeout=380,
    )
