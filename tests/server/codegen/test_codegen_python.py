"""``openreactor codegen python``: generated typed clients type-check under ``mypy --strict``,
send exactly what the equivalent ``send_command`` sends, and work against a real server."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import subprocess
import sys
import threading
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from openreactor.codegen import CodegenError, generate_python, reserved_names
from openreactor.codegen.python import class_name_for, identifier
from openreactor.models.builtin.probe_pattern import decode_probe
from openreactor.models.loader import load_model
from openreactor.models.schema import openapi_document
from reactor_sdk import FileRef, Reactor, __version__
from support.paths import REPO
from support.waiting import eventually

HERE = Path(__file__).parent
RICH = json.loads((HERE / "rich_schema.json").read_text())


def builtin_doc(name: str) -> dict[str, Any]:
    return openapi_document(load_model(name, {}))


def load_module(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def vista(tmp_path: Path) -> ModuleType:
    path = tmp_path / "vista_client.py"
    path.write_text(generate_python(RICH, source="rich_schema.json"))
    return load_module(path, "vista_client")


# ------------------------------------------------------------------------------------------------
# the generated text


@pytest.mark.timeout(240)
def test_generated_clients_pass_mypy_strict(tmp_path: Path) -> None:
    files = {
        "probe_client.py": generate_python(builtin_doc("probe")),
        "echo_client.py": generate_python(builtin_doc("echo")),
        "webcam_client.py": generate_python(builtin_doc("webcam")),
        "vista_client.py": generate_python(RICH),
    }
    for name, text in files.items():
        (tmp_path / name).write_text(text)
        compile(text, name, "exec")
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", *files],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=230,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_provenance_names_and_types() -> None:
    text = generate_python(RICH, source="rich_schema.json")
    assert "- model: acme/vista" in text and "- schema version: v1.2.3" in text
    assert f"reactor_sdk {__version__}" in text and "- source: rich_schema.json" in text
    assert "class VistaModel(Reactor):" in text
    assert "async def connect_command(self) -> None:" in text  # clashes with Reactor.connect
    assert 'await self.send_command("connect", {})' in text
    assert "def on_error_message(self" in text  # on_error is the SDK's
    assert "class_: str | Unset = UNSET" in text and '"class": class_' in text
    assert "kind_of: str | Unset | None = UNSET" in text
    assert 'mode: Literal["fast", "quality"],' in text
    assert "level: Literal[1, 2, 3] | Unset | None = UNSET" in text
    assert "image: FileRef," in text and "masks: list[FileRef] | Unset = UNSET" in text
    assert "matrix: list[list[float]] | Unset = UNSET" in text
    assert "async def measure(self, *, region: str | Unset = UNSET) -> Measurement:" in text
    assert "(minimum=0, maximum=2, default=1.0)" in text


def test_reserved_names_come_from_the_sdk_surface() -> None:
    names = reserved_names()
    for member in (
        "connect",
        "disconnect",
        "reconnect",
        "on",
        "off",
        "track",
        "tracks",
        "send_command",
        "upload_file",
        "publish_track",
        "on_frame",
        "status",
        "model_name",
        "api_url",
        "local",
    ):
        assert member in names
    assert "set_prompt" not in names


def test_helpers_and_errors() -> None:
    assert class_name_for("acme/vista") == "VistaModel" and class_name_for("probe") == "ProbeModel"
    assert class_name_for("my-model_2") == "MyModel2Model"
    assert (
        identifier("class") == "class_" and identifier("kind-of") == "kind_of" and identifier("3d") == "_3d"
    )
    with pytest.raises(CodegenError):
        generate_python({"swagger": "2.0"})
    with pytest.raises(CodegenError, match="ref"):
        generate_python({**RICH, "components": {"schemas": {}}})


# ------------------------------------------------------------------------------------------------
# behaviour of a generated class


async def test_methods_send_what_send_command_would(vista: ModuleType) -> None:
    client = vista.VistaModel(local=True)
    assert isinstance(client, Reactor) and client.model_name == "acme/vista"
    assert vista.VistaModel.TRACKS == (
        ("main_video", "video", "recvonly"),
        ("main_audio", "audio", "recvonly"),
        ("webcam", "video", "sendonly"),
    )
    sent: list[tuple[str, Any]] = []

    async def fake_send(command: str, data: Any = None, **kw: Any) -> Any:
        sent.append((command, data))
        if command == "measure":
            return {"type": "measurement", "data": {"value": 0.5, "samples": 3.0}}
        return None

    client.send_command = fake_send
    ref = FileRef("u1", "a.png", "image/png", 3)
    await client.set_prompt(prompt="a forest")
    await client.send_image(image=ref)
    await client.send_image(image=ref, weight=0.8, masks=[ref])
    await client.configure(steps=3, mode="fast", seed=None, class_="x", kind_of=None)
    await client.reset()
    await client.connect_command()
    measured = await client.measure()
    assert sent == [
        ("set_prompt", {"prompt": "a forest"}),
        ("send_image", {"image": ref}),  # weight left out: the model's default applies
        ("send_image", {"image": ref, "weight": 0.8, "masks": [ref]}),
        ("configure", {"steps": 3, "mode": "fast", "seed": None, "class": "x", "kind-of": None}),
        ("reset", {}),
        ("connect", {}),
        ("measure", {}),
    ]
    assert measured == vista.Measurement(value=0.5, samples=3)
    assert isinstance(measured.samples, int)
    assert repr(vista.UNSET) == "UNSET" and not vista.UNSET and vista.Unset() is vista.UNSET


async def test_message_decorators_get_typed_messages(vista: ModuleType) -> None:
    client = vista.VistaModel(local=True)
    infos: list[Any] = []
    errors: list[Any] = []
    assert client.on_frame_info(infos.append) == infos.append
    client.on_error_message(errors.append)
    client._events.emit(
        "message", {"type": "frame_info", "data": {"index": 7.0, "fps": 30.0, "counts": [1.0, 2.0]}}
    )
    client._events.emit("message", {"type": "other", "data": {}})
    client._events.emit("message", {"type": "error", "data": {"text": "boom"}})
    assert infos == [vista.FrameInfo(index=7, fps=30.0, counts=[1, 2])]
    assert isinstance(infos[0].index, int) and infos[0].labels is None
    assert errors == [vista.ErrorMessage(text="boom")]


# ------------------------------------------------------------------------------------------------
# the command line and a real server


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "openreactor", "codegen", "python", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_cli_from_a_schema_file_and_a_builtin(tmp_path: Path) -> None:
    out = tmp_path / "vista.py"
    assert run_cli("--schema", str(HERE / "rich_schema.json"), "--out", str(out)).returncode == 0
    assert "class VistaModel(Reactor):" in out.read_text()
    named = run_cli("--model", "probe", "--class-name", "Probe")
    assert named.returncode == 0 and "class Probe(Reactor):" in named.stdout
    bad = run_cli("--model", "no-such-model-anywhere")
    assert bad.returncode == 2 and "openreactor codegen" in bad.stderr


@pytest.mark.timeout(90)
async def test_generated_probe_client_against_a_real_server(probe_server: str, tmp_path: Path) -> None:
    result = await asyncio.to_thread(
        run_cli, "--model", "probe", "--api-url", probe_server, "--out", str(tmp_path / "probe_typed.py")
    )
    assert result.returncode == 0, result.stderr
    assert f"- source: {probe_server}/schema" in (tmp_path / "probe_typed.py").read_text()
    module = load_module(tmp_path / "probe_typed.py", "probe_typed")

    values: list[int] = []
    lock = threading.Lock()

    def on_frame(frame: np.ndarray) -> None:
        code = decode_probe(frame)
        if code is not None:
            with lock:
                values.append(code.value)

    async with module.ProbeModel(api_url=probe_server, local=True, ice_host_addresses=["127.0.0.1"]) as probe:
        probe.on_frame(on_frame)
        await probe.set_value(value=4242)

        def shown() -> bool:
            with lock:
                return 4242 in values

        await eventually(shown, what="value 4242 in the frames")
