"""The JS SDK's own tests, run from pytest so README's single test command covers them.

* ``npm test`` in ``js/``: vitest unit tests (codec golden examples shared with Python, errors,
  store, hooks), the seed snippets J1-J7 type-checked, and the built package's entry points.
* ``js/e2e/run.mjs``: Debian's Chromium (driven by playwright-core) against the real Python
  server: our SDK (core and React), the playground and the official ``@reactor-team/js-sdk@2.9.0``,
  with the test app served from another origin than the API and the servers started with no
  ``--cors-origin`` (the default CORS rule must let an app's page in). Chromium runs as users run
  it: no camera permission, no fake devices (the webcam scenarios publish a canvas track).

  1. on plain loopback: ICE on 127.0.0.1 and Chromium with ``--allow-loopback-in-peer-connection``
     (the one flag that loopback needs), every scenario, plus the labelled ``reactWebcamDevice``:
     a fake camera with a granted permission, in a browser of its own;
  2. inside ``netns-run``: the servers with default ICE settings (no ``--ice-host``: aioice takes
     the namespace's only non-loopback address, the veth's 127.0.0.2) and Chromium with no extra
     flags at all. Hermetic, so it behaves the same on any machine that can make a namespace
     (the host's own interfaces would work too, but differ from machine to machine). Without a
     permission grant Chromium signals no host candidate there; it connects from a socket it does
     not signal, which the server learns as a peer-reflexive candidate;
  3. in a network namespace with nothing but loopback: the servers on ``--ice-host 127.0.0.1`` and
     Chromium with no flags cannot connect, and the playground and the server's log must say why
     and what to do (well before the 30 s ready timeout).

Needs ``npm ci`` in ``js/`` (scripts/install_test.sh) and ``/usr/bin/chromium`` (.ci/run installs it).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from support.servers import skip_unless_ci

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
    _need(JS / "node_modules" / ".package-lock.json", "run `npm ci` in js/ (scripts/install_test.sh does)")
    if shutil.which("npm") is None:
        pytest.fail("npm is not installed")


@pytest.mark.timeout(300)
def test_vitest(node_modules: None) -> None:
    _run(["npm", "test", "--silent"], timeout=280)


@pytest.mark.timeout(400)
def test_chromium_e2e_loopback(node_modules: None) -> None:
    _need(CHROMIUM, "install Debian's chromium (apt-get install -y chromium)")
    _run(["node", "e2e/run.mjs"], timeout=380)


PLAIN_SCENARIOS = "coreProbe,coreUpload,coreWebcam,react,reactWebcam,playground,official"
"""Every scenario but the labelled camera-permission one and ``noRoute`` (a setup of its own)."""


def _namespace_or_skip(cmd: list[str]) -> None:
    probe = subprocess.run([*cmd, "true"], capture_output=True, text=True, timeout=30)
    if probe.returncode != 0:
        skip_unless_ci(f"cannot create a network namespace here: {probe.stderr.strip()}")


@pytest.mark.timeout(400)
def test_chromium_e2e_netns_mdns(node_modules: None) -> None:
    """Chromium with no extra flags (mDNS hiding on) against servers with default ICE settings,
    the playground and the official 2.9.0 client from another origin included."""
    _need(CHROMIUM, "install Debian's chromium (apt-get install -y chromium)")
    if not os.access(NETNS_RUN, os.X_OK):
        skip_unless_ci(f"{NETNS_RUN} is missing")
    _namespace_or_skip([str(NETNS_RUN)])
    env_cmd = ["env", "E2E_ICE_HOST=default"]
    _run([str(NETNS_RUN), *env_cmd, "node", "e2e/run.mjs", "--only", PLAIN_SCENARIOS], timeout=380)


def _loopback_only_namespace() -> list[str]:
    """Run a command in a network namespace whose only interface is ``lo`` (up)."""
    unshare = ["unshare", "--net"] if os.getuid() == 0 else ["unshare", "--map-root-user", "--net"]
    return [*unshare, "sh", "-c", 'ip link set lo up && exec "$@"', "sh"]


@pytest.mark.timeout(200)
def test_chromium_without_a_usable_candidate_is_told_why(node_modules: None) -> None:
    """``--ice-host 127.0.0.1`` and a browser with no non-loopback interface: the playground shows
    the candidates of both ends and the fix, and the server logs the same, both within seconds."""
    _need(CHROMIUM, "install Debian's chromium (apt-get install -y chromium)")
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        skip_unless_ci("unshare and ip (util-linux, iproute2) are needed for a loopback-only namespace")
    _namespace_or_skip(_loopback_only_namespace())
    env_cmd = ["env", "E2E_ICE_HOST=127.0.0.1", "E2E_ALLOW_LOOPBACK=0"]
    _run([*_loopback_only_namespace(), *env_cmd, "node", "e2e/run.mjs", "--only", "noRoute"], timeout=180)
