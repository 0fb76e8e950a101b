"""Runs every Python snippet of the seed page against real servers; prints one JSON line per snippet.

Run inside ``netns-run`` (see test_seed_snippets.py): servers bind 127.0.0.2 and both they and
the SDK use ICE defaults, which in that namespace pick the veth's 127.0.0.2 — so the snippets
need no networking arguments. Only the model name, the API key (from the environment, as the
snippets read it) and what the run waits for (frames, replies, what a snippet printed: with
``eventually`` from ``tests/support/waiting.py``) are filled in around them.

Usage: seed_runner.py SNIPPETS_MD
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import re
import subprocess
import sys
import textwrap
import traceback
from pathlib import Path
from typing import Any

import httpx

sys.path.append(str(Path(__file__).resolve().parents[1]))  # tests/, for the waiting helper
from support.waiting import eventually, wait_until  # noqa: E402

HOST = "127.0.0.2"


def extract_python_snippets(markdown: str) -> dict[str, str]:
    """``{"P1": code, ...}`` from the seed's snippets page (its ``### Pn`` headings)."""
    snippets = {}
    for match in re.finditer(r"^### (P\d+)[^\n]*\n```python\n(.*?)^```", markdown, re.S | re.M):
        snippets[match.group(1)] = match.group(2)
    return snippets


def start_server(model: str, port: int, state_dir: Path) -> subprocess.Popen[bytes]:
    args = [
        sys.executable,
        "-m",
        "openreactor",
        "serve",
        "--model",
        model,
        "--host",
        HOST,
        "--port",
        str(port),
        "--state-dir",
        str(state_dir),
        "--log-level",
        "warning",
    ]
    if model == "probe":
        args += ["--width", "640", "--height", "360"]
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def healthy() -> bool:
        if process.poll() is not None:
            raise RuntimeError(f"{model} server exited with status {process.returncode}")
        return httpx.get(f"http://{HOST}:{port}/health", timeout=1).status_code == 200

    wait_until(healthy, timeout=60, interval=0.1, ignoring=(httpx.HTTPError,), what=f"the {model} server")
    return process


def indent(code: str, level: int) -> str:
    return textwrap.indent(code, " " * (4 * level))


PRELUDE = """
import asyncio, os
from reactor_sdk import Reactor, ReactorError, ReactorStatus
"""


def scenario_source(name: str, snippet: str, model: str) -> str:
    """A program around ``snippet``: it defines ``async def scenario(obs)`` filling ``obs``."""
    code = snippet.replace("your-model-name", model)
    new_reactor = f'reactor = Reactor(model_name="{model}", api_key=os.environ["REACTOR_API_KEY"])\n'
    if name == "P1":
        body = code + "obs['status_after'] = reactor.status.value\n"
    elif name == "P2":
        body = (
            new_reactor + code + "async with reactor:\n"
            "    await eventually(lambda: printed().count('Frame: (') >= 20, what='20 frames printed')\n"
        )
    elif name == "P3":
        body = (
            new_reactor + "got = []\nreactor.on_frame(got.append)\n"
            "def my_model(frame):\n    return float(frame.mean())\n"
            "async with reactor:\n    await eventually(lambda: got, what='a frame')\n"
            "frame = got[-1]\n" + code + "obs['result'] = result\nobs['shape'] = list(frame.shape)\n"
        )
    elif name == "P4":
        body = (
            new_reactor
            + "replies = []\nreactor.on('message', replies.append)\n"
            + code
            + "async with reactor:\n    await eventually(lambda: replies, what='the reply to set_prompt')\n"
            "obs['replies'] = replies\n"
        )
    elif name == "P5":
        body = (
            new_reactor + "from PIL import Image\nimport numpy as np\n"
            "Image.fromarray(np.full((48, 64, 3), 200, np.uint8)).save('photo.jpg')\n"
            "image_bytes = open('photo.jpg', 'rb').read()\n"
            "async with reactor:\n"
            + indent(code, 1)
            + "    obs['ref'] = {'name': ref.name, 'mime_type': ref.mime_type, 'size': ref.size}\n"
            "    obs['reply'] = await reactor.send_command('describe', {'photo': ref, 'transition': 0.5})\n"
        )
    elif name == "P6":
        body = (
            new_reactor
            + "frames = []\nreactor.on_frame(frames.append)\n"
            + code
            + "async with reactor:\n    await eventually(lambda: frames, what='a frame')\n"
            "    await reactor._link.pc.close()  # the transport dies under the client\n"
            "    await eventually(lambda: 'Retrying in' in printed(), what='the error handler to print')\n"
        )
    elif name == "P7a":
        body = (
            new_reactor
            + "async with reactor:\n    sid = reactor.session_id\n"
            + indent(code, 1)
            + "    obs['status'] = reactor.status.value\n    obs['session_id_after'] = reactor.session_id\n"
        )
    elif name == "P7b":
        body = (
            new_reactor + "codes = []\nreactor.on_frame(lambda f: codes.append(f))\n"
            "async with reactor:\n    sid = reactor.session_id\n"
            "    await eventually(lambda: codes, what='a frame')\n"
            + indent(code, 1)
            + "    obs['same_session'] = reactor.session_id == sid\n    obs['status'] = reactor.status.value\n"
            "    n = len(codes)\n"
            "    await eventually(lambda: len(codes) - n >= 10, what='10 frames after the reconnect')\n"
            "    obs['frames_after_reconnect'] = len(codes) - n\n"
        )
    elif name == "P8":
        body = (
            new_reactor + "frames = []\nreactor.on_frame(frames.append)\n"
            "statuses = []\nreactor.on_status(statuses.append)\n"
            + code
            + "async with reactor:\n    sid = reactor.session_id\n"
            "    await eventually(lambda: frames, what='a frame')\n"
            "    mark = len(statuses)\n"
            "    await reactor._link.pc.close()  # the transport dies under the client\n"
            "    await eventually(\n"
            "        lambda: ReactorStatus.READY in statuses[mark:] and reactor.status == ReactorStatus.READY,\n"
            "        what='the drop and the reconnect',\n"
            "    )\n"
            "    n = len(frames)\n"
            "    await eventually(lambda: len(frames) - n >= 10, what='10 frames after the reconnect')\n"
            "    obs['reconnected'] = reactor.status.value\n    obs['same_session'] = reactor.session_id == sid\n"
            "    obs['frames_after'] = len(frames) - n\n"
        )
    else:
        raise ValueError(name)
    return PRELUDE + "async def scenario(obs):\n" + indent(body, 1)


async def run_scenario(name: str, source: str) -> dict[str, Any]:
    out = io.StringIO()
    # What the wrappers wait with: the one waiting helper, and what the snippet printed so far.
    namespace: dict[str, Any] = {"eventually": eventually, "printed": out.getvalue}
    obs: dict[str, Any] = {"snippet": name}
    try:
        exec(compile(source, f"<seed {name}>", "exec"), namespace)
        with contextlib.redirect_stdout(out):
            await asyncio.wait_for(namespace["scenario"](obs), 40)
        obs["ok"] = True
    except BaseException as exc:  # report, never crash the runner
        obs["ok"] = False
        obs["error"] = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        obs["traceback"] = traceback.format_exc()[-2000:]
    obs["stdout"] = out.getvalue()
    return obs


async def main(snippets_md: Path) -> None:
    snippets = extract_python_snippets(snippets_md.read_text())
    p7a, _, p7b = snippets.pop("P7").partition("# Disconnect but keep the session alive on the server")
    snippets["P7a"], snippets["P7b"] = p7a, "# Disconnect but keep the session alive on the server" + p7b
    workdir = Path(os.environ.get("SEED_WORKDIR", "."))
    os.chdir(workdir)
    # One port for every server: the SDK's default API URL is read from REACTOR_API_URL once, at import.
    port = 18181
    os.environ["REACTOR_API_URL"] = f"http://{HOST}:{port}"
    print(json.dumps({"snippets": sorted(snippets)}), flush=True)
    for model, names in (("probe", ["P1", "P2", "P3", "P6", "P7a", "P7b", "P8"]), ("echo", ["P4", "P5"])):
        state_dir = workdir / f"state-{model}"
        process = start_server(model, port, state_dir)
        try:
            key = subprocess.run(
                [sys.executable, "-m", "openreactor", "keys", "--state-dir", str(state_dir), "create"],
                check=True,
                capture_output=True,
                text=True,
            ).stdout.split()[1]
            os.environ["REACTOR_API_KEY"] = key
            for name in names:
                obs = await run_scenario(name, scenario_source(name, snippets[name], model))
                obs["server_session_after"] = httpx.get(
                    f"http://{HOST}:{port}/session", timeout=30
                ).status_code
                print(json.dumps(obs, default=str), flush=True)
        finally:
            process.terminate()
            process.wait(15)


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1])))
